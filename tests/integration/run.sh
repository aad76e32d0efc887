#!/usr/bin/env bash
# Run every tests/integration/test_*.sh against the build in $1.
# A test passes with exit status 0, is skipped with 77 (it could not run
# here: its "SKIP [test]: reason" line says why), and fails otherwise.
# Ends with "integration: N passed, N failed, N skipped"; exits 1 when a
# test failed, or when one was skipped and CSM_REQUIRE_ALL=1 (make check
# sets it: it has installed everything, so a skip there is a set-up bug).
set -uo pipefail
BUILD=${1:-build}
export BUILD
cd "$(dirname "$0")/../.."
# A skipping test writes its reason here too (lib.sh's skip).
CSM_SKIP_FILE=$(mktemp /tmp/csm-it-skip.XXXXXX)
export CSM_SKIP_FILE
trap 'rm -f "$CSM_SKIP_FILE"' EXIT
# A test that hangs is stopped (its whole process group, lib.sh's EXIT
# trap cleaning up) and counted as failed, so one hang costs minutes, not
# the CI run's whole budget.  CSM_TEST_TIMEOUT seconds per test.
TEST_TIMEOUT=${CSM_TEST_TIMEOUT:-900}
passed=0 failed=() skipped=() times=()
for t in tests/integration/test_*.sh; do
	name=$(basename "$t" .sh)
	start=$SECONDS
	: >"$CSM_SKIP_FILE"
	timeout -k 20 "$TEST_TIMEOUT" bash "$t" "$BUILD" </dev/null
	rc=$?
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "FAIL [$name]: still running after $TEST_TIMEOUT s (CSM_TEST_TIMEOUT): stopped" >&2
	fi
	times+=("$((SECONDS - start)) $name")
	case $rc in
	0)
		passed=$((passed + 1))
		echo "PASS $name ($((SECONDS - start)) s)"
		;;
	77)
		why=$(tail -n 1 "$CSM_SKIP_FILE")
		skipped+=("$name: ${why:-no reason given}")
		echo "SKIP $name: ${why:-no reason given}"
		;;
	*)
		failed+=("$name")
		echo "FAIL $name (exit status $rc, $((SECONDS - start)) s)"
		;;
	esac
done
echo
# Where the time went (docs/testing.md keeps the budget): the slowest first.
echo "integration times ($BUILD), slowest first, $SECONDS s in all:"
printf '%s\n' "${times[@]}" | sort -rn | head -n "${CSM_SLOWEST:-10}" | awk '{ printf "%6d s  %s\n", $1, $2 }'
echo
echo "integration tests ($BUILD):"
for s in "${skipped[@]}"; do echo "SKIP $s"; done
for f in "${failed[@]}"; do echo "FAIL $f"; done
echo "integration: $passed passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
[ ${#failed[@]} -eq 0 ] || exit 1
if [ ${#skipped[@]} -ne 0 ] && [ "${CSM_REQUIRE_ALL:-0}" = 1 ]; then
	echo "integration: CSM_REQUIRE_ALL=1 and ${#skipped[@]} test(s) skipped: every dependency" \
	     "should have been installed (tests/setup-deps.sh)" >&2
	exit 1
fi
exit 0
