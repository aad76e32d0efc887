#!/usr/bin/env bash
# make check's phases, with the VM tests running beside the host's.
#
#   tests/check.sh          (make check calls it, after installing the packages)
#
# The guest of the VM test host is one TCG CPU that spends its time in qemu;
# the host's integration tests mostly wait for LVM, the disk and their
# servers.  On this 2-core machine the two overlap almost for free, which
# takes the VM run (several minutes under TCG) off make check's total.
# Every phase runs even when an earlier one failed, so one run reports
# everything; the exit status is 1 when any failed.  The VM's output is
# kept in build-vm/check-vm.log and printed when it ends.
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
NPROC=$(nproc 2>/dev/null || echo 2)
VM_LOG=build-vm/check-vm.log
failed=()
vm_pid=

stop_vm() {
	[ -n "$vm_pid" ] && kill "$vm_pid" 2>/dev/null
	vm_pid=
}
trap stop_vm EXIT
trap 'echo "check: interrupted" >&2; exit 130' INT TERM

phase() { # phase <name> <command...>
	local name=$1 start=$SECONDS
	shift
	echo "==== check: $name"
	if "$@"; then
		echo "==== check: $name passed ($((SECONDS - start)) s)"
	else
		echo "==== check: $name FAILED ($((SECONDS - start)) s)"
		failed+=("$name")
	fi
}

phase build "$MAKE" -j"$NPROC" BUILD=build-test TEST_BUILD=1 all-tests
[ ${#failed[@]} -eq 0 ] || { echo "check: the test build failed" >&2; exit 1; }

# The VM: set up first (it may install packages and unpack a kernel), then
# started in the background on the finished test build, which nothing below
# rebuilds (test_install installs with make -o all).
if tests/vm/setup.sh build-vm; then
	mkdir -p build-vm
	VM_TIMEOUT=${VM_TIMEOUT:-1500} tests/vm/run.sh >"$VM_LOG" 2>&1 &
	vm_pid=$!
	echo "==== check: VM tests started in the background (pid $vm_pid, log $VM_LOG)"
else
	failed+=("vm setup")
fi

phase "unit and integration (build-test)" \
	"$MAKE" BUILD=build-test TEST_BUILD=1 check-unit check-integration
phase "ASan/UBSan" "$MAKE" check-asan
phase fuzz "$MAKE" check-fuzz

if [ -n "$vm_pid" ]; then
	echo "==== check: waiting for the VM tests"
	wait "$vm_pid"
	vm_rc=$?
	vm_pid=
	cat "$VM_LOG"
	if [ $vm_rc -eq 0 ]; then
		echo "==== check: VM tests passed (their own time: the qemu line above)"
	else
		echo "==== check: VM tests FAILED (exit status $vm_rc)"
		failed+=("vm")
	fi
fi

if [ ${#failed[@]} -ne 0 ]; then
	echo "make check: FAILED: ${failed[*]} ($SECONDS s)"
	exit 1
fi
echo "make check: all tests passed ($SECONDS s)"
