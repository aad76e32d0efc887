#!/usr/bin/env bash
# The data path's nbdkit plugin (csm-nbdkit.so) with real clients: qemu-img,
# qemu-io and nbdcopy over nbd+unix:// against a 3-deep VHD chain in a
# FileSR-style directory; what they wrote read back through vhdtool and the
# independent reader (tests/tools/vhd_read.py), every image checked; two
# clients at once; kill -9 of the server between writes and flushes; pause,
# snapshot and resume over the control socket while a client writes; a
# pause that cannot drain; a resume that cannot reopen; raw files and raw
# VDIs; read-only; bad parameters.
source "$(dirname "$0")/lib.sh"

need nbdkit=nbdkit nbdcopy=libnbd-bin nbdinfo=libnbd-bin qemu-io=qemu-utils qemu-img=qemu-utils \
	python3=python3 stdbuf=coreutils
PLUGIN="$BUILD/csm-nbdkit.so"
CTL_T="$BUILD/tests/nbd_ctl_t"
VHD_READ="$REPO/tests/tools/vhd_read.py"
[ -f "$PLUGIN" ] || { fail "$PLUGIN is not built (make all builds it)"; finish; }

SR="$T/sr"
mkdir -p "$SR"
SOCK="$T/nbd.sock" CTL="$T/ctl.sock" PIDF="$T/nbdkit.pid"
URI="nbd+unix:///?socket=$SOCK"
A=11111111-1111-4111-8111-111111111111
B=22222222-2222-4222-8222-222222222222
C=33333333-3333-4333-8333-333333333333
S=44444444-4444-4444-8444-444444444444
R=55555555-5555-4555-8555-555555555555
MiB=1048576

# A sanitizer build's plugin needs its runtime loaded first into nbdkit
# (which is not instrumented); nbdkit's own leaks are not ours.
NBDKIT=(nbdkit)
pre=$(nbdkit_preload "$PLUGIN")
[ -z "$pre" ] || NBDKIT=(env "LD_PRELOAD=$pre" ASAN_OPTIONS=detect_leaks=0 nbdkit)

cleanup() {
	[ -f "$PIDF" ] && kill -9 "$(cat "$PIDF")" 2>/dev/null
	rm -rf "$T"
}

# serve <plugin args...>: start nbdkit (it returns once the socket is ready).
serve() {
	rm -f "$SOCK" "$PIDF"
	"${NBDKIT[@]}" --log=stderr -U "$SOCK" -P "$PIDF" "$PLUGIN" "$@" 2>>"$T/nbdkit.err"
}
gone() { # gone <pid>: wait up to 10 s for it to end
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}
stop() {
	local pid
	pid=$(cat "$PIDF")
	kill "$pid"
	gone "$pid" || fail "nbdkit $pid did not stop on SIGTERM"
	rm -f "$PIDF"
}
kill9() {
	local pid
	pid=$(cat "$PIDF")
	kill -9 "$pid"
	gone "$pid"
	rm -f "$PIDF" "$SOCK"
}
ctl() { "$CTL_T" "$CTL" 5000 "$@"; }
qio() { qemu-io -f raw "$@" "$URI" >>"$T/qio.out" 2>&1; }

# The expected guest view: model <file> <size> (zeros); pat <file> <byte> <off> <len>;
# put <file> <off> <datafile>.
model() { truncate -s 0 "$1"; truncate -s "$2" "$1"; }
pat() {
	python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[3])); f.write(bytes([int(sys.argv[2],0)])*int(sys.argv[4]))' "$@"
}
put() {
	python3 -c 'import sys; d=open(sys.argv[3],"rb").read(); f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); f.write(d)' "$@"
}
same() { cmp -s "$1" "$2"; }
view() { "$VHDTOOL" read "$1" 0 "$2"; }   # the chain's guest view, by vhdtool
indep() { python3 "$VHD_READ" --raw "$1"; }   # the same, by the independent reader
check_all() { "$VHDTOOL" check "$@" >"$T/check.out" 2>&1; }

# ---- a 3-deep chain A <- B <- C, as FileSR lays it out -----------------------
"$VHDTOOL" create "$SR/$A.vhd" 64M
head -c $((3 * MiB + 1234)) /dev/urandom >"$T/d1"
"$VHDTOOL" write "$SR/$A.vhd" 0 "$T/d1"
"$VHDTOOL" snapshot "$SR/$B.vhd" "$SR/$A.vhd"
head -c $((2 * MiB)) /dev/urandom >"$T/d2"
"$VHDTOOL" write "$SR/$B.vhd" $((5 * MiB + 512)) "$T/d2"
"$VHDTOOL" snapshot "$SR/$C.vhd" "$SR/$B.vhd"
M="$T/model"
model "$M" $((64 * MiB))
put "$M" 0 "$T/d1"
put "$M" $((5 * MiB + 512)) "$T/d2"

if serve dir="$SR" vdi="$C" ctl="$CTL"; then
	pass "nbdkit serves VDI $C of a directory SR"
else
	fail "nbdkit did not start: $(cat "$T/nbdkit.err")"
	finish
fi
ctl status | grep -q 'state=running .*format=vhd depth=3 writable=1 size=67108864' &&
	pass "status: a running 3-deep VHD chain" || fail "status: $(ctl status 2>&1)"
qemu-img info --output=json "$URI" | grep -q '"virtual-size": 67108864' &&
	pass "qemu-img info: 64 MiB" || fail "qemu-img info: $(qemu-img info "$URI" 2>&1)"
nbdinfo "$URI" >"$T/info"
grep -q 'can_multi_conn: true' "$T/info" && grep -q 'can_flush: true' "$T/info" &&
	grep -q 'can_fua: true' "$T/info" && grep -q 'is_read_only: false' "$T/info" &&
	pass "nbdinfo: writable, flush, FUA, multi-conn" || fail "nbdinfo: $(cat "$T/info")"

# ---- qemu-io patterns: aligned, unaligned, across a 2 MiB block edge ------------
qio -c "write -P 0x11 $((8 * MiB)) $((1 * MiB))" -c "write -P 0x22 $((2 * MiB - 700)) 5000" \
	-c "write -P 0x33 $((5 * MiB + 100)) 3000" -c "write -P 0x44 $((63 * MiB)) $MiB" -c flush &&
	pass "qemu-io wrote four patterns and flushed" || fail "qemu-io: $(tail -5 "$T/qio.out")"
pat "$M" 0x11 $((8 * MiB)) $MiB
pat "$M" 0x22 $((2 * MiB - 700)) 5000
pat "$M" 0x33 $((5 * MiB + 100)) 3000
pat "$M" 0x44 $((63 * MiB)) $MiB
qio -c "read -P 0x22 $((2 * MiB - 700)) 5000" -c "read -P 0x44 $((63 * MiB)) $MiB" &&
	pass "qemu-io reads the patterns back" || fail "qemu-io read -P: $(tail -5 "$T/qio.out")"
nbdcopy "$URI" "$T/copy.raw"
same "$T/copy.raw" "$M" && pass "nbdcopy of the whole VDI is the expected view" ||
	fail "nbdcopy: the VDI differs from the model"
qemu-img convert -f raw -O raw "$URI" "$T/conv.raw"
same "$T/conv.raw" "$M" && pass "qemu-img convert reads the same" || fail "qemu-img convert differs"

# ---- two clients at once (multi-conn) ---------------------------------------------
qio -c "write -P 0x55 $((20 * MiB)) $((3 * MiB))" -c flush &
p1=$!
qio -c "write -P 0x66 $((30 * MiB + 512)) $((3 * MiB))" -c flush &
p2=$!
wait $p1 && wait $p2 && pass "two qemu-io clients wrote at once" || fail "parallel clients: $(tail -5 "$T/qio.out")"
pat "$M" 0x55 $((20 * MiB)) $((3 * MiB))
pat "$M" 0x66 $((30 * MiB + 512)) $((3 * MiB))
nbdcopy --connections=4 "$URI" "$T/copy.raw"
same "$T/copy.raw" "$M" && pass "nbdcopy over 4 connections: both clients' data" ||
	fail "multi-conn: the VDI differs from the model"

# ---- the files: sound, and the same view through two readers ------------------------
stop
check_all "$SR/$A.vhd" "$SR/$B.vhd" "$SR/$C.vhd" && pass "vhdtool check: the chain is sound" ||
	fail "vhdtool check: $(cat "$T/check.out")"
view "$SR/$C.vhd" 64M | cmp -s - "$M" && pass "vhdtool reads what the clients wrote" ||
	fail "vhdtool read differs from the model"
indep "$SR/$C.vhd" | cmp -s - "$M" && pass "the independent reader reads it too" ||
	fail "vhd_read.py differs from the model"
view "$SR/$B.vhd" 64M | cmp -s - <(head -c $((64 * MiB)) /dev/zero | python3 -c '
import sys
m = bytearray(sys.stdin.buffer.read())
d1 = open(sys.argv[1], "rb").read(); m[:len(d1)] = d1
d2 = open(sys.argv[2], "rb").read(); m[5*2**20+512:5*2**20+512+len(d2)] = d2
sys.stdout.buffer.write(m)' "$T/d1" "$T/d2") &&
	pass "the parents are untouched (writes land in the leaf)" || fail "a parent changed"

# ---- kill -9 between writes and flushes ------------------------------------------------
# Round r: W1 (new blocks and old ones) then flush, acknowledged; W2
# acknowledged, not flushed; kill -9.  W1 must be there, W2 may or may not
# (sector by sector), every image must pass check, and the server reopens it.
for r in 1 2; do
	serve dir="$SR" vdi="$C"
	base=$(((36 + 10 * r) * MiB))
	: >"$T/kio.out"
	stdbuf -oL qemu-io -f raw -c "write -P 0x7$r $base $((3 * MiB))" -c "write -P 0x8$r 0 4096" \
		-c flush -c "write -P 0x9$r $((base + 5 * MiB)) $((2 * MiB))" \
		-c "write -P 0xa$r $((8 * MiB)) 8192" -c "sleep 30000" "$URI" >"$T/kio.out" 2>&1 &
	qp=$!
	for _ in $(seq 100); do [ "$(grep -c '^wrote' "$T/kio.out")" -ge 4 ] && break; sleep 0.1; done
	if [ "$(grep -c '^wrote' "$T/kio.out")" -lt 4 ]; then
		fail "kill round $r: qemu-io did not write: $(cat "$T/kio.out")"
	fi
	kill9
	kill "$qp" 2>/dev/null; wait "$qp" 2>/dev/null || true
	pat "$M" 0x7$r $base $((3 * MiB))
	pat "$M" 0x8$r 0 4096
	check_all "$SR/$A.vhd" "$SR/$B.vhd" "$SR/$C.vhd" &&
		pass "kill -9 round $r: every image passes check" ||
		fail "kill -9 round $r: check: $(cat "$T/check.out")"
	view "$SR/$C.vhd" 64M >"$T/after"
	python3 - "$T/after" "$M" $((base + 5 * MiB)) $((2 * MiB)) "0x9$r" $((8 * MiB)) 8192 "0xa$r" <<'EOF' &&
import sys
got = open(sys.argv[1], "rb").read()
old = bytearray(open(sys.argv[2], "rb").read())
# Outside the unflushed writes: exactly the flushed state.
unflushed = []
for i in range(3, len(sys.argv), 3):
    off, n, b = int(sys.argv[i]), int(sys.argv[i + 1]), int(sys.argv[i + 2], 0)
    unflushed.append((off, n, b))
for off, n, b in unflushed:
    for s in range(off, off + n, 512):
        sec = got[s:s + 512]
        if sec != old[s:s + 512] and sec != bytes([b]) * 512:
            sys.exit("sector %d: neither the old data nor the unflushed write" % (s // 512))
    old[off:off + n] = got[off:off + n]
if got != bytes(old):
    first = next(i for i in range(len(got)) if got[i] != old[i])
    sys.exit("flushed data lost or changed, first at byte %d" % first)
EOF
		pass "kill -9 round $r: every flushed write is there, unflushed ones whole sectors or absent" ||
		fail "kill -9 round $r: the view after the kill is wrong"
	# What the kill left is the model from now on (the unflushed writes as found).
	cp "$T/after" "$M"
	serve dir="$SR" vdi="$C"
	nbdcopy "$URI" "$T/copy.raw"
	same "$T/copy.raw" "$M" && pass "kill -9 round $r: the server reopens it and serves that view" ||
		fail "kill -9 round $r: reopened view differs"
	stop
done
check_all "$SR/$A.vhd" "$SR/$B.vhd" "$SR/$C.vhd" && pass "after the reopens: check passes" ||
	fail "after the reopens: $(cat "$T/check.out")"

# ---- pause, snapshot, resume while a client writes -----------------------------------
serve dir="$SR" vdi="$C" ctl="$CTL"
cmds=()
for i in $(seq 0 59); do cmds+=(-c "write -P 0x5a $((32 * MiB + i * 65536)) 65536" -c "sleep 40"); done
: >"$T/pio.out"
stdbuf -oL qemu-io -f raw "${cmds[@]}" -c flush "$URI" >"$T/pio.out" 2>&1 &
wp=$!
for _ in $(seq 100); do [ "$(grep -c '^wrote' "$T/pio.out")" -ge 10 ] && break; sleep 0.05; done
if ctl pause >"$T/ans"; then
	pass "pause while a client writes: $(cat "$T/ans")"
else
	fail "pause: $(cat "$T/ans")"
fi
ctl status | grep -q 'state=paused' && pass "status: paused" || fail "status after pause: $(ctl status)"
n_at_pause=$(grep -c '^wrote' "$T/pio.out")
# The snapshot, as FileSR does it: the leaf's data becomes the base S, a new
# empty leaf under the VDI's name points at it.
mv "$SR/$C.vhd" "$SR/$S.vhd"
"$VHDTOOL" snapshot "$SR/$C.vhd" "$SR/$S.vhd"
sleep 0.3
[ "$(grep -c '^wrote' "$T/pio.out")" -eq "$n_at_pause" ] &&
	pass "paused: the writer's requests wait ($n_at_pause of 60 done)" ||
	fail "paused, yet writes completed: $n_at_pause -> $(grep -c '^wrote' "$T/pio.out")"
snap_sum=$(sha1sum <"$SR/$S.vhd")
ctl resume >"$T/ans" && pass "resume: $(cat "$T/ans")" || fail "resume: $(cat "$T/ans")"
ctl status | grep -q 'state=running .*depth=4' && pass "status: running, the chain is 4 deep now" ||
	fail "status after resume: $(ctl status)"
wait "$wp" && pass "the writer finished after the resume" || fail "writer: $(tail -5 "$T/pio.out")"
[ "$(grep -c '^wrote' "$T/pio.out")" -eq 60 ] || fail "the writer wrote $(grep -c '^wrote' "$T/pio.out") of 60"
pat "$M" 0x5a $((32 * MiB)) $((60 * 65536))
nbdcopy "$URI" "$T/copy.raw"
same "$T/copy.raw" "$M" && pass "after the resume: every write is in the VDI" ||
	fail "after the resume: the VDI differs from the model"
stop
[ "$(sha1sum <"$SR/$S.vhd")" = "$snap_sum" ] &&
	pass "the snapshot's base was not written after the resume" || fail "the snapshot changed after resume"
check_all "$SR/$A.vhd" "$SR/$B.vhd" "$SR/$S.vhd" "$SR/$C.vhd" && pass "check after the snapshot" ||
	fail "check after the snapshot: $(cat "$T/check.out")"
view "$SR/$C.vhd" 64M | cmp -s - "$M" && indep "$SR/$C.vhd" | cmp -s - "$M" &&
	pass "vhdtool and the independent reader agree with the clients" || fail "the leaf's view differs"
view "$SR/$S.vhd" 64M >"$T/snapview"
python3 - "$T/snapview" "$M" $((32 * MiB)) <<'EOF' &&
import sys
snap = open(sys.argv[1], "rb").read()
now = open(sys.argv[2], "rb").read()
base = int(sys.argv[3]); chunk = 65536; n = 60
# The snapshot is the VDI at the pause: outside the writer's region the
# same as now; inside, each 64 KiB write whole or not at all, in order.
if snap[:base] != now[:base] or snap[base + n * chunk:] != now[base + n * chunk:]:
    sys.exit("the snapshot differs outside the writer's region")
done = [snap[base + i * chunk:base + (i + 1) * chunk] == b"\x5a" * chunk for i in range(n)]
if not all(done[:done.index(False)] if False in done else done) or any(done[done.index(False):] if False in done else []):
    sys.exit("the snapshot holds writes out of order: %s" % done)
if all(done) or not any(done):
    sys.exit("the pause was not in the middle of the writes: %s" % sum(done))
EOF
	pass "the snapshot holds exactly the writes before the pause" || fail "the snapshot's content is wrong"

# ---- a pause that cannot drain answers in bounded time and changes nothing ---------------
if grep -q CSM_FAULT_PAUSE "$PLUGIN"; then
	rm -f "$T/go"
	CSM_FAULT_PAUSE=nbd-plugin:write CSM_FAULT_PAUSE_MS=20000 CSM_FAULT_PAUSE_GO="$T/go" \
		serve dir="$SR" vdi="$C" ctl="$CTL"
	qio -c "write -P 0x6b $((12 * MiB)) 4096" &
	qp=$!
	for _ in $(seq 50); do ctl status | grep -q 'inflight=1' && break; sleep 0.1; done
	t0=$(date +%s%N)
	if "$CTL_T" "$CTL" 5000 pause 500 >"$T/ans" 2>"$T/ans.err"; then
		fail "pause with a request stuck in flight answered ok"
	else
		ms=$((($(date +%s%N) - t0) / 1000000))
		grep -q 'still in flight' "$T/ans" && [ "$ms" -lt 3000 ] &&
			pass "a stuck pause: fault in $ms ms ($(cat "$T/ans"))" ||
			fail "stuck pause: $ms ms, $(cat "$T/ans" "$T/ans.err")"
	fi
	ctl status | grep -q 'state=running inflight=1' && pass "after the failed pause the old chain is served" ||
		fail "status after a failed pause: $(ctl status)"
	touch "$T/go"
	wait "$qp" && pass "the stuck write completes" || fail "the stuck write failed"
	pat "$M" 0x6b $((12 * MiB)) 4096
	nbdcopy "$URI" "$T/copy.raw"
	same "$T/copy.raw" "$M" && pass "and its data is served" || fail "data after the stuck write"
	# A pause that succeeds after its asker gave up is undone: nobody would resume it.
	qio -c "write -P 0x6b $((12 * MiB)) 4096" &
	qp=$!
	for _ in $(seq 50); do ctl status | grep -q 'inflight=1' && break; sleep 0.1; done
	"$CTL_T" "$CTL" 300 pause 10000 >/dev/null 2>&1 && fail "a 300 ms client got an answer to a stuck pause"
	touch "$T/go"
	wait "$qp" || fail "the second stuck write failed"
	sleep 0.3
	ctl status | grep -q 'state=running' && pass "a pause whose asker has gone is undone" ||
		fail "a pause nobody waits for stayed: $(ctl status)"
	stop
else
	skip_part "a stuck pause: the plugin's fault point is in test builds only (make TEST_BUILD=1)"
fi

# ---- a resume that cannot reopen holds requests, a later one serves -------------------
serve dir="$SR" vdi="$C" ctl="$CTL"
ctl pause >/dev/null
mv "$SR/$C.vhd" "$T/away.vhd"
if ctl resume >"$T/ans" 2>/dev/null; then
	fail "resume with the leaf gone answered ok"
else
	grep -q '^err resume: reopen failed' "$T/ans" && pass "resume with the leaf gone: $(cut -c1-100 "$T/ans")" ||
		fail "resume failure answer: $(cat "$T/ans")"
fi
ctl status | grep -q 'state=broken .*error=' && pass "status: broken, with the reason" ||
	fail "status after a failed resume: $(ctl status)"
timeout 20 qemu-io -f raw -c "read -P 0x6b $((12 * MiB)) 4096" "$URI" >"$T/held.out" 2>&1 &
hp=$!
sleep 0.5
kill -0 "$hp" 2>/dev/null && pass "a read waits while the server cannot reopen" ||
	fail "a read did not wait: $(cat "$T/held.out")"
mv "$T/away.vhd" "$SR/$C.vhd"
ctl resume >/dev/null && wait "$hp" && pass "the next resume reopens and the held read completes" ||
	fail "resume after the leaf came back: $(cat "$T/held.out")"
ctl bogus >"$T/ans" 2>/dev/null || true
grep -q '^err unknown command' "$T/ans" &&
	pass "unknown command: an err answer" || fail "unknown command: $(cat "$T/ans")"
stop
[ ! -e "$CTL" ] && pass "the control socket is removed at exit" || fail "$CTL left behind"

# ---- read-only --------------------------------------------------------------------------
sum=$(tree_sum "$SR")
serve dir="$SR" vdi="$C" readonly=true
nbdinfo "$URI" | grep -q 'is_read_only: true' && pass "readonly=true: the export is read-only" ||
	fail "readonly export: $(nbdinfo "$URI")"
if qemu-io -f raw -c "write -P 0x01 0 4096" "$URI" >"$T/ro.out" 2>&1 &&
	! grep -qi 'error\|denied\|read-only' "$T/ro.out"; then
	fail "a write to a read-only export succeeded"
else
	pass "a write to the read-only export is refused"
fi
nbdcopy "$URI" "$T/copy.raw"
same "$T/copy.raw" "$M" && pass "read-only: reads through the chain" || fail "read-only read differs"
stop
[ "$(tree_sum "$SR")" = "$sum" ] && pass "read-only: no file changed" || fail "read-only serving changed a file"

# ---- raw: a file, and a raw VDI of the SR ---------------------------------------------
head -c $((16 * MiB)) /dev/urandom >"$T/disk.raw"
cp "$T/disk.raw" "$T/rmodel"
serve file="$T/disk.raw" format=raw ctl="$CTL"
ctl status | grep -q 'format=raw depth=1 writable=1 size=16777216' && pass "raw file: status" ||
	fail "raw status: $(ctl status)"
nbdinfo "$URI" | grep -q 'can_zero: true' && nbdinfo "$URI" | grep -q 'can_trim: true' &&
	pass "raw file: zero and trim offered" || fail "raw: $(nbdinfo "$URI")"
qio -c "write -P 0x31 100 5000" -c "write -z $((4 * MiB)) $MiB" -c "write -z -u $((8 * MiB)) $MiB" \
	-c "discard $((12 * MiB)) $MiB" -c flush && pass "raw: write, zero, zero+unmap, discard" ||
	fail "raw qemu-io: $(tail -5 "$T/qio.out")"
pat "$T/rmodel" 0x31 100 5000
pat "$T/rmodel" 0 $((4 * MiB)) $MiB
pat "$T/rmodel" 0 $((8 * MiB)) $MiB
nbdcopy "$URI" "$T/copy.raw"
stop
# A discarded range reads back as anything: compare around it.
python3 - "$T/copy.raw" "$T/disk.raw" "$T/rmodel" $((12 * MiB)) $MiB <<'EOF' &&
import sys
a, b, m = (open(p, "rb").read() for p in sys.argv[1:4])
o, n = int(sys.argv[4]), int(sys.argv[5])
cut = lambda d: d[:o] + d[o + n:]
sys.exit(0 if cut(a) == cut(m) and cut(b) == cut(m) else 1)
EOF
	pass "raw: the file and the served view hold what was written, zeros where zeroed" ||
	fail "raw: content differs"
head -c $((8 * MiB)) /dev/urandom >"$SR/$R.raw"
cp "$SR/$R.raw" "$T/rmodel"
serve dir="$SR" vdi="$R" ctl="$CTL"
ctl status | grep -q 'format=raw depth=1' && pass "a raw VDI of the SR: found from the store" ||
	fail "raw VDI status: $(ctl status)"
qio -c "write -P 0x41 $((3 * MiB + 7)) 10000" -c "write -z $MiB 4096" -c flush
pat "$T/rmodel" 0x41 $((3 * MiB + 7)) 10000
pat "$T/rmodel" 0 $MiB 4096
stop
same "$SR/$R.raw" "$T/rmodel" && pass "raw VDI: written in place (zero by writing zeros)" ||
	fail "raw VDI content differs"

# ---- a VHD by file=, and bad parameters: a message, no server ------------------------
serve file="$SR/$C.vhd" format=vhd readonly=1
nbdcopy "$URI" "$T/copy.raw"
same "$T/copy.raw" "$M" && pass "file=<vhd> format=vhd serves the chain" || fail "file= vhd differs"
stop
bad() { # bad <what> <expected text> <plugin args...>
	local what=$1 text=$2; shift 2
	: >"$T/nbdkit.err"
	if serve "$@"; then
		fail "$what: nbdkit started"
		stop
	elif grep -q "$text" "$T/nbdkit.err"; then
		pass "$what: refused ($(grep -m1 "$text" "$T/nbdkit.err" | cut -c1-120))"
	else
		fail "$what: no message with \"$text\": $(cat "$T/nbdkit.err")"
	fi
}
bad "no vdi" "needs vdi=UUID" dir="$SR"
bad "a VDI that is not there" "no VDI" dir="$SR" vdi=66666666-6666-4666-8666-666666666666
bad "two reaches" "exactly one of" dir="$SR" file="$T/disk.raw" vdi="$C"
bad "file= without format" "need format=" file="$T/disk.raw"
bad "format=qcow2" "format is vhd or raw" file="$T/disk.raw" format=qcow2
bad "format=raw on a VHD VDI" "is vhd" dir="$SR" vdi="$C" format=raw
bad "lvm= without sr=" "needs sr=UUID" lvm=/dev/null vdi="$C"
bad "a file that is not a VHD" "" file="$T/disk.raw" format=vhd
bad "an unknown parameter" "unknown parameter" dir="$SR" vdi="$C" colour=blue
echo "not a socket" >"$T/notsock"
bad "ctl= on a regular file" "not a socket" dir="$SR" vdi="$C" ctl="$T/notsock"

finish
