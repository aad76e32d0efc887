#!/usr/bin/env bash
# Prepare the VM test host (idempotent; every step is skipped when already done):
#   1. apt-get install the host packages the VM and the guest tests use, if missing;
#   2. apt-get download Debian's generic kernel and dpkg -x it into build-vm/kernel/
#      (never installed into /boot; the host kernel is untouched);
#   3. build build-vm/initrd.gz: busybox-static + the modules that mount the root.
# Usage: tests/vm/setup.sh [BUILD_DIR]     (default: <repo>/build-vm)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${1:-$REPO/build-vm}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "vm-setup: $*"; }

# ---- 1. host packages ------------------------------------------------------------
# qemu + initramfs tools, then what the guest runs (the guest's userspace is the
# host's): the "vm" group of tests/setup-deps.sh, which lists every package.
"$REPO/tests/setup-deps.sh" vm
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
APT=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
updated=0
apt_update() { [ $updated = 1 ] || { $SUDO apt-get "${APT[@]}" update -qq; updated=1; }; }

# ---- 2. guest kernel -------------------------------------------------------------
# The generic flavour: it has 9p (the -cloud- flavour lacks it), dm-mod, iscsi_tcp,
# nfs/nfsv3/nfsv4, loop and ext4 as modules.
KDIR=$OUT/kernel
if ! ls "$KDIR"/boot/vmlinuz-* >/dev/null 2>&1; then
	kpkg() { apt-cache depends linux-image-amd64 2>/dev/null |
	         awk '$1 ~ /Depends:/ && $2 ~ /^linux-image-[0-9]/ {print $2; exit}'; }
	KPKG=$(kpkg)
	[ -n "$KPKG" ] || { apt_update; KPKG=$(kpkg); }
	[ -n "$KPKG" ] || { echo "vm-setup: cannot resolve linux-image-amd64" >&2; exit 1; }
	log "downloading kernel package $KPKG"
	rm -rf "$OUT/kernel-deb" "$KDIR.tmp"
	mkdir -p "$OUT/kernel-deb"
	(cd "$OUT/kernel-deb" && apt-get "${APT[@]}" -o APT::Sandbox::User=root download -qq "$KPKG") ||
		{ apt_update; (cd "$OUT/kernel-deb" && apt-get "${APT[@]}" -o APT::Sandbox::User=root download -qq "$KPKG"); }
	dpkg -x "$OUT"/kernel-deb/"$KPKG"_*.deb "$KDIR.tmp"
	mv "$KDIR.tmp" "$KDIR"
	rm -rf "$OUT/kernel-deb"
fi

# ---- 3. initramfs ----------------------------------------------------------------
"$HERE/build-initramfs.sh" "$OUT"
