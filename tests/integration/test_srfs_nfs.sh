#!/usr/bin/env bash
# srfs over NFS (libnfs, no kernel mount) against a private nfs-ganesha on
# 127.0.0.1, NFSv3 and NFSv4: every srfs op, VHD creation, query and a
# chain read through the NFS vhd_io, the NFS fault codes srfs_open_nfs
# gives, and the time bound: with the server stopped (refused) or frozen
# (no reply) a call must fail within the bound + 2 s, and work again
# once the server is back; a lazy open with a budget (teardown's) costs
# a frozen server one bound in all.
# It runs in network and mount namespaces of its own (lib.sh,
# tests/nfs/netns.sh): 127.0.0.1 and 127.0.0.2 are its private loopback.
NFS_NETNS=1
source "$(dirname "$0")/lib.sh"
PROBE="$BUILD/tests/srfs_probe"
SERVER="$REPO/tests/nfs/server.sh"
NFSW="$T/nfs"
BOUND=2000
# Whatever happens below, the servers go (by PID) before the directory does.
trap '"$SERVER" stop "$NFSW" || true; rm -rf "$T"' EXIT

if ! EXPORT=$("$SERVER" start "$NFSW"); then
	fail "cannot start the test NFS server"
	finish
fi

for v in 3 4; do
	if out=$("$PROBE" ops 127.0.0.1 "$EXPORT" $v 2>&1); then
		pass "NFSv$v: mkdir, create, vhd create/query/chain, link, rename, list, statvfs, files"
	else
		fail "NFSv$v ops: $out"
	fi
	[ -z "$(ls -A "$NFSW/export")" ] || fail "NFSv$v ops left files: $(ls "$NFSW/export")"
done

out=$("$PROBE" exports 127.0.0.1 $BOUND)
[ "$out" = "$EXPORT" ] && pass "exports: $out" || fail "exports: '$out'"

expect_open() { # expect_open <code> <server> <path> <version>
	local got
	got=$("$PROBE" open "$2" "$3" "$4" $BOUND)
	case $got in
	"$1 "*) pass "open $2:$3 v$4 -> $got" ;;
	*) fail "open $2:$3 v$4: want $1, got '$got'" ;;
	esac
}
expect_open NFSMount 127.0.0.1 /nonexistent 3
expect_open NFSMount 127.0.0.1 /nonexistent 4
expect_open NFSTarget 127.0.0.2 /export 3
expect_open NFSVersion 127.0.0.1 /export 2

for mode in outage hang; do
	for v in 3 4; do
		if out=$("$PROBE" $mode 127.0.0.1 "$EXPORT" $v $BOUND "$SERVER" "$NFSW" 2>&1); then
			pass "NFSv$v $mode: $(echo "$out" | tr '\n' ';')"
		else
			fail "NFSv$v $mode: $out"
			"$SERVER" thaw-ganesha "$NFSW" 2>/dev/null || true
			[ -f "$NFSW/ganesha.pid" ] || "$SERVER" start-ganesha "$NFSW" || true
		fi
	done
done

for v in 3 4; do
	if out=$("$PROBE" budget 127.0.0.1 "$EXPORT" $v $BOUND "$SERVER" "$NFSW" 2>&1); then
		pass "NFSv$v budget: $(echo "$out" | tr '\n' ';')"
	else
		fail "NFSv$v budget: $out"
		"$SERVER" thaw-ganesha "$NFSW" 2>/dev/null || true
	fi
done

"$SERVER" stop "$NFSW"
expect_nothing_left() {
	local p
	for p in 111 2049 20048; do
		ss -Htln "sport = :$p" | grep -q . && fail "port $p still open after stop"
	done
	return 0
}
expect_nothing_left
pass "server stopped, ports free"
finish
