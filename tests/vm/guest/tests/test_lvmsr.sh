#!/bin/bash
# LVMSR with real activation (the host's tests/integration/test_lvmsr*.sh run
# with LVM's activation off, I/O through the extent map): on a loop device,
# through the LVMSR binary as xapi calls it (smcall), sr_create and sr_attach;
# vdi_attach returns a device node that exists, with the VHD's parents active,
# and data written through it with vhdtool (a raw VDI: dd) reads back, also
# through the extent map once the LV is inactive again; a thin VDI's LV
# inflated while attached and deflated at detach; vdi_snapshot of an attached
# leaf (the device follows the rename, the new leaf stays active, the data
# written before is read through the new chain); csm-gc with the leaf active
# (its leaf-coalesce, and a coalesce that would relink it and remove a parent
# its chain holds, both left alone) and after sr_detach (the coalesce done),
# the data intact; sr_detach with VDIs still attached leaves no
# device-mapper node of the VG; re-attach; sr_delete.
. "$VMT_REPO/tests/vm/guest/lib.sh"
D=$VMT_BUILD/LVMSR
SMCALL=$VMT_BUILD/smcall
VHDTOOL=$VMT_BUILD/vhdtool
GC=$VMT_BUILD/csm-gc
STORE=$VMT_BUILD/tests/vstore_lvm_t
for x in "$D" "$SMCALL" "$VHDTOOL" "$GC" "$STORE"; do
	[ -x "$x" ] || vmt_fail "no $x (make check-vm builds build-test/)"
done
modprobe dm_mod
CONF=$VMT_REPO/examples/dconf/lvm.conf
export SM_LOCK_DIR=$VMT_WORK/lock SM_REFCOUNT_DIR=$VMT_WORK/refcount CSM_GC=off CSM_LVM_BACKUP=off
export SR_UUID=5b7e2c1d-3a4f-4e6b-8c9d-0f1e2d3c4b5a
VG=VG_XenStorage-$SR_UUID
NS=$SM_REFCOUNT_DIR/lvm-$SR_UUID
MIB=1048576
A=aaaaaaaa-2222-4000-8000-000000000001   # thick VHD, attached through most of the test
B=bbbbbbbb-2222-4000-8000-000000000002   # thin VHD
R=cccccccc-2222-4000-8000-000000000003   # raw

DEV=$(vmt_loop 1G lvmsr)
export LVM_SR_DEVICE=$DEV
# If the test fails half-way, leave no dm node, VG or PV behind.
vmt_on_exit "vgchange -q -an $VG >/dev/null 2>&1; vgremove -q -f $VG >/dev/null 2>&1; pvremove -q -ff -y $DEV >/dev/null 2>&1"

lvm() { "$SMCALL" "$D" "$CONF" "$@"; }
thin() { "$SMCALL" "$D" "$CONF" --dconf allocation=thin "$@"; }
# fault CODE ARGS...: the call must fail with exactly that code.
fault() {
	local code=$1 out; shift
	out=$(lvm "$@" 2>/dev/null) && vmt_fail "$* succeeded, expected fault $code"
	grep -q "^FAULT $code " <<<"$out" || vmt_fail "$*: expected fault $code, got: $out"
}
member() { sed -n "s/^$1: //p" "$2"; }
store() { "$STORE" "$DEV" "$SR_UUID" "$@"; }
# The device-mapper name of one of the SR's LVs, and its node.
dm() { echo "VG_XenStorage--${SR_UUID//-/--}-${1//-/--}"; }
node() { echo "/dev/mapper/$(dm "$1")"; }
# Active: device-mapper has the device, and its nodes are there (asking
# device-mapper, not lvs: an lvs takes a second under TCG).
active() {
	dmsetup info "$(dm "$1")" >/dev/null 2>&1 && [ -b "$(node "$1")" ] && [ -b "/dev/$VG/$1" ]
}
inactive() {
	! dmsetup info "$(dm "$1")" >/dev/null 2>&1 && [ ! -e "$(node "$1")" ] && [ ! -e "/dev/$VG/$1" ]
}
lv_size() { lvs --noheadings --units b --nosuffix -o lv_size "$VG/$1" | tr -d ' '; }
node_size() { blockdev --getsize64 "$(node "$1")"; }
vg_nodes() { dmsetup ls | awk '{print $1}' | grep "^VG_XenStorage--${SR_UUID//-/--}-" || true; }
count() { cat "$NS/$1" 2>/dev/null || echo none; }
expect() { [ "$2" = "$3" ] || vmt_fail "$1: want '$2', got '$3'"; }
vread() { "$VHDTOOL" read "$@"; }   # PATH OFFSET LEN
# The one VHD LV that is neither of the named VDIs (a base copy just made).
other_vhd() {
	local known=" $* " n
	for n in $(lvs --noheadings -o lv_name "$VG" | tr -d ' '); do
		case "$n" in VHD-*) [[ "$known" == *" ${n#VHD-} "* ]] || echo "${n#VHD-}" ;; esac
	done
}
# The fully inflated LV of a 64 MiB VHD (block-family A.4):
# roundup4M(64 MiB + 4,329,472 + 32 x 4096) = 72 MiB.
FULL64=$((72 * MIB))
vmt_pattern p1 4
vmt_pattern p2 1
vmt_pattern p3 2

# --- create, attach ----------------------------------------------------------------
lvm sr_create 0
vgs "$VG"
[ -z "$(vg_nodes)" ] || vmt_fail "sr_create left active LVs: $(vg_nodes)"
lvm sr_attach

# --- a thick VHD: attach answers an active device that reads and writes ------------
lvm --vdi "$A" vdi_create 64M disk-a
expect "thick 64 MiB VHD LV" $FULL64 "$(lv_size "VHD-$A")"
inactive "VHD-$A" || vmt_fail "vdi_create left VHD-$A active"
lvm --vdi "$A" vdi_attach true | tee att
expect "attach params" "/dev/$VG/VHD-$A" "$(member params att)"
[ -b "/dev/$VG/VHD-$A" ] || vmt_fail "the attached path is no block device"
active "VHD-$A" || vmt_fail "VHD-$A not active after vdi_attach"
expect "refcount of the attached leaf" "0 1" "$(count "$A")"
lvm --vdi "$A" vdi_activate true
"$VHDTOOL" write "/dev/$VG/VHD-$A" $MIB p1
vread "/dev/$VG/VHD-$A" $MIB $((4 * MIB)) | cmp - p1 || vmt_fail "A's data through its node"
"$VHDTOOL" check "/dev/$VG/VHD-$A"

# --- a raw VDI: dd through the node ------------------------------------------------------
lvm --vdi "$R" --sm-config type=raw vdi_create 16M raw-r
lvm --vdi "$R" vdi_attach true | tee att
expect "raw attach params" "/dev/$VG/LV-$R" "$(member params att)"
active "LV-$R" || vmt_fail "LV-$R not active after vdi_attach"
dd if=p1 of="/dev/$VG/LV-$R" bs=1M seek=8 oflag=direct conv=fsync status=none
dd if="/dev/$VG/LV-$R" bs=1M skip=8 count=4 iflag=direct status=none | cmp - p1 ||
	vmt_fail "raw data through the node"
lvm --vdi "$R" vdi_detach
inactive "LV-$R" || vmt_fail "LV-$R still active after vdi_detach"
[ ! -e "$NS/$R" ] || vmt_fail "refcount of $R left after detach: $(count "$R")"
lvm --vdi "$R" vdi_attach false
dd if="/dev/$VG/LV-$R" bs=1M skip=8 count=4 iflag=direct status=none | cmp - p1 ||
	vmt_fail "raw data after deactivate and activate"
# R stays attached: sr_detach must take it down.

# --- thin: attach inflates, detach deflates ---------------------------------------------
thin --vdi "$B" vdi_create 64M disk-b
expect "thin VHD LV at create" $((8 * MIB)) "$(lv_size "VHD-$B")"
thin --vdi "$B" vdi_attach true
expect "thin attach inflates the LV" $FULL64 "$(lv_size "VHD-$B")"
active "VHD-$B" || vmt_fail "VHD-$B not active"
expect "the node has the inflated size" $FULL64 "$(node_size "VHD-$B")"
"$VHDTOOL" write "$(node "VHD-$B")" $((60 * MIB)) p1   # up to the end of the disk
vread "$(node "VHD-$B")" $((60 * MIB)) $((4 * MIB)) | cmp - p1 || vmt_fail "B's data"
thin --vdi "$B" vdi_detach
inactive "VHD-$B" || vmt_fail "VHD-$B still active after detach"
phys=$(store query "$B" | sed 's/.* phys=\([0-9]*\) .*/\1/')
want=$(( (phys + 4 * MIB - 1) / (4 * MIB) * 4 * MIB ))
expect "thin detach deflates to roundup4M(phys $phys)" $want "$(lv_size "VHD-$B")"
[ "$want" -lt $FULL64 ] || vmt_fail "deflated size $want is not below $FULL64"
# Written through the dm node, read through the extent map on the PV.
store read "$B" $((60 * MIB)) $((4 * MIB)) | cmp - p1 || vmt_fail "B's data through the extent map"
thin --vdi "$B" vdi_attach false
expect "a read-only attach does not inflate" "$want" "$(lv_size "VHD-$B")"
vread "$(node "VHD-$B")" $((60 * MIB)) $((4 * MIB)) | cmp - p1 || vmt_fail "B's data, read-only"
thin --vdi "$B" vdi_detach
# A snapshot of an attached thin leaf: the leaf keeping the uuid is
# inflated while it is active (lvresize of an active LV; the node follows).
thin --vdi "$B" vdi_attach true
thin --vdi "$B" vdi_snapshot --driver-param type=double | tee snapb
SB=$(member uuid snapb)
BB=$(other_vhd "$A" "$B" "$SB")
[ -n "$BB" ] || vmt_fail "no base copy of B"
active "VHD-$BB" || vmt_fail "B's base (its renamed active LV) is not active"
expect "thin: the attached leaf inflated after the snapshot" $FULL64 "$(lv_size "VHD-$B")"
active "VHD-$B" || vmt_fail "VHD-$B not active after the snapshot"
expect "the active leaf's node grew with it" $FULL64 "$(node_size "VHD-$B")"
"$VHDTOOL" write "$(node "VHD-$B")" $((62 * MIB)) p3
head -c $((2 * MIB)) p1 > p1-head
vread "$(node "VHD-$B")" $((60 * MIB)) $((2 * MIB)) | cmp - p1-head ||
	vmt_fail "B's old data through its new chain"
vread "$(node "VHD-$B")" $((62 * MIB)) $((2 * MIB)) | cmp - p3 || vmt_fail "B's new data"
thin --vdi "$B" vdi_detach
inactive "VHD-$B" || vmt_fail "VHD-$B still active"
[ "$(lv_size "VHD-$B")" -lt $FULL64 ] || vmt_fail "B not deflated after the snapshot's detach"
lvm --vdi "$SB" vdi_delete

# --- snapshot of the attached, active leaf A ----------------------------------------------
lvm --vdi "$A" vdi_snapshot --driver-param type=double | tee snap1
S1=$(member uuid snap1)
BASE=$(other_vhd "$A" "$B" "$S1" "$BB")
[ -n "$BASE" ] && [ "$(wc -w <<<"$BASE")" = 1 ] || vmt_fail "no single base copy: '$BASE'"
active "VHD-$BASE" || vmt_fail "the base (A's renamed active LV) is not active"
active "VHD-$A" || vmt_fail "the new leaf VHD-$A is not active"
inactive "VHD-$S1" || vmt_fail "the snapshot VHD-$S1 is active"
expect "refcount of the base" "1 0" "$(count "$BASE")"
expect "refcount of the leaf" "0 1" "$(count "$A")"
expect "thick: the leaf full after the snapshot" $FULL64 "$(lv_size "VHD-$A")"
expect "A's parent locator: the base's dm name" "./$(dm "VHD-$BASE")" \
	"$(store query "$A" | grep -o 'parent_locator=[^ ]*' | cut -d= -f2)"
# The chain through the device nodes: the locator resolves in /dev/mapper.
vread "$(node "VHD-$A")" $MIB $((4 * MIB)) | cmp - p1 || vmt_fail "A's data after the snapshot"
"$VHDTOOL" write "$(node "VHD-$A")" $((16 * MIB)) p2
vread "$(node "VHD-$A")" $((16 * MIB)) $MIB | cmp - p2 || vmt_fail "A's new data"
"$VHDTOOL" check "$(node "VHD-$A")"
lvm --vdi "$S1" vdi_attach false
active "VHD-$S1" || vmt_fail "snapshot not active after attach"
expect "the base counted by both leaves" "2 0" "$(count "$BASE")"
vread "$(node "VHD-$S1")" $MIB $((4 * MIB)) | cmp - p1 || vmt_fail "the snapshot's data"
vread "$(node "VHD-$S1")" $((16 * MIB)) $MIB | cmp -s - p2 && vmt_fail "the snapshot sees A's later write"
lvm --vdi "$S1" vdi_detach
inactive "VHD-$S1" || vmt_fail "snapshot still active after detach"
active "VHD-$BASE" || vmt_fail "the base went inactive under the attached A"
expect "refcount of the base after the snapshot's detach" "1 0" "$(count "$BASE")"

# --- csm-gc with the leaf active ---------------------------------------------------------------
# gc WANT: csm-gc in the foreground; WANT its exit status (0 done, 3 work held back).
gc() {
	local rc=0
	"$GC" --sr "$SR_UUID" --lvm "$DEV" > gc.out 2>&1 || rc=$?
	cat gc.out
	[ $rc = "$1" ] || vmt_fail "csm-gc exited $rc, want $1"
}
parent_of() { store query "$1" | grep -o 'parent_locator=[^ ]*' | cut -d= -f2; }
lvm --vdi "$S1" vdi_delete
# The base has one child, A: a leaf-coalesce, but A is attached here, and
# is left alone (B, detached, has one too: that one is done).
gc 0
grep -q "leaf $B merged" gc.out || vmt_fail "the GC did not merge the detached B"
[ -n "$(lvs --noheadings -o lv_name "$VG/VHD-$BASE" 2>/dev/null)" ] ||
	vmt_fail "the GC merged the base of the attached leaf A"
active "VHD-$A" && active "VHD-$BASE" || vmt_fail "the GC changed the attached chain's activation"
vread "$(node "VHD-$A")" $MIB $((4 * MIB)) | cmp - p1 || vmt_fail "A's data after the GC"
# A second snapshot: BASE <- BASE2 <- {A, S2}, BASE2 the only child of
# BASE: a coalesce of BASE2 into BASE would relink A and remove BASE2, which
# the attached A's chain holds open (BASE, BASE2 and A active): held back.
lvm --vdi "$A" vdi_snapshot --driver-param type=double | tee snap2
S2=$(member uuid snap2)
BASE2=$(other_vhd "$A" "$B" "$S2" "$BASE")
[ -n "$BASE2" ] && [ "$(wc -w <<<"$BASE2")" = 1 ] || vmt_fail "no single second base copy: '$BASE2'"
expect "refcount of the second base" "1 0" "$(count "$BASE2")"
"$VHDTOOL" write "$(node "VHD-$A")" $((24 * MIB)) p3
gc 3
grep -q "coalesce of $BASE2: an attached chain runs through it" gc.out ||
	vmt_fail "the GC did not say why it held the coalesce back"
expect "A's parent while attached" "./$(dm "VHD-$BASE2")" "$(parent_of "$A")"
active "VHD-$BASE2" || vmt_fail "the GC deactivated A's parent"
vread "$(node "VHD-$A")" $MIB $((4 * MIB)) | cmp - p1 || vmt_fail "A's first data after the GC"
vread "$(node "VHD-$A")" $((16 * MIB)) $MIB | cmp - p2 || vmt_fail "A's second data after the GC"
vread "$(node "VHD-$A")" $((24 * MIB)) $((2 * MIB)) | cmp - p3 || vmt_fail "A's third data after the GC"
"$VHDTOOL" check "$(node "VHD-$A")"
store check "$A"
lvs -o lv_name,lv_attr,lv_size,lv_tags "$VG"

# --- sr_detach with VDIs attached: no dm node of the VG is left ---------------------------------
[ -n "$(vg_nodes)" ] || vmt_fail "nothing active before sr_detach"
lvm sr_detach
expect "dm nodes of $VG after sr_detach" "" "$(vg_nodes)"
[ ! -e "$NS" ] || vmt_fail "refcount namespace left after sr_detach"
[ -z "$(ls /dev/$VG 2>/dev/null)" ] || vmt_fail "/dev/$VG not empty after sr_detach"
lvm sr_detach   # idempotent

# --- re-attach: the data is on the PV; the GC finishes with nothing attached -------------------------
lvm sr_attach
store read "$A" $MIB $((4 * MIB)) | cmp - p1 || vmt_fail "A's data through the extent map"
gc 0
grep -q "coalescing $BASE2 into its parent $BASE" gc.out || vmt_fail "no coalesce after the detach"
expect "A's parent after the coalesce" "./$(dm "VHD-$BASE")" "$(parent_of "$A")"
[ -z "$(lvs --noheadings -o lv_name "$VG/VHD-$BASE2" 2>/dev/null)" ] || vmt_fail "VHD-$BASE2 left"
expect "dm nodes after the GC" "" "$(vg_nodes)"
lvs -o lv_name,lv_attr,lv_size,lv_tags "$VG"
lvm --vdi "$A" vdi_attach true
vread "$(node "VHD-$A")" $MIB $((4 * MIB)) | cmp - p1 || vmt_fail "A's data after re-attach"
vread "$(node "VHD-$A")" $((16 * MIB)) $MIB | cmp - p2 || vmt_fail "A's second data after re-attach"
vread "$(node "VHD-$A")" $((24 * MIB)) $((2 * MIB)) | cmp - p3 || vmt_fail "A's third data after re-attach"
lvm --vdi "$A" vdi_detach
inactive "VHD-$A" || vmt_fail "A still active after detach"
expect "dm nodes after every detach" "" "$(vg_nodes)"

# --- delete -------------------------------------------------------------------------------------------------
fault 39 sr_delete
for u in "$A" "$B" "$R" "$S2"; do lvm --vdi "$u" vdi_delete; done
lvm sr_detach
lvm sr_delete
vgs "$VG" >/dev/null 2>&1 && vmt_fail "VG $VG left after sr_delete"
pvs "$DEV" >/dev/null 2>&1 && vmt_fail "PV label left on $DEV after sr_delete"
expect "dm nodes after sr_delete" "" "$(vg_nodes)"
vmt_log "lvmsr: activation, I/O through the nodes, thin inflate/deflate, snapshot and GC of an attached chain, sr_detach ok"
