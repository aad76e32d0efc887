#!/usr/bin/env bash
# NFSSR against servers that fail at the transport level: nothing
# listening (refused), a connection reset at once, closed before any
# reply, a reply that does not decode, unframed noise
# (tests/nfs/fake-server.py on a port of its choosing, given to the
# driver as the port= and mountport= mount options).  Every such failure
# is the documented NFSTarget (108), whichever call meets it, over NFSv3
# and v4, well within the bound; teardown (vdi_deactivate, vdi_detach,
# sr_detach, its unmount) succeeds without a server.  No NFS server, no
# fixed ports: needs neither ganesha nor the heavy lock.
source "$(dirname "$0")/lib.sh"
D="$BUILD/NFSSR"
C="$REPO/examples/dconf/nfs.conf"
FAKE="$REPO/tests/nfs/fake-server.py"
export NFS_SERVER=127.0.0.1 NFS_SERVERPATH=/export NFS_TIMEOUT=30
BOUND_MS=3000	# nfs-timeout 30 deciseconds
FAKE_PID=
stop_fake() { [ -z "$FAKE_PID" ] || { kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null || true; FAKE_PID=; }; return 0; }
trap 'stop_fake; rm -rf "$T"' EXIT

# start_fake <mode>: sets PORT
start_fake() {
	python3 "$FAKE" "$1" >"$T/port.$1" 2>"$T/fake.err" &
	FAKE_PID=$!
	for _ in $(seq 300); do [ -s "$T/port.$1" ] && break; sleep 0.1; done
	PORT=$(head -1 "$T/port.$1")
	[ -n "$PORT" ] || { stop_fake; fail "fake server ($1) did not start: $(cat "$T/fake.err")"; return 1; }
}

# expect_lost <what> <smcall args...>: fault 108 within the bound.
expect_lost() {
	local what=$1 start ms; shift
	start=$(date +%s%N)
	fault 108 "$D" "$C" "$@" --dconf "options=port=$PORT,mountport=$PORT" >/dev/null || return 0
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	if [ "$ms" -lt "$BOUND_MS" ]; then
		pass "$what: $1 is 108 in ${ms} ms ($(sed -n 's/.*\[opterr=\(.*\)\].*/\1/p' <<<"$OUT" | sed 's/.*(NFSv[34]): //' | cut -c1-90))"
	else
		fail "$what: $1 took ${ms} ms"
	fi
}

# Nothing listens: a port the kernel just handed out and that was closed again.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for v in 3 4; do
	export NFS_VERSION=$v
	expect_lost "refused v$v" sr_scan
	expect_lost "refused v$v" sr_create 0
done

for mode in reset eof junk noise; do
	start_fake "$mode" || continue
	for v in 3 4; do
		export NFS_VERSION=$v
		expect_lost "$mode v$v" sr_scan
		expect_lost "$mode v$v" sr_create 0
		expect_lost "$mode v$v" sr_probe
		expect_lost "$mode v$v" sr_attach
		expect_lost "$mode v$v" vdi_create 8M
		# Teardown asks nothing of the server.
		opts="options=port=$PORT,mountport=$PORT"
		call unit "$D" "$C" vdi_deactivate --vdi "$SR_UUID" --dconf "$opts" &&
			call unit "$D" "$C" vdi_detach --vdi "$SR_UUID" --dconf "$opts" &&
			call unit "$D" "$C" sr_detach --dconf "$opts" && pass "$mode v$v: vdi_deactivate, vdi_detach, sr_detach succeed"
	done
	stop_fake
done

# sr_detach unmounts what is mounted at the SR's mount point without the
# server (a tmpfs stands in for the kernel NFS mount: the mount point is
# found in mountinfo, not by a stat that would wait for the server).
MNT="$SM_MOUNT_BASE/$SR_UUID"
mkdir -p "$MNT"
if mount -t tmpfs csm-test "$MNT" 2>/dev/null; then
	call unit "$D" "$C" sr_detach --dconf "options=port=$PORT" &&
		{ ! grep -q " $MNT " /proc/self/mountinfo && [ ! -e "$MNT" ] &&
			pass "sr_detach with no server: the mount is gone, and its directory" ||
			fail "sr_detach left $MNT mounted or in place"; }
	umount "$MNT" 2>/dev/null || true
else
	echo "$TESTNAME: mount test skipped (cannot mount a tmpfs here)"
fi

fault 1 "$D" "$C" sr_scan --dconf options=port=notaport >/dev/null && pass "a port= option that is not a number is 1"
finish
