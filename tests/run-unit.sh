#!/usr/bin/env bash
# Run every unit test binary in $1/tests from the repository root (tests
# find their data under tests/data).
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
failed=()
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	if ! "$t"; then
		failed+=("$t")
	fi
done
if [ ${#failed[@]} -ne 0 ]; then
	echo "unit tests FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "unit tests: all passed ($BUILD)"
