#!/usr/bin/env bash
# The data path: vdi_activate serves the VDI over NBD (nbdkit with
# csm-nbdkit.so) on the socket vdi_attach names in params_nbd; real clients
# (qemu-io, qemu-img, nbdcopy) read and write through it; what they wrote
# is read back with vhdtool after vdi_deactivate.  Also: a second activate
# finds the same server, read-only activation refuses writes, a snapshot
# while a client writes keeps every acknowledged write and serves the new
# chain, a killed server is recovered by the next activate, a stuck pause
# is a fault in bounded time with the old chain still served, and
# deactivate leaves no process and no socket.
source "$(dirname "$0")/lib.sh"
need nbdkit=nbdkit qemu-io=qemu-utils qemu-img=qemu-utils nbdcopy=libnbd-bin
[ -f "$BUILD/csm-nbdkit.so" ] || skip "$BUILD/csm-nbdkit.so is not built (nbdkit-plugin-dev missing at build time?)"
export CSM_NBD=on
# A sanitizer build's plugin needs its runtime loaded before nbdkit starts.
nbdkit_for_drivers "$BUILD/csm-nbdkit.so"
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
MiB=1048576

call unit "$D" "$C" sr_create 0 && call unit "$D" "$C" sr_attach || { finish; exit 1; }
call vdi_info "$D" "$C" vdi_create 64M && V=$(member uuid)
SOCK="$CSM_NBD_DIR/$SR_UUID/$V"
REC="$SOCK.server"
URI="nbd+unix:///$V?socket=$SOCK"

server_pid() { sed -n 's/^pid=//p' "$REC" 2>/dev/null; }
# alive <pid>: running and not a zombie (init may not have reaped it yet).
alive() {
	local st
	st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
# gone_within <pid> <seconds>
gone_within() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do alive "$1" || return 0; sleep 0.1; done
	return 1
}
qio() { timeout 30 qemu-io -f raw "$@" "$URI" >"$T/qio" 2>&1; }
pattern() { head -c "$2" /dev/zero | tr '\0' "\\$(printf '%03o' "$1")"; }

# ---- activate, write through NBD, deactivate, read back with vhdtool -----------
call attach "$D" "$C" vdi_attach --vdi "$V" true
grep -q "nbd:unix:$SOCK:exportname=$V" <<<"$OUT" || fail "params_nbd does not name $SOCK"
call unit "$D" "$C" vdi_activate --vdi "$V" true && pass "vdi_activate"
[ -S "$SOCK" ] && [ -f "$REC" ] || fail "no socket or record after vdi_activate"
P1=$(server_pid)
alive "${P1:-0}" || fail "no live server after vdi_activate (record: $(cat "$REC" 2>/dev/null))"
qemu-img info "$URI" | grep -q "virtual size: 64 MiB" && pass "qemu-img info through $URI" ||
	fail "qemu-img info: $(qemu-img info "$URI" 2>&1)"
qio -c "write -P 0x5a 1M 1M" -c "write -P 0x11 63M 1M" -c flush || fail "qemu-io write: $(cat "$T/qio")"
call unit "$D" "$C" vdi_activate --vdi "$V" true
[ "$(server_pid)" = "$P1" ] && alive "$P1" && pass "a second activate keeps the same server (pid $P1)" ||
	fail "second activate: pid $(server_pid), was $P1"
call unit "$D" "$C" vdi_deactivate --vdi "$V" && pass "vdi_deactivate"
gone_within "$P1" 5 || fail "server $P1 still runs after vdi_deactivate"
[ ! -e "$SOCK" ] && [ ! -e "$REC" ] && [ ! -e "$SOCK.ctl" ] && [ ! -e "$SOCK.pid" ] ||
	fail "deactivate left files: $(ls "$CSM_NBD_DIR/$SR_UUID")"
"$VHDTOOL" read "$FILE_SR_DIR/$V.vhd" $MiB $MiB | cmp -s - <(pattern 0x5a $MiB) &&
	"$VHDTOOL" read "$FILE_SR_DIR/$V.vhd" $((63 * MiB)) $MiB | cmp -s - <(pattern 0x11 $MiB) &&
	pass "vhdtool reads what qemu-io wrote through the server" || fail "data written over NBD is not in the VHD"
"$VHDTOOL" read "$FILE_SR_DIR/$V.vhd" 0 $MiB | cmp -s - <(pattern 0 $MiB) || fail "unwritten first MiB is not zero"

# ---- read-only activation serves read-only ------------------------------------
call unit "$D" "$C" vdi_activate --vdi "$V" false
grep -qx 'mode=RO' "$REC" 2>/dev/null || fail "read-only activation's record: $(cat "$REC" 2>/dev/null)"
# qemu-io opens read-write unless told -r: the server's read-only export refuses that.
if qio -c "write -P 0x77 1M 4k"; then
	fail "a write through a read-only activation succeeded"
elif grep -qi "permission denied\|read-only\|read only" "$T/qio"; then
	pass "read-only activation refuses writes"
else
	fail "read-only activation: the write failed for another reason: $(cat "$T/qio")"
fi
qio -r -c "read -P 0x5a 1M 1M" || fail "read through a read-only activation: $(cat "$T/qio")"
fault 46 "$D" "$C" vdi_activate --vdi "$V" true && pass "read-write activate of a read-only served VDI is a fault"
call unit "$D" "$C" vdi_deactivate --vdi "$V"
"$VHDTOOL" read "$FILE_SR_DIR/$V.vhd" $MiB 4096 | cmp -s - <(pattern 0x5a 4096) || fail "read-only server changed data"

# ---- snapshot while a client writes --------------------------------------------
# One qemu-io connection writes 1 MiB regions 8..27 in order, one every
# 150 ms; the snapshot is taken while it goes.  Every write is
# acknowledged (qemu-io fails otherwise), so the leaf must hold all of
# them; the snapshot must hold a prefix of them (the ones before the pause).
call unit "$D" "$C" vdi_activate --vdi "$V" true
P2=$(server_pid)
N=20
args=()
for ((i = 0; i < N; i++)); do args+=(-c "write -P $((i + 1)) $(((8 + i) * MiB)) 1M" -c "sleep 150"); done
qio -c "write -P 1 8M 1M" || fail "first write: $(cat "$T/qio")"
( timeout 60 qemu-io -f raw "${args[@]}" "$URI" >"$T/writer" 2>&1; echo $? >"$T/writer.rc" ) &
WRITER=$!
sleep 0.6
call vdi_info "$D" "$C" vdi_snapshot --vdi "$V" && SNAP=$(member uuid) && pass "vdi_snapshot of a served VDI while a client writes"
wait "$WRITER"
[ "$(cat "$T/writer.rc")" = 0 ] && ! grep -qi error "$T/writer" && pass "the client's writes all succeeded across the snapshot" ||
	fail "writer: rc $(cat "$T/writer.rc"): $(tail -3 "$T/writer")"
[ "$(server_pid)" = "$P2" ] || fail "the snapshot restarted the server"
Q=$("$VHDTOOL" query "$FILE_SR_DIR/$V.vhd")
grep -qx 'type=differencing' <<<"$Q" || fail "the leaf is not a child after the snapshot"
# The served chain is the new one: a write now lands in the leaf, not the base.
qio -c "write -P 0xee 40M 1M" -c flush || fail "write after snapshot: $(cat "$T/qio")"
call unit "$D" "$C" vdi_deactivate --vdi "$V"
BASE=$(sed -n 's/^parent_name=\(.*\)\.vhd$/\1/p' <<<"$Q")
"$VHDTOOL" read --single "$FILE_SR_DIR/$V.vhd" $((40 * MiB)) $MiB | cmp -s - <(pattern 0xee $MiB) &&
	"$VHDTOOL" read "$FILE_SR_DIR/$BASE.vhd" $((40 * MiB)) $MiB | cmp -s - <(pattern 0 $MiB) &&
	pass "after the snapshot the server writes into the new leaf" || fail "a write after the snapshot did not land in the new leaf"
missing=0
for ((i = 0; i < N; i++)); do
	"$VHDTOOL" read "$FILE_SR_DIR/$V.vhd" $(((8 + i) * MiB)) $MiB | cmp -s - <(pattern $((i + 1)) $MiB) || missing=$((missing + 1))
done
[ $missing = 0 ] && pass "the leaf holds every acknowledged write" || fail "$missing acknowledged writes missing from the leaf"
held=0 prefix=1
for ((i = 0; i < N; i++)); do
	"$VHDTOOL" read "$FILE_SR_DIR/$SNAP.vhd" $(((8 + i) * MiB)) $MiB "$T/region"
	if cmp -s "$T/region" <(pattern $((i + 1)) $MiB); then
		[ $prefix = 1 ] || fail "snapshot holds region $i but not an earlier one"
		held=$((held + 1))
	elif cmp -s "$T/region" <(pattern 0 $MiB); then
		prefix=0
	else
		fail "snapshot region $i is neither its pattern nor zero"
	fi
done
[ $held -ge 1 ] && [ $held -lt $N ] && pass "the snapshot holds the first $held of $N writes, the leaf all" ||
	fail "snapshot holds $held of $N writes (wanted some but not all)"
"$VHDTOOL" check "$FILE_SR_DIR/$V.vhd" "$FILE_SR_DIR/$SNAP.vhd" "$FILE_SR_DIR/$BASE.vhd" >"$T/check" 2>&1 ||
	fail "vhdtool check after the snapshot: $(cat "$T/check")"

# ---- two clients at once ---------------------------------------------------------
call unit "$D" "$C" vdi_activate --vdi "$V" true
head -c $((2 * MiB)) /dev/urandom >"$T/rand"
( timeout 30 qemu-io -f raw -c "write -P 0x21 44M 2M" "$URI" >"$T/c1" 2>&1; echo $? >"$T/c1.rc" ) &
( timeout 30 nbdcopy "$T/rand" "$URI" 2>"$T/c2" ; echo $? >"$T/c2.rc" ) &
wait
# nbdcopy writes the file at offset 0 (2 MiB); qemu-io 44M..46M.
[ "$(cat "$T/c1.rc")" = 0 ] && [ "$(cat "$T/c2.rc")" = 0 ] || fail "two clients: $(cat "$T/c1" "$T/c2")"

# ---- kill -9 the server: what was flushed survives, activate recovers ----------
P3=$(server_pid)
qio -c "write -P 0x33 48M 1M" -c flush || fail "write before kill: $(cat "$T/qio")"
kill -9 "$P3"
gone_within "$P3" 5 || fail "kill -9 did not end $P3"
"$VHDTOOL" check "$FILE_SR_DIR/$V.vhd" >"$T/check" 2>&1 && pass "the image of a killed server passes vhdtool check" ||
	fail "vhdtool check after kill -9: $(cat "$T/check")"
call unit "$D" "$C" vdi_activate --vdi "$V" true
P4=$(server_pid)
[ -n "$P4" ] && [ "$P4" != "$P3" ] && alive "$P4" && pass "activate after kill -9 starts a new server (pid $P4)" ||
	fail "activate after kill -9: pid '$P4' (was $P3)"
qio -c "read -P 0x33 48M 1M" -c "read -P 0x21 44M 2M" || fail "flushed data after kill -9: $(cat "$T/qio")"
timeout 30 nbdcopy "$URI" "$T/all.raw" && head -c $((2 * MiB)) "$T/all.raw" | cmp -s - "$T/rand" &&
	pass "flushed writes (two clients, then kill -9) read back after restart" || fail "nbdcopy's data lost"

# ---- a stuck pause: a fault within the bound, the old chain still served ------
export CSM_NBD_CTL_MS=2000
LEAF_BEFORE=$("$VHDTOOL" query "$FILE_SR_DIR/$V.vhd" | sed -n 's/^parent_name=//p')
NFILES=$(ls "$FILE_SR_DIR" | wc -l)
kill -STOP "$P4"
start=$SECONDS
fault 82 "$D" "$C" vdi_snapshot --vdi "$V" && pass "vdi_snapshot of a stuck server is fault 82"
took=$((SECONDS - start))
[ $took -le 6 ] && pass "the stuck pause failed in ${took} s (bound 2 s + resume try)" || fail "the stuck pause took $took s"
grep -q "no answer" <<<"$OUT" || fail "the fault does not say the server did not answer: $OUT"
kill -CONT "$P4"
[ "$("$VHDTOOL" query "$FILE_SR_DIR/$V.vhd" | sed -n 's/^parent_name=//p')" = "$LEAF_BEFORE" ] &&
	[ "$(ls "$FILE_SR_DIR" | wc -l)" = "$NFILES" ] || fail "the failed snapshot changed the chain"
qio -c "write -P 0x44 50M 1M" -c "read -P 0x44 50M 1M" -c "read -P 0x33 48M 1M" &&
	pass "after SIGCONT the old chain is served (not left paused)" || fail "server after SIGCONT: $(cat "$T/qio")"
unset CSM_NBD_CTL_MS

# ---- deactivate leaves nothing --------------------------------------------------
call unit "$D" "$C" vdi_deactivate --vdi "$V"
gone_within "$P4" 5 || fail "server $P4 still runs after vdi_deactivate"
[ -z "$(ls -A "$CSM_NBD_DIR/$SR_UUID")" ] && pass "deactivate leaves no process and no file" ||
	fail "left in $CSM_NBD_DIR/$SR_UUID: $(ls -A "$CSM_NBD_DIR/$SR_UUID")"
"$VHDTOOL" read "$FILE_SR_DIR/$V.vhd" $((50 * MiB)) $MiB | cmp -s - <(pattern 0x44 $MiB) ||
	fail "the write after SIGCONT is not in the VHD"
call unit "$D" "$C" vdi_deactivate --vdi "$V" && pass "vdi_deactivate with no server is a success"

# ---- a dead record without a process: cleaned, and activate starts afresh ----
mkdir -p "$CSM_NBD_DIR/$SR_UUID"
printf 'pid=999999\nstart=1\nmode=RW\nsocket=%s\nctl=%s.ctl\n' "$SOCK" "$SOCK" >"$REC"
call unit "$D" "$C" vdi_activate --vdi "$V" true
P5=$(server_pid)
[ "$P5" != 999999 ] && alive "${P5:-0}" && pass "a stale record is replaced by a live server" || fail "stale record: pid $P5"
call unit "$D" "$C" vdi_deactivate --vdi "$V"

# ---- the GC relinks a served leaf: the server reopens the shorter chain --------
# W <- B2 <- B1 (both hidden, each its parent's only child): csm-gc
# coalesces B2 into B1 and re-points W at B1 while W is served.
CTL_T="$BUILD/tests/nbd_ctl_t"
status() { "$CTL_T" "$CSM_NBD_DIR/$SR_UUID/$1.ctl" 5000 status; }
call vdi_info "$D" "$C" vdi_create 32M && W=$(member uuid)
"$VHDTOOL" write "$FILE_SR_DIR/$W.vhd" 0 <(pattern 0x01 $MiB) >/dev/null
call vdi_info "$D" "$C" vdi_snapshot --vdi "$W" && call unit "$D" "$C" vdi_delete --vdi "$(member uuid)"
"$VHDTOOL" write "$FILE_SR_DIR/$W.vhd" $MiB <(pattern 0x02 $MiB) >/dev/null
call vdi_info "$D" "$C" vdi_snapshot --vdi "$W" && call unit "$D" "$C" vdi_delete --vdi "$(member uuid)"
B2=$("$VHDTOOL" query "$FILE_SR_DIR/$W.vhd" | sed -n 's/^parent_name=\(.*\)\.vhd$/\1/p')
call unit "$D" "$C" vdi_activate --vdi "$W" true
if [ ! -x "$CTL_T" ]; then
	skip_part "the GC's relink under a server: $CTL_T not built (make TEST_BUILD=1 all-tests)"
else
	status "$W" | grep -q ' depth=3 ' || fail "W's server before the GC: $(status "$W")"
	"$BUILD/csm-gc" --sr "$SR_UUID" --dir "$FILE_SR_DIR" 2>"$T/gc.log" || fail "csm-gc: $(cat "$T/gc.log")"
	[ ! -e "$FILE_SR_DIR/$B2.vhd" ] || fail "the GC did not coalesce $B2: $(cat "$T/gc.log")"
	status "$W" | grep -q 'state=running .* depth=2 ' &&
		pass "after the GC's relink the server serves the 2-deep chain" || fail "W's server after the GC: $(status "$W")"
	qio_w() { timeout 30 qemu-io -f raw "$@" "nbd+unix:///$W?socket=$CSM_NBD_DIR/$SR_UUID/$W" >"$T/qio" 2>&1; }
	qio_w -c "read -P 0x01 0 1M" -c "read -P 0x02 1M 1M" -c "write -P 0x03 2M 1M" -c flush ||
		fail "W through its server after the GC: $(cat "$T/qio")"
fi
call unit "$D" "$C" vdi_deactivate --vdi "$W"
"$VHDTOOL" check "$FILE_SR_DIR/$W.vhd" >"$T/check" 2>&1 || fail "vhdtool check of W after the GC: $(cat "$T/check")"
"$VHDTOOL" read "$FILE_SR_DIR/$W.vhd" $((2 * MiB)) $MiB | cmp -s - <(pattern 0x03 $MiB) || fail "W's write after the GC"

# ---- a snapshot killed while the server is paused: the next call resumes it ----
call unit "$D" "$C" vdi_activate --vdi "$W" true
req=$("$SMCALL" --print-request "$D" "$C" vdi_snapshot --vdi "$W")
CSM_FAULT_POINT=snapshot:link run_raw "$D" "$req"
[ "$RC" = 137 ] || fail "vdi_snapshot with CSM_FAULT_POINT=snapshot:link exited $RC (a test build?)"
if timeout 2 qemu-io -f raw -c "read -P 0x03 2M 4k" "nbd+unix:///$W?socket=$CSM_NBD_DIR/$SR_UUID/$W" >"$T/qio" 2>&1; then
	fail "the server answered while the killed snapshot's pause should hold it"
fi
call string "$D" "$C" sr_scan   # recovery rolls the snapshot back and resumes the server
timeout 10 qemu-io -f raw -c "read -P 0x03 2M 1M" -c "write -P 0x04 3M 1M" -c flush \
	"nbd+unix:///$W?socket=$CSM_NBD_DIR/$SR_UUID/$W" >"$T/qio" 2>&1 &&
	pass "after a snapshot killed mid-way, recovery resumes the server" || fail "server after recovery: $(cat "$T/qio")"
call unit "$D" "$C" vdi_deactivate --vdi "$W"
"$VHDTOOL" check "$FILE_SR_DIR/$W.vhd" >"$T/check" 2>&1 || fail "vhdtool check of W after recovery: $(cat "$T/check")"
"$VHDTOOL" read "$FILE_SR_DIR/$W.vhd" $((3 * MiB)) $MiB | cmp -s - <(pattern 0x04 $MiB) || fail "W's write after recovery"

# ---- killed after the pause, before the journal: nothing records the snapshot,
# the pause marker does; the next call's recovery resumes the server ---------
call unit "$D" "$C" vdi_activate --vdi "$W" true
CSM_FAULT_POINT=serve:paused run_raw "$D" "$req"
[ "$RC" = 137 ] || fail "vdi_snapshot with CSM_FAULT_POINT=serve:paused exited $RC (a test build?)"
[ -f "$CSM_NBD_DIR/$SR_UUID/$W.paused" ] || fail "no pause marker beside the socket after the kill"
if timeout 2 qemu-io -f raw -c "read -P 0x04 3M 4k" "nbd+unix:///$W?socket=$CSM_NBD_DIR/$SR_UUID/$W" >"$T/qio" 2>&1; then
	fail "the server answered while the killed snapshot's pause should hold it"
fi
SM_LOG_STDERR=1 call string "$D" "$C" sr_scan
grep -q "the process that paused it is gone" <<<"$ERR" || fail "the resume of the orphaned pause is not logged: $ERR"
timeout 10 qemu-io -f raw -c "read -P 0x04 3M 1M" -c "write -P 0x05 4M 1M" -c flush \
	"nbd+unix:///$W?socket=$CSM_NBD_DIR/$SR_UUID/$W" >"$T/qio" 2>&1 &&
	pass "after a snapshot killed between its pause and its journal, the next call resumes the server" ||
	fail "server after the orphaned pause: $(cat "$T/qio")"
[ ! -e "$CSM_NBD_DIR/$SR_UUID/$W.paused" ] || fail "the pause marker outlived the resume"
call unit "$D" "$C" vdi_deactivate --vdi "$W"
"$VHDTOOL" read "$FILE_SR_DIR/$W.vhd" $((4 * MiB)) $MiB | cmp -s - <(pattern 0x05 $MiB) || fail "W's write after the orphaned pause"

# ---- CSM_NBD=off activates without serving -----------------------------------
CSM_NBD=off call unit "$D" "$C" vdi_activate --vdi "$V" true
[ ! -e "$SOCK" ] && pass "CSM_NBD=off activates without a server" || fail "CSM_NBD=off started a server"
CSM_NBD=off call unit "$D" "$C" vdi_deactivate --vdi "$V"
finish
