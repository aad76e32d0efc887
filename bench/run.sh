#!/usr/bin/env bash
# bench/run.sh <build-dir> [bench_calls options...]
#
# Wall time per driver call (fork + exec + read stdout + wait), as xapi
# pays it.  `make bench` runs this with the default build directory.
#   1. checks that bench_calls sends byte-for-byte the requests smcall
#      (i.e. xapi) would send;
#   2. runs build/bench/bench_calls on the FileSR driver and prints the
#      table (median, p10, p90, min, max in ms; n);
#   3. if hyperfine is installed, a second opinion on sr_get_driver_info
#      and vdi_create (skipped with NO_HYPERFINE=1).
# Environment: DRIVER (default <build-dir>/FileSR), TMPDIR (where the
# temporary SRs live; default /tmp).  Extra arguments go to bench_calls,
# e.g. `bench/run.sh build -n 50 --only info,scan`.
set -euo pipefail

BUILD=${1:?usage: bench/run.sh <build-dir> [bench_calls options...]}
shift
BUILD=$(cd "$BUILD" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
DRIVER=${DRIVER:-$BUILD/FileSR}
BENCH=$BUILD/bench/bench_calls
SMCALL=$BUILD/smcall
CONF=$REPO/examples/dconf/file.conf

[ -x "$BENCH" ] || { echo "run.sh: $BENCH missing (make $BENCH)" >&2; exit 1; }
[ -x "$DRIVER" ] || { echo "run.sh: $DRIVER missing" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/csm-bench-run.XXXXXX")
trap 'rm -rf "$T"' EXIT

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
fs=$(df -PT "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $2 }')
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $cpu, $(nproc) CPUs, kernel $(uname -r), ${TMPDIR:-/tmp} on $fs"
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
	dirty=$(git -C "$REPO" status --porcelain -- lib drivers include | wc -l)
	echo "commit:  $(git -C "$REPO" rev-parse --short HEAD)$([ "$dirty" -eq 0 ] || echo " + $dirty uncommitted change(s) in lib/ drivers/ include/")"
else
	echo "commit:  (not a git checkout)"
fi
echo "driver:  $DRIVER"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) before the run"
echo

# 1. The benchmark's requests are the ones xapi sends.
if [ -x "$SMCALL" ]; then
	export FILE_SR_DIR=$T/sr SR_UUID=0b5e4c57-1d0e-4e4b-9a53-c0ffee000001
	export VDI_UUID=0b5e4c57-1d0e-4e4b-9a53-c0ffee000002
	mkdir "$T/req"
	"$BENCH" --dump-requests "$T/req"
	same=yes
	for c in sr_get_driver_info "sr_create 0" sr_attach "vdi_create 1G" \
		 "vdi_snapshot --vdi $VDI_UUID" sr_scan; do
		# shellcheck disable=SC2086
		"$SMCALL" --print-request "$DRIVER" "$CONF" $c >"$T/want"
		if ! cmp -s "$T/want" "$T/req/${c%% *}"; then
			echo "WARNING: bench_calls' ${c%% *} request differs from smcall's" >&2
			same=no
		fi
	done
	echo "requests identical to smcall --print-request: $same"
	unset FILE_SR_DIR SR_UUID VDI_UUID
fi

# 2. The benchmark.
"$BENCH" "$@" "$DRIVER"

echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) after the run"

# 3. A second opinion (hyperfine exec's the driver without a shell, -N).
if [ -z "${NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null 2>&1; then
	echo
	echo "hyperfine second opinion (mean of 200 runs after 10 warm-up):"
	export SM_LOCK_DIR=$T/h/lock SM_MOUNT_BASE=$T/h/mnt FILE_SR_DIR=$T/h/sr
	export SR_UUID=0b5e4c57-1d0e-4e4b-9a53-c0ffee000003
	"$SMCALL" "$DRIVER" "$CONF" sr_create 0 >/dev/null
	"$SMCALL" "$DRIVER" "$CONF" sr_attach >/dev/null
	info=$("$SMCALL" --print-request "$DRIVER" "$CONF" sr_get_driver_info)
	create=$("$SMCALL" --print-request "$DRIVER" "$CONF" vdi_create 1G)
	# hyperfine only sees exit codes; the driver exits 0 with a fault, so
	# check one answer of each first.
	for r in "$info" "$create"; do
		if "$DRIVER" "$r" | grep -q '<fault>'; then
			echo "run.sh: driver answers a fault; no hyperfine run" >&2
			exit 1
		fi
	done
	hyperfine -N --style basic --warmup 10 --runs 200 \
		-n true "/bin/true '$info'" \
		-n sr_get_driver_info "'$DRIVER' '$info'" \
		-n 'vdi_create 1 GiB' "'$DRIVER' '$create'" 2>&1 |
		grep -E '^Benchmark|Time \(mean|Range' || true
	echo "VDIs made by hyperfine's vdi_create runs: $(find "$FILE_SR_DIR" -name '*.vhd' | wc -l)"
fi
