#!/usr/bin/env bash
# Garbage collection and coalesce on a FileSR: known data written through
# a 3-deep chain with snapshots and clones between the writes, VDIs
# deleted, the GC run (in the foreground, in the background as the driver
# starts it, and killed at every step), and every remaining VDI's guest
# view compared byte for byte with what it was, chains checked, space
# reclaimed.
source "$(dirname "$0")/lib.sh"
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
GC="$BUILD/csm-gc"
MiB=1048576

vdi_new() { call vdi_info "$D" "$C" vdi_create "$@" >/dev/null && member uuid; }
snap() { call vdi_info "$D" "$C" vdi_snapshot --vdi "$1" >/dev/null && member uuid; }
clone() { call vdi_info "$D" "$C" vdi_clone --vdi "$1" >/dev/null && member uuid; }
del() { call unit "$D" "$C" vdi_delete --vdi "$1" >/dev/null; }
wr() { # wr <vdi> <offset> <bytes>: random data written through the chain
	head -c "$3" /dev/urandom >"$T/w"
	"$VHDTOOL" write "$FILE_SR_DIR/$1.vhd" "$2" "$T/w"
}
# The guest view of every visible VDI, as checksums.
views() {
	local u
	for u in $(visible); do
		printf '%s %s\n' "$u" "$("$VHDTOOL" read "$FILE_SR_DIR/$u.vhd" 0 "$(vsize "$u")" | sha1sum | cut -c1-40)"
	done
}
vsize() { "$VHDTOOL" query "$FILE_SR_DIR/$1.vhd" | sed -n 's/^virtual_size=.* (\([0-9]*\) bytes)$/\1/p'; }
visible() {
	call string "$D" "$C" sr_scan >/dev/null
	string_result | awk '/<vdi>/{u=""} /<uuid>/{gsub(/.*<uuid>|<\/uuid>.*/,""); u=$0} /<hidden>false/{print u}'
}
depth() { "$VHDTOOL" query --chain "$FILE_SR_DIR/$1.vhd" | grep -c '^link'; }
check_all() {
	local f
	for f in "$FILE_SR_DIR"/*.vhd; do
		[ -e "$f" ] || continue
		"$VHDTOOL" check "$f" >/dev/null 2>"$T/chk" || fail "$1: $(basename "$f"): $(cat "$T/chk")"
	done
}
used() { du -sk --apparent-size "$FILE_SR_DIR" | cut -f1; }

# A workload: A gets data, snapshot, more data, clone, more data, snapshot;
# then the snapshots and the clone are deleted, leaving A on a 3-deep chain
# of hidden bases with one child each, plus garbage.
build_sr() {
	rm -rf "$FILE_SR_DIR" "$SM_LOCK_DIR"
	call unit "$D" "$C" sr_create 0 >/dev/null
	A=$(vdi_new 64M)
	wr "$A" 0 $((3 * MiB))
	S1=$(snap "$A")
	wr "$A" $((MiB + 512)) $((2 * MiB))
	# A grows, so coalescing its newer bases grows their parents too.
	call vdi_info "$D" "$C" vdi_resize --vdi "$A" 96M >/dev/null
	wr "$A" $((70 * MiB)) $((MiB + 100))
	C1=$(clone "$A")
	wr "$C1" 0 4096
	wr "$A" $((10 * MiB)) 5000
	S2=$(snap "$A")
	wr "$A" $((20 * MiB)) $((4 * MiB))
	K=$(vdi_new 8M)       # a bystander that must not change
	wr "$K" 4096 8192
	del "$S1"; del "$C1"; del "$S2"
}

build_sr
before_views=$(views)
before_used=$(used)
d0=$(depth "$A")
[ "$d0" -ge 3 ] || fail "workload did not build a deep chain (depth $d0)"
"$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" 2>"$T/gc.log" || fail "csm-gc failed: $(cat "$T/gc.log")"
[ "$before_views" = "$(views)" ] && pass "every VDI reads back byte for byte after GC" || fail "guest views changed"$'\n'"$before_views"$'\n---\n'"$(views)"
d1=$(depth "$A")
[ "$d1" -lt "$d0" ] && pass "chain of A shortened from $d0 to $d1 links" || fail "chain not shortened ($d0 -> $d1)"
check_all "after gc"
after_used=$(used)
[ "$after_used" -lt "$before_used" ] && pass "space reclaimed: ${before_used}K -> ${after_used}K" || fail "no space reclaimed"
n=$(ls "$FILE_SR_DIR"/*.vhd | wc -l)
[ "$n" -eq "$d1" ] || [ "$n" -eq $((d1 + 1)) ] || fail "unexpected images left: $(ls "$FILE_SR_DIR")"
"$GC" --sr "$SR_UUID" --status >"$T/st"
grep -qx 'running=no' "$T/st" && grep -q '^state=idle' "$T/st" && grep -q '^coalesced=' "$T/st" && pass "status after a run" || fail "status: $(cat "$T/st")"

# Killed at every step, then run again: same guest views, checks pass.
build_sr
before_views=$(views)
rm -rf "$T/golden" && cp -a "$FILE_SR_DIR" "$T/golden"
: >"$T/points"
CSM_FAULT_LOG="$T/points" "$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --quiet
mapfile -t points < <(sort -u "$T/points")
[ ${#points[@]} -ge 4 ] || fail "GC passed only ${#points[@]} fault points: ${points[*]}"
all=${#points[@]}
mapfile -t points < <(sweep_sample --file "${points[@]}")
fails0=$FAILS
for p in "${points[@]}"; do
	rm -rf "$FILE_SR_DIR" "$SM_LOCK_DIR" && cp -a "$T/golden" "$FILE_SR_DIR"
	( CSM_FAULT_POINT="$p" "$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --quiet; rc=$?; exit $rc ) 2>/dev/null || true
	# Between the crash and the next GC run, the driver must work.
	[ "$before_views" = "$(views)" ] || fail "gc killed at $p: guest views changed before the next run"
	"$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --quiet || fail "gc after a kill at $p failed"
	[ "$before_views" = "$(views)" ] || fail "gc killed at $p: guest views changed"
	check_all "gc killed at $p"
	ls -A "$FILE_SR_DIR/.csm-journal" 2>/dev/null | grep -q . && fail "gc killed at $p: journal left"
done
[ "$FAILS" -eq "$fails0" ] && pass "GC killed at ${#points[@]} of its $all kinds of step (${points[*]}; CSM_FILE_SWEEP_EVERY=$(sweep_every --file)), resumed, data intact"

# The driver starts the GC itself after vdi_delete and sr_scan.
build_sr
before_views=$(views)
export CSM_GC=on
X=$(vdi_new 4M); del "$X"
for i in $(seq 100); do
	"$GC" --sr "$SR_UUID" --status | grep -qx 'running=no' && grep -q '^state=idle' <("$GC" --sr "$SR_UUID" --status) && break
	sleep 0.1
done
export CSM_GC=off
[ "$before_views" = "$(views)" ] && [ "$(depth "$A")" -lt "$d0" ] && pass "background GC started by vdi_delete did the work" || fail "background GC: depth $(depth "$A")"

# Abort: a GC asked to stop stops, and the next run finishes the job.
build_sr
wr "$A" $((30 * MiB)) $((16 * MiB))
S3=$(snap "$A"); del "$S3"
before_views=$(views)
"$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --quiet &
gcpid=$!
"$GC" --sr "$SR_UUID" --abort || fail "abort did not return"
wait "$gcpid" || true
[ "$before_views" = "$(views)" ] || fail "abort changed guest views"
"$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --quiet || fail "GC after abort"
[ "$before_views" = "$(views)" ] && pass "abort, then resume: data intact" || fail "resume after abort"
check_all "after abort+resume"
finish
