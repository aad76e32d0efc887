#!/usr/bin/env bash
# make demo: a FileSR doing real work in a temporary directory, each call
# printed as the command you could type and the driver's answer.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/csm-demo.XXXXXX)
trap 'rm -rf "$T"' EXIT
export SM_LOCK_DIR="$T/lock" SM_MOUNT_BASE="$T/sr-mount" FILE_SR_DIR="$T/sr"
export SR_UUID=$(cat /proc/sys/kernel/random/uuid)
# The drivers would start csm-gc in the background; the demo runs it by hand below.
export CSM_GC=off
D="$BUILD/FileSR" C="$REPO/examples/dconf/file.conf"

step() {
	echo
	echo "\$ smcall FileSR file.conf $*"
	"$BUILD/smcall" "$D" "$C" "$@" | sed 's/^/  /'
}
uuid_of() { "$BUILD/smcall" "$D" "$C" "$@" | awk '$1 == "uuid:" { print $2 }'; }

echo "FileSR demo: SR $SR_UUID in $FILE_SR_DIR (locks in $SM_LOCK_DIR)"
step sr_get_driver_info
step sr_create 0
step sr_attach
echo
echo "\$ smcall FileSR file.conf vdi_create 1G 'demo disk'"
V=$(uuid_of vdi_create 1G 'demo disk' 'made by make demo')
echo "  uuid: $V"
step vdi_attach --vdi "$V" true
step vdi_activate --vdi "$V" true
echo
echo "\$ vhdtool write $V.vhd 0 <1 MiB of 'hello'>   (guest data, as tapdisk would write it)"
{ yes hello || true; } | head -c 1048576 >"$T/data"
"$BUILD/vhdtool" write "$FILE_SR_DIR/$V.vhd" 0 "$T/data"
step vdi_deactivate --vdi "$V"
step vdi_detach --vdi "$V"
echo
echo "\$ smcall FileSR file.conf vdi_snapshot --vdi $V"
S=$(uuid_of vdi_snapshot --vdi "$V")
echo "  uuid: $S   (the snapshot; $V stays the writable leaf)"
echo
echo "\$ smcall FileSR file.conf vdi_clone --vdi $V"
CL=$(uuid_of vdi_clone --vdi "$V")
echo "  uuid: $CL   (a writable clone)"
step vdi_resize --vdi "$V" 2G
step vdi_lock --vdi "$V" false demo-user
step sr_scan
echo
echo "\$ ls -l $FILE_SR_DIR"
ls -l "$FILE_SR_DIR" | sed 's/^/  /'
echo
echo "\$ vhdtool query $V.vhd"
"$BUILD/vhdtool" query "$FILE_SR_DIR/$V.vhd" | sed 's/^/  /'
step vdi_unlock --vdi "$V" demo-user
step vdi_delete --vdi "$S"
step vdi_delete --vdi "$CL"
echo
echo "\$ csm-gc --sr $SR_UUID --dir $FILE_SR_DIR      (garbage collection and coalesce, in the foreground)"
"$BUILD/csm-gc" --sr "$SR_UUID" --dir "$FILE_SR_DIR" 2>&1 | tr '\r' '\n' | grep -v '^ *[0-9.]*%' | sed 's/^/  /'
echo
echo "\$ csm-gc --sr $SR_UUID --status"
"$BUILD/csm-gc" --sr "$SR_UUID" --status | sed 's/^/  /'
echo
echo "\$ vhdtool query --chain $V.vhd"
"$BUILD/vhdtool" query --chain "$FILE_SR_DIR/$V.vhd" | sed 's/^/  /'
echo
echo "\$ vhdtool check $V.vhd"
"$BUILD/vhdtool" check "$FILE_SR_DIR/$V.vhd" | sed 's/^/  /' 
step sr_delete || true
echo
echo "(sr_delete refuses with 39 while VDIs remain: that is the point.)"
step sr_detach
echo
echo "demo done"
