#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-only
# Smoke-run every built libFuzzer target for a short while.
#   tests/fuzz/run.sh <dir-with-built-fuzzers> [seconds-per-target]
# Each build-dir/fuzz_X runs over a scratch copy of tests/fuzz/corpus_X
# (so the repository is never modified); any crash, leak or sanitizer
# report fails the run.  FUZZ_TIME overrides the default 20 seconds.
set -u

dir=${1:?usage: tests/fuzz/run.sh <dir-with-built-fuzzers> [seconds]}
secs=${2:-${FUZZ_TIME:-20}}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/csm-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT INT TERM

# UBSan only reports by default; a report must fail the run.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

found=0
failed=0
for bin in "$dir"/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	name=$(basename "$bin")
	name=${name#fuzz_}
	found=$((found + 1))
	work="$scratch/$name"
	mkdir -p "$work/corpus" "$work/artifacts"
	if [ -d "$here/corpus_$name" ]; then
		cp -R "$here/corpus_$name/." "$work/corpus/"
	fi
	echo "fuzz_$name: ${secs}s over $(ls "$work/corpus" | wc -l) seed(s)"
	if ! "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=0 -artifact_prefix="$work/artifacts/" \
		"$work/corpus" >"$work/log" 2>&1; then
		echo "fuzz_$name: FAILED" >&2
		tail -n 60 "$work/log" >&2
		for a in "$work/artifacts"/*; do
			[ -f "$a" ] || continue
			keep="$dir/$(basename "$a")-$name"
			cp "$a" "$keep" && echo "fuzz_$name: reproducer kept in $keep" >&2
		done
		failed=$((failed + 1))
	else
		grep -E '^(#[0-9]+[[:space:]]+DONE|Done)' "$work/log" | tail -n 1
	fi
done

if [ "$found" -eq 0 ]; then
	echo "no fuzz_* binaries in $dir" >&2
	exit 1
fi
# Nothing here is ever skipped: a target that cannot run fails.
echo "fuzz: $((found - failed)) passed, $failed failed"
if [ "$failed" -ne 0 ]; then
	echo "$failed of $found fuzz target(s) failed" >&2
	exit 1
fi
echo "all $found fuzz target(s) ran clean"
