#!/usr/bin/env bash
# csm-gc --lvm in xapi mode (docs/gc.md "Under xapi") on an LVMSR on a loop
# device (LVM's activation off, as test_xapi_lvmsr.sh), the chain made by
# the driver in xapi mode against the XenAPI test server.  On an LVM SR the
# activation counts are this host's alone: a VDI attached on another host
# of a shared SR (LVMoISCSI) shows only as its host_<ref> key in xapi.
# Such a key on a child holds back the coalesce that would relink it
# (exit 3, naming the host, the LVs untouched); without it the GC
# coalesces and the database equals what the LVs say (dbcheck.py), with no
# sr_scan in between.
BUILD=${1:-${BUILD:-build-test}}
export SR_UUID=7b3d2e1f-9c4a-4e5b-8d6f-1a2b3c4d5e6f
source "$(dirname "$0")/lib.sh"
source "$REPO/tests/xapi/check.sh"
set +e   # each check reports itself
need_root "loop devices and LVM"
need losetup=mount truncate=coreutils python3=python3
D="$BUILD/LVMSR"
C="$REPO/examples/dconf/lvm.conf"
LVMT="$BUILD/tests/lvm_lv"
TOOL="$BUILD/tests/vstore_lvm_t"
GC="$BUILD/csm-gc"
for x in "$D" "$LVMT" "$TOOL" "$GC" "$XAPI_CHECK"; do
	[ -x "$x" ] || skip "$x not built (make TEST_BUILD=1 all-tests)"
done

LOOP=""
VG="VG_XenStorage-$SR_UUID"
cleanup_all() {
	xapi_stop_all
	if [ -n "$LOOP" ]; then
		"$LVMT" "$LOOP" vgremove "$VG" >/dev/null 2>&1
		"$LVMT" "$LOOP" pvremove >/dev/null 2>&1
		losetup -d "$LOOP" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup_all EXIT
lvm_test_env 1G
export LVM_SR_DEVICE=$LOOP
MIB=1048576
lvt() { "$LVMT" "$LOOP" "$@" 2>/dev/null; }
storage_uuids() { lvt lvs "$VG" | cut -d'|' -f1 | sed -n 's/^\(VHD\|LV\)-//p' | sort; }
storage_sum() { { lvt lvs "$VG"; head -c $((4 * MIB)) "$LOOP" | sha1sum; } | sha1sum; }
parent_of() { "$TOOL" "$LOOP" "$SR_UUID" list 2>/dev/null | awk -v c="$1" '$1 == c { print $6 }'; }
gc() {
	env "$@" "$GC" --sr "$SR_UUID" --lvm "$LOOP" >"$T/gc.out" 2>"$T/gc.err"
	GC_RC=$?
}

xapi_start lvm
export CSM_XAPI=on
xcall unit "$D" "$C" sr_create 0 && xcall unit "$D" "$C" sr_attach && pass "xapi mode: sr_create, sr_attach"
# B1 <- B2 <- {V, S2}, S1 deleted: B2 is B1's only child.
# (data before each snapshot: a snapshot of an empty leaf makes no new base copy)
head -c $((2 * MIB)) /dev/urandom >"$T/data"
xcall vdi_info "$D" "$C" vdi_create 32M "gc disk" && V=$(member uuid)
"$TOOL" "$LOOP" "$SR_UUID" write "$V" 0 "$T/data" >/dev/null || fail "writing $V"
xcall vdi_info "$D" "$C" vdi_snapshot --vdi "$V" && S1=$(member uuid)
"$TOOL" "$LOOP" "$SR_UUID" write "$V" $((4 * MIB)) "$T/data" >/dev/null || fail "writing $V"
xcall vdi_info "$D" "$C" vdi_snapshot --vdi "$V" && S2=$(member uuid)
B2=$(parent_of "$V")
B1=$(parent_of "$B2")
xcall unit "$D" "$C" vdi_delete --vdi "$S1"
unset CSM_XAPI
[ -n "$B1" ] && [ "$B1" != none ] && [ -n "$B2" ] && [ "$(parent_of "$S2")" = "$B2" ] &&
	pass "chain: $B1 <- $B2 <- {V $V, S2 $S2}" || fail "no chain to coalesce: B1 '$B1' B2 '$B2'"
db_check "before any GC run" "$D" "$C"

# Attached on host-b: no activation count here, only xapi's key.
xrpc debug.seed "str:{\"host\": [{\"ref\": \"$XAPI_HOST2_REF\", \"name_label\": \"host-b\"}]}" >/dev/null
xrpc VDI.add_to_sm_config "$(vdi_ref "$V")" "host_$XAPI_HOST2_REF" RW >/dev/null
before=$(storage_sum)
gc
if [ "$GC_RC" = 3 ] && grep -q "coalesce of $B2: its child $V is active on host host-b ($XAPI_HOST2_REF)" "$T/gc.err"; then
	pass "V attached on host-b: the coalesce of $B2 is held back (exit 3, naming host-b)"
else
	fail "V attached on host-b: exit $GC_RC: $(tail -5 "$T/gc.err")"
fi
[ "$before" = "$(storage_sum)" ] && [ "$(parent_of "$V")" = "$B2" ] &&
	pass "held back: the LVs are untouched" || fail "held back, yet the LVs changed"
xrpc VDI.remove_from_sm_config "$(vdi_ref "$V")" "host_$XAPI_HOST2_REF" >/dev/null

gc
[ "$GC_RC" = 0 ] && pass "the GC run: exit 0" || fail "the GC run: exit $GC_RC: $(tail -5 "$T/gc.err")"
[ "$(parent_of "$V")" = "$B1" ] && [ "$(parent_of "$S2")" = "$B1" ] && [ -z "$(parent_of "$B2")" ] &&
	pass "coalesced $B2 into $B1" || fail "the coalesce is not done: $(lvt lvs "$VG" | tr '\n' ' ')"
db_check "after the GC, no sr_scan in between" "$D" "$C"
[ -z "$(vdi_ref "$B2")" ] && [ "$(sm_config_key "$V" vhd-parent)" = "$B1" ] &&
	pass "$B2 forgotten, V's vhd-parent $B1" || fail "records: B2 '$(vdi_ref "$B2")' V $(vdi_field "$V" sm_config)"
finish
