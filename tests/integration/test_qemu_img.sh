#!/usr/bin/env bash
# VHDs written by our library must be readable by an independent
# implementation: qemu-img (format vpc) must see the right virtual size
# and the data we wrote, and must not report errors.
#   tests/integration/test_qemu_img.sh <build-dir>
set -euo pipefail

BUILD=${1:-build}
VHDTOOL="$(cd "$BUILD" && pwd)/vhdtool"
NAME=test_qemu_img

if ! command -v qemu-img >/dev/null 2>&1; then
	# 77: tests/integration/run.sh reports a skip, never a pass.
	why="missing qemu-img (Debian package qemu-utils); tests/setup-deps.sh test installs it"
	echo "SKIP [$NAME]: $why"
	[ -z "${CSM_SKIP_FILE:-}" ] || echo "$why" >>"$CSM_SKIP_FILE"
	exit 77
fi
[ -x "$VHDTOOL" ] || { echo "FAIL [$NAME]: $VHDTOOL not built" >&2; exit 1; }

T=$(mktemp -d /tmp/csm-qemu-img.XXXXXX)
trap 'rm -rf "$T"' EXIT

die() { echo "FAIL [$NAME]: $*" >&2; exit 1; }

# qemu-img check: vpc has no checker in most qemu versions (exit 63,
# "does not support checks"); anything else but 0 is an error report.
check_image() {
	local f=$1 rc=0
	qemu-img check -f vpc "$f" >"$T/check.out" 2>&1 || rc=$?
	case $rc in
	0 | 63) ;;
	*) cat "$T/check.out" >&2; die "qemu-img check $f exited $rc" ;;
	esac
}

virtual_size() {
	qemu-img info -f vpc --output=json "$1" |
		sed -n 's/^ *"virtual-size": *\([0-9]*\).*/\1/p' | head -n 1
}

expect_size() {
	local f=$1 want=$2 got
	check_image "$f"
	got=$(virtual_size "$f")
	[ "$got" = "$want" ] || die "$f: qemu-img virtual size $got, want $want"
	echo "ok   [$NAME]: $(basename "$f") virtual size $want"
}

# Compare bytes [off, off+len) of qemu's raw view with a file.
expect_bytes() {
	local raw=$1 off=$2 len=$3 want=$4
	dd if="$raw" of="$T/slice" bs=4096 iflag=skip_bytes,count_bytes \
		skip="$off" count="$len" status=none
	cmp -s "$T/slice" "$want" || die "qemu reads different data at $off+$len"
}

# --- empty images of several sizes ------------------------------------------
for spec in 2M:2097152 64M:67108864 1G:1073741824 100G:107374182400; do
	size=${spec%%:*} bytes=${spec#*:}
	"$VHDTOOL" create "$T/e$size.vhd" "$size"
	expect_size "$T/e$size.vhd" "$bytes"
done

# --- data written by us, read by qemu ------------------------------------------
head -c 3000000 /dev/urandom >"$T/d1"
head -c 4097 /dev/urandom >"$T/d2"
head -c 512 /dev/zero | tr '\0' 'Q' >"$T/d3"
"$VHDTOOL" create "$T/data.vhd" 64M
"$VHDTOOL" write "$T/data.vhd" 1000 "$T/d1"
"$VHDTOOL" write "$T/data.vhd" $((40 * 1048576 - 7)) "$T/d2"
"$VHDTOOL" write "$T/data.vhd" $((64 * 1048576 - 512)) "$T/d3"
expect_size "$T/data.vhd" 67108864
qemu-img convert -f vpc -O raw "$T/data.vhd" "$T/data.raw"
expect_bytes "$T/data.raw" 1000 3000000 "$T/d1"
expect_bytes "$T/data.raw" $((40 * 1048576 - 7)) 4097 "$T/d2"
expect_bytes "$T/data.raw" $((64 * 1048576 - 512)) 512 "$T/d3"
head -c 1000 /dev/zero >"$T/z"
expect_bytes "$T/data.raw" 0 1000 "$T/z"
echo "ok   [$NAME]: qemu reads the data we wrote"

# Our own reader agrees with qemu.
"$VHDTOOL" read "$T/data.vhd" 1000 3000000 >"$T/back"
cmp -s "$T/back" "$T/d1" || die "vhdtool read differs from what was written"

# --- grow beyond the BAT, then read the old data through qemu --------------------
"$VHDTOOL" grow "$T/data.vhd" 1G
expect_size "$T/data.vhd" 1073741824
"$VHDTOOL" write "$T/data.vhd" $((900 * 1048576 + 3)) "$T/d2"
check_image "$T/data.vhd"
qemu-img convert -f vpc -O raw "$T/data.vhd" "$T/grown.raw"
expect_bytes "$T/grown.raw" 1000 3000000 "$T/d1"
expect_bytes "$T/grown.raw" $((40 * 1048576 - 7)) 4097 "$T/d2"
expect_bytes "$T/grown.raw" $((900 * 1048576 + 3)) 4097 "$T/d2"
echo "ok   [$NAME]: data survives grow (qemu view)"

# --- snapshot child: qemu sees the size (it ignores the parent's data) -----------
"$VHDTOOL" snapshot "$T/child.vhd" "$T/data.vhd"
expect_size "$T/child.vhd" 1073741824

echo "$NAME: all passed"
