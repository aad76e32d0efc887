#!/usr/bin/env bash
# Record a terminal session of csm-gc coalescing a 2 GiB VHD chain, as an
# operator sees it, into a text file (docs/gc-session.txt):
#
#   tests/tools/record-gc-session.sh [BUILD [OUT]]     (default: build, docs/gc-session.txt)
#   CSM_SESSION_SIZE=256M ...                          a smaller chain (the test uses it)
#
# A tmux session (a real terminal: csm-gc and vhdtool draw their progress
# lines) with two panes: the top one types the commands that build a
# FileSR with the chain (smcall, vhdtool), then runs csm-gc in the
# foreground while a stand-in for a long driver call (python3) holds the
# SR lock for a few seconds; the bottom one polls `csm-gc --status`. The
# panes are captured (tmux capture-pane) every second into OUT, each frame
# headed by its time. Everything lives in a temporary directory (SR,
# locks: SM_LOCK_DIR, SM_MOUNT_BASE), removed at the end; about 4 GiB of
# it at the default size. Needs tmux and python3.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$REPO/build}" && pwd)
OUT=${2:-$REPO/docs/gc-session.txt}
SIZE=${CSM_SESSION_SIZE:-2G}
HOLD_S=${CSM_SESSION_HOLD_S:-5}
command -v tmux >/dev/null || { echo "record-gc-session: needs tmux (Debian package tmux)" >&2; exit 77; }
W=$(mktemp -d /tmp/csm-gc-session.XXXXXX)
S=csm-gc-session-$$
SR_UUID=6666c0de-5d2a-4b7e-9c61-0e8a2b4f7a10
cleanup() { tmux kill-session -t "$S" 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

# The shell in the panes: the build on PATH, a short prompt, the SR's
# environment (what the README's smcall examples use), no history.
cat >"$W/rc" <<EOF
export PATH="$BUILD:\$PATH" PS1='\$ ' HISTFILE=/dev/null
export SM_LOCK_DIR="$W/lock" SM_MOUNT_BASE="$W/mnt" FILE_SR_DIR="$W/sr" CSM_GC=off
export SR_UUID=$SR_UUID C="$REPO/examples/dconf/file.conf"
cd "$W"
EOF
# The stand-in for a driver call holding the SR lock (an fcntl lock, as the drivers take it).
mkdir -p "$W/bin"
cat >"$W/bin/hold-sr-lock" <<EOF
#!/usr/bin/env python3
import fcntl, os, sys, time
os.makedirs("$W/lock/$SR_UUID", exist_ok=True)
f = open("$W/lock/$SR_UUID/sr", "a")
fcntl.lockf(f, fcntl.LOCK_EX)
time.sleep(float(sys.argv[1]))
EOF
chmod +x "$W/bin/hold-sr-lock"
echo "export PATH=\"$W/bin:\$PATH\"" >>"$W/rc"
tmux -f /dev/null new-session -d -s "$S" -x 150 -y 56 "bash --noprofile --rcfile $W/rc -i"
tmux split-window -v -l 29 -t "$S:0" "bash --noprofile --rcfile $W/rc -i"
TOP="$S:0.0" BOTTOM="$S:0.1"
t0=$(date +%s.%N)
: >"$OUT.tmp"

# frame <title>: both panes as they are now, with the seconds since the start.
frame() {
	local now
	now=$(date +%s.%N)
	{
		printf '==== t=%5.1f s: %s ' "$(awk -v a="$now" -v b="$t0" 'BEGIN { print a - b }')" "$1"; printf '=%.0s' $(seq 40); echo
		echo "---- top pane: the operator's commands and csm-gc in the foreground"
		tmux capture-pane -p -t "$TOP" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
		echo "---- bottom pane: csm-gc --status, every second"
		tmux capture-pane -p -t "$BOTTOM" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
		echo
	} >>"$OUT.tmp"
}
# type <pane> <command>: typed as an operator would, then Enter.
type_cmd() { tmux send-keys -t "$1" -l "$2"; tmux send-keys -t "$1" Enter; }
# run_cmd <pane> <command> [seconds]: typed, and waited for until the prompt is back.
run_cmd() {
	local i
	type_cmd "$1" "$2"
	for ((i = 0; i < ${3:-60} * 10; i++)); do
		sleep 0.1
		[ "$(tmux capture-pane -p -t "$1" | sed '/^$/d' | tail -n 1)" = '$' ] && return 0
	done
	echo "record-gc-session: '$2' did not end in ${3:-60} s:" >&2
	tmux capture-pane -p -t "$1" >&2
	return 1
}
# wait_for <pane> <regex> <seconds>: until the pane shows it.
wait_for() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		tmux capture-pane -p -t "$1" | grep -Eq "$2" && return 0
		sleep 0.1
	done
	echo "record-gc-session: '$2' did not appear in $3 s:" >&2
	tmux capture-pane -p -t "$1" >&2
	return 1
}

# ---- the chain: V (leaf) -> N (hidden, SIZE of data) -> P (hidden, SIZE of data)
run_cmd "$TOP" 'smcall FileSR $C sr_create 0 && smcall FileSR $C sr_attach'
run_cmd "$TOP" 'V=$(smcall FileSR $C vdi_create 8G "big disk" | awk '"'"'/^uuid:/{print $2}'"'"')'
run_cmd "$TOP" "head -c $SIZE /dev/urandom > data && vhdtool write sr/\$V.vhd 0 data" 300
run_cmd "$TOP" 'S1=$(smcall FileSR $C vdi_snapshot --vdi $V | awk '"'"'/^uuid:/{print $2}'"'"')'
run_cmd "$TOP" "vhdtool write sr/\$V.vhd $SIZE data && rm data" 300
run_cmd "$TOP" 'S2=$(smcall FileSR $C vdi_snapshot --vdi $V | awk '"'"'/^uuid:/{print $2}'"'"')'
run_cmd "$TOP" 'smcall FileSR $C vdi_delete --vdi $S1; smcall FileSR $C vdi_delete --vdi $S2'
run_cmd "$TOP" 'vhdtool scan sr'
frame "the chain is ready: the leaf over two hidden images of $SIZE each (the snapshots deleted)"
run_cmd "$TOP" clear

# ---- csm-gc, first held up by the SR lock, then copying
type_cmd "$BOTTOM" 'while :; do clear; csm-gc --sr $SR_UUID --status; sleep 1; done'
run_cmd "$TOP" "# hold-sr-lock (python3) stands in for a long driver call: it holds the SR lock for $HOLD_S s"
run_cmd "$TOP" "hold-sr-lock $HOLD_S & sleep 0.5"
type_cmd "$TOP" 'csm-gc --sr $SR_UUID --dir $FILE_SR_DIR; echo "csm-gc exit status $?"'
wait_for "$TOP" 'waiting for the SR lock' 20
for ((i = 0; ; i++)); do
	sleep 1
	if tmux capture-pane -p -t "$TOP" | grep -q '^csm-gc exit status'; then
		break
	fi
	frame "csm-gc runs"
	[ "$i" -lt 600 ] || { echo "record-gc-session: csm-gc did not end in 600 s" >&2; exit 1; }
done
sleep 1.2
frame "csm-gc is done"
run_cmd "$TOP" 'vhdtool scan sr; csm-gc --sr $SR_UUID --status --output=json | head -12' 10
frame "after the run"
{
	echo "A terminal session recorded with tmux by tests/tools/record-gc-session.sh"
	echo "($(date -u +%Y-%m-%d), csm $("$BUILD/csm-gc" --version | cut -d' ' -f2), chain of 2 x $SIZE on a FileSR in a temporary directory)."
	echo "Each frame is both panes as tmux showed them at that second (capture-pane)."
	echo
	cat "$OUT.tmp"
} >"$OUT"
rm -f "$OUT.tmp"
echo "record-gc-session: wrote $OUT"
