#!/usr/bin/env bash
# Size and start-up cost of the executables of one build, or of two side by
# side (e.g. before and after a change to how they are linked):
#
#   bench/size.sh <build-dir> [<other-build-dir>]
#
# Sizes: the file as built (with debug info), size(1)'s text/data/bss, the
# file after strip (what make install puts on a host), and how many shared
# objects the dynamic loader maps (ldd).  Start-up: bench_calls' spawn
# floor and sr_get_driver_info (no SR access, so it is almost all process
# start) for FileSR, EXTSR and NFSSR; with two builds the runs alternate,
# A B A B, ROUNDS times (default 3), so a machine that slows down mid-run
# slows both.  N samples per run (default 200) after 10 warm-up samples.
#
# The older build can come from a second worktree, e.g.
#   git worktree add ../csm-old <commit> && make -C ../csm-old
#   bench/size.sh build ../csm-old/build
set -euo pipefail

A=${1:?usage: bench/size.sh <build-dir> [<other-build-dir>]}
B=${2:-}
A=$(cd "$A" && pwd)
[ -z "$B" ] || B=$(cd "$B" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$A/bench/bench_calls
N=${N:-200}
ROUNDS=${ROUNDS:-3}
[ -x "$BENCH" ] || { echo "size.sh: $BENCH missing (make $BENCH)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/csm-bench-size.XXXXXX")
trap 'rm -rf "$T"' EXIT

echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(nproc) CPUs, kernel $(uname -r)"
echo "commit:  $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '(not a git checkout)')"
echo "A:       $A"
[ -z "$B" ] || echo "B:       $B"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) before the run"

echo
printf '%-4s %-8s %12s %12s %9s %9s %12s %7s\n' build binary "file bytes" text data bss stripped "shared"
for build in "$A" ${B:+"$B"}; do
	tag=A; [ "$build" = "$A" ] || tag=B
	for b in FileSR EXTSR NFSSR csm-gc vhdtool smcall; do
		f=$build/$b
		[ -x "$f" ] || { printf '%-4s %-8s (missing)\n' "$tag" "$b"; continue; }
		strip -o "$T/stripped" "$f"
		# shellcheck disable=SC2046
		set -- $(size "$f" | awk 'NR == 2 { print $1, $2, $3 }')
		printf '%-4s %-8s %12s %12s %9s %9s %12s %7s\n' "$tag" "$b" \
			"$(stat -c %s "$f")" "$1" "$2" "$3" "$(stat -c %s "$T/stripped")" \
			"$(ldd "$f" | grep -c '=>' || true)"
	done
done

echo
echo "sr_get_driver_info (bench_calls -n $N -w 10 --only floor,info), wall ms per call:"
printf '%-5s %-6s %-4s %8s %8s %8s %8s\n' round driver build floor median cpu-med -floor
for r in $(seq 1 "$ROUNDS"); do
	for d in FileSR EXTSR NFSSR; do
		for build in "$A" ${B:+"$B"}; do
			tag=A; [ "$build" = "$A" ] || tag=B
			"$BENCH" -n "$N" -w 10 --only floor,info "$build/$d" >"$T/out"
			awk -v r="$r" -v d="$d" -v t="$tag" '
				/^spawn floor/ { floor = $5 }
				/^sr_get_driver_info/ { printf "%-5s %-6s %-4s %8s %8s %8s %8s\n", r, d, t, floor, $3, $(NF - 1), $NF }
			' "$T/out" | tee -a "$T/rows"
		done
	done
done

echo
echo "median over the $ROUNDS rounds:"
for d in FileSR EXTSR NFSSR; do
	for tag in A ${B:+B}; do
		med() { awk -v d="$d" -v t="$tag" -v c="$1" '$2 == d && $3 == t { print $c }' "$T/rows" |
			sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
		printf '  %-6s %s: median %s ms, cpu-med %s ms, floor %s ms\n' "$d" "$tag" "$(med 5)" "$(med 6)" "$(med 4)"
	done
done
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) after the run"
