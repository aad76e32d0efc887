#!/bin/bash
# Runs inside the test VM (started by stage2): runs tests/vm/guest/tests/test_*.sh
# in name order, or only the ones named as arguments (test_nfs, test_nfs.sh or nfs),
# each in its own directory /tmp/vmt/<name> with a time limit. Prints one
# "PASS <name> (<s>s)", "SKIP <name>: <reason>" (the test exited 77, see
# vmt_skip) or "FAIL <name> ..." line per test (a failed test's output follows,
# indented), then "vm-tests: N passed, N failed, N skipped". Each test's full
# output is kept in /xfer/results/<name>.log (build-vm/last-run/results/ on the
# host). Exit status: 0 if no test failed and, when CSM_REQUIRE_ALL=1 (make
# check), none was skipped.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export VMT_REPO=${VMT_REPO:-$(cd "$HERE/../../.." && pwd)}
RESULTS=${VMT_XFER:-/tmp}/results
TEST_TIMEOUT=${VMT_TEST_TIMEOUT:-150}
mkdir -p "$RESULTS"

tests=()
if [ $# -eq 0 ]; then
	for t in "$HERE"/tests/test_*.sh; do [ -f "$t" ] && tests+=("$t"); done
else
	for a in "$@"; do
		n=${a##*/}; n=${n%.sh}; n=test_${n#test_}
		tests+=("$HERE/tests/$n.sh")
	done
fi
[ ${#tests[@]} -gt 0 ] || { echo "vm-tests: no tests found"; exit 1; }

# After a test, end by PID whatever it left running (daemons it started and did
# not stop, e.g. when it was killed by the time limit), so tests stay independent.
user_pids() {
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ -s "/proc/$p/cmdline" ] && echo "$p"   # kernel threads have no cmdline
	done
}
reap_new() {   # $1 = file with the PIDs that existed before the test
	local p left=""
	for p in $(user_pids); do
		[ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
		grep -qx "$p" "$1" && continue
		[ -d "/proc/$p" ] || continue
		left="$left $p:$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-40)"
		kill -KILL "$p" 2>/dev/null
	done
	[ -z "$left" ] || echo "    (killed processes left behind:$left)"
}

pass=0 fail=0 failed="" skip=0
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	log=$RESULTS/$name.log
	if [ ! -f "$t" ]; then
		echo "FAIL $name (no such test: $t)"
		fail=$((fail + 1)); failed="$failed $name"; continue
	fi
	work=/tmp/vmt/$name
	rm -rf "$work"; mkdir -p "$work"
	user_pids > /tmp/vmt/.pids-before
	t0=$(date +%s%N)
	(cd "$work" && VMT_WORK=$work exec timeout -k 10 "$TEST_TIMEOUT" bash "$t") > "$log" 2>&1 < /dev/null
	rc=$?
	secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
	if [ $rc -eq 0 ]; then
		echo "PASS $name (${secs}s)"
		pass=$((pass + 1))
	elif [ $rc -eq 77 ]; then
		echo "SKIP $name: $(tail -n 1 "$work/.skip-reason" 2>/dev/null || echo "no reason given")"
		skip=$((skip + 1))
	else
		why="exit status $rc"
		[ $rc -eq 124 ] || [ $rc -eq 137 ] && why="timed out after ${TEST_TIMEOUT}s"
		echo "FAIL $name (${secs}s, $why); its output:"
		sed 's/^/    | /' "$log"
		fail=$((fail + 1)); failed="$failed $name"
	fi
	reap_new /tmp/vmt/.pids-before
done
[ -z "$failed" ] || echo "vm-tests: failed:$failed"
echo "vm-tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] || exit 1
if [ $skip -ne 0 ] && [ "${CSM_REQUIRE_ALL:-0}" = 1 ]; then
	echo "vm-tests: CSM_REQUIRE_ALL=1 and $skip test(s) skipped"
	exit 1
fi
exit 0
