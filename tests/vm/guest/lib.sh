# Helpers for the guest tests (tests/vm/guest/tests/test_*.sh); source it with
#   . "$VMT_REPO/tests/vm/guest/lib.sh"
# A test runs as root inside the VM, in its own directory $VMT_WORK (tmpfs), and
# passes by exiting 0 (vmt_skip exits 77: skipped). Everything a test sets up is undone by the cleanup stack
# (vmt_on_exit), in reverse order, when the test exits for any reason.
set -euo pipefail
: "${VMT_WORK:=$(mktemp -d /tmp/vmt.XXXXXX)}"
: "${VMT_REPO:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
export VMT_WORK VMT_REPO
# vdi_activate serves over NBD only in the tests that turn it on (test_nbd),
# as on the host (tests/integration/lib.sh): a server holds the VDI's LVs
# open, which the other tests' detaches and deletes do not expect; its
# sockets go under the test's directory, never /run.
export CSM_NBD=${CSM_NBD:-off} CSM_NBD_DIR=${CSM_NBD_DIR:-$VMT_WORK/nbd}
# Trace every command with the milliseconds since the test started: a failed
# test's log then shows where it stopped and what took long.
_VMT_T0=$((${EPOCHREALTIME/./} / 1000))
PS4='+ [$((${EPOCHREALTIME/./} / 1000 - _VMT_T0))ms] '
[ "${VMT_TRACE:-1}" = 0 ] || set -x

vmt_log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
vmt_fail() { echo "FAILED: $*" >&2; exit 1; }
# vmt_skip REASON: the test cannot run here; exit status 77, which run-tests.sh
# reports as "SKIP <test>: REASON", never as a pass.
vmt_skip() {
	echo "SKIPPED: $*" >&2
	echo "$*" >> "$VMT_WORK/.skip-reason"
	exit 77
}

# Daemons are started with setsid, in a process group of their own: iscsid, for
# one, signals its whole process group when it stops.

# Cleanup stack: vmt_on_exit CMD... registers CMD to run at exit (last in, first out).
_vmt_cleanups=()
vmt_on_exit() { _vmt_cleanups+=("$*"); }
_vmt_run_cleanups() {
	local rc=$? i
	set +e
	for ((i = ${#_vmt_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_vmt_cleanups[$i]}" || echo "cleanup failed: ${_vmt_cleanups[$i]}" >&2
	done
	exit $rc
}
trap _vmt_run_cleanups EXIT
trap 'exit 143' TERM INT

# vmt_wait SECONDS CMD...: run CMD every 0.2 s until it succeeds; fail after SECONDS.
vmt_wait() {
	local - limit=$1 i=0; shift
	set +x
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt $((limit * 5)) ] || { echo "timed out after ${limit}s waiting for: $*" >&2; return 1; }
		sleep 0.2
	done
}

# vmt_stop_pid PID: SIGTERM, then SIGKILL after 5 s.
vmt_stop_pid() {
	local - pid=$1 i
	set +x
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 25); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
	kill -KILL "$pid" 2>/dev/null || true
}

# vmt_pattern FILE MiB: a file of random data to write and compare.
vmt_pattern() { head -c $(($2 * 1048576)) /dev/urandom > "$1"; }

# vmt_loop SIZE [NAME]: a sparse file in $VMT_WORK attached to a loop device;
# prints the device.
vmt_loop() {
	local img=$VMT_WORK/${2:-disk}.img dev
	modprobe loop
	truncate -s "$1" "$img"
	dev=$(losetup -f --show "$img")
	vmt_on_exit "losetup -d $dev"
	echo "$dev"
}

# vmt_vg NAME SIZE: a volume group on a new loop device (removed at exit).
vmt_vg() {
	local dev
	modprobe dm_mod
	dev=$(vmt_loop "$2" "pv-$1")
	pvcreate -q -y -ff "$dev" >/dev/null
	vgcreate -q "$1" "$dev" >/dev/null
	vmt_on_exit "vgremove -q -f $1 >/dev/null; pvremove -q -ff -y $dev >/dev/null"
}

# vmt_nfs_server DIR: serve DIR over NFSv3 and NFSv4 (TCP) with nfs-ganesha
# (FSAL VFS) plus rpcbind, inside the guest; the export's NFSv4 pseudo path is DIR
# itself, so 127.0.0.1:DIR mounts with either version, as from a kernel server.
# Both daemons run in the foreground of this test and are stopped by PID at exit.
vmt_nfs_server() {
	local dir=$1 conf=$VMT_WORK/ganesha.conf
	modprobe nfsv3; modprobe nfsv4
	mkdir -p /run/rpcbind "$VMT_WORK/ganesha-recov"
	if ! rpcinfo -p 127.0.0.1 >/dev/null 2>&1; then
		setsid rpcbind -f -w > "$VMT_WORK/rpcbind.log" 2>&1 &
		VMT_RPCBIND_PID=$!
		vmt_on_exit "vmt_stop_pid $VMT_RPCBIND_PID"
		vmt_wait 10 rpcinfo -p 127.0.0.1
	fi
	cat > "$conf" <<EOC
NFS_CORE_PARAM {
	Bind_Addr = 127.0.0.1;
	Protocols = 3, 4;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Enable_UDP = false;
}
NFSV4 {
	Graceless = true;
	RecoveryRoot = $VMT_WORK/ganesha-recov;
	Only_Numeric_Owners = true;
}
EXPORT {
	Export_Id = 1;
	Path = $dir;
	Pseudo = $dir;
	Protocols = 3, 4;
	Transports = TCP;
	Access_Type = RW;
	Squash = No_Root_Squash;
	SecType = sys;
	FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
EOC
	setsid ganesha.nfsd -F -f "$conf" -L "$VMT_WORK/ganesha.log" -p "$VMT_WORK/ganesha.pid" \
		> "$VMT_WORK/ganesha.out" 2>&1 &
	VMT_GANESHA_PID=$!
	vmt_on_exit "vmt_stop_pid $VMT_GANESHA_PID"
	local - i
	set +x
	for i in $(seq 100); do
		kill -0 $VMT_GANESHA_PID 2>/dev/null || { tail -20 "$VMT_WORK/ganesha.log" >&2; vmt_fail "ganesha exited"; }
		rpcinfo -t 127.0.0.1 nfs 3 >/dev/null 2>&1 && rpcinfo -t 127.0.0.1 nfs 4 >/dev/null 2>&1 &&
			rpcinfo -t 127.0.0.1 mountd 3 >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	tail -20 "$VMT_WORK/ganesha.log" >&2
	vmt_fail "ganesha did not register nfs 3, nfs 4 and mountd 3 within 20 s"
}

# vmt_nfs_mount VERS SERVER:PATH MOUNTPOINT: a kernel NFS mount that fails at once
# instead of retrying for 2 minutes; unmounted at exit.
vmt_nfs_mount() {
	local opts="vers=$1,retry=0,timeo=50,retrans=2"
	[ "$1" != 3 ] || opts="$opts,nolock"
	mkdir -p "$3"
	mount -t nfs -o "$opts" "$2" "$3"
	vmt_on_exit "umount $3"
}

# vmt_iscsi_target IQN FILE...: tgtd on 127.0.0.1:3260 exporting each FILE as a LUN
# (1, 2, ...) of target IQN, open to every initiator; stopped by PID at exit.
VMT_TGT="tgtadm -C 0 --lld iscsi"
vmt_iscsi_target() {
	local iqn=$1 lun=0 f; shift
	setsid tgtd -f -C 0 --iscsi portal=127.0.0.1:3260 > "$VMT_WORK/tgtd.log" 2>&1 &
	VMT_TGTD_PID=$!
	vmt_on_exit "vmt_stop_pid $VMT_TGTD_PID"
	vmt_wait 10 $VMT_TGT --mode sys --op show
	$VMT_TGT --mode target --op new --tid 1 --targetname "$iqn"
	for f in "$@"; do
		lun=$((lun + 1))
		$VMT_TGT --mode logicalunit --op new --tid 1 --lun $lun --backing-store "$f"
	done
	$VMT_TGT --mode target --op bind --tid 1 --initiator-address ALL
	# tgtd ignores SIGTERM: delete the target, then ask it to exit (and if it
	# does not, vmt_stop_pid kills it).
	vmt_on_exit "$VMT_TGT --mode target --op delete --force --tid 1; $VMT_TGT --mode system --op delete"
}

# vmt_iscsid: the open-iscsi daemon (kernel initiator), stopped by PID at exit.
vmt_iscsid() {
	modprobe iscsi_tcp; modprobe sd_mod
	setsid iscsid -f > "$VMT_WORK/iscsid.log" 2>&1 &
	VMT_ISCSID_PID=$!
	vmt_on_exit "vmt_stop_pid $VMT_ISCSID_PID"
	vmt_wait 10 _vmt_iscsid_listening
}

_vmt_iscsid_listening() { ss -xl | grep -q ISCSIADM_ABSTRACT_NAMESPACE; }

# vmt_iscsi_disks: the block devices (sdX) of the logged-in iSCSI sessions.
vmt_iscsi_disks() {
	ls /sys/class/iscsi_session/session*/device/target*/*/block 2>/dev/null
}
