#!/usr/bin/env bash
# The LVM store (lib/vstore_lvm.c) on a loop device with LVM's activation
# off, through tests/tools/vstore_lvm_t: the LVHD layout (names, sizes by
# block-family A.4, tags, read-only bases, dm-name locators, MGT slots),
# tri-state find, data through the extent map, snapshot and its undo
# killed at every step (every third in make check: sweep_sample), the
# OLD_ take-over and its recovery, journaled inflate killed at every
# step, and journals planted by hand as the Python SM writes them
# (clone_<u>_1, inflate_<u>_<bytes>, leaf_<c>_1, jvhd_<u>).  A private
# LVM configuration: nothing is written under /etc/lvm.
BUILD=${1:-${BUILD:-build-test}}
# Our own SR uuid: the VG name is LVM's lock name too.
export SR_UUID=5e1d0c3b-7a2f-4c1e-9b3d-2f4a6c8e0d1a
source "$(dirname "$0")/lib.sh"
set +e   # each check reports itself; a killed step is expected to fail
need_root "loop devices and LVM"
need losetup=mount truncate=coreutils dd=coreutils
TOOL="$BUILD/tests/vstore_lvm_t"
LVMT="$BUILD/tests/lvm_lv"
[ -x "$TOOL" ] && [ -x "$LVMT" ] || skip "$TOOL or $LVMT not built (make TEST_BUILD=1 all-tests)"

LOOP=""
cleanup_lvm() {
	if [ -n "$LOOP" ]; then
		"$LVMT" "$LOOP" vgremove "VG_XenStorage-$SR_UUID" >/dev/null 2>&1 || true
		"$LVMT" "$LOOP" pvremove >/dev/null 2>&1 || true
		losetup -d "$LOOP" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup_lvm EXIT

lvm_test_env 600M

VG="VG_XenStorage-$SR_UUID"
MIB=1048576
t() { "$TOOL" "$LOOP" "$SR_UUID" "$@"; }
tthin() { "$TOOL" --thin "$LOOP" "$SR_UUID" "$@"; }
lvt() { "$LVMT" "$LOOP" "$@" 2>/dev/null; }
# name|size|attr|tags|ro|segments of one LV ("" when absent)
lv_row() { lvt lvs "$VG" | grep "^$1|" || true; }
lv_size() { lv_row "$1" | cut -d'|' -f2; }
lv_names() { lvt lvs "$VG" | cut -d'|' -f1 | sort | tr '\n' ' '; }
dm() { echo "VG_XenStorage--${SR_UUID//-/--}-${1//-/--}"; }
expect() { # expect <what> <want> <got>
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: want '$2', got '$3'"; fi
}
# Write a journaler.py data sector ("<len> <value>" padded to 512) into LV $1 on the PV.
plant_data() {
	local row first pe_start val="$2"
	row=$(lv_row "$1")
	first=$(echo "$row" | cut -d'|' -f6 | cut -d: -f2)
	pe_start=$(lvt vgs "$VG" | awk '{ split($4, a, ":"); print a[2] }')
	printf '%-512s' "${#val} $val" >"$T/sector"
	dd if="$T/sector" of="$LOOP" bs=512 count=1 oflag=direct conv=notrunc \
		seek=$(((pe_start + first * 4 * MIB) / 512)) status=none
}
# The first 512 bytes of LV $1, read from the PV.
lv_data() {
	local row first pe_start
	row=$(lv_row "$1")
	first=$(echo "$row" | cut -d'|' -f6 | cut -d: -f2)
	pe_start=$(lvt vgs "$VG" | awk '{ split($4, a, ":"); print a[2] }')
	dd if="$LOOP" bs=512 count=1 iflag=direct skip=$(((pe_start + first * 4 * MIB) / 512)) \
		status=none | tr -s ' '
}
new_uuid() { printf 'cccccccc-0000-4000-8000-%012d' "$1"; }

# ---- SR create, probe, attach -------------------------------------------------
t sr-create "lvm test" >"$T/out" || fail "sr-create: $(cat "$T/out")"
expect "sr-create makes MGT of 4 MiB" 4194304 "$(lv_size MGT)"
expect "probe finds the SR on the device" "$SR_UUID $LOOP" "$(t probe | awk '{print $1, $3}')"
t sr-attach >/dev/null && pass "attach check sees the VG" || fail "attach check"
expect "a second sr-create is SRExists" "FAULT 42" "$(t sr-create x | cut -d' ' -f1-2)"

# ---- create thick, thin, raw: LV sizes by A.4 -----------------------------------
A=$(new_uuid 1) B=$(new_uuid 2) R=$(new_uuid 3)
t create "$A" vhd $((100 * MIB)) disk-a >/dev/null || fail "create thick"
tthin create "$B" vhd $((1024 * MIB)) disk-b >/dev/null || fail "create thin"
t create "$R" raw $((10 * MIB)) raw-r >/dev/null || fail "create raw"
expect "thick 100 MiB VHD: LV 108 MiB" $((108 * MIB)) "$(lv_size "VHD-$A")"
expect "thin 1 GiB VHD: LV 8 MiB" $((8 * MIB)) "$(lv_size "VHD-$B")"
expect "raw 10 MiB: LV 12 MiB" $((12 * MIB)) "$(lv_size "LV-$R")"
expect "VHD preallocated for 2 TiB" "max_bat=1048576" "$(t query "$A" | grep -o 'max_bat=[0-9]*')"
expect "metadata slot of A" "label=disk-a type=user read_only=0" "$(t meta "$A" | cut -d' ' -f1-3)"

# ---- list and find ------------------------------------------------------------
t list >"$T/list"
expect "list shows the three" 3 "$(wc -l <"$T/list")"
expect "list row of A" "$A vhd $((108 * MIB)) $((100 * MIB)) 0 - 1 -" "$(grep "^$A" "$T/list")"
expect "list row of R (raw)" "$R raw $((12 * MIB)) $((12 * MIB)) 0 - 1 -" "$(grep "^$R" "$T/list")"
expect "find present vhd" vhd "$(t find "$A")"
expect "find present raw" raw "$(t find "$R")"
expect "find absent" none "$(t find "$(new_uuid 99)")"
expect "find when the VG is not there: could not look" "FAULT 47" \
	"$("$TOOL" "$LOOP" "${SR_UUID%?}b" find "$A" | cut -d' ' -f1-2)"
expect "find when LVM does not answer in time: could not look" "FAULT 47" \
	"$(CSM_LVM_TIMEOUT_MS=1 t find "$A" | cut -d' ' -f1-2)"
# A damaged LV is listed with its error, not a failed listing.
lvt lvcreate "$VG" "VHD-$(new_uuid 50)" $((4 * MIB)) || fail "lvcreate damaged"
t list >"$T/list" || fail "list with a damaged LV failed"
grep -q "^$(new_uuid 50) vhd .* - 0 [^-]" "$T/list" && pass "damaged LV listed with its error" ||
	fail "damaged LV: $(grep "$(new_uuid 50)" "$T/list")"
t remove "$(new_uuid 50)" vhd >/dev/null || fail "remove damaged"

# ---- data through the extent map ---------------------------------------------------
head -c $((3 * MIB)) /dev/urandom >"$T/data"
t write "$A" $MIB "$T/data" >/dev/null || fail "write A"
t read "$A" $MIB $((3 * MIB)) | cmp -s - "$T/data" && pass "data written and read back" ||
	fail "data differs"

# ---- a killed create stays invisible and is swept ---------------------------------
C=$(new_uuid 4)
CSM_FAULT_POINT=lvm-create:lvcreate t create "$C" vhd $((10 * MIB)) >/dev/null 2>&1
expect "half-made VDI: LV there" 1 "$(lv_row "VHD-$C" | grep -c csm-unfinished)"
expect "half-made VDI: find says none" none "$(t find "$C")"
t list | grep -q "^$C" && fail "half-made VDI listed" || pass "half-made VDI not listed"
t sweep
expect "sweep removes the half-made LV" "" "$(lv_row "VHD-$C")"

# ---- snapshot: the layout --------------------------------------------------------
out=$(t snapshot "$A" clone) || fail "snapshot: $out"
BASE=${out% *} CLONE=${out#* }
expect "base LV read-only" 1 "$(lv_row "VHD-$BASE" | cut -d'|' -f5)"
expect "base hidden" "hidden=1" "$(t query "$BASE" | grep -o 'hidden=[01]')"
phys=$(t query "$BASE" | grep -o 'phys=[0-9]*' | cut -d= -f2)
expect "base deflated to roundup4M(phys)" $(((phys + 4 * MIB - 1) / (4 * MIB) * 4 * MIB)) \
	"$(lv_size "VHD-$BASE")"
[ "$(lv_size "VHD-$BASE")" -lt $((108 * MIB)) ] && pass "base smaller than before" ||
	fail "base not deflated"
expect "leaf A: thin child" $((8 * MIB)) "$(lv_size "VHD-$A")"
expect "leaf A locator: the base's dm name" "./$(dm "VHD-$BASE")" \
	"$(t query "$A" | grep -o 'parent_locator=[^ ]*' | cut -d= -f2)"
expect "leaf A prt_name: the dm name" "$(dm "VHD-$BASE")" \
	"$(t query "$A" | grep -o 'parent_name=[^ ]*' | cut -d= -f2)"
expect "clone's parent" "$BASE" "$(t list | awk -v c="$CLONE" '$1 == c { print $6 }')"
expect "clone's MGT slot" "label=clone" "$(t meta "$CLONE" | cut -d' ' -f1)"
expect "base's MGT slot as LVHDSR's" "label=base copy type=user read_only=1" \
	"$(t meta "$BASE" | cut -d' ' -f1-4)"
t check "$A" >/dev/null && t check "$CLONE" >/dev/null && pass "chains check" || fail "chain check"
t read "$A" $MIB $((3 * MIB)) | cmp -s - "$T/data" && pass "A reads the data through the base" ||
	fail "A's data after snapshot"
t read "$CLONE" $MIB $((3 * MIB)) | cmp -s - "$T/data" && pass "clone reads the data" ||
	fail "clone's data"
expect "no journal LV left" 0 "$(lvt lvs "$VG" | grep -c journaler)"

# ---- a listing is one LVM command (fullreport: stats and LVs), whatever the number of LVs -
CSM_FAULT_LOG="$T/listlog" t list >/dev/null
expect "list: one fullreport, no lvs, no vgs" "1 0 0" \
	"$(grep -c '^lvm-fullreport$' "$T/listlog") $(grep -c '^lvm-lvs$' "$T/listlog") $(grep -c '^lvm-vgs$' "$T/listlog")"

# ---- a child over a leaf whose name still holds data (the empty-leaf case) -------------
t snap-child "$A" "$BASE" $((100 * MIB)) replace || fail "snap-child replace"
expect "replaced leaf: parent still the base" "$BASE" \
	"$(t list | awk -v a="$A" '$1 == a { print $6 }')"
expect "no .new left" "" "$(lv_row "VHD-$A.new")"
CSM_FAULT_POINT=lvm-snapshot:replace t snap-child "$A" "$BASE" $((100 * MIB)) replace \
	>/dev/null 2>&1
expect "killed between remove and rename: only .new" "none 1" \
	"$(t find "$A") $(lv_row "VHD-$A.new" | grep -c .)"
t sweep
expect "sweep renames .new back" vhd "$(t find "$A")"
CSM_FAULT_POINT=lvm-snapshot:replace t snap-child "$A" "$BASE" $((100 * MIB)) replace \
	>/dev/null 2>&1
t snap-undo "$A" - -
expect "snap-undo renames .new back" vhd "$(t find "$A")"
t read "$A" $MIB $((3 * MIB)) | cmp -s - "$T/data" && pass "A's data after the replaced child" ||
	fail "A's data after replaced child"

# ---- snapshot killed at every step, undone by replay ----------------------------------
D=$(new_uuid 5)
t create "$D" vhd $((20 * MIB)) disk-d >/dev/null
t write "$D" 0 "$T/data" >/dev/null
before=$(lv_names)
: >"$T/flog"
CSM_FAULT_LOG="$T/flog" t snapshot "$D" clone >/dev/null || fail "snapshot of D"
# undo the finished one by hand: it is the reference state again
names_after=$(lv_names)
out=$(t list | awk -v d="$D" '$1 == d { print $6 }')
t snap-undo "$D" "$out" "$(t list | awk -v b="$out" '$6 == b { print $1 }' | grep -v "^$D$")"
expect "snap-undo of a finished snapshot restores the names" "$before" "$(lv_names)"
t read "$D" 0 $((3 * MIB)) | cmp -s - "$T/data" && pass "D's data after snap-undo" ||
	fail "D's data after snap-undo"
# every point the run passed, LVM's own commands included (a sample in
# make check, every one in make check-long: lib.sh's sweep_sample)
mapfile -t points < <(grep -v '^lvm-\(vgs\|lvs\)$' "$T/flog" | awk '!seen[$0]++')
all=${#points[@]}
mapfile -t points < <(sweep_sample "${points[@]}")
for p in "${points[@]}"; do
	CSM_FAULT_POINT="$p" t snapshot "$D" clone >/dev/null 2>&1
	t replay >"$T/replay" 2>&1 || fail "replay after kill at $p: $(cat "$T/replay")"
	now=$(lv_names)
	if [ "$now" = "$before" ] && t read "$D" 0 $((3 * MIB)) | cmp -s - "$T/data" &&
		[ "$(t query "$D" | grep -o 'hidden=[01]')" = hidden=0 ] &&
		[ "$(lv_row "VHD-$D" | cut -d'|' -f5)" = 0 ]; then
		pass "snapshot killed at $p: undone"
	else
		fail "snapshot killed at $p: LVs '$now' (want '$before'), replay: $(cat "$T/replay")"
	fi
done
[ "$all" -ge 10 ] && pass "killed at ${#points[@]} of $all points (CSM_SWEEP_EVERY=$(sweep_every))" ||
	fail "only $all points"

# ---- snap_undo from partial states made by hand --------------------------------------
E=$(new_uuid 6) EB=$(new_uuid 7) EC=$(new_uuid 8)
t create "$E" vhd $((20 * MIB)) >/dev/null
t write "$E" 0 "$T/data" >/dev/null
before=$(lv_names)
lvt lvrename "$VG" "VHD-$E" "VHD-$EB"                      # keep done, nothing else
t snap-undo "$E" "$EB" "$EC"
expect "snap-undo after keep" "$before" "$(lv_names)"
lvt lvrename "$VG" "VHD-$E" "VHD-$EB"
lvt lvcreate "$VG" "VHD-$E" $((8 * MIB))
lvt vhd-snap "$VG" "VHD-$EB" "VHD-$E" >/dev/null            # child made, no clone
lvt lvcreate "$VG" "VHD-$EC" $((8 * MIB))                   # clone LV, no VHD in it
lvt perm "$VG" "VHD-$EB" r
t snap-undo "$E" "$EB" "$EC"
expect "snap-undo after children (base read-only)" "$before" "$(lv_names)"
expect "undone base inflated back (thick)" $((28 * MIB)) "$(lv_size "VHD-$E")"
t read "$E" 0 $((3 * MIB)) | cmp -s - "$T/data" && pass "E's data after snap-undo" ||
	fail "E's data after snap-undo"

# ---- Python's clone journal planted by hand ----------------------------------------
lvt lvrename "$VG" "VHD-$E" "VHD-$EB"
lvt lvcreate "$VG" "VHD-$E" $((8 * MIB))
lvt vhd-snap "$VG" "VHD-$EB" "VHD-$E" >/dev/null
lvt lvcreate "$VG" "clone_${E}_1" $((4 * MIB)) journaler
plant_data "clone_${E}_1" "${EB}_${EC}"
t replay >"$T/replay" || fail "replay of clone_: $(cat "$T/replay")"
expect "clone_ journal handed over as a snapshot record" \
	"record snapshot $E src=$E;base=$EB;clone=$EC;" "$(grep '^record' "$T/replay")"
expect "clone_ journal: undone" "$before" "$(lv_names)"
t read "$E" 0 $((3 * MIB)) | cmp -s - "$T/data" && pass "E's data after clone_ replay" ||
	fail "E's data after clone_ replay"

# ---- take-over and its recovery -----------------------------------------------------
# Each round: P = a base with the data, L = its empty leaf; take_over(L, P).
mkpair() {
	local l=$1 p=$2
	t create "$l" vhd $((20 * MIB)) >/dev/null
	t write "$l" 0 "$T/data" >/dev/null
	lvt lvrename "$VG" "VHD-$l" "VHD-$p"
	lvt lvcreate "$VG" "VHD-$l" $((8 * MIB))
	lvt vhd-snap "$VG" "VHD-$p" "VHD-$l" >/dev/null
	head -c 4096 /dev/urandom >"$T/leafdata"
	t write "$l" 0 "$T/leafdata" >/dev/null
}
L=$(new_uuid 10) P=$(new_uuid 11)
mkpair "$L" "$P"
t take-over "$L" "$P" || fail "take-over"
expect "take-over: P's name gone, no OLD_" "" "$(lv_names | tr ' ' '\n' | grep -e "$P" -e OLD_)"
t read "$L" 0 $((3 * MIB)) | cmp -s - "$T/data" && pass "L names P's data" || fail "L after take-over"
t remove "$L" vhd >/dev/null
n=12
for p in lvm-take-over:old lvm-take-over:rename lvm-take-over:remove; do
	L=$(new_uuid $n) P=$(new_uuid $((n + 1)))
	n=$((n + 2))
	mkpair "$L" "$P"
	CSM_FAULT_POINT=$p t take-over "$L" "$P" >/dev/null 2>&1
	got=$(t take-over-recover "$L" "$P")
	case $p in
	*:old) want=0 ;;
	*) want=1 ;;
	esac
	expect "take-over killed at $p: recover says" "$want" "$got"
	if [ "$want" = 0 ]; then
		t read "$L" 0 4096 | cmp -s - "$T/leafdata" && pass "$p: L is L again" ||
			fail "$p: L's data"
		[ -n "$(lv_row "VHD-$P")" ] && pass "$p: P kept" || fail "$p: P gone"
	else
		t read "$L" $((1 * MIB)) $MIB | cmp -s - <(tail -c +$((MIB + 1)) "$T/data" | head -c $MIB) &&
			pass "$p: L names the merged P" || fail "$p: L's data"
		[ -z "$(lv_row "VHD-$P")" ] && pass "$p: P's name gone" || fail "$p: P left"
	fi
	expect "$p: no OLD_ left" "" "$(lv_names | tr ' ' '\n' | grep OLD_ || true)"
done

# ---- Python's leaf journal with OLD_ leftovers ---------------------------------------
L=$(new_uuid 30) P=$(new_uuid 31)
mkpair "$L" "$P"
lvt lvrename "$VG" "VHD-$L" "VHD-OLD_$L"                    # first rename of the pair
lvt lvcreate "$VG" "leaf_${L}_1" $((4 * MIB)) journaler
plant_data "leaf_${L}_1" "$P"
t replay >"$T/replay" || fail "replay leaf_: $(cat "$T/replay")"
expect "leaf_ journal handed over" "record leaf $L parent=$P;" "$(grep '^record' "$T/replay")"
t read "$L" 0 4096 | cmp -s - "$T/leafdata" && pass "leaf_ with OLD_: L back" || fail "leaf_ undo"
expect "leaf_ undone: P hidden again" "hidden=1" "$(t query "$P" | grep -o 'hidden=[01]')"
expect "leaf_ journal removed" "" "$(lv_row "leaf_${L}_1")"
lvt lvrename "$VG" "VHD-$L" "VHD-OLD_$L"                    # both renames done
lvt lvrename "$VG" "VHD-$P" "VHD-$L"
lvt lvcreate "$VG" "leaf_${L}_1" $((4 * MIB)) journaler
plant_data "leaf_${L}_1" "$P"
t replay >"$T/replay" || fail "replay leaf_ 2: $(cat "$T/replay")"
expect "leaf_ after both renames: finished, OLD_ gone" "" \
	"$(lv_names | tr ' ' '\n' | grep -e OLD_ -e "$P" || true)"

# ---- inflate and deflate, and their journal ------------------------------------------
I=$(new_uuid 40)
tthin create "$I" vhd $((100 * MIB)) >/dev/null
t write "$I" 0 "$T/leafdata" >/dev/null
t inflate "$I" $((108 * MIB)) || fail "inflate"
expect "inflated to 108 MiB" $((108 * MIB)) "$(lv_size "VHD-$I")"
t check "$I" >/dev/null && pass "inflated VHD checks" || fail "inflated VHD check"
t deflate "$I" || fail "deflate"
expect "deflated to 8 MiB" $((8 * MIB)) "$(lv_size "VHD-$I")"
t read "$I" 0 4096 | cmp -s - "$T/leafdata" && pass "data after inflate/deflate" || fail "I's data"
for p in lvm-inflate:journal lvm-lvresize lvm-inflate:lvresize lvm-inflate:zero \
	lvm-inflate:footer; do
	CSM_FAULT_POINT=$p t inflate "$I" $((108 * MIB)) >/dev/null 2>&1
	t replay >"$T/replay" 2>&1 || fail "replay after inflate killed at $p: $(cat "$T/replay")"
	sz=$(lv_size "VHD-$I")
	if { [ "$sz" = $((8 * MIB)) ] || [ "$sz" = $((108 * MIB)) ]; } && t check "$I" >/dev/null &&
		[ -z "$(lvt lvs "$VG" | grep '^inflate_')" ]; then
		pass "inflate killed at $p: recovered ($sz)"
	else
		fail "inflate killed at $p: size $sz, $(t check "$I"), $(lvt lvs "$VG" | grep inflate_)"
	fi
	t deflate "$I" >/dev/null
done
# Python's: journal inflate_<u>_<old bytes>, then lvresize, then killed.
lvt lvcreate "$VG" "inflate_${I}_$((8 * MIB))" $((4 * MIB)) journaler
lvt lvresize "$VG" "VHD-$I" $((40 * MIB))
t replay >"$T/replay" || fail "replay of inflate_: $(cat "$T/replay")"
expect "Python inflate_ journal: back to the old size" $((8 * MIB)) "$(lv_size "VHD-$I")"
t check "$I" >/dev/null && pass "VHD checks after inflate_ replay" || fail "check after inflate_"

# ---- grows: within the 2 TiB BAT with no undo record; beyond it refused ---------------
t grow "$I" $((300 * MIB)) || fail "grow within the BAT"
expect "grown" "virtual=$((300 * MIB))" "$(t query "$I" | grep -o 'virtual=[0-9]*')"
G=$(new_uuid 41)
t create "$G" vhd-small $((10 * MIB)) >/dev/null || fail "create small-BAT VHD"
expect "a grow beyond the BAT: 110" "FAULT 110" "$(t grow "$G" $((100 * MIB)) | cut -d' ' -f1-2)"
expect "refused grow left it as it was" "virtual=$((10 * MIB))" \
	"$(t query "$G" | grep -o 'virtual=[0-9]*')"
t check "$G" >/dev/null && pass "small-BAT VHD checks" || fail "small-BAT VHD check"

# ---- a libvhd resize journal refuses -------------------------------------------------
lvt lvcreate "$VG" "jvhd_$I" $((8 * MIB)) jvhd
expect "jvhd_ journal: replay refuses with 47" "FAULT 47" "$(t replay | cut -d' ' -f1-2)"
lvt lvremove "$VG" "jvhd_$I"

# ---- our own records: csm_ journals, vdi_lock, activation --------------------------------
t journal-begin create "$C" "kind=vhd" || fail "journal-begin create"
expect "csm_ journal LV tagged csm-journal" "csm-journal" "$(lv_row "csm_create_$C" | cut -d'|' -f4)"
expect "journal lookup" 1 "$(t journal-lookup create "$C")"
t journal-begin coalesce "$I" "parent=$P" || fail "journal-begin coalesce"
expect "coalesce record as Python names it" "journaler" "$(lv_row "coalesce_${I}_1" | cut -d'|' -f4)"
t replay >"$T/replay"
expect "replay hands csm_ and coalesce_ over" \
	"record coalesce $I parent=$P|record create $C kind=vhd" \
	"$(grep '^record' "$T/replay" | sort | tr '\n' '|' | sed 's/|$//')"
expect "coalesce (left to the GC) stays, create (abandoned) goes" "1 0" \
	"$(t journal-lookup coalesce "$I") $(t journal-lookup create "$C")"
t journal-end coalesce "$I"
t journal-begin leaf "$I" "parent=$P
" || fail "journal-begin leaf"
expect "our leaf record: journaler.py's leaf_<c>_1" journaler "$(lv_row "leaf_${I}_1" | cut -d'|' -f4)"
expect "its data sector as journaler.py writes it" "36 $P " "$(lv_data "leaf_${I}_1")"
t journal-end leaf "$I"
expect "journal-end removes it" "" "$(lv_row "leaf_${I}_1")"
t lock "$A" alice host1 || fail "lock"
expect "lock read back" "alice host1" "$(t lock-read "$A")"
expect "second lock refused" "FAULT 37" "$(t lock "$A" bob host2 | cut -d' ' -f1-2)"
t unlock "$A"
expect "unlocked" "none -2" "$(t lock-read "$A")"
t activate "$A" leaf && t activate "$BASE" || fail "activate"
expect "refcount files as refcounter.py's" "0 1|1 0" \
	"$(cat "$T/refcount/lvm-$SR_UUID/$A")|$(cat "$T/refcount/lvm-$SR_UUID/$BASE")"
expect "active records" "$(printf '%s\n' "$A" "$BASE" | sort | tr '\n' ' ')" \
	"$(t active | sort | tr '\n' ' ')"
expect "remove of an active VDI refused" "FAULT 24" "$(t remove "$A" vhd | cut -d' ' -f1-2)"
t deactivate "$A" leaf && t deactivate "$BASE" || fail "deactivate"
[ ! -e "$T/refcount/lvm-$SR_UUID/$A" ] && pass "refcount file gone at 0 0" || fail "refcount left"
expect "data path" "/dev/$VG/VHD-$A" "$(t data-path "$A" vhd)"
t raw-hide "$R" 1
expect "raw hidden is the tag" "hidden" "$(lv_row "LV-$R" | cut -d'|' -f4)"
expect "raw hidden in the list" 1 "$(t list | awk -v r="$R" '$1 == r { print $5 }')"

# ---- a non-master changes nothing ------------------------------------------------
expect "slave: create refused with LVMMaster" "FAULT 58" \
	"$("$TOOL" --slave "$LOOP" "$SR_UUID" create "$(new_uuid 60)" vhd $MIB | cut -d' ' -f1-2)"
expect "slave: find still works" vhd "$("$TOOL" --slave "$LOOP" "$SR_UUID" find "$A")"

# ---- delete ------------------------------------------------------------------------
expect "sr-delete with VDIs: SRNotEmpty" "FAULT 39" "$(t sr-delete | cut -d' ' -f1-2)"
for u in $(t list | awk '{ print $1 " " $2 }' | tr ' ' ':'); do
	t remove "${u%%:*}" "${u##*:}" >/dev/null || fail "remove $u"
done
expect "slot of a removed VDI gone" "none -2" "$(t meta "$A")"
t sr-delete || fail "sr-delete"
expect "probe finds nothing after delete" "" "$(t probe)"
[ -z "$(ls /etc/lvm/backup 2>/dev/null | grep "$SR_UUID" || true)" ] &&
	pass "nothing written under /etc/lvm" || fail "an LVM backup of the SR under /etc/lvm"

[ "$FAILS" -eq 0 ] || exit 1
