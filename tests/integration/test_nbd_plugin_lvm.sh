#!/usr/bin/env bash
# csm-nbdkit.so over an LVM SR (lvm=DEV sr=UUID vdi=UUID) on a loop device,
# LVM's activation off and a private LVM configuration, as test_gc_lvm.sh:
# the chain's links are LVs read through their extent maps, parents found by
# their device-mapper-name locators.  qemu-io and nbdcopy write and read a
# 3-deep chain; a pause, a snapshot by the store's own steps (the leaf LV
# renamed to the base, a new leaf LV made) and a resume serve the new
# chain; a raw LV; what was written is read back through the store.
BUILD=${1:-${BUILD:-build-test}}
export SR_UUID=7b3f2e5d-9c4a-4e3f-b5d6-4f6c8e0a2f3c
source "$(dirname "$0")/lib.sh"
need_root "loop devices and LVM"
need losetup=mount nbdkit=nbdkit nbdcopy=libnbd-bin qemu-io=qemu-utils python3=python3
TOOL="$BUILD/tests/vstore_lvm_t"
LVMT="$BUILD/tests/lvm_lv"
PLUGIN="$BUILD/csm-nbdkit.so"
CTL_T="$BUILD/tests/nbd_ctl_t"
[ -x "$TOOL" ] && [ -x "$LVMT" ] && [ -x "$CTL_T" ] && [ -f "$PLUGIN" ] ||
	skip "$TOOL, $LVMT, $CTL_T or $PLUGIN not built (make TEST_BUILD=1 all-tests)"

SOCK="$T/nbd.sock" CTL="$T/ctl.sock" PIDF="$T/nbdkit.pid"
URI="nbd+unix:///?socket=$SOCK"
NBDKIT=(nbdkit)
pre=$(nbdkit_preload "$PLUGIN")
[ -z "$pre" ] || NBDKIT=(env "LD_PRELOAD=$pre" ASAN_OPTIONS=detect_leaks=0 nbdkit)
LOOP=""
cleanup() {
	[ -f "$PIDF" ] && kill -9 "$(cat "$PIDF")" 2>/dev/null
	if [ -n "$LOOP" ]; then
		"$LVMT" "$LOOP" vgremove "VG_XenStorage-$SR_UUID" >/dev/null 2>&1 || true
		"$LVMT" "$LOOP" pvremove >/dev/null 2>&1 || true
		losetup -d "$LOOP" 2>/dev/null
	fi
	rm -rf "$T"
}

lvm_test_env 400M
MiB=1048576
t() { "$TOOL" "$LOOP" "$SR_UUID" "$@"; }
serve() {
	rm -f "$SOCK" "$PIDF"
	"${NBDKIT[@]}" --log=stderr -U "$SOCK" -P "$PIDF" "$PLUGIN" "$@" 2>>"$T/nbdkit.err"
}
stop() {
	local pid
	pid=$(cat "$PIDF")
	kill "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$PIDF"
}
ctl() { "$CTL_T" "$CTL" 10000 "$@"; }
qio() { qemu-io -f raw "$@" "$URI" >>"$T/qio.out" 2>&1; }
pat() {
	python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[3])); f.write(bytes([int(sys.argv[2],0)])*int(sys.argv[4]))' "$@"
}

A=eeeeeeee-0000-4000-8000-000000000001
R=eeeeeeee-0000-4000-8000-000000000002
t sr-create "nbd test" >"$T/out" || { fail "sr-create: $(cat "$T/out")"; finish; }
t create "$A" vhd $((40 * MiB)) disk-a >/dev/null
head -c $((3 * MiB)) /dev/urandom >"$T/d1"
head -c $((2 * MiB)) /dev/urandom >"$T/d2"
t write "$A" $MiB "$T/d1" >/dev/null
out=$(t snapshot "$A") && B1=${out% *}
t write "$A" $((8 * MiB)) "$T/d2" >/dev/null
out=$(t snapshot "$A") && B2=${out% *}
# Writable serving needs the leaf's room (the driver inflates at attach).
t inflate "$A" $((48 * MiB)) >/dev/null || fail "inflate A"
t read "$A" 0 $((40 * MiB)) >"$T/model"

if serve lvm="$LOOP" sr="$SR_UUID" vdi="$A" ctl="$CTL"; then
	pass "nbdkit serves VDI $A of an LVM SR"
else
	fail "nbdkit did not start: $(cat "$T/nbdkit.err")"
	finish
fi
ctl status | grep -q 'state=running .*format=vhd depth=3 writable=1 size=41943040' &&
	pass "status: a 3-deep chain of LVs" || fail "status: $(ctl status 2>&1)"
qio -c "write -P 0x12 $((20 * MiB)) $((3 * MiB))" -c "write -P 0x13 $((8 * MiB + 100)) 9000" -c flush &&
	pass "qemu-io writes into the leaf LV (a new block and an old one)" || fail "qemu-io: $(tail -3 "$T/qio.out")"
pat "$T/model" 0x12 $((20 * MiB)) $((3 * MiB))
pat "$T/model" 0x13 $((8 * MiB + 100)) 9000
nbdcopy "$URI" "$T/copy.raw"
cmp -s "$T/copy.raw" "$T/model" && pass "nbdcopy: the chain's view" || fail "nbdcopy differs from the model"

# ---- pause, the store's snapshot, resume -------------------------------------------------
ctl pause >/dev/null && pass "pause" || fail "pause: $(ctl status)"
out=$(t snapshot "$A") && B3=${out% *} || fail "snapshot while paused: $out"
t inflate "$A" $((48 * MiB)) >/dev/null || fail "inflate the new leaf"
ctl resume >"$T/ans" && pass "resume after the snapshot" || fail "resume: $(cat "$T/ans")"
ctl status | grep -q 'state=running .*depth=4' && pass "status: the new leaf, 4 deep" ||
	fail "status after resume: $(ctl status)"
cp "$T/model" "$T/snapmodel"
qio -c "write -P 0x14 $((30 * MiB)) $MiB" -c flush
pat "$T/model" 0x14 $((30 * MiB)) $MiB
nbdcopy "$URI" "$T/copy.raw"
cmp -s "$T/copy.raw" "$T/model" && pass "after the resume: served from the new leaf" ||
	fail "after the resume: the view differs"
stop
t read "$A" 0 $((40 * MiB)) | cmp -s - "$T/model" && pass "the store reads what the clients wrote" ||
	fail "the store's read of $A differs"
t read "$B3" 0 $((40 * MiB)) | cmp -s - "$T/snapmodel" &&
	pass "the snapshot's base holds the VDI as at the pause" || fail "the base $B3 differs"
for u in "$A" "$B3" "$B2" "$B1"; do
	t check "$u" >"$T/check" 2>&1 || fail "check $u: $(cat "$T/check")"
done
pass "every link passes check"

# ---- a raw LV ----------------------------------------------------------------------------
t create "$R" raw $((8 * MiB)) disk-r >/dev/null || fail "create a raw VDI"
serve lvm="$LOOP" sr="$SR_UUID" vdi="$R" ctl="$CTL"
ctl status | grep -q 'format=raw depth=1' && pass "a raw LV: format found from the store" ||
	fail "raw LV status: $(ctl status)"
qio -c "write -P 0x21 $((2 * MiB + 3)) 70000" -c flush
stop
serve lvm="$LOOP" sr="$SR_UUID" vdi="$R" readonly=true
qio -r -c "read -P 0x21 $((2 * MiB + 3)) 70000" && pass "a raw LV keeps what was written (read back read-only)" ||
	fail "raw LV read back: $(tail -3 "$T/qio.out")"
stop

# ---- LVM's reports run in csm-lvm-run, never in a fork of nbdkit -------------------------
# (a fork of a process with threads can inherit a lock held for ever: libc's
# locale lock hung every LVM report of an ASan build that way)
if CSM_LVM_RUN=/nonexistent/csm-lvm-run "${NBDKIT[@]}" -U "$T/refused.sock" "$PLUGIN" \
	lvm="$LOOP" sr="$SR_UUID" vdi="$R" 2>"$T/refused.err"; then
	fail "nbdkit served lvm= without its LVM helper"
else
	grep -q 'csm-lvm-run' "$T/refused.err" && pass "lvm= without csm-lvm-run: refused, naming it" ||
		fail "the refusal does not name the helper: $(cat "$T/refused.err")"
fi
serve lvm="$LOOP" sr="$SR_UUID" vdi="$R" readonly=true
kids=$(ps -o comm= --ppid "$(cat "$PIDF")" | grep -c . || true)
[ "$kids" = 0 ] || fail "nbdkit keeps $kids child process(es) after its LVM reports"
stop

finish
