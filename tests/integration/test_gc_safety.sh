#!/usr/bin/env bash
# The GC and the drivers act only on what they could read.  On a FileSR
# with every kind of GC work queued (garbage, a non-leaf coalesce, leaf
# coalesces), one I/O call at a time fails with EIO (each open, stat and
# listing; reads sampled, all with SWEEP_ALL=1), the GC is killed at each
# of its steps, and a VDI is activated (and written, as a guest would)
# while the GC stands at each step (these two sweeps: a sample of the
# steps with CSM_FILE_SWEEP_EVERY > 1, lib.sh's sweep_sample; the EIO
# sweeps never, each error being a path of its own).  After each, every
# VDI is read byte for byte through its chain by an independent reader
# (tests/tools/vhd_read.py, which resolves parents by locator as tapdisk
# does) and compared with what it held.  Then the drivers: vdi_delete,
# sr_scan and vdi_activate under the same injected errors never report
# success for work they did not do.  Also: activation on another host,
# csm-gc on the wrong SR, an unopenable GC lock, a leaf-coalesce record
# left by a dead GC.
source "$(dirname "$0")/lib.sh"
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
GC="$BUILD/csm-gc"
READ="$REPO/tests/tools/vhd_read.py"
MiB=1048576
need python3=python3

vdi_new() { call vdi_info "$D" "$C" vdi_create "$@" >/dev/null && member uuid; }
snap() { call vdi_info "$D" "$C" vdi_snapshot --vdi "$1" >/dev/null && member uuid; }
clone() { call vdi_info "$D" "$C" vdi_clone --vdi "$1" >/dev/null && member uuid; }
del() { call unit "$D" "$C" vdi_delete --vdi "$1" >/dev/null; }
wr() { # wr <vdi> <offset> <bytes>
	head -c "$3" /dev/urandom >"$T/w"
	"$VHDTOOL" write "$FILE_SR_DIR/$1.vhd" "$2" "$T/w"
}
visible() {
	call string "$D" "$C" sr_scan >/dev/null
	string_result | awk '/<vdi>/{u=""} /<uuid>/{gsub(/.*<uuid>|<\/uuid>.*/,""); u=$0} /<hidden>false/{print u}' | sort
}
# Every VDI we made, through the independent reader: "<uuid> <sha1>" or
# "<uuid> UNREADABLE" (one reader process for all: the sweeps call this
# hundreds of times; a reader that dies leaves "<uuid> ", never a match).
views() {
	local u files=()
	for u in $VDIS; do files+=("$FILE_SR_DIR/$u.vhd"); done
	paste -d' ' <(printf '%s\n' $VDIS) <(python3 "$READ" --each "${files[@]}" 2>/dev/null)
}
run_gc() { ( "$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --quiet "$@"; echo $? >"$T/gc.rc" ) 2>/dev/null || true; GCRC=$(cat "$T/gc.rc"); }
restore() { rm -rf "$FILE_SR_DIR" "$SM_LOCK_DIR" && cp -a "$T/golden" "$FILE_SR_DIR"; }

# A: a leaf whose only snapshot was deleted (the issue's simplest case);
# X: two hidden bases with one child each (non-leaf, then leaf coalesce);
# K and its clone deleted (garbage); Y: a bystander.
build_sr() {
	rm -rf "$FILE_SR_DIR" "$SM_LOCK_DIR"
	call unit "$D" "$C" sr_create 0 >/dev/null
	A=$(vdi_new 8M); wr "$A" 0 $((3 * MiB))
	S=$(snap "$A"); wr "$A" $((5 * MiB)) $((MiB + 512)); del "$S"
	X=$(vdi_new 8M); wr "$X" 0 $((2 * MiB))
	S2=$(snap "$X"); wr "$X" $((2 * MiB)) 4096
	S3=$(snap "$X"); wr "$X" 512 1024
	del "$S2"; del "$S3"
	K=$(vdi_new 4M); wr "$K" 0 4096; K2=$(clone "$K"); del "$K"; del "$K2"
	Y=$(vdi_new 4M); wr "$Y" 4096 8192
	VDIS="$A $X $Y"
}

build_sr
rm -rf "$T/golden" && cp -a "$FILE_SR_DIR" "$T/golden"
golden=$(views)
golden_visible=$(visible)
grep -q UNREADABLE <<<"$golden" && fail "the workload itself is unreadable: $golden"
before_images=$(ls "$FILE_SR_DIR"/*.vhd | wc -l)

# A clean run does all the work: the sweep below must have something to break.
run_gc
[ "$GCRC" = 0 ] || fail "clean GC run exited $GCRC"
after_images=$(ls "$FILE_SR_DIR"/*.vhd | wc -l)
[ "$golden" = "$(views)" ] && [ "$after_images" -le 3 ] &&
	pass "clean run: $before_images images -> $after_images, every VDI byte for byte" ||
	fail "clean run: $before_images -> $after_images images"$'\n'"$(views)"

# --- one EIO at a time in the GC ---------------------------------------------------
restore
: >"$T/io"
CSM_FAULT_IO_LOG="$T/io" run_gc
declare -A count
for cls in open stat list read; do count[$cls]=$(grep -c "^$cls " "$T/io" || true); done
[ "${count[open]}" -ge 5 ] && [ "${count[read]}" -ge 5 ] && [ "${count[list]}" -ge 1 ] ||
	fail "the GC made too few I/O calls to sweep: ${count[*]}"
swept=0 held=0
for cls in open stat list read; do
	step=1
	# Reads: a sample of about 40 (all with SWEEP_ALL=1); the rest: every call.
	[ "$cls" = read ] && [ -z "${SWEEP_ALL:-}" ] && step=$(( (count[read] + 39) / 40 ))
	for ((n = 1; n <= count[$cls]; n += step)); do
		restore
		CSM_FAULT_IO="$cls:$n" run_gc
		swept=$((swept + 1))
		[ "$GCRC" = 3 ] && held=$((held + 1))
		now=$(views)
		[ "$now" = "$golden" ] || { fail "EIO on $cls #$n ($(sed -n "/^$cls $n /p" "$T/io")): GC exit $GCRC, VDIs changed:"$'\n'"$now"; continue; }
		[ "$(visible)" = "$golden_visible" ] || fail "EIO on $cls #$n: the SR lists other VDIs"
		run_gc
		[ "$GCRC" = 0 ] && [ "$(views)" = "$golden" ] || fail "EIO on $cls #$n: the next clean run (exit $GCRC) did not finish the work intact"
	done
done
[ "$held" -gt 0 ] || fail "no injected error made the GC hold work back (exit 3)"
pass "GC with one EIO at each of $swept I/O calls (open ${count[open]}, stat ${count[stat]}, list ${count[list]}, read ${count[read]} sampled): every VDI intact; $held runs held work back"

# The issue's case, by name: the GC cannot open A, so B (A's parent) looks childless.
restore
n=$(awk -v a="$A.vhd" '$1 == "open" && $3 == a { print $2; exit }' "$T/io")
CSM_FAULT_IO="open:$n" run_gc
strc=0; "$GC" --sr "$SR_UUID" --status >"$T/st" || strc=$?
[ "$GCRC" = 3 ] && [ "$strc" = 3 ] && [ "$(views)" = "$golden" ] && grep -q "^held_back=.*$A" "$T/st" &&
	pass "an unreadable VDI holds the GC back (exit 3, status says why, its exit 3 too); its parent stays" ||
	fail "unreadable $A: exit $GCRC, --status exit $strc, status: $(grep held_back "$T/st")"

# --- killed at every step -------------------------------------------------------------
restore
: >"$T/points"
CSM_FAULT_LOG="$T/points" run_gc
mapfile -t points < <(sort -u "$T/points")
all=${#points[@]}
mapfile -t points < <(sweep_sample --file "${points[@]}")
fails0=$FAILS
for p in "${points[@]}"; do
	restore
	CSM_FAULT_POINT="$p" run_gc
	[ "$(views)" = "$golden" ] || fail "GC killed at $p: VDIs changed before the next run"
	run_gc
	[ "$GCRC" = 0 ] && [ "$(views)" = "$golden" ] || fail "GC killed at $p: the next run (exit $GCRC) changed VDIs"
done
[ "$FAILS" -eq "$fails0" ] && pass "GC killed at ${#points[@]} of its $all steps (CSM_FILE_SWEEP_EVERY=$(sweep_every --file)): every VDI intact, the next run finishes"

# --- an activation at each step of the GC ---------------------------------------------
# The GC stands at step p while A is activated; the guest writes to A once
# vdi_activate has returned and the GC has copied a leaf (it also stands
# there, so the write lands between the copy and the rename that would
# commit it) or has finished.  Whatever the GC does with A, those bytes
# must be in A.  X holds a vdi_lock, so that A is the only leaf the GC may
# merge: each pause is then in A's leaf-coalesce.  A pause lasts 1.5 s at
# most; the test ends it (CSM_FAULT_PAUSE_GO) once it has done its part.
head -c $((64 * 1024)) /dev/urandom >"$T/guest"
python3 "$READ" --raw "$T/golden/$A.vhd" >"$T/A.raw"
dd if="$T/guest" of="$T/A.raw" bs=512 seek=$((3 * MiB / 512)) conv=notrunc status=none
want_A=$(sha1sum <"$T/A.raw" | cut -c1-40)
fails0=$FAILS
for p in "${points[@]}"; do
	restore
	call unit "$D" "$C" vdi_lock --vdi "$X" false race-test >/dev/null
	: >"$T/reached"
	rm -f "$T/go"
	( CSM_FAULT_LOG="$T/reached" CSM_FAULT_PAUSE="$p,gc:leaf-copied" CSM_FAULT_PAUSE_MS=1500 \
		CSM_FAULT_PAUSE_GO="$T/go" \
		"$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --quiet; echo $? >"$T/gc.rc" ) 2>/dev/null &
	gcpid=$!
	for i in $(seq 100); do grep -qx "$p" "$T/reached" && break; sleep 0.05; done
	call unit "$D" "$C" vdi_activate --vdi "$A" true >/dev/null || fail "activate at $p refused"
	# Past the copy already (p is at or after it): write while the GC
	# still stands at p.  Else let it go on from p to the copy.
	if ! grep -qx gc:leaf-copied "$T/reached"; then
		touch "$T/go"
		for i in $(seq 100); do
			grep -qx gc:leaf-copied "$T/reached" || ! kill -0 "$gcpid" 2>/dev/null && break
			sleep 0.05
		done
	fi
	"$VHDTOOL" write "$FILE_SR_DIR/$A.vhd" $((3 * MiB)) "$T/guest"
	touch "$T/go"
	wait "$gcpid"
	got=$(python3 "$READ" "$FILE_SR_DIR/$A.vhd" 2>&1)
	[ "$got" = "$want_A" ] || fail "activated while the GC stood at $p: the guest's write is lost ($got)"
	[ -n "$(ls "$FILE_SR_DIR/.csm-journal" 2>/dev/null)" ] && fail "activation at $p: journal left: $(ls "$FILE_SR_DIR/.csm-journal")"
	run_gc   # A is active: left alone
	[ "$(python3 "$READ" "$FILE_SR_DIR/$A.vhd")" = "$want_A" ] || fail "activation at $p: the next GC run lost the write"
	call unit "$D" "$C" vdi_deactivate --vdi "$A" >/dev/null
	run_gc
	[ "$(python3 "$READ" "$FILE_SR_DIR/$A.vhd")" = "$want_A" ] || fail "activation at $p: GC after deactivate lost the write"
done
[ "$FAILS" -eq "$fails0" ] && pass "vdi_activate at ${#points[@]} of the GC's $all steps: the guest's writes survive"

# --- activation on another host of a shared SR ---------------------------------------
restore
SM_HOST_ID=host-b SM_LOCK_DIR="$T/host-b-lock" call unit "$D" "$C" vdi_activate --vdi "$A" true >/dev/null
ls "$FILE_SR_DIR/.csm-active/" | grep -qx "$A@host-b" || fail "no activation record for host-b on the SR"
sum_A=$(sha1sum <"$FILE_SR_DIR/$A.vhd")
run_gc
[ "$(sha1sum <"$FILE_SR_DIR/$A.vhd")" = "$sum_A" ] && pass "a leaf active on another host is not merged" ||
	fail "the GC merged a leaf active on host-b"
fault 24 "$D" "$C" vdi_delete --vdi "$A" && pass "vdi_delete refuses a VDI active on another host"
SM_HOST_ID=host-b SM_LOCK_DIR="$T/host-b-lock" call unit "$D" "$C" vdi_deactivate --vdi "$A" >/dev/null
[ -z "$(ls "$FILE_SR_DIR/.csm-active/")" ] || fail "deactivate left $(ls "$FILE_SR_DIR/.csm-active/")"

# X's parent is a hidden base with a hidden parent: coalescing it relinks X.
# X active on host-b is served there, by a server this GC cannot pause: the
# coalesce waits (X's chain and every image unchanged), and says why.
restore
SM_HOST_ID=host-b SM_LOCK_DIR="$T/host-b-lock" call unit "$D" "$C" vdi_activate --vdi "$X" true >/dev/null
( "$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" ) >"$T/gc-remote.out" 2>&1 || true
grep -q "is active on host host-b" "$T/gc-remote.out" &&
	pass "a coalesce that would relink a child active on another host waits, saying so" ||
	fail "csm-gc did not hold back the coalesce under X (active on host-b): $(cat "$T/gc-remote.out")"
[ "$("$VHDTOOL" query "$FILE_SR_DIR/$X.vhd" | sed -n 's/^parent_name=//p')" = "$(cd "$T/golden" && "$VHDTOOL" query "$X.vhd" | sed -n 's/^parent_name=//p')" ] &&
	pass "X keeps its parent while served on host-b" || fail "X was relinked under host-b's server"
SM_HOST_ID=host-b SM_LOCK_DIR="$T/host-b-lock" call unit "$D" "$C" vdi_deactivate --vdi "$X" >/dev/null
run_gc
[ "$golden" = "$(views)" ] && pass "after host-b's deactivate the GC does the work, every VDI byte for byte" ||
	fail "after host-b's deactivate: $(views)"

# --- a leaf-coalesce record of a GC that died: vdi_activate recovers it ---------------
restore
CSM_FAULT_POINT=gc:leaf-copied run_gc
ls "$FILE_SR_DIR/.csm-journal/" | grep -q '^leaf-' || fail "no leaf record after a kill at gc:leaf-copied"
leaf=$(ls "$FILE_SR_DIR/.csm-journal/" | sed -n 's/^leaf-//p' | head -1)
call unit "$D" "$C" vdi_activate --vdi "$leaf" true >/dev/null &&
	[ -z "$(ls "$FILE_SR_DIR/.csm-journal/")" ] && [ "$(views)" = "$golden" ] &&
	pass "vdi_activate on the master recovers a dead GC's leaf-coalesce record at once" ||
	fail "stale leaf record: activate did not recover it"
call unit "$D" "$C" vdi_deactivate --vdi "$leaf" >/dev/null

# --- csm-gc on the wrong SR; an unopenable GC lock -------------------------------------
restore
before=$(tree_sum "$FILE_SR_DIR")
other=0badc0de-0000-4000-8000-000000000001
rc=0; "$GC" --sr "$other" --dir "$FILE_SR_DIR" --quiet 2>"$T/err" || rc=$?
[ "$rc" = 2 ] && grep -q "belongs to SR $SR_UUID" "$T/err" && [ "$(tree_sum "$FILE_SR_DIR")" = "$before" ] &&
	pass "csm-gc --sr with another SR's uuid refuses the directory" || fail "wrong --sr: exit $rc: $(cat "$T/err")"
mkdir -p "$SM_LOCK_DIR/$SR_UUID/gc_active"
rc=0; "$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --quiet 2>"$T/err" || rc=$?
strc=0; "$GC" --sr "$SR_UUID" --status >"$T/st" || strc=$?
[ "$rc" = 1 ] && [ "$strc" = 1 ] && grep -q "cannot take the GC lock" "$T/err" && grep -qx "running=unknown" "$T/st" &&
	pass "an unopenable GC lock is an error, not 'already running'" || fail "gc_active unopenable: exit $rc, --status exit $strc: $(cat "$T/err") / $(head -2 "$T/st")"
rmdir "$SM_LOCK_DIR/$SR_UUID/gc_active"

# --- the drivers under one EIO at a time ---------------------------------------------
# driver_sweep <name> <check> <smcall args...>: run the call with each of
# its I/O calls failing in turn; <check> decides whether what it answered
# is the truth about the SR.
driver_sweep() {
	local name=$1 check=$2 cls n req; shift 2
	req=$("$SMCALL" --print-request "$D" "$C" "$@")
	restore
	: >"$T/dio"
	CSM_FAULT_IO_LOG="$T/dio" run_raw "$D" "$req"
	local total=0
	for cls in open stat list read; do
		for ((n = 1; n <= $(grep -c "^$cls " "$T/dio" || true); n++)); do
			restore
			CSM_FAULT_IO="$cls:$n" run_raw "$D" "$req"
			[ "$RC" = 0 ] || fail "$name with EIO on $cls #$n exited $RC"
			"$check" "$cls #$n" || true
			total=$((total + 1))
		done
	done
	[ "$total" -ge 3 ] && pass "$name with one EIO at each of its $total I/O calls: the answer is the truth" ||
		fail "$name: only $total I/O calls to sweep"
}
is_fault() { printf '%s' "$OUT" | grep -q '<name>faultCode</name>'; }
check_delete() {
	if is_fault; then
		[ -e "$FILE_SR_DIR/$Y.vhd" ] && [ "$(python3 "$READ" "$FILE_SR_DIR/$Y.vhd")" = "$(grep "^$Y " <<<"$golden" | cut -d' ' -f2)" ] ||
			fail "vdi_delete failed ($1) but harmed $Y"
	else
		[ ! -e "$FILE_SR_DIR/$Y.vhd" ] || fail "vdi_delete said success ($1) but $Y is still there"
	fi
}
check_scan() {
	is_fault && return 0
	local listed
	listed=$(string_result | awk '/<vdi>/{u=""} /<uuid>/{gsub(/.*<uuid>|<\/uuid>.*/,""); u=$0} /<hidden>false/{print u}' | sort)
	[ "$listed" = "$golden_visible" ] || fail "sr_scan ($1) answered a different set of VDIs"
	# An unreadable VDI is listed with its reason, never without a label it has.
	for u in $golden_visible; do
		string_result | grep -q "<uuid>$u</uuid>" || fail "sr_scan ($1) forgot $u"
	done
}
check_activate() {
	if is_fault; then
		[ -z "$(ls "$FILE_SR_DIR/.csm-active/" 2>/dev/null)" ] || fail "vdi_activate failed ($1) but left a record"
	else
		ls "$FILE_SR_DIR/.csm-active/" 2>/dev/null | grep -q "^$A@" || fail "vdi_activate said success ($1) without a record"
	fi
}
driver_sweep vdi_delete check_delete vdi_delete --vdi "$Y"
driver_sweep sr_scan check_scan sr_scan
driver_sweep vdi_activate check_activate vdi_activate --vdi "$A" true
finish
