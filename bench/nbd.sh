#!/usr/bin/env bash
# bench/nbd.sh <build-dir>
#
# The data path against its floor, side by side in one run: I/O through
# csm-nbdkit.so on a 3-deep VHD chain against nbdkit's own file plugin on a
# raw file holding the same guest data.  Both are served over a Unix socket
# by the same nbdkit and driven by the same client, `qemu-img bench`:
#   seq-read    1 MiB reads over the whole disk, 8 in flight
#   rand-read   4 KiB reads, 16 in flight, each 31 MiB (7919 pages) past
#               the last, wrapping: every request in another 2 MiB block
#   seq-write-new, rand-write-new   the same as writes, both images put
#               back before every run (the chain's leaf empty, as a
#               snapshot leaves it; the raw file as it was): every chain
#               write pays the first write to a block (the leaf file grows,
#               bitmap, BAT)
#               A third server, nbdkit's file plugin on a sparse raw file
#               made anew before every run, shows what a first write to a
#               file's new pages costs without any VHD (the "sparse" column)
#   seq-write, rand-write   the same writes again, nothing put back: the
#               leaf's blocks are allocated (a VM's steady state)
# Each figure is the median of RUNS (default 5) runs, the two servers taking
# turns (A B A B ...).  The page cache is warm (the images are read once
# first); nothing is flushed inside a run: both servers would pay the same
# fdatasync.
# Environment: SIZE (virtual size, default 512M), RUNS, KINDS (default all
# six, in the order above), TMPDIR.
set -euo pipefail

BUILD=${1:?usage: bench/nbd.sh <build-dir>}
BUILD=$(cd "$BUILD" && pwd)
PLUGIN=$BUILD/csm-nbdkit.so
VHDTOOL=$BUILD/vhdtool
SIZE=${SIZE:-512M}
RUNS=${RUNS:-5}
for c in nbdkit qemu-img; do
	command -v $c >/dev/null || { echo "bench/nbd.sh: $c is missing (tests/setup-deps.sh test)" >&2; exit 1; }
done
[ -f "$PLUGIN" ] || { echo "bench/nbd.sh: $PLUGIN is not built (make)" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/csm-nbd-bench.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT

bytes=$(numfmt --from=iec "$SIZE")
MiB=1048576

# ---- the data: base full, middle every 3rd block half, leaf scattered 4 KiB ----
echo "making a 3-deep chain of $SIZE (base full, middle a third, leaf scattered) ..."
"$VHDTOOL" create "$W/base.vhd" "$SIZE" >/dev/null
head -c "$bytes" /dev/urandom >"$W/fill"
"$VHDTOOL" write "$W/base.vhd" 0 "$W/fill" >/dev/null
"$VHDTOOL" snapshot "$W/mid.vhd" "$W/base.vhd" >/dev/null
head -c $((MiB)) /dev/urandom >"$W/half"
for ((off = 0; off < bytes; off += 6 * MiB)); do
	"$VHDTOOL" write "$W/mid.vhd" $((off + 512 * 1024)) "$W/half" >/dev/null
done
"$VHDTOOL" snapshot "$W/leaf.vhd" "$W/mid.vhd" >/dev/null
head -c 4096 /dev/urandom >"$W/page"
for ((off = 0; off < bytes; off += 5 * MiB + 40960)); do
	"$VHDTOOL" write "$W/leaf.vhd" "$off" "$W/page" >/dev/null
done
# Three links, written and closed: the leaf as every write run starts it.
cp "$W/leaf.vhd" "$W/leaf.orig"
"$VHDTOOL" read "$W/leaf.vhd" 0 "$SIZE" >"$W/floor.raw"
cp "$W/floor.raw" "$W/floor.orig"
rm -f "$W/fill"

start() { # start <name> <nbdkit args...>: serve on $W/<name>.sock
	local name=$1; shift
	rm -f "$W/$name.sock"
	nbdkit -U "$W/$name.sock" -P "$W/$name.pid" "$@"
	PIDS+=("$(cat "$W/$name.pid")")
}
stop() {
	local pid
	pid=$(cat "$W/$1.pid")
	kill "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}
serve_floor() { start floor file "file=$W/floor.raw"; }
serve_csm() { start csm "$PLUGIN" "file=$W/leaf.vhd" format=vhd; }
serve_sparse() {
	rm -f "$W/sparse.raw"
	truncate -s "$bytes" "$W/sparse.raw"
	start sparse file "file=$W/sparse.raw"
}

# run <name> <kind>: seconds of one qemu-img bench run
run() {
	local uri="nbd+unix:///?socket=$W/$1.sock" args
	case $2 in
	seq-read) args=(-c $((bytes / MiB)) -d 8 -s $MiB) ;;
	seq-write) args=(-w -c $((bytes / MiB)) -d 8 -s $MiB) ;;
	rand-read) args=(-c 20000 -d 16 -s 4096 -S $((4096 * 7919))) ;;
	rand-write) args=(-w -c 20000 -d 16 -s 4096 -S $((4096 * 7919))) ;;
	esac
	qemu-img bench -f raw "${args[@]}" "$uri" | sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Warm the cache: read both once.
serve_floor; serve_csm
run floor seq-read >/dev/null
run csm seq-read >/dev/null

printf '\n%-14s %14s %13s %7s %8s   %s\n' kind floor csm ratio target "sparse ($SIZE, $RUNS runs, medians)"
serve_sparse
for kind in ${KINDS:-seq-read rand-read seq-write-new seq-write rand-write-new rand-write}; do
	servers=(floor csm)
	[ "${kind%-new}" = "$kind" ] || servers+=(sparse)
	for who in "${servers[@]}"; do : >"$W/t.$who"; done
	for ((i = 0; i < RUNS; i++)); do
		for who in "${servers[@]}"; do
			if [ "${kind%-new}" != "$kind" ]; then
				stop $who
				case $who in
				floor) cp "$W/floor.orig" "$W/floor.raw"; serve_floor ;;
				csm) cp "$W/leaf.orig" "$W/leaf.vhd"; serve_csm ;;
				sparse) serve_sparse ;;
				esac
				# No dirty pages of the put-back (or of the last run) left
				# to write back during this run: each starts the same.
				sync
			fi
			run $who "${kind%-new}" >>"$W/t.$who"
		done
	done
	f=$(median <"$W/t.floor")
	c=$(median <"$W/t.csm")
	sp=-
	[ "${kind%-new}" = "$kind" ] || sp=$(median <"$W/t.sparse")
	case $kind in
	seq-*) unit="MiB/s"; n=$((bytes / MiB)); target=0.80 ;;
	*) unit="IOPS"; n=20000; target=0.60 ;;
	esac
	awk -v k="$kind" -v f="$f" -v c="$c" -v s="$sp" -v n="$n" -v u="$unit" -v t="$target" 'BEGIN {
		fr = n / f; cr = n / c
		printf "%-14s %8.0f %-5s %7.0f %-5s %7.2f %8.2f %-5s", k, fr, u, cr, u, cr / fr, t,
		       (cr / fr >= t) ? "ok" : "BELOW"
		if (s != "-") printf " %7.0f %s", n / s, u
		printf "\n"
	}'
done
stop floor
stop csm
stop sparse
"$VHDTOOL" check "$W/leaf.vhd" "$W/mid.vhd" "$W/base.vhd" >/dev/null && echo "(the chain passes check after the runs)"
