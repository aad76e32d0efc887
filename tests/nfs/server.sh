#!/usr/bin/env bash
# A private nfs-ganesha (FSAL_VFS) exporting <workdir>/export as /export,
# NFSv3 + NFSv4 on 127.0.0.1, with rpcbind (v3 needs it).
#
#   server.sh start <workdir>          start both; prints the export path
#   server.sh stop <workdir>           stop both by PID, wait, clean up
#   server.sh stop-ganesha <workdir>   kill only ganesha (a dying server)
#   server.sh start-ganesha <workdir>  bring it back
#   server.sh freeze-ganesha|thaw-ganesha <workdir>
#                                      SIGSTOP/SIGCONT: a server that hangs
#   server.sh check                    what is missing to run it (naming the
#                                      Debian packages); exit 1 if anything
#
# It runs only inside tests/nfs/netns.sh (network and mount namespaces of
# the test's own): there ports 111, 2049 and 20048 are the test's, whatever
# the machine runs on its own (Debian starts rpcbind and nfs-ganesha when
# they are installed), and /run/rpcbind.sock is the private rpcbind's.
# PIDs, config and logs live under <workdir>.  Needs root.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
EXPORT_PSEUDO=/export
PORTS=(111 2049 20048)

die() { echo "server.sh: $*" >&2; exit 1; }

port_busy() {
	# Anything listening on this TCP port, any address?
	ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_port() {	# wait_port <port> <pidfile> <what>
	local i
	for i in $(seq 1 100); do
		port_busy "$1" && return 0
		alive "$2" || die "$3 exited at start-up (see $W/logs)"
		sleep 0.1
	done
	die "$3 did not listen on port $1 within 10 s"
}

stop_pid() {	# stop_pid <pidfile> <what>
	local pidf=$1 pid i
	[ -f "$pidf" ] || return 0
	pid=$(cat "$pidf")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "server.sh: $2 ($pid) ignored SIGTERM, killing" >&2
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
		fi
	fi
	rm -f "$pidf"
}

write_conf() {
	cat >"$W/ganesha.conf" <<CONF
NFS_CORE_PARAM {
    Bind_Addr = 127.0.0.1;
    NFS_Port = 2049;
    MNT_Port = 20048;
    Protocols = 3, 4;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
    # v3 MOUNT by the pseudo path, so v3 and v4 clients both use /export.
    Mount_Path_Pseudo = true;
}
NFSV4 {
    # No grace period: a restarted server must answer at once (the tests restart it).
    Graceless = true;
    RecoveryRoot = $W/recov;
    Only_Numeric_Owners = true;
}
EXPORT {
    Export_Id = 1;
    Path = $W/export;
    Pseudo = $EXPORT_PSEUDO;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
CONF
}

start_ganesha() {
	alive "$W/ganesha.pid" && die "ganesha already running ($(cat "$W/ganesha.pid"))"
	port_busy 2049 && die "port 2049 is in use (another NFS server or test run?)"
	ganesha.nfsd -F -f "$W/ganesha.conf" -L "$W/logs/ganesha.log" -p "$W/ganesha.nfsd.pid" \
		-N NIV_EVENT >>"$W/logs/ganesha.stdout" 2>&1 </dev/null &
	echo $! >"$W/ganesha.pid"
	wait_port 2049 "$W/ganesha.pid" ganesha
}

# Prints, on one line, what this machine lacks to run the server (naming
# the Debian packages) and fails; silent when nothing is missing.
check() {
	local m=() c
	if [ "$(id -u)" -ne 0 ]; then
		echo "needs root"
		return 1
	fi
	for c in ganesha.nfsd=nfs-ganesha rpcbind=rpcbind python3=python3 ss=iproute2; do
		command -v "${c%%=*}" >/dev/null || m+=("${c%%=*} (Debian package ${c#*=})")
	done
	compgen -G '/usr/lib/*/ganesha/libfsalvfs.so*' >/dev/null ||
		m+=("ganesha's VFS FSAL (Debian package nfs-ganesha-vfs)")
	[ ${#m[@]} -eq 0 ] && return 0
	echo "missing ${m[*]}; tests/setup-deps.sh test installs them"
	return 1
}

start_all() {
	local p why
	[ "${CSM_NFS_NETNS:-}" = 1 ] ||
		die "run me inside tests/nfs/netns.sh (network and mount namespaces of the test's own)"
	why=$(check) || die "$why"
	for p in "${PORTS[@]}"; do
		port_busy "$p" && die "port $p is in use in this namespace (a server.sh start without a stop?)"
	done
	mkdir -p "$W/export" "$W/recov" "$W/logs"
	write_conf
	# A start that fails (die exits) leaves nothing running.
	trap stop_all EXIT
	python3 "$HERE/rpcbind-launch.py" >"$W/logs/rpcbind.log" 2>&1 </dev/null &
	echo $! >"$W/rpcbind.pid"	# the launcher execs rpcbind: same PID
	wait_port 111 "$W/rpcbind.pid" rpcbind
	start_ganesha
	trap - EXIT
	echo "$EXPORT_PSEUDO"
}

stop_all() {
	# (|| true: under set -e a dead ganesha must not end the stop before rpcbind's.)
	[ -f "$W/ganesha.pid" ] && kill -CONT "$(cat "$W/ganesha.pid")" 2>/dev/null || true
	stop_pid "$W/ganesha.pid" ganesha
	if [ -f "$W/rpcbind.pid" ]; then
		stop_pid "$W/rpcbind.pid" rpcbind
		rm -f /run/rpcbind.sock
	fi
	rm -f "$W/ganesha.nfsd.pid"
}

# SIGSTOP reaches a process's threads asynchronously: wait until every one is stopped.
freeze() {
	local i
	kill -STOP "$1"
	for i in $(seq 1 100); do
		! grep -qv '^T' <(awk '{print $3}' /proc/"$1"/task/*/stat 2>/dev/null) && return 0
		sleep 0.05
	done
	die "ganesha ($1) did not stop"
}

if [ "${1:-}" = check ] && [ $# -eq 1 ]; then
	check
	exit
fi
[ $# -eq 2 ] || die "usage: $0 start|stop|stop-ganesha|start-ganesha|freeze-ganesha|thaw-ganesha <workdir>, or $0 check"
mkdir -p "$2"
W=$(cd "$2" && pwd)
case $1 in
start) start_all ;;
stop) stop_all ;;
stop-ganesha) stop_pid "$W/ganesha.pid" ganesha ;;
start-ganesha) start_ganesha ;;
freeze-ganesha) alive "$W/ganesha.pid" && freeze "$(cat "$W/ganesha.pid")" ;;
thaw-ganesha) alive "$W/ganesha.pid" && kill -CONT "$(cat "$W/ganesha.pid")" ;;
*) die "unknown command $1" ;;
esac
