#!/usr/bin/env bash
# csm-gc --lvm on an LVM SR on a loop device (LVM's activation off, a
# private LVM configuration): chains are built with tests/tools/vstore_lvm_t
# (the store's own snapshot steps), then the GC deletes garbage, does a
# non-leaf coalesce (the parent LV inflated then deflated, read-only again,
# the children relinked with dm-name locators) and a leaf coalesce (the
# VHD-OLD_ rename pair), and is killed at every fault point it passes (gc:*
# and lvm-*) and run again: the data read back through the extent map is
# identical and no journal LV, OLD_ LV or half-done step is left.
BUILD=${1:-${BUILD:-build-test}}
export SR_UUID=6a2e1d4c-8b3f-4d2e-a4c5-3e5b7d9f1e2b
source "$(dirname "$0")/lib.sh"
set +e   # each check reports itself; a killed run is expected to fail
need_root "loop devices and LVM"
need losetup=mount truncate=coreutils dd=coreutils
TOOL="$BUILD/tests/vstore_lvm_t"
LVMT="$BUILD/tests/lvm_lv"
GC="$BUILD/csm-gc"
[ -x "$TOOL" ] && [ -x "$LVMT" ] && [ -x "$GC" ] ||
	skip "$TOOL, $LVMT or $GC not built (make TEST_BUILD=1 all-tests)"

LOOP=""
detach_loop() {
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	LOOP=""
}
cleanup_lvm() {
	if [ -n "$LOOP" ]; then
		"$LVMT" "$LOOP" vgremove "VG_XenStorage-$SR_UUID" >/dev/null 2>&1 || true
		"$LVMT" "$LOOP" pvremove >/dev/null 2>&1 || true
	fi
	detach_loop
	rm -rf "$T"
}
trap cleanup_lvm EXIT

lvm_test_env 400M

VG="VG_XenStorage-$SR_UUID"
MIB=1048576
t() { "$TOOL" "$LOOP" "$SR_UUID" "$@"; }
lvt() { "$LVMT" "$LOOP" "$@" 2>/dev/null; }
gc() { "$GC" --sr "$SR_UUID" --lvm "$LOOP" --quiet "$@"; }
lv_row() { lvt lvs "$VG" | grep "^$1|" || true; }
lv_size() { lv_row "$1" | cut -d'|' -f2; }
lv_names() { lvt lvs "$VG" | cut -d'|' -f1 | sort | tr '\n' ' '; }
dm() { echo "VG_XenStorage--${SR_UUID//-/--}-${1//-/--}"; }
parent_of() { t list | awk -v c="$1" '$1 == c { print $6 }'; }
expect() { # expect <what> <want> <got>
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: want '$2', got '$3'"; fi
}
uuid() { printf 'dddddddd-0000-4000-8000-%012d' "$1"; }
A=$(uuid 1) G=$(uuid 2)

# ---- the golden SR ----------------------------------------------------------------
# A (40 MiB) -> B2 -> B1 with clones C2 (of B2) and C1 (of B1), C1 removed:
# B2 is B1's only child (a non-leaf coalesce); G's base BG with G removed: garbage.
t sr-create "gc test" >"$T/out" || fail "sr-create: $(cat "$T/out")"
t create "$A" vhd $((40 * MIB)) disk-a >/dev/null || fail "create A"
head -c $((3 * MIB)) /dev/urandom >"$T/d1"
head -c $((2 * MIB)) /dev/urandom >"$T/d2"
head -c $((1 * MIB)) /dev/urandom >"$T/d3"
t write "$A" $MIB "$T/d1" >/dev/null || fail "write A"
out=$(t snapshot "$A" clone) || fail "snapshot 1: $out"
B1=${out% *} C1=${out#* }
t write "$A" $((8 * MIB)) "$T/d2" >/dev/null || fail "write A 2"
out=$(t snapshot "$A" clone) || fail "snapshot 2: $out"
B2=${out% *} C2=${out#* }
t write "$A" $((12 * MIB)) "$T/d3" >/dev/null || fail "write A 3"
t remove "$C1" vhd >/dev/null || fail "remove C1"
t create "$G" vhd $((8 * MIB)) disk-g >/dev/null || fail "create G"
out=$(t snapshot "$G") || fail "snapshot G: $out"
BG=${out% *}
t remove "$G" vhd >/dev/null || fail "remove G"
t read "$A" 0 $((16 * MIB)) >"$T/a.want"
t read "$C2" 0 $((16 * MIB)) >"$T/c2.want"
expect "B2 is B1's child" "$B1" "$(parent_of "$B2")"
b1_size=$(lv_size "VHD-$B1")
rm -rf "$SM_LOCK_DIR" && mkdir -p "$SM_LOCK_DIR"
# The golden copy: the PV image (activation is off: LVM holds nothing in the kernel).
detach_loop
cp --sparse=always "$T/pv.img" "$T/golden.img"
LOOP=$(losetup -f --show "$T/pv.img") || fail "loop again"

restore_golden() {
	detach_loop
	cp --sparse=always "$T/golden.img" "$T/pv.img"
	LOOP=$(losetup -f --show "$T/pv.img")
	rm -rf "$SM_LOCK_DIR" "$T/refcount" && mkdir -p "$SM_LOCK_DIR" "$T/refcount"
}

data_same() { # data_same <what>: A (and C2 while it is there) read back as before
	t read "$A" 0 $((16 * MIB)) | cmp -s - "$T/a.want" || { fail "$1: A's data differs"; return 1; }
	if [ -n "$(t find "$C2" | grep vhd)" ]; then
		t read "$C2" 0 $((16 * MIB)) | cmp -s - "$T/c2.want" ||
			{ fail "$1: C2's data differs"; return 1; }
	fi
	return 0
}
# Journals, rename pairs, and activations the GC took and did not give back
# (a non-zero count of this host, or a GC marker).
held_counts() {
	local f
	for f in "$T/refcount/lvm-$SR_UUID"/*; do
		[ -f "$f" ] && [ "$(tr -s ' \n' ' ' <"$f")" != "0 0 " ] && echo "count:${f##*/}"
	done
	for f in "$T/refcount/lvm-$SR_UUID.gc"/*; do [ -e "$f" ] && echo "marker:${f##*/}"; done
}
leftovers() {
	lvt lvs "$VG" | cut -d'|' -f1 | grep -E '^(coalesce_|leaf_|relink_|inflate_|csm_)|OLD_'
	held_counts
}

# ---- identity: another SR's uuid is refused --------------------------------------------
"$GC" --sr 00000000-1111-4222-8333-444444444444 --lvm "$LOOP" --quiet >"$T/out" 2>&1
expect "another SR's uuid: refused (2)" 2 $?
grep -q "belongs to SR $SR_UUID" "$T/out" && pass "refusal names the SR found" ||
	fail "refusal: $(cat "$T/out")"
"$GC" --sr "$SR_UUID" --lvm relative/dev >/dev/null 2>&1
expect "a relative device is a usage error (2)" 2 $?

# ---- garbage and the non-leaf coalesce ------------------------------------------------------
CSM_FAULT_LOG="$T/points1" gc >"$T/out" 2>&1
expect "gc exits 0" 0 $?
expect "garbage BG removed" "none" "$(t find "$BG")"
expect "B2 coalesced away" "none" "$(t find "$B2")"
expect "A relinked to B1" "$B1" "$(parent_of "$A")"
expect "C2 relinked to B1" "$B1" "$(parent_of "$C2")"
expect "A's locator: B1's dm name" "./$(dm "VHD-$B1")" \
	"$(t query "$A" | grep -o 'parent_locator=[^ ]*' | cut -d= -f2)"
expect "A's prt_name: B1's dm name" "$(dm "VHD-$B1")" \
	"$(t query "$A" | grep -o 'parent_name=[^ ]*' | cut -d= -f2)"
expect "B1 read-only again" 1 "$(lv_row "VHD-$B1" | cut -d'|' -f5)"
grep -q '^lvm-inflate:lvresize' "$T/points1" && pass "B1 was inflated for the copy" ||
	fail "no inflate in $(tr '\n' ' ' <"$T/points1")"
phys=$(t query "$B1" | grep -o 'phys=[0-9]*' | cut -d= -f2)
expect "B1 deflated to roundup4M(phys)" $(((phys + 4 * MIB - 1) / (4 * MIB) * 4 * MIB)) \
	"$(lv_size "VHD-$B1")"
[ "$(lv_size "VHD-$B1")" -ge "$b1_size" ] && pass "B1 holds B2's data too" || fail "B1 size"
t check "$A" >/dev/null && t check "$C2" >/dev/null && pass "chains check" || fail "chain check"
data_same "after the coalesce" && pass "A and C2 read back identical"
expect "no journal or OLD_ LV left" "" "$(leftovers)"

# ---- the leaf coalesce ------------------------------------------------------------------------
t remove "$C2" vhd >/dev/null || fail "remove C2"
CSM_FAULT_LOG="$T/points2" gc >"$T/out" 2>&1
expect "gc (leaf) exits 0" 0 $?
expect "B1 took A's name" "none" "$(t find "$B1")"
expect "A has no parent" "-" "$(parent_of "$A")"
expect "A visible" "hidden=0" "$(t query "$A" | grep -o 'hidden=[01]')"
grep -q '^lvm-take-over:old' "$T/points2" && pass "the OLD_ rename pair was used" ||
	fail "no take-over in $(tr '\n' ' ' <"$T/points2")"
expect "no OLD_ or journal LV left" "" "$(leftovers)"
[ "$(lv_size "VHD-$A")" -ge $((40 * MIB)) ] && pass "A has room for its whole virtual size" ||
	fail "A's LV: $(lv_size "VHD-$A")"
t check "$A" >/dev/null && pass "A checks" || fail "A check: $(t check "$A")"
data_same "after the leaf coalesce" && pass "A reads back identical"

# ---- a GC killed while it holds an activation: the next run gives it back ---------------------
restore_golden
CSM_FAULT_POINT=gc:borrowed gc >/dev/null 2>&1
held=$(held_counts)
[ -n "$held" ] && pass "killed mid-copy, the GC held activations ($(echo $held))" ||
	fail "killed at gc:borrowed, no activation held: the test proves nothing"
"$GC" --sr "$SR_UUID" --lvm "$LOOP" >"$T/out" 2>&1
expect "the next GC run" 0 $?
[ -z "$(held_counts)" ] && pass "the next run gave every borrowed activation back" ||
	fail "still held after the next run: $(held_counts | tr '\n' ' ')"
grep -q "gave back" "$T/out" && pass "the run says it gave them back" ||
	fail "no 'gave back' line: $(tail -n 3 "$T/out")"
data_same "after the reclaim" && pass "A reads back identical after the reclaim"

# ---- killed at every point, then run again ------------------------------------------------------
# Both phases from the golden state: the coalesce run, then (C2 removed) the leaf run.
kill_phase() { # kill_phase <points file> <setup>
	local p n=0 bad=0 all
	all=$(grep -E '^(gc|lvm-)' "$1" | sort -u | wc -l)
	for p in $(sweep_sample $(grep -E '^(gc|lvm-)' "$1" | sort -u)); do
		restore_golden
		[ "$2" = leaf ] && { gc >/dev/null 2>&1; t remove "$C2" vhd >/dev/null; }
		CSM_FAULT_POINT=$p gc >/dev/null 2>&1
		gc >"$T/out" 2>&1
		rc=$?
		n=$((n + 1))
		if [ $rc -ne 0 ]; then
			fail "$2: killed at $p, the next run failed ($rc): $(tail -n 2 "$T/out")"
			bad=1
			continue
		fi
		if ! data_same "$2: killed at $p"; then bad=1; continue; fi
		if [ -n "$(leftovers)" ]; then
			fail "$2: killed at $p: left $(leftovers | tr '\n' ' ')"; bad=1; continue
		fi
		if [ "$2" = leaf ]; then
			[ "$(t find "$B1")" = none ] && [ "$(parent_of "$A")" = "-" ] ||
				{ fail "$2: killed at $p: B1 not merged"; bad=1; continue; }
		else
			[ "$(t find "$B2")" = none ] && [ "$(parent_of "$A")" = "$B1" ] &&
				[ "$(lv_row "VHD-$B1" | cut -d'|' -f5)" = 1 ] ||
				{ fail "$2: killed at $p: B2 not coalesced or B1 writable"; bad=1; continue; }
		fi
	done
	[ $bad -eq 0 ] && pass "$2: killed at $n of its $all points (CSM_SWEEP_EVERY=${CSM_SWEEP_EVERY:-3}), resumed, nothing lost"
	[ "$all" -gt 5 ] && [ $n -ge $((all / ${CSM_SWEEP_EVERY:-3})) ] || fail "$2: only $n of $all fault points exercised"
}
kill_phase "$T/points1" coalesce
kill_phase "$T/points2" leaf

finish
