#!/usr/bin/env bash
# Run every tests/integration/test_*.sh against the build in $1.
set -uo pipefail
BUILD=${1:-build}
export BUILD
cd "$(dirname "$0")/../.."
failed=()
for t in tests/integration/test_*.sh; do
	if ! bash "$t" "$BUILD"; then
		failed+=("$t")
	fi
done
if [ ${#failed[@]} -ne 0 ]; then
	echo "integration tests FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "integration tests: all passed ($BUILD)"
