#!/usr/bin/env bash
# The recorded terminal session of csm-gc (docs/gc-session.txt, issue 12):
# tests/tools/record-gc-session.sh records it again, on a smaller chain,
# in tmux; the foreground run says what it waits for while it waits (the
# SR lock, its holder, the seconds against the bound), then draws its
# progress with rate and ETA; the status pane shows waiting, then copying
# with a percent, then idle; and the recorded docs/gc-session.txt shows
# the same for 2 GiB.
source "$(dirname "$0")/lib.sh"
need tmux=tmux python3=python3
OUTF="$T/session.txt"
set +e
CSM_SESSION_SIZE=96M CSM_SESSION_HOLD_S=3 "$REPO/tests/tools/record-gc-session.sh" "$BUILD" "$OUTF" >"$T/rec.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 0 ] && pass "record-gc-session.sh records a session" || fail "the recorder failed ($rc): $(tail -30 "$T/rec.log")"
# check <file> <what>: the session shows what an operator needs to see.
check() {
	local f=$1 what=$2 ok=1
	grep -Eq '^csm-gc: waiting for the SR lock, held by pid [0-9]+ \(python3\)$' "$f" || { ok=0; fail "$what: no 'waiting for' line"; }
	grep -Eq '^  waiting +[1-9][0-9]* s of at most 600 s for the SR lock, held by pid [0-9]+ \(python3\)' "$f" ||
		{ ok=0; fail "$what: the wait is not counted while it lasts"; }
	[ "$(grep -Ec '^  waiting +[0-9]+ s of at most' "$f")" -ge 2 ] || { ok=0; fail "$what: the wait shown in fewer than 2 frames"; }
	grep -Eq '^ +[0-9.]+%  +[0-9.]+ MiB left +[0-9.]+ MiB/s  ETA +[0-9]+ s' "$f" || { ok=0; fail "$what: no progress line with rate and ETA"; }
	grep -q '^state=waiting$' "$f" && grep -Eq '^waiting_for=the SR lock, held by pid [0-9]+ \(python3\)$' "$f" ||
		{ ok=0; fail "$what: --status never said waiting, and for what"; }
	grep -Eq '^waited_s=[1-9][0-9]*$' "$f" && grep -q '^wait_limit_s=600$' "$f" ||
		{ ok=0; fail "$what: --status never said how long it waited, of how long at most"; }
	grep -q '^csm-gc: idle: deleted 0, coalesced 1, leaf-coalesced 1$' "$f" && grep -q '^csm-gc exit status 0$' "$f" ||
		{ ok=0; fail "$what: the run did not end idle with one coalesce and one leaf-coalesce"; }
	grep -q '^state=idle$' "$f" || { ok=0; fail "$what: --status never said idle"; }
	[ "$ok" = 0 ] || pass "$what: waiting (named, counted), progress with rate and ETA, status, idle"
}
[ "$rc" -eq 0 ] && check "$OUTF" "a new recording"
check "$REPO/docs/gc-session.txt" "docs/gc-session.txt"
grep -q 'chain of 2 x 2G' "$REPO/docs/gc-session.txt" && grep -Eq '^percent=[1-9][0-9]?\.[0-9]$' "$REPO/docs/gc-session.txt" &&
	grep -q '^state=copying$' "$REPO/docs/gc-session.txt" && pass "docs/gc-session.txt: 2 GiB, copying with a percent in --status" ||
	fail "docs/gc-session.txt is not the 2 GiB session with a copying status"
# Not on a terminal (a log file): a line every 10 s while the wait lasts.
"$SMCALL" "$BUILD/FileSR" "$REPO/examples/dconf/file.conf" sr_create 0 >/dev/null
mkdir -p "$SM_LOCK_DIR/$SR_UUID"
python3 -c 'import fcntl,sys,time; f=open(sys.argv[1],"a"); fcntl.lockf(f,fcntl.LOCK_EX); open(sys.argv[2],"w").close(); time.sleep(11.5)' \
	"$SM_LOCK_DIR/$SR_UUID/sr" "$T/held" &
holder=$!
for i in $(seq 100); do [ -e "$T/held" ] && break; sleep 0.05; done
"$BUILD/csm-gc" --sr "$SR_UUID" --dir "$FILE_SR_DIR" 2>"$T/gc.err" || fail "csm-gc after the wait: $(cat "$T/gc.err")"
wait "$holder" 2>/dev/null || true
grep -Eq "^csm-gc: still waiting \(1[01] s of at most 600 s\) for the SR lock, held by pid $holder \(python3\)$" "$T/gc.err" &&
	! grep -q $'\r' "$T/gc.err" && pass "not on a terminal: 'still waiting' every 10 s, no progress line" ||
	fail "the wait off a terminal: $(cat "$T/gc.err")"
ls -d /tmp/csm-gc-session.* 2>/dev/null | grep -q . && fail "the recorder left its temporary directory" || pass "the recorder cleaned up"
finish
