#!/usr/bin/env bash
# Boot a throwaway VM (qemu, Debian's kernel from build-vm/, the host's userspace
# read-only) and run the guest tests in it; exit with their status.
#
#   tests/vm/run.sh                    all of tests/vm/guest/tests/test_*.sh
#   tests/vm/run.sh test_nfs [...]     only these (test_nfs, test_nfs.sh or nfs)
#   tests/vm/run.sh --script FILE      run FILE (bash) in the guest instead
#   tests/vm/run.sh --shell            interactive root shell on the console
#
# Needs tests/vm/setup.sh first (make check-vm does both). Environment:
#   VM_TIMEOUT   seconds for the whole VM run (default 420); then qemu is killed
#   VM_ACCEL     tcg (default) or kvm; a kvm run that brings no status back is
#                repeated with tcg
#   VM_MEM VM_SMP  guest memory in MiB (2048) and CPUs (1: fastest under TCG)
#   VM_VERBOSE=1 print the guest console as it runs (always printed on failure)
#   VM_BUILD     build directory (default <repo>/build-vm)
#   VM_TEST_BUILD  the project build the guest tests use, as $VMT_BUILD
#                (default build-test, what make check-vm builds)
#   VM_KVM_BOOT_TIMEOUT  seconds a KVM guest gets to reach stage 1 (default 30)
# The console log and the tests' logs of the last run are kept in
# $VM_BUILD/last-run/ (console.log, guest.log, results/<test>.log).
# Exit status: the guest's; 125 when no status came back (the VM crashed, hung
# or was killed at VM_TIMEOUT).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd -P)
OUT=${VM_BUILD:-$REPO/build-vm}
TIMEOUT=${VM_TIMEOUT:-420}
ACCEL=${VM_ACCEL:-tcg}
TEST_BUILD=$(cd "$REPO" && cd "${VM_TEST_BUILD:-build-test}" 2>/dev/null && pwd -P || echo "$REPO/${VM_TEST_BUILD:-build-test}")

MODE=tests SCRIPT='' ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--script) MODE=script; SCRIPT=${2:?--script needs a file}; shift 2 ;;
	--shell) MODE=shell; shift ;;
	-h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) ARGS+=("$1"); shift ;;
	esac
done

[ -f "$OUT/vm.env" ] || { echo "vm: $OUT/vm.env missing: run tests/vm/setup.sh first" >&2; exit 2; }
. "$OUT/vm.env"
case "$REPO" in *[[:space:]]*) echo "vm: the repository path must not contain spaces" >&2; exit 2 ;; esac
command -v qemu-system-x86_64 >/dev/null || { echo "vm: qemu-system-x86_64 missing: run tests/vm/setup.sh" >&2; exit 2; }

QPID=
XFER=
cleanup() {
	[ -n "$QPID" ] && kill -KILL "$QPID" 2>/dev/null
	[ -n "${TAILPID:-}" ] && kill "$TAILPID" 2>/dev/null
}
trap cleanup EXIT
trap 'echo "vm: interrupted" >&2; exit 130' INT TERM

# boot ACCEL: one VM run; sets RC (the guest's status, or empty) and QRC.
boot() {
	local accel=$1 cpu=max
	[ "$accel" = kvm ] && cpu=host
	rm -rf "$OUT/last-run"
	XFER=$OUT/last-run
	mkdir -p "$XFER/results"
	printf '%s\n' "${ARGS[@]+"${ARGS[@]}"}" > "$XFER/args"
	# Sourced by stage 2: where the project's built drivers and tools are.
	echo "VMT_BUILD=$TEST_BUILD" > "$XFER/env"
	# make check: a skipped guest test fails the run (run-tests.sh).
	echo "export CSM_REQUIRE_ALL=${CSM_REQUIRE_ALL:-0}" >> "$XFER/env"
	[ -z "$SCRIPT" ] || cp "$SCRIPT" "$XFER/run.sh"
	local console=$XFER/console.log
	local qemu=(qemu-system-x86_64
		-accel "$accel" -cpu "$cpu" -smp "${VM_SMP:-1}" -m "${VM_MEM:-2048}" -M pc
		-nodefaults -nic none -display none -no-reboot
		-kernel "$VM_VMLINUZ" -initrd "$VM_INITRD"
		-append "console=ttyS0 panic=-1 loglevel=4 mitigations=off vmt.repo=$REPO vmt.moddir=$VM_MODDIR vmt.mode=$MODE"
		-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
		-fsdev local,id=xfer,path="$XFER",security_model=none,multidevs=remap
		-device virtio-9p-pci,fsdev=xfer,mount_tag=xfer)
	local t0=$SECONDS
	echo "vm: booting kernel $VM_KV ($accel, ${VM_SMP:-1} CPU, ${VM_MEM:-2048} MiB, no NIC), time limit ${TIMEOUT}s"
	if [ "$MODE" = shell ]; then
		"${qemu[@]}" -serial mon:stdio -monitor none
		QRC=$?
	else
		"${qemu[@]}" -serial "file:$console" -monitor none < /dev/null > "$XFER/qemu.out" 2>&1 &
		QPID=$!
		TAILPID=
		if [ "${VM_VERBOSE:-0}" = 1 ]; then
			tail -n +1 -F --pid=$QPID "$console" 2>/dev/null &
			TAILPID=$!
		fi
		local timed_out=0 limit=$TIMEOUT why="TIMEOUT after ${TIMEOUT}s"
		while kill -0 "$QPID" 2>/dev/null; do
			# A KVM guest that has not reached stage 1 soon is taken as hung.
			if [ "$accel" = kvm ] && [ $((SECONDS - t0)) -ge "${VM_KVM_BOOT_TIMEOUT:-30}" ] &&
			   ! grep -q '^\[vm-init\]' "$console" 2>/dev/null; then
				limit=0 why="KVM guest not booted after ${VM_KVM_BOOT_TIMEOUT:-30}s"
			fi
			if [ $((SECONDS - t0)) -ge "$limit" ]; then
				timed_out=1
				echo "vm: $why: killing qemu (PID $QPID)" >&2
				kill -TERM "$QPID" 2>/dev/null
				for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$QPID" 2>/dev/null || break; sleep 0.5; done
				kill -KILL "$QPID" 2>/dev/null
				break
			fi
			sleep 0.5
		done
		wait "$QPID"
		QRC=$?
		local qpid=$QPID
		QPID=
		[ -z "$TAILPID" ] || { sleep 0.3; kill "$TAILPID" 2>/dev/null; wait "$TAILPID" 2>/dev/null; TAILPID=; }
		cat "$XFER/qemu.out" >> "$console"
		[ $timed_out = 0 ] || echo "vm: $why: qemu killed (PID $qpid)" >> "$console"
	fi
	RC=
	[ -s "$XFER/rc" ] && RC=$(tr -dc 0-9 < "$XFER/rc")
	local how="exited with $QRC"
	[ "${timed_out:-0}" = 0 ] || how="was killed"
	echo "vm: qemu $how after $((SECONDS - t0))s; guest status: ${RC:-none}"
}

boot "$ACCEL"
if [ -z "$RC" ] && [ "$ACCEL" = kvm ] && [ "$MODE" != shell ]; then
	echo "vm: no status from the KVM guest; console tail:"; tail -20 "$XFER/console.log"
	echo "vm: repeating with TCG"
	boot tcg
fi
[ "$MODE" = shell ] && exit "${RC:-125}"

if [ "${RC:-125}" = 0 ]; then
	[ "${VM_VERBOSE:-0}" = 1 ] || grep -E '^(PASS|SKIP|FAIL|vm-tests:)' "$XFER/guest.log" 2>/dev/null
	exit 0
fi
if [ "${VM_VERBOSE:-0}" != 1 ]; then
	echo "======== guest console ($XFER/console.log) ========"
	cat "$XFER/console.log"
	echo
	echo "======== end of guest console ========"
fi
if [ -z "$RC" ]; then
	echo "vm: FAILED: no exit status came back from the guest (crash, hang or timeout)" >&2
	exit 125
fi
grep '^FAIL ' "$XFER/guest.log" 2>/dev/null | sed 's/; its output:$//'
echo "vm: FAILED: the guest exited with status $RC (logs: $XFER/results/)" >&2
exit "$RC"
