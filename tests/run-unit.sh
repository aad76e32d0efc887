#!/usr/bin/env bash
# Run every unit test binary in $1/tests from the repository root (tests
# find their data under tests/data).  Counts cmocka's test cases from each
# binary's summary lines: passed, failed and skipped (cmocka's skip(), e.g.
# a fault-injection case in a build without CSM_TEST_BUILD); a binary that
# exits non-zero without saying which case failed counts as one failure.
# Ends with "unit: N passed, N failed, N skipped"; exits 1 when something
# failed, or was skipped while CSM_REQUIRE_ALL=1 (make check sets it).
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
OUT=$(mktemp /tmp/csm-unit.XXXXXX)
trap 'rm -f "$OUT"' EXIT
# count <PASSED|FAILED|SKIPPED>: the sum of cmocka's "[  WORD  ] N test(s)" lines.
count() { sed -n "s/^\[ *$1 *\] \([0-9][0-9]*\) test(s).*/\1/p" "$OUT" | awk '{ n += $1 } END { print n + 0 }'; }
passed=0 failed=0 skipped=0 bad=() skips=() times=()
# now_ms: wall clock in milliseconds (bash 5's EPOCHREALTIME).
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
run_start=$(now_ms)
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	start=$(now_ms)
	# A hung binary is stopped and fails (CSM_TEST_TIMEOUT, as run.sh).
	timeout -k 20 "${CSM_TEST_TIMEOUT:-900}" "$t" >"$OUT" 2>&1
	rc=$?
	[ $rc -ne 124 ] || echo "$(basename "$t"): still running after ${CSM_TEST_TIMEOUT:-900} s: stopped" >>"$OUT"
	times+=("$(($(now_ms) - start)) $(basename "$t")")
	cat "$OUT"
	p=$(count PASSED) f=$(count FAILED) s=$(count SKIPPED)
	[ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	[ "$f" -eq 0 ] || bad+=("$(basename "$t")")
	[ "$s" -eq 0 ] || skips+=("$(basename "$t"): $(sed -n 's/^\[  SKIPPED \] \([^0-9][^ ]*\)$/\1/p' "$OUT" | sort -u | paste -sd ' ')")
done
echo
echo "unit times ($BUILD), slowest first, $((($(now_ms) - run_start) / 1000)) s in all:"
printf '%s\n' "${times[@]}" | sort -rn | head -n "${CSM_SLOWEST:-5}" | awk '{ printf "%8d ms  %s\n", $1, $2 }'
for s in "${skips[@]}"; do echo "SKIP $s"; done
[ ${#bad[@]} -eq 0 ] || echo "unit tests FAILED: ${bad[*]}" >&2
echo "unit: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] || exit 1
if [ "$skipped" -ne 0 ] && [ "${CSM_REQUIRE_ALL:-0}" = 1 ]; then
	echo "unit: CSM_REQUIRE_ALL=1 and $skipped case(s) skipped (make check builds with TEST_BUILD=1)" >&2
	exit 1
fi
exit 0
