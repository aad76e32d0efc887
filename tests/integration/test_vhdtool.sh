#!/usr/bin/env bash
# vhdtool, the project's vhd-util: every command, through chains, and its
# error paths (missing file, corrupt file, bad arguments: a message and a
# non-zero exit, never a crash).
source "$(dirname "$0")/lib.sh"

VEC="$REPO/tests/data/vectors"
D="$T/vhd"
mkdir -p "$D"

# expect_fail <what> <cmd...>: non-zero exit (not a signal), a message on stderr.
expect_fail() {
	local what=$1; shift
	set +e
	"$@" >"$T/out" 2>"$T/err"
	local rc=$?
	set -e
	if [ "$rc" -eq 0 ]; then
		fail "$what: exit 0"
	elif [ "$rc" -ge 128 ]; then
		fail "$what: killed by a signal (rc $rc)"
	elif [ ! -s "$T/err" ]; then
		fail "$what: no message"
	else
		pass "$what: refused ($(head -n1 "$T/err"))"
	fi
}

# ---- check and read on blktap's vectors ----
cp "$VEC/base.vhd" "$VEC/leaf.vhd" "$D/"
if "$VHDTOOL" check "$VEC"/dyn-*.vhd "$D/base.vhd" "$D/leaf.vhd" >"$T/out"; then
	pass "check accepts blktap's images"
else
	fail "check rejects a blktap image: $(cat "$T/out")"
fi
pat() { # pat <text>: one 2 MiB block of the vectors' pattern
	python3 -c "import sys; t=sys.argv[1]; u=(t*200)[:512]; sys.stdout.write(u*4096)" "$1"
}
pat leaf3 >"$T/leaf3"
pat base0 >"$T/base0"
"$VHDTOOL" read "$D/leaf.vhd" $((3 * 2097152)) 2097152 | cmp -s - "$T/leaf3" &&
	pass "read through the chain: block 3 from the leaf" || fail "block 3"
"$VHDTOOL" read "$D/leaf.vhd" 0 2097152 | cmp -s - "$T/base0" &&
	pass "read through the chain: block 0 from the parent" || fail "block 0"
"$VHDTOOL" read --single "$D/leaf.vhd" 0 2097152 | cmp -s - <(head -c 2097152 /dev/zero) &&
	pass "read --single sees only the leaf" || fail "read --single"
"$VHDTOOL" read --sectors "$D/leaf.vhd" 12288 4096 "$T/blk3" && cmp -s "$T/blk3" "$T/leaf3" &&
	pass "read --sectors into a file" || fail "read --sectors"

# ---- query ----
Q=$("$VHDTOOL" query "$D/leaf.vhd")
grep -qx 'blocks=32' <<<"$Q" && grep -qx 'allocated_blocks=2' <<<"$Q" &&
	pass "query: block counts" || fail "query: $Q"
[ "$("$VHDTOOL" query --chain "$D/leaf.vhd" | wc -l)" -eq 2 ] &&
	pass "query --chain: two links" || fail "query --chain"

# ---- create, snapshot, write through a chain ----
"$VHDTOOL" create "$D/a.vhd" 32M
head -c 3000000 /dev/urandom >"$T/d1"
"$VHDTOOL" write "$D/a.vhd" 777 "$T/d1"
"$VHDTOOL" snapshot "$D/b.vhd" "$D/a.vhd"
"$VHDTOOL" set-hidden "$D/a.vhd" 1
"$VHDTOOL" query "$D/a.vhd" | grep -qx 'hidden=1' && pass "set-hidden" || fail "set-hidden"
head -c 5000 /dev/urandom >"$T/d2"
"$VHDTOOL" write "$D/b.vhd" 1000001 - <"$T/d2"
python3 - "$T/d1" "$T/d2" "$T/model" <<'EOF'
import sys
m = bytearray(32 << 20)
d1 = open(sys.argv[1], 'rb').read(); m[777:777 + len(d1)] = d1
d2 = open(sys.argv[2], 'rb').read(); m[1000001:1000001 + len(d2)] = d2
open(sys.argv[3], 'wb').write(m)
EOF
"$VHDTOOL" read "$D/b.vhd" 0 32M | cmp -s - "$T/model" &&
	pass "unaligned write through the chain keeps the parent's bytes" || fail "chain write"
"$VHDTOOL" write --sectors "$D/b.vhd" 8 "$T/d2" 2>/dev/null &&
	pass "write --sectors" || fail "write --sectors"
python3 - "$T/model" "$T/d2" <<'EOF'
import sys
m = bytearray(open(sys.argv[1], 'rb').read())
d = open(sys.argv[2], 'rb').read(); m[4096:4096 + len(d)] = d
open(sys.argv[1], 'wb').write(m)
EOF
"$VHDTOOL" check "$D/a.vhd" "$D/b.vhd" >/dev/null && pass "check after chain writes" || fail "check after writes"

# ---- coalesce and set-parent ----
"$VHDTOOL" snapshot "$D/c.vhd" "$D/b.vhd"
OUT=$("$VHDTOOL" coalesce "$D/b.vhd" 2>"$T/progress")
# stderr is a file here, not a terminal: no progress lines in it
# (test_tool_conventions.sh sees them on a terminal).
grep -q '^Coalesced [0-9]* bytes$' <<<"$OUT" && ! [ -s "$T/progress" ] &&
	pass "coalesce: $OUT, no progress into a file" || fail "coalesce output: $OUT; stderr: $(cat "$T/progress")"
# a is not the image c was made from (b is): after a coalesce the data is
# the same, which set-parent cannot see, so it wants --unsafe (qemu-img
# commit, then rebase -u).
"$VHDTOOL" set-parent "$D/c.vhd" "$D/a.vhd" 2>/dev/null && fail "set-parent onto another uuid without --unsafe"
"$VHDTOOL" set-parent --unsafe "$D/c.vhd" "$D/a.vhd"
"$VHDTOOL" query "$D/c.vhd" | grep -qx 'parent_name=a.vhd' && pass "set-parent --unsafe after a coalesce" ||
	fail "set-parent"
rm "$D/b.vhd"
"$VHDTOOL" read "$D/c.vhd" 0 32M | cmp -s - "$T/model" &&
	pass "guest view unchanged after coalesce + set-parent" || fail "guest view after coalesce"
"$VHDTOOL" check "$D/a.vhd" "$D/c.vhd" >/dev/null && pass "check after coalesce" || fail "check after coalesce"

# ---- a coalesce killed after its first block (test builds have the point) ----
"$VHDTOOL" create "$D/kp.vhd" 16M
"$VHDTOOL" write "$D/kp.vhd" 0 "$T/d1"
"$VHDTOOL" snapshot "$D/kc.vhd" "$D/kp.vhd"
head -c 9000000 /dev/urandom >"$T/d3"
"$VHDTOOL" write "$D/kc.vhd" 1234567 "$T/d3"
"$VHDTOOL" read "$D/kc.vhd" 0 16M >"$T/kview"
set +e
( CSM_FAULT_POINT=vhd-coalesce:block "$VHDTOOL" coalesce "$D/kc.vhd" >/dev/null 2>&1; exit $? ) 2>/dev/null
rc=$?
set -e
if [ "$rc" -eq 137 ]; then
	"$VHDTOOL" check "$D/kp.vhd" "$D/kc.vhd" >/dev/null &&
		pass "coalesce killed mid-copy: parent and child pass check" ||
		fail "coalesce killed mid-copy: check fails: $("$VHDTOOL" check "$D/kp.vhd" 2>&1)"
	"$VHDTOOL" read "$D/kc.vhd" 0 16M | cmp -s - "$T/kview" &&
		pass "coalesce killed mid-copy: guest view unchanged" || fail "guest view after the kill"
	"$VHDTOOL" coalesce "$D/kc.vhd" >/dev/null 2>&1 &&
		"$VHDTOOL" read --single "$D/kp.vhd" 0 16M | cmp -s - "$T/kview" &&
		pass "coalesce rerun after the kill completes" || fail "coalesce rerun"
else
	skip_part "coalesce killed mid-copy: the fault point is in test builds only (make TEST_BUILD=1; rc $rc)"
fi

# ---- grow ----
"$VHDTOOL" grow "$D/a.vhd" 64M
"$VHDTOOL" query "$D/a.vhd" | grep -qx 'virtual_size=.* (67108864 bytes)' && pass "grow" || fail "grow"
"$VHDTOOL" check --no-parent "$D/a.vhd" >/dev/null && pass "check after grow" || fail "check after grow"
"$VHDTOOL" grow-undo "$D/a.vhd" && pass "grow-undo without a record is a no-op" || fail "grow-undo"

# ---- scan ----
mkdir -p "$T/scan"
cp "$D/a.vhd" "$D/c.vhd" "$T/scan/"
head -c 10000 /dev/urandom >"$T/scan/bad.vhd"
set +e
"$VHDTOOL" scan "$T/scan" >"$T/out" 2>"$T/err"
rc=$?
set -e
[ "$rc" -eq 1 ] && [ "$(wc -l <"$T/out")" -eq 3 ] &&
	grep -q "^vhd=a.vhd capacity=67108864 size=[0-9]* hidden=1 parent=none$" "$T/out" &&
	grep -q "^vhd=c.vhd capacity=33554432 size=[0-9]* hidden=0 parent=a.vhd$" "$T/out" &&
	grep -q "^vhd=.*bad.vhd scan-error=-22 error-message='.*'$" "$T/out" &&
	pass "scan of a directory with a corrupt file: every file listed" ||
	fail "scan (rc $rc): $(cat "$T/out")"
"$VHDTOOL" scan --phys "$T/scan/c.vhd" | grep -q ' phys_size=[0-9]* allocated_blocks=[0-9]* ' &&
	pass "scan --phys" || fail "scan --phys"

# ---- error paths ----
expect_fail "check of a missing file" "$VHDTOOL" check "$D/nothere.vhd"
expect_fail "check of a corrupt file" "$VHDTOOL" check "$T/scan/bad.vhd"
cp "$D/a.vhd" "$D/flip.vhd"
printf '\x01' | dd of="$D/flip.vhd" bs=1 seek=$(( $(stat -c %s "$D/flip.vhd") - 100 )) conv=notrunc 2>/dev/null
expect_fail "check of a footer with a flipped byte" "$VHDTOOL" check "$D/flip.vhd"
grep -q footer "$T/err" || fail "check message does not name the footer: $(cat "$T/err")"
cp "$D/leaf.vhd" "$T/orphan.vhd"
expect_fail "check of an orphan (parent missing)" "$VHDTOOL" check "$T/orphan.vhd"

# ---- check --repair: what a killed writer leaves ----
# A 16 MiB image: 8-entry BAT at 1536, batmap header at 2048 (checksum at
# +24), map at 2560.  A full block sets its batmap bit.
"$VHDTOOL" create "$D/rep.vhd" 16M
head -c 2097152 /dev/urandom >"$T/blk"
"$VHDTOOL" write "$D/rep.vhd" 0 "$T/blk"
"$VHDTOOL" read "$D/rep.vhd" 0 16M >"$T/repview"
# The map written, its header not (blktap writes them apart): a stale checksum.
printf '\x00' | dd of="$D/rep.vhd" bs=1 seek=$((2048 + 27)) conv=notrunc 2>/dev/null
# set-hidden killed after the primary footer: the copy at 0 differs.
printf '\x01' | dd of="$D/rep.vhd" bs=1 seek=85 conv=notrunc 2>/dev/null
expect_fail "check of a torn batmap and footer copy" "$VHDTOOL" check "$D/rep.vhd"
if "$VHDTOOL" check --repair "$D/rep.vhd" >"$T/out" 2>"$T/err" &&
	grep -qx "$D/rep.vhd: repaired footer, batmap" "$T/out" &&
	grep -qx "$D/rep.vhd is valid" "$T/out"; then
	pass "check --repair mends the footer copy and the batmap checksum"
else
	fail "check --repair: $(cat "$T/out" "$T/err")"
fi
"$VHDTOOL" check "$D/rep.vhd" >/dev/null && "$VHDTOOL" query "$D/rep.vhd" | grep -qx has_batmap=1 &&
	"$VHDTOOL" read "$D/rep.vhd" 0 16M | cmp -s - "$T/repview" &&
	pass "repaired image: check passes, batmap trusted, data unchanged" || fail "after check --repair"
"$VHDTOOL" check --repair "$D/rep.vhd" >"$T/out" && ! grep -q repaired "$T/out" &&
	pass "check --repair of a sound image repairs nothing" || fail "second repair: $(cat "$T/out")"
expect_fail "check --repair of a file that is no VHD" "$VHDTOOL" check --repair "$T/scan/bad.vhd"
"$VHDTOOL" check --no-parent "$T/orphan.vhd" >/dev/null && pass "check --no-parent of an orphan" ||
	fail "check --no-parent"
expect_fail "read of an orphan" "$VHDTOOL" read "$T/orphan.vhd" 0 512
expect_fail "read beyond the end" "$VHDTOOL" read "$D/a.vhd" 67108864 1
expect_fail "read of a missing file" "$VHDTOOL" read "$D/nothere.vhd" 0 1
expect_fail "write of a missing source" "$VHDTOOL" write "$D/a.vhd" 0 "$T/nothere"
expect_fail "coalesce of a dynamic disk" "$VHDTOOL" coalesce "$D/a.vhd"
expect_fail "coalesce of a corrupt file" "$VHDTOOL" coalesce "$T/scan/bad.vhd"
expect_fail "set-parent to a missing parent" "$VHDTOOL" set-parent "$D/c.vhd" "$D/nothere.vhd"
expect_fail "set-parent of a dynamic disk" "$VHDTOOL" set-parent "$D/a.vhd" "$D/c.vhd"
expect_fail "bad number" "$VHDTOOL" read "$D/a.vhd" 12x 1
expect_fail "unknown option" "$VHDTOOL" read --bogus "$D/a.vhd" 0 1
expect_fail "missing arguments" "$VHDTOOL" coalesce
expect_fail "unknown command" "$VHDTOOL" frobnicate
set +e
"$VHDTOOL" scan "$D/nothere.vhd" "$D/a.vhd" >"$T/out" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q "nothere.vhd scan-error=-2 " "$T/out" && grep -q "^vhd=a.vhd " "$T/out" &&
	pass "scan of a missing file: error line, the next file still scanned" ||
	fail "scan of a missing file (rc $rc): $(cat "$T/out")"
"$VHDTOOL" check "$D/a.vhd" "$D/c.vhd" >/dev/null && pass "images intact after the error cases" ||
	fail "images damaged by an error case"

# A growing file is reserved ahead (lib/vhdchain.c, RESERVE_AHEAD) and what
# was not used is given back when the image closes: no space held past EOF.
"$VHDTOOL" create "$D/grow.vhd" 200M >/dev/null
head -c $((5 << 20)) /dev/urandom >"$T/five"
"$VHDTOOL" write "$D/grow.vhd" $((7 << 20)) "$T/five" >/dev/null
size=$(stat -c %s "$D/grow.vhd") used=$(($(stat -c %b "$D/grow.vhd") * $(stat -c %B "$D/grow.vhd")))
[ "$used" -le $((size + 65536)) ] && pass "no reservation left past the end after a write ($used bytes used, $size long)" ||
	fail "$((used - size)) bytes held past the end of a closed image"
"$VHDTOOL" read "$D/grow.vhd" $((7 << 20)) $((5 << 20)) | cmp -s - "$T/five" && "$VHDTOOL" check "$D/grow.vhd" >/dev/null &&
	pass "the grown image reads back and checks" || fail "the grown image"

finish
