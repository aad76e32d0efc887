#!/usr/bin/env bash
# NFSSR in xapi mode (issue 11) against the XenAPI test server, over a
# private nfs-ganesha (tests/nfs/server.sh) in the test's own network and
# mount namespaces, as test_nfssr.sh: the VHD lifecycle of
# tests/xapi/check.sh (sr_create/attach, sr_scan nil with the database
# filled, create, attach/activate with host_<ref>, snapshot of the active
# VDI pausing it through tapdisk-pause, the base copy unmanaged read-only,
# clone, resize, sr_update, delete; VHDs made and removed behind the
# driver's back by another NFS client), the database equal to the export's files
# after every call; API mode making no XenAPI call; a dead, silent or slow
# endpoint 154 in bounded time with the export's files untouched.
NFS_NETNS=1
source "$(dirname "$0")/lib.sh"
source "$REPO/tests/xapi/check.sh"
set +e
need python3=python3
D="$BUILD/NFSSR"
C="$REPO/examples/dconf/nfs.conf"
SERVER="$REPO/tests/nfs/server.sh"
W="$T/nfs"
mkdir -p "$W"
trap '"$SERVER" stop "$W" >/dev/null 2>&1; xapi_stop_all; rm -rf "$T"' EXIT
"$SERVER" start "$W" >"$T/server.out" 2>&1 || { cat "$T/server.out"; fail "cannot start nfs-ganesha"; finish; }
export NFS_SERVER=127.0.0.1 NFS_SERVERPATH=/export NFS_TIMEOUT=30 NFS_VERSION=3
DIR="$W/export/$SR_UUID"
storage_uuids() { (cd "$DIR" && ls -- *.vhd *.raw 2>/dev/null | sed 's/\.[a-z]*$//' | sort); }
storage_sum() { tree_sum "$DIR" | sha1sum; }
# Behind the driver's back, through NFS as another host would: nfs-ganesha
# caches the export's directory, so a file made or removed in the export's
# backing directory stays unseen by NFS clients for a while.  The driver in
# API mode (no XenAPI call, so the database learns nothing) is that other
# client.
behind_add() {
	CSM_XAPI=off call vdi_info "$D" "$C" vdi_create --vdi "$1" 4M || fail "API-mode vdi_create $1"
}
behind_rm() { CSM_XAPI=off call unit "$D" "$C" vdi_delete --vdi "$1" || fail "API-mode vdi_delete $1"; }

xapi_start nfs
XF_TYPE=nfs
export CSM_XAPI=on
xcall unit "$D" "$C" sr_create 0 && pass "xapi mode: sr_create"
xcall unit "$D" "$C" sr_attach && pass "xapi mode: sr_attach"
xapi_vhd_lifecycle "$D" "$C"
unset CSM_XAPI
xapi_api_mode "$D" "$C"
xapi_faults 8000 "$D" "$C"
finish
