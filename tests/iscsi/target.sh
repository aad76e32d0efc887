#!/usr/bin/env bash
# A private tgtd (iSCSI target) on 127.0.0.1 for the tests, with a plain,
# a CHAP and a mutual-CHAP target and file-backed LUNs.
#
# Source it and call the functions (integration tests), or run it:
#   target.sh start <workdir>    start; prints the ISCSI_* variables (below),
#                                also kept in <workdir>/env (sourceable)
#   target.sh stop <workdir>     stop by PID, remove its control socket
#   target.sh check              what is missing to run it; exit 1 if anything
#
# Functions (all take the workdir from $ISCSI_DIR, set by iscsi_target_start):
#   iscsi_target_check           prints what is missing (Debian packages), fails
#   iscsi_target_start <dir>     start tgtd and the standard targets; exports
#                                the variables below; stops it on a failed start
#   iscsi_target_stop            the teardown that stops tgtd (it ignores
#                                SIGTERM while targets exist): delete every
#                                target --force, "--mode system --op delete",
#                                wait for the PID; SIGKILL only as a last resort
#   iscsi_target_kill            SIGKILL it (a target that dies mid-call)
#   iscsi_target_freeze / _thaw  SIGSTOP / SIGCONT (a target that hangs)
#   iscsi_target_add_target <tid> <iqn>          another target, ACL 127.0.0.1
#   iscsi_target_add_lun <tid> <lun> <file> [params]
#                                a LUN backed by <file> (tgtadm --params, e.g.
#                                'scsi_id=XEN 1,scsi_sn=SN1': no quotes, tgtd
#                                would keep them in the id)
#   iscsi_tgtadm <args...>       tgtadm on this tgtd's control socket
#   iscsi_silent_port_start      a listening socket that never answers (it
#                                completes TCP handshakes, then says nothing);
#                                sets ISCSI_SILENT_PORT
#   iscsi_silent_port_stop
#   iscsi_free_port              prints a TCP port nothing listens on
#
# Variables after iscsi_target_start:
#   ISCSI_PORT          the portal's port on 127.0.0.1 (a free one, not 3260)
#   ISCSI_INITIATOR     iqn.2024-01.test.local:initiator (tgt's ACLs are by
#                       address, so any initiator name logs in)
#   ISCSI_IQN_PLAIN     tid 1, no CHAP: LUN 1 = lun1.img (64 MiB, tgt's default
#                       identity: serial beaf11, SCSIid 360000000000000000e00000000010001),
#                       LUN 2 = lun2.img (32 MiB, scsi_id "XEN 12345678", serial SN0002,
#                       SCSIid 3600000000000000000000e0012345678)
#   ISCSI_IQN_CHAP      tid 2, CHAP ISCSI_CHAP_USER/ISCSI_CHAP_PASSWORD: LUN 1 =
#                       chap1.img (16 MiB, SCSIid 360000000000000000e00000000020001)
#   ISCSI_IQN_MUTUAL    tid 3, CHAP ISCSI_MUTUAL_USER/ISCSI_MUTUAL_PASSWORD and the
#                       target's own ISCSI_TARGET_USER/ISCSI_TARGET_PASSWORD
#                       (mutual CHAP): LUN 1 = mutual1.img (16 MiB)
#   ISCSI_LUN_DIR       the backing files; ISCSI_TGTD_PID; ISCSI_CTL (the -C number)
#
# tgtd runs with -C <n> of its own (control socket /run/tgtd/socket.<n>,
# n picked unused), so it never talks to, or stops, a system tgtd.  LUN
# sizes can be changed before the start: ISCSI_LUN1_SIZE (64M),
# ISCSI_LUN2_SIZE (32M), ISCSI_CHAP_LUN_SIZE and ISCSI_MUTUAL_LUN_SIZE (16M).
# Needs root (tgtd).

ISCSI_INITIATOR=iqn.2024-01.test.local:initiator
ISCSI_IQN_PLAIN=iqn.2024-01.test.local:plain
ISCSI_IQN_CHAP=iqn.2024-01.test.local:chap
ISCSI_IQN_MUTUAL=iqn.2024-01.test.local:mutual
ISCSI_CHAP_USER=chapuser
ISCSI_CHAP_PASSWORD=chapsecret123
ISCSI_MUTUAL_USER=mutualuser
ISCSI_MUTUAL_PASSWORD=mutualsecret12
ISCSI_TARGET_USER=targetuser
ISCSI_TARGET_PASSWORD=targetsecret1
export ISCSI_INITIATOR ISCSI_IQN_PLAIN ISCSI_IQN_CHAP ISCSI_IQN_MUTUAL \
	ISCSI_CHAP_USER ISCSI_CHAP_PASSWORD ISCSI_MUTUAL_USER ISCSI_MUTUAL_PASSWORD \
	ISCSI_TARGET_USER ISCSI_TARGET_PASSWORD

iscsi_tgtadm() {
	tgtadm -C "$ISCSI_CTL" --lld iscsi "$@"
}

iscsi_target_check() {
	local m=() c
	if [ "$(id -u)" -ne 0 ]; then
		echo "needs root"
		return 1
	fi
	for c in tgtd=tgt tgtadm=tgt python3=python3; do
		command -v "${c%%=*}" >/dev/null || m+=("${c%%=*} (Debian package ${c#*=})")
	done
	[ ${#m[@]} -eq 0 ] && return 0
	echo "missing ${m[*]}; tests/setup-deps.sh test installs them"
	return 1
}

# A port the kernel just handed out and took back: free now.
iscsi_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_iscsi_pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

_iscsi_listening() {	# is anything listening on 127.0.0.1:<port>?
	python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

iscsi_target_add_target() {	# <tid> <iqn>
	iscsi_tgtadm --mode target --op new --tid "$1" --targetname "$2" &&
		iscsi_tgtadm --mode target --op bind --tid "$1" --initiator-address 127.0.0.1
}

iscsi_target_add_lun() {	# <tid> <lun> <file> [params]
	iscsi_tgtadm --mode logicalunit --op new --tid "$1" --lun "$2" --backing-store "$3" || return 1
	[ -z "${4:-}" ] || iscsi_tgtadm --mode logicalunit --op update --tid "$1" --lun "$2" --params "$4"
}

_iscsi_setup_targets() {
	local d=$ISCSI_LUN_DIR
	truncate -s "${ISCSI_LUN1_SIZE:-64M}" "$d/lun1.img" &&
	truncate -s "${ISCSI_LUN2_SIZE:-32M}" "$d/lun2.img" &&
	truncate -s "${ISCSI_CHAP_LUN_SIZE:-16M}" "$d/chap1.img" &&
	truncate -s "${ISCSI_MUTUAL_LUN_SIZE:-16M}" "$d/mutual1.img" &&
	iscsi_target_add_target 1 "$ISCSI_IQN_PLAIN" &&
	iscsi_target_add_lun 1 1 "$d/lun1.img" &&
	iscsi_target_add_lun 1 2 "$d/lun2.img" 'scsi_id=XEN 12345678,scsi_sn=SN0002' &&
	iscsi_target_add_target 2 "$ISCSI_IQN_CHAP" &&
	iscsi_target_add_lun 2 1 "$d/chap1.img" &&
	iscsi_target_add_target 3 "$ISCSI_IQN_MUTUAL" &&
	iscsi_target_add_lun 3 1 "$d/mutual1.img" &&
	iscsi_tgtadm --mode account --op new --user "$ISCSI_CHAP_USER" --password "$ISCSI_CHAP_PASSWORD" &&
	iscsi_tgtadm --mode account --op bind --tid 2 --user "$ISCSI_CHAP_USER" &&
	iscsi_tgtadm --mode account --op new --user "$ISCSI_MUTUAL_USER" --password "$ISCSI_MUTUAL_PASSWORD" &&
	iscsi_tgtadm --mode account --op bind --tid 3 --user "$ISCSI_MUTUAL_USER" &&
	iscsi_tgtadm --mode account --op new --user "$ISCSI_TARGET_USER" --password "$ISCSI_TARGET_PASSWORD" &&
	iscsi_tgtadm --mode account --op bind --tid 3 --user "$ISCSI_TARGET_USER" --outgoing
}

iscsi_target_start() {	# <workdir>
	local why i n
	why=$(iscsi_target_check) || { echo "iscsi_target_start: $why" >&2; return 1; }
	mkdir -p "$1/luns" "$1/logs" || return 1
	ISCSI_DIR=$(cd "$1" && pwd)
	ISCSI_LUN_DIR=$ISCSI_DIR/luns
	# A control number whose socket nobody has: /run/tgtd/socket.<n>.
	for i in $(seq 1 50); do
		n=$((2000 + RANDOM % 30000))
		[ -e "/run/tgtd/socket.$n" ] || [ -e "/run/tgtd/socket.$n.lock" ] || break
	done
	ISCSI_CTL=$n
	ISCSI_PORT=$(iscsi_free_port) || return 1
	export ISCSI_DIR ISCSI_LUN_DIR ISCSI_CTL ISCSI_PORT
	tgtd -f -C "$ISCSI_CTL" --iscsi portal="127.0.0.1:$ISCSI_PORT" \
		>>"$ISCSI_DIR/logs/tgtd.log" 2>&1 </dev/null &
	ISCSI_TGTD_PID=$!
	export ISCSI_TGTD_PID
	echo "$ISCSI_TGTD_PID" >"$ISCSI_DIR/tgtd.pid"
	# sourceable by another shell (target.sh stop, or a test run by hand)
	local v
	for v in ISCSI_PORT ISCSI_CTL ISCSI_TGTD_PID ISCSI_DIR ISCSI_LUN_DIR ISCSI_INITIATOR \
		 ISCSI_IQN_PLAIN ISCSI_IQN_CHAP ISCSI_IQN_MUTUAL ISCSI_CHAP_USER ISCSI_CHAP_PASSWORD \
		 ISCSI_MUTUAL_USER ISCSI_MUTUAL_PASSWORD ISCSI_TARGET_USER ISCSI_TARGET_PASSWORD; do
		printf '%s=%s\n' "$v" "${!v}"
	done >"$ISCSI_DIR/env"
	for i in $(seq 1 100); do
		if ! _iscsi_pid_alive "$ISCSI_TGTD_PID"; then
			echo "iscsi_target_start: tgtd exited at start-up: $(tail -3 "$ISCSI_DIR/logs/tgtd.log")" >&2
			_iscsi_cleanup_files
			return 1
		fi
		iscsi_tgtadm --mode target --op show >/dev/null 2>&1 && break
		sleep 0.05
	done
	if ! _iscsi_setup_targets >>"$ISCSI_DIR/logs/tgtadm.log" 2>&1 ||
	   ! _iscsi_listening "$ISCSI_PORT"; then
		echo "iscsi_target_start: setting up the targets failed: $(tail -3 "$ISCSI_DIR/logs/tgtadm.log")" >&2
		iscsi_target_stop
		return 1
	fi
}

_iscsi_cleanup_files() {
	rm -f "/run/tgtd/socket.$ISCSI_CTL" "/run/tgtd/socket.$ISCSI_CTL.lock" "$ISCSI_DIR/tgtd.pid"
}

iscsi_target_stop() {
	local p=${ISCSI_TGTD_PID:-} tid i
	if _iscsi_pid_alive "$p"; then
		kill -CONT "$p" 2>/dev/null || true
		for tid in $(iscsi_tgtadm --mode target --op show 2>/dev/null |
			     sed -n 's/^Target \([0-9]*\):.*/\1/p'); do
			iscsi_tgtadm --mode target --op delete --force --tid "$tid" >/dev/null 2>&1 || true
		done
		iscsi_tgtadm --mode system --op delete >/dev/null 2>&1 || true
		for i in $(seq 1 100); do
			_iscsi_pid_alive "$p" || break
			sleep 0.05
		done
		if _iscsi_pid_alive "$p"; then
			echo "iscsi_target_stop: tgtd ($p) still running, killing it" >&2
			kill -KILL "$p" 2>/dev/null || true
		fi
		wait "$p" 2>/dev/null || true
	fi
	_iscsi_cleanup_files
	ISCSI_TGTD_PID=
	return 0
}

iscsi_target_kill() {
	local p=${ISCSI_TGTD_PID:-}
	if _iscsi_pid_alive "$p"; then
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	fi
	_iscsi_cleanup_files
	ISCSI_TGTD_PID=
	return 0
}

iscsi_target_freeze() { kill -STOP "$ISCSI_TGTD_PID"; }
iscsi_target_thaw() { kill -CONT "$ISCSI_TGTD_PID"; }

iscsi_silent_port_start() {
	ISCSI_SILENT_PORT=$(iscsi_free_port) || return 1
	python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
while True:
    time.sleep(3600)' "$ISCSI_SILENT_PORT" </dev/null >/dev/null 2>&1 &
	ISCSI_SILENT_PID=$!
	export ISCSI_SILENT_PORT ISCSI_SILENT_PID
	local i
	for i in $(seq 1 100); do
		_iscsi_listening "$ISCSI_SILENT_PORT" && return 0
		sleep 0.05
	done
	echo "iscsi_silent_port_start: no listener on $ISCSI_SILENT_PORT" >&2
	return 1
}

iscsi_silent_port_stop() {
	if _iscsi_pid_alive "${ISCSI_SILENT_PID:-}"; then
		kill -KILL "$ISCSI_SILENT_PID" 2>/dev/null || true
		wait "$ISCSI_SILENT_PID" 2>/dev/null || true
	fi
	ISCSI_SILENT_PID=
	return 0
}

# Run as a command.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	case "${1:-}" in
	check)
		iscsi_target_check
		;;
	start)
		[ $# -eq 2 ] || { echo "usage: $0 start <workdir>" >&2; exit 2; }
		iscsi_target_start "$2" || exit 1
		cat "$ISCSI_DIR/env"
		;;
	stop)
		[ $# -eq 2 ] || { echo "usage: $0 stop <workdir>" >&2; exit 2; }
		ISCSI_DIR=$(cd "$2" && pwd) || exit 1
		[ -f "$ISCSI_DIR/env" ] || exit 0
		# shellcheck disable=SC1091
		source "$ISCSI_DIR/env"
		# not our child here: wait for the PID to go, as iscsi_target_stop does
		iscsi_target_stop
		;;
	*)
		echo "usage: $0 start|stop <workdir>, or $0 check" >&2
		exit 2
		;;
	esac
fi
