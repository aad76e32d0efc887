#!/usr/bin/env bash
# LVMSR killed (SIGKILL) at every step of vdi_create (thick and thin),
# vdi_snapshot, vdi_clone and vdi_resize, on a loop device with LVM's
# activation off and a private LVM configuration.  After each kill the
# next call (sr_scan: it takes the SR lock and recovers) must leave no
# journal LV, no unfinished or temporary LV, every VHD chain intact, the
# LVs as before the call (or, for resize, the new size) and no byte of
# the VDIs' data changed.
#
# Steps are discovered, not listed (CSM_FAULT_LOG, test builds only).
# The lvm-<command> points are in LVM's child process: killing it fails
# the LVM command, so the call answers with a fault after undoing what
# it can, and the next call must still find the SR whole.
BUILD=${1:-${BUILD:-build-test}}
export SR_UUID=7b3f2a5d-9c4e-4e6f-8a2b-3c4d5e6f7081
source "$(dirname "$0")/lib.sh"
set +e   # each check reports itself
need_root "loop devices and LVM"
need losetup=mount truncate=coreutils cp=coreutils
D="$BUILD/LVMSR"
C="$REPO/examples/dconf/lvm.conf"
TOOL="$BUILD/tests/vstore_lvm_t"
LVMT="$BUILD/tests/lvm_lv"
for x in "$D" "$TOOL" "$LVMT" "$XAPI_CHECK"; do
	[ -x "$x" ] || skip "$x not built (make TEST_BUILD=1 all-tests)"
done

LOOP=""
VG="VG_XenStorage-$SR_UUID"
detach_loop() {
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	LOOP=""
}
attach_loop() {
	LOOP=$(losetup -f --show "$T/pv.img" 2>"$T/losetup.err") ||
		skip "no loop device: $(cat "$T/losetup.err")"
	export LVM_SR_DEVICE=$LOOP
}
cleanup_lvm() {
	if [ -n "$LOOP" ]; then
		"$LVMT" "$LOOP" vgremove "$VG" >/dev/null 2>&1
		"$LVMT" "$LOOP" pvremove >/dev/null 2>&1
	fi
	detach_loop
	rm -rf "$T"
}
trap cleanup_lvm EXIT

mkdir -p "$T/lvm"
printf 'backup {\n\tbackup = 0\n\tarchive = 0\n}\n' >"$T/lvm/lvm.conf"
export LVM_SYSTEM_DIR="$T/lvm" CSM_LVM_ACTIVATION=off SM_REFCOUNT_DIR="$T/refcount"
truncate -s 1G "$T/pv.img"
attach_loop

MIB=1048576
t() { "$TOOL" "$LOOP" "$SR_UUID" "$@" 2>/dev/null; }
lvt() { "$LVMT" "$LOOP" "$@" 2>/dev/null; }
# Every LV but journals: name, size, read-only flag.
lv_state() { lvt lvs "$VG" | awk -F'|' '$4 !~ /journaler|csm-journal/ { print $1, $2, $5 }' | sort; }

V=aaaaaaaa-2222-4000-8000-000000000001
X=bbbbbbbb-2222-4000-8000-000000000002

# The golden SR: V with data, a snapshot of it, more data in V.
call unit "$D" "$C" sr_create 0 || exit 1
call vdi_info "$D" "$C" vdi_create --vdi "$V" 64M disk-v || exit 1
head -c $((3 * MIB)) /dev/urandom >"$T/data1"
t write "$V" "$MIB" "$T/data1" >/dev/null || fail "write data1"
call vdi_info "$D" "$C" vdi_snapshot --vdi "$V" --driver-param type=double || exit 1
S=$(member uuid)
head -c 65536 /dev/urandom >"$T/data2"
t write "$V" $((8 * MIB)) "$T/data2" >/dev/null || fail "write data2"
detach_loop
cp --sparse=always "$T/pv.img" "$T/golden.img"
attach_loop

restore_golden() {
	detach_loop
	cp --sparse=always "$T/golden.img" "$T/pv.img"
	rm -rf "$SM_LOCK_DIR" "$SM_REFCOUNT_DIR"
	attach_loop
}

data_intact() { # data_intact <what>
	t read "$V" "$MIB" $((3 * MIB)) | cmp -s - "$T/data1" || { fail "$1: V's first data changed"; return; }
	t read "$V" $((8 * MIB)) 65536 | cmp -s - "$T/data2" || { fail "$1: V's second data changed"; return; }
	t read "$S" "$MIB" $((3 * MIB)) | cmp -s - "$T/data1" || fail "$1: the snapshot's data changed"
}

sr_whole() { # sr_whole <what>: no journal, nothing half-made, every chain opens
	local u lvs
	lvs=$(lvt lvs "$VG")   # one LVM command for the three looks
	grep -qE 'journaler|csm-journal' <<<"$lvs" && fail "$1: journal LV left: $(grep -E 'journaler|csm-journal' <<<"$lvs" | cut -d'|' -f1)"
	grep -q csm-unfinished <<<"$lvs" && fail "$1: unfinished LV left"
	cut -d'|' -f1 <<<"$lvs" | grep -qE '\.new$|OLD_' && fail "$1: temporary LV left"
	for u in $(t list | awk '$2 == "vhd" { print $1 }'); do
		t check "$u" >/dev/null || fail "$1: chain of $u does not check"
	done
}

# name | smcall args | expectation after recovery:
#   same           the LVs as before
#   snap           as before, or the snapshot complete: every LV of before
#                  still there and two more (the base copy and the new VDI);
#                  a kill after the snapshot committed (the thick leaf's
#                  inflate) leaves it done, as a kill after any commit
#   resized:<n>    as before, or V of virtual size n
OPS=(
	"vdi_create thick|vdi_create --vdi $X 100M|same"
	"vdi_create thin|--dconf allocation=thin vdi_create --vdi $X 100M|same"
	"vdi_snapshot|vdi_snapshot --vdi $V --driver-param type=double|snap"
	"vdi_clone|vdi_clone --vdi $V|snap"
	"vdi_resize|vdi_resize --vdi $V 128M|resized:134217728"
)

total=0
for entry in "${OPS[@]}"; do
	IFS='|' read -r name args expect <<<"$entry"
	restore_golden
	# The LVs before the call: the golden image's, the same at every point.
	before=$(lv_state)
	: >"$T/points"
	# shellcheck disable=SC2086
	req=$("$SMCALL" --print-request "$D" "$C" $args)
	CSM_FAULT_LOG="$T/points" run_raw "$D" "$req"
	set +e
	grep -q '<fault>' <<<"$OUT" && { fail "$name fails without any fault injected: $OUT"; continue; }
	mapfile -t points < <(sort -u "$T/points")
	if [ ${#points[@]} -eq 0 ]; then
		fail "$name passed no fault points: is $BUILD a TEST_BUILD=1 build?"
		continue
	fi
	all=${#points[@]}
	mapfile -t points < <(sweep_sample "${points[@]}")
	echo "$name: ${#points[@]} of $all fault points (CSM_SWEEP_EVERY=${CSM_SWEEP_EVERY:-3})"
	killed=0 failed=0 done_=0 fails0=$FAILS
	for p in "${points[@]}"; do
		restore_golden
		# The request names the device: build it again for this loop device.
		# shellcheck disable=SC2086
		req=$("$SMCALL" --print-request "$D" "$C" $args)
		CSM_FAULT_POINT="$p" run_raw "$D" "$req"
		set +e
		if [ "$RC" -eq 137 ]; then
			killed=$((killed + 1))
		elif grep -q '<fault>' <<<"$OUT"; then
			failed=$((failed + 1))   # LVM's child killed: the call failed
		else
			fail "$name: neither killed nor failed at $p (rc $RC)"
			continue
		fi
		call string "$D" "$C" sr_scan || { fail "$name@$p: scan after the crash failed"; set +e; continue; }
		set +e
		sr_whole "$name@$p"
		after=$(lv_state)
		case $expect in
		same)
			[ "$before" = "$after" ] ||
				fail "$name@$p: LVs changed"$'\n'"$before"$'\n---\n'"$after"
			;;
		snap)
			if [ "$before" != "$after" ]; then
				missing=$(comm -23 <(echo "$before" | cut -d' ' -f1) <(echo "$after" | cut -d' ' -f1))
				[ -z "$missing" ] || fail "$name@$p: LVs lost: $missing"
				[ "$(echo "$after" | wc -l)" -eq $(($(echo "$before" | wc -l) + 2)) ] ||
					fail "$name@$p: neither rolled back nor complete"$'\n'"$before"$'\n---\n'"$after"
				done_=$((done_ + 1))
			fi
			;;
		resized:*)
			if [ "$before" != "$after" ]; then
				t query "$V" | grep -q "virtual=${expect#resized:} " ||
					fail "$name@$p: neither rolled back nor grown to ${expect#resized:}: $(t query "$V")"
			fi
			;;
		esac
		data_intact "$name@$p"
		# And the operation works afterwards.
		run_raw "$D" "$req"
		set +e
		grep -q '<fault>' <<<"$OUT" && fail "$name@$p: repeating the operation failed: $OUT"
		total=$((total + 1))
	done
	[ "$FAILS" -eq "$fails0" ] && pass "$name: ${#points[@]} steps ($killed killed the driver, $failed killed LVM's child; $done_ left complete), repaired each time: ${points[*]}"
done
[ "$total" -ge $((60 / ${CSM_SWEEP_EVERY:-3})) ] || fail "only $total crash points exercised"
finish
