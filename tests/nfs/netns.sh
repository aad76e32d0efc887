#!/usr/bin/env bash
# Run a command in network and mount namespaces of its own, for the private
# NFS test server (tests/nfs/server.sh) and everything that talks to it:
#
#   tests/nfs/netns.sh CMD [ARG...]
#
# Inside, the only interface is a loopback of its own (brought up here), so
# ports 111, 2049 and 20048 are free whatever the machine runs: a Debian
# machine starts rpcbind and nfs-ganesha as soon as their packages are
# installed, on exactly those ports.  /run is an empty tmpfs of its own
# (with /run/lock), so rpcbind's socket and lock file (/run/rpcbind.sock,
# /run/rpcbind.lock) are not the machine's, and nothing written there
# reaches the machine.  The namespaces go when their last process does.
# CSM_NFS_NETNS=1 is set inside; where it is already set, CMD just runs.
#
# A bash script re-executes itself inside before it does anything else:
#   source tests/nfs/netns.sh
#   why=$(csm_netns_check) || { echo "skipped: $why"; exit 77; }
#   csm_netns_reexec "$0" "$@"
# Needs root, unshare (util-linux) and ip (iproute2).

CSM_NETNS_SH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netns.sh

# Prints why the namespaces cannot be made here (and fails), or nothing.
csm_netns_check() {
	local missing=()
	if [ "$(id -u)" -ne 0 ]; then
		echo "needs root (network and mount namespaces for the private NFS server)"
		return 1
	fi
	command -v unshare >/dev/null || missing+=("unshare (Debian package util-linux)")
	command -v ip >/dev/null || missing+=("ip (Debian package iproute2)")
	if [ ${#missing[@]} -ne 0 ]; then
		echo "missing ${missing[*]}"
		return 1
	fi
}

# csm_netns_exec CMD [ARG...]: this process becomes CMD, run inside.
csm_netns_exec() {
	local why
	[ "${CSM_NFS_NETNS:-}" = 1 ] && exec "$@"
	why=$(csm_netns_check) || { echo "netns.sh: $why" >&2; exit 1; }
	# Private propagation (unshare's default, said anyway): the tmpfs on /run
	# stays in the new mount namespace.
	exec unshare --net --mount --propagation private -- bash "$CSM_NETNS_SH" --inside "$@"
}

# csm_netns_reexec SCRIPT [ARG...]: a bash script runs again inside; a
# no-op when already inside.
csm_netns_reexec() {
	local script=$1
	shift
	[ "${CSM_NFS_NETNS:-}" = 1 ] && return 0
	csm_netns_exec bash "$script" "$@"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	if [ "${1:-}" = --inside ]; then
		shift
		ip link set lo up
		# nfs-ganesha resolves its Bind_Addr (127.0.0.1) as a v4-mapped IPv6
		# address with AI_ADDRCONFIG, which needs an IPv6 address other than
		# ::1 on some interface: with none, ganesha does not start; with only
		# another IPv4 one, it listens on the wildcard (and 127.0.0.2 is no
		# longer a machine without NFS).  A link-local address on the
		# namespace's own loopback leads nowhere.
		ip -6 addr add fe80::1/128 dev lo nodad
		mount -t tmpfs -o mode=0755,nosuid,nodev csm-nfs-run /run
		mkdir -p /run/lock
		chmod 1777 /run/lock
		export CSM_NFS_NETNS=1
		exec "$@"
	fi
	if [ $# -eq 0 ]; then
		sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 2
	fi
	csm_netns_exec "$@"
fi
