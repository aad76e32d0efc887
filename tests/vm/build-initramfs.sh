#!/usr/bin/env bash
# Build BUILD_DIR/initrd.gz: a static busybox, the stage-1 init (tests/vm/guest/init)
# and the kernel modules stage 1 needs to mount the root (virtio-pci, 9p, overlay),
# taken from the kernel unpacked in BUILD_DIR/kernel. Also writes BUILD_DIR/vm.env
# (kernel version and paths) for run.sh. Rebuilds only when an input changed.
# Usage: tests/vm/build-initramfs.sh BUILD_DIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(cd "$1" && pwd)
KDIR=$OUT/kernel
# Debian 12's kernel ships its modules in /lib/modules, later ones in /usr/lib/modules.
if [ -d "$KDIR/lib/modules" ]; then MODBASE=$KDIR; else MODBASE=$KDIR/usr; fi
KV=$(ls "$MODBASE/lib/modules" | head -1)
VMLINUZ=$KDIR/boot/vmlinuz-$KV
[ -f "$VMLINUZ" ] || { echo "build-initramfs: no kernel in $KDIR" >&2; exit 1; }
INITRD=$OUT/initrd.gz
BUSYBOX=/bin/busybox

if [ -f "$INITRD" ] && [ -f "$OUT/vm.env" ] &&
   [ -z "$(find "$HERE/guest/init" "$0" "$BUSYBOX" "$VMLINUZ" -newer "$INITRD" 2>/dev/null)" ]; then
	exit 0
fi
# A static busybox: the initramfs has no libc.
if command -v file >/dev/null && file -L "$BUSYBOX" | grep -q 'dynamically linked'; then
	echo "build-initramfs: $BUSYBOX is not static (install busybox-static)" >&2; exit 1
fi

[ -f "$MODBASE/lib/modules/$KV/modules.dep" ] || depmod -b "$MODBASE" "$KV"

IR=$OUT/initramfs
rm -rf "$IR"
mkdir -p "$IR"/{bin,mods,proc,sys,dev,lower,upper,newroot,hold}
cp "$BUSYBOX" "$IR/bin/busybox"
cp "$HERE/guest/init" "$IR/init"
chmod 755 "$IR/init"
# Modules in dependency order (modprobe --show-depends prints insmod lines; built-ins
# print "builtin" and are skipped).
for m in virtio_pci 9pnet_virtio 9p overlay; do
	modprobe -d "$MODBASE" -S "$KV" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
	cp "$ko" "$IR/mods/"
	basename "$ko" >> "$IR/mods/order"
done
(cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.tmp"
mv "$INITRD.tmp" "$INITRD"
cat > "$OUT/vm.env" <<EOV
VM_KV=$KV
VM_VMLINUZ=$VMLINUZ
VM_MODDIR=$MODBASE/lib/modules/$KV
VM_INITRD=$INITRD
EOV
echo "build-initramfs: $INITRD ($(du -k "$INITRD" | cut -f1) KiB; kernel $KV; modules: $(tr '\n' ' ' < "$IR/mods/order"))"
