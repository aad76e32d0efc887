#!/usr/bin/env bash
# The XenAPI test server (tests/xapi/server.py) on a Unix socket in <dir>.
#
#   server.sh start <dir> [server.py options...]
#        start it; prints "XAPI_SOCKET=<dir>/xapi" and "XAPI_PID=<pid>"
#        (also kept in <dir>/env, sourceable); waits until it answers.
#        Options pass through: --db FILE, --delay S, --silent.
#        SIGUSR1 to the PID writes the database to <dir>/db.json.
#   server.sh stop <dir>     SIGTERM by PID, wait; SIGKILL as a last resort
#
# Python 3 standard library only; no root, no network.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
die() { echo "server.sh: $*" >&2; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

answers() {	# answers <socket>: debug.calls succeeds over the socket
	python3 - "$1" <<'PY' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
body = b"<?xml version='1.0'?><methodCall><methodName>debug.calls</methodName><params></params></methodCall>"
s.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
sys.exit(0 if b"Success" in s.recv(65536) else 1)
PY
}

start() {
	local dir=$1 i; shift
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	alive "$dir/pid" && die "already running in $dir (PID $(cat "$dir/pid"))"
	rm -f "$dir/pid" "$dir/xapi"
	python3 "$HERE/server.py" --socket "$dir/xapi" --pid-file "$dir/pid" \
		--dump-file "$dir/db.json" "$@" >"$dir/log" 2>&1 </dev/null &
	local up=0
	for i in $(seq 1 100); do
		if [ -S "$dir/xapi" ] && answers "$dir/xapi"; then up=1; break; fi
		kill -0 $! 2>/dev/null || die "server.py exited at start-up: $(cat "$dir/log")"
		sleep 0.1
	done
	[ $up = 1 ] || { kill $! 2>/dev/null; die "server.py did not answer within 10 s"; }
	printf 'XAPI_SOCKET=%s\nXAPI_PID=%s\n' "$dir/xapi" "$(cat "$dir/pid")" | tee "$dir/env"
}

stop() {
	local dir=$1 pid i
	[ -f "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "server.sh: server.py ($pid) ignored SIGTERM, killing" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$dir/pid" "$dir/xapi"
}

case "${1:-}" in
start) [ $# -ge 2 ] || die "usage: server.sh start <dir> [options]"; shift; start "$@" ;;
stop) [ $# -eq 2 ] || die "usage: server.sh stop <dir>"; stop "$2" ;;
*) die "usage: server.sh start|stop <dir>" ;;
esac
