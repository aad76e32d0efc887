#!/usr/bin/env bash
# Install the Debian packages a group of the project's work needs, if missing:
#
#   tests/setup-deps.sh [GROUP...]     default: build test
#
#   build  compile everything `make` builds (and run `make demo`):
#          the compiler, pkg-config, and the headers and static libraries
#          the drivers link (libxml2 with ICU, zlib, lzma; libuuid, libnfs,
#          liblvm2cmd, libblkid, libiscsi), and nbdkit's plugin header for
#          the data path's plugin (csm-nbdkit.so)
#   test   what `make check` runs on this machine besides the build: cmocka,
#          clang with libFuzzer (fuzz targets, ASan/UBSan), qemu-img, python3,
#          LVM and ext4 tools, loop devices, nfs-ganesha + rpcbind (the private
#          NFS server, tests/nfs/server.sh), unshare and ip (its namespaces,
#          tests/nfs/netns.sh), tgt (the private iSCSI target,
#          tests/iscsi/target.sh), man (man-db) and script (bsdutils) for
#          test_tool_conventions (man pages render, progress on a terminal),
#          strace (its fault injection: test_gc_status.sh), tmux
#          (test_gc_session.sh records a terminal session with it), nbdkit
#          and libnbd's clients (nbdcopy, nbdinfo) for test_nbd_plugin.sh
#          and test_nbd_serve.sh
#   vm     the test VM (tests/vm/setup.sh): qemu, busybox, the initramfs
#          tools, and what the guest tests run (the guest's userspace is this
#          machine's): LVM, ext4, NFS client and server, iSCSI target and
#          initiator, nbdkit and the kernel's NBD client (nbd-client)
#
# Every command a test runs comes from a package in one of these lists; a
# test whose command is missing says which package to install.  On Debian,
# installing rpcbind and nfs-ganesha starts their services on ports 111 and
# 2049: the tests do not mind (their server runs in namespaces of its own).
set -euo pipefail

BUILD_PKGS=(gcc libc6-dev make pkg-config
	libxml2-dev libicu-dev zlib1g-dev liblzma-dev libstdc++-12-dev
	uuid-dev libnfs-dev liblvm2-dev libblkid-dev libiscsi-dev nbdkit-plugin-dev)
TEST_PKGS=(libcmocka-dev clang libclang-rt-14-dev
	qemu-utils python3
	lvm2 dmsetup e2fsprogs util-linux mount coreutils procps
	nfs-ganesha nfs-ganesha-vfs rpcbind nfs-common iproute2 tgt
	man-db bsdutils make strace tmux nbdkit libnbd-bin)
VM_PKGS=(qemu-system-x86 busybox-static kmod cpio gzip
	lvm2 e2fsprogs util-linux iproute2 procps
	nfs-common rpcbind nfs-ganesha nfs-ganesha-vfs
	open-iscsi tgt nbdkit nbd-client)

[ $# -gt 0 ] || set -- build test
pkgs=()
for g in "$@"; do
	case $g in
	build) pkgs+=("${BUILD_PKGS[@]}") ;;
	test) pkgs+=("${TEST_PKGS[@]}") ;;
	vm) pkgs+=("${VM_PKGS[@]}") ;;
	*) echo "setup-deps.sh: unknown group '$g' (build, test, vm)" >&2; exit 2 ;;
	esac
done

missing=()
for p in "${pkgs[@]}"; do
	case " ${missing[*]} " in *" $p "*) continue ;; esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup-deps ($*): installing ${missing[*]}"
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "setup-deps.sh: not root and no sudo: install ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi
APT=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get "${APT[@]}" update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
