#!/usr/bin/env bash
# bench/run.sh <build-dir> [bench_calls options...]
#
# Wall time per driver call (fork + exec + read stdout + wait), as xapi
# pays it.  `make bench` runs this with the default build directory.
#   1. checks that bench_calls sends byte-for-byte the requests smcall
#      (i.e. xapi) would send;
#   2. runs build/bench/bench_calls on the FileSR driver and prints the
#      table (median, p10, p90, min, max in ms; n);
#   3. if hyperfine is installed, a second opinion on sr_get_driver_info
#      and vdi_create (skipped with NO_HYPERFINE=1).
#   4. coalesce: `vhdtool coalesce` of a 256 MiB child (fully written, and
#      with scattered partial blocks) against cp, cp + sync and dd bs=2M of
#      the same bytes on the same filesystem, page cache dropped before
#      every run (root only; skipped otherwise);
#   5. scan: `vhdtool scan` of 10,000 small VHDs (warm cache) and FileSR
#      sr_scan of an SR with 10,000 VDIs;
#   6. snapshot: vdi_snapshot of a 2040 GiB VDI (the VHD maximum) with
#      4 blocks written, against the same for a 1 GiB VDI;
#   7. nfs: NFSSR vdi_create and sr_scan (1000 VDIs) over a private
#      nfs-ganesha on 127.0.0.1 (tests/nfs/server.sh), v3 and v4, beside
#      FileSR on local disk (root only; skipped otherwise).  This part runs
#      again inside tests/nfs/netns.sh: the server's namespaces.
#   8. lvm: LVMSR (VHD on LVM, activation off, a private LVM configuration:
#      nothing written under /etc/lvm) on loop devices over sparse files in
#      $TMPDIR: sr_scan of an SR of LVM_VDIS (default 1000) thin VDIs against
#      one plain `lvs` of the same VG with the same configuration, run in
#      turn (A B A B ...), the ratio taken pair by pair; then vdi_create
#      (thin) and vdi_snapshot per call with bench_calls on a second SR.
#      The 1000 VDIs are made through the store (tests/vstore_lvm_t create:
#      the LV, its VHD and its MGT slot, no journal), not the driver,
#      which takes ~1 s a vdi_create; make <build-dir>/tests/vstore_lvm_t.  Root only;
#      not in the default PARTS (populating takes minutes).
#   9. iscsi: ISCSISR and LVMoISCSISR control calls against a private tgtd
#      on 127.0.0.1 (tests/iscsi/target.sh) exporting one target with
#      ISCSI_LUNS (default 16) file-backed LUNs: ISCSISR sr_probe without
#      targetIQN (the IQN list, fault 96), sr_probe with it (a login check,
#      <SRlist/>), sr_scan (every LUN: INQUIRY x3 and READ CAPACITY each),
#      LVMoISCSISR sr_probe without SCSIid (the LUN list, fault 107).  All
#      in user space through libiscsi (no kernel initiator).  Root and tgt.
# Environment: DRIVER (default <build-dir>/FileSR), TMPDIR (where the
# temporary SRs and images live; default /tmp), PARTS (default
# "calls coalesce scan snapshot nfs iscsi": which of 1-3, 4, 5, 6, 7, 9 to
# run; "lvm" adds 8), LVM_VDIS (default 1000), LVM_PAIRS (default 11), LVM_CALLS
# (samples of vdi_create and vdi_snapshot in 8, default 20), ISCSI_LUNS
# (9, default 16), ISCSI_RUNS (runs per figure in 9, default 21),
# RUNS (runs per figure in 4, default 5; 5 uses 11), SCAN_N (images in 5,
# default 10000), NFS_VDIS (default 1000).  Extra arguments go to
# bench_calls in part 1-3, e.g. `PARTS=calls bench/run.sh build -n 50 --only info,scan`.
set -euo pipefail

BUILD=${1:?usage: bench/run.sh <build-dir> [bench_calls options...]}
shift
BUILD=$(cd "$BUILD" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
DRIVER=${DRIVER:-$BUILD/FileSR}
BENCH=$BUILD/bench/bench_calls
SMCALL=$BUILD/smcall
CONF=$REPO/examples/dconf/file.conf

[ -x "$BENCH" ] || { echo "run.sh: $BENCH missing (make $BENCH)" >&2; exit 1; }
[ -x "$DRIVER" ] || { echo "run.sh: $DRIVER missing" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/csm-bench-run.XXXXXX")
trap 'rm -rf "$T"' EXIT

# BENCH_NFS_INNER=1: this is part 7 run again in the NFS server's namespaces.
if [ "${BENCH_NFS_INNER:-0}" != 1 ]; then
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
fs=$(df -PT "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $2 }')
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $cpu, $(nproc) CPUs, kernel $(uname -r), ${TMPDIR:-/tmp} on $fs"
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
	dirty=$(git -C "$REPO" status --porcelain -- lib drivers include | wc -l)
	echo "commit:  $(git -C "$REPO" rev-parse --short HEAD)$([ "$dirty" -eq 0 ] || echo " + $dirty uncommitted change(s) in lib/ drivers/ include/")"
else
	echo "commit:  (not a git checkout)"
fi
echo "driver:  $DRIVER"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) before the run"
echo
fi

PARTS=${PARTS:-calls coalesce scan snapshot nfs iscsi}
# shellcheck source=../tests/nfs/netns.sh
source "$REPO/tests/nfs/netns.sh"
part() { [[ " $PARTS " == *" $1 "* ]]; }
TIME=$BUILD/bench/bench_time
VHDTOOL=$BUILD/vhdtool
[ -x "$TIME" ] || { echo "run.sh: $TIME missing (make $TIME)" >&2; exit 1; }
ROOT=no; [ "$(id -u)" -eq 0 ] && ROOT=yes

if part calls; then
# 1. The benchmark's requests are the ones xapi sends.
if [ -x "$SMCALL" ]; then
	export FILE_SR_DIR=$T/sr SR_UUID=0b5e4c57-1d0e-4e4b-9a53-c0ffee000001
	export VDI_UUID=0b5e4c57-1d0e-4e4b-9a53-c0ffee000002
	mkdir "$T/req"
	"$BENCH" --dump-requests "$T/req"
	same=yes
	for c in sr_get_driver_info "sr_create 0" sr_attach "vdi_create 1G" \
		 "vdi_snapshot --vdi $VDI_UUID" sr_scan; do
		# shellcheck disable=SC2086
		"$SMCALL" --print-request "$DRIVER" "$CONF" $c >"$T/want"
		if ! cmp -s "$T/want" "$T/req/${c%% *}"; then
			echo "WARNING: bench_calls' ${c%% *} request differs from smcall's" >&2
			same=no
		fi
	done
	echo "requests identical to smcall --print-request: $same"
	unset FILE_SR_DIR SR_UUID VDI_UUID
fi

# 2. The benchmark.
"$BENCH" "$@" "$DRIVER"

echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) after the run"

# 3. A second opinion (hyperfine exec's the driver without a shell, -N).
if [ -z "${NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null 2>&1; then
	echo
	echo "hyperfine second opinion (mean of 200 runs after 10 warm-up):"
	export SM_LOCK_DIR=$T/h/lock SM_MOUNT_BASE=$T/h/mnt FILE_SR_DIR=$T/h/sr
	export SR_UUID=0b5e4c57-1d0e-4e4b-9a53-c0ffee000003
	"$SMCALL" "$DRIVER" "$CONF" sr_create 0 >/dev/null
	"$SMCALL" "$DRIVER" "$CONF" sr_attach >/dev/null
	info=$("$SMCALL" --print-request "$DRIVER" "$CONF" sr_get_driver_info)
	create=$("$SMCALL" --print-request "$DRIVER" "$CONF" vdi_create 1G)
	# hyperfine only sees exit codes; the driver exits 0 with a fault, so
	# check one answer of each first.
	for r in "$info" "$create"; do
		if "$DRIVER" "$r" | grep -q '<fault>'; then
			echo "run.sh: driver answers a fault; no hyperfine run" >&2
			exit 1
		fi
	done
	hyperfine -N --style basic --warmup 10 --runs 200 \
		-n true "/bin/true '$info'" \
		-n sr_get_driver_info "'$DRIVER' '$info'" \
		-n 'vdi_create 1 GiB' "'$DRIVER' '$create'" 2>&1 |
		grep -E '^Benchmark|Time \(mean|Range' || true
	echo "VDIs made by hyperfine's vdi_create runs: $(find "$FILE_SR_DIR" -name '*.vhd' | wc -l)"
	unset SM_LOCK_DIR SM_MOUNT_BASE FILE_SR_DIR SR_UUID
fi
fi # part calls

HDR=$(printf '%-44s %3s %10s %10s %10s %9s' "what (wall ms)" n median min max "MiB/s")

# 4. Coalesce against plain copies of the same bytes on the same filesystem.
if part coalesce; then
	echo
	echo "== coalesce: 256 MiB child into its parent, vs cp / dd of 256 MiB =="
	if [ "$ROOT" != yes ]; then
		echo "SKIPPED: needs root to drop the page cache (echo 3 > /proc/sys/vm/drop_caches)"
	else
		R=${RUNS:-5}
		C=$T/coalesce
		mkdir -p "$C/full" "$C/part"
		echo "files in $C ($(df -PT "$C" | awk 'NR == 2 { print $2 " on " $1 }')); page cache dropped"
		echo "(sync; echo 3 > drop_caches) before every run; median of $R runs after 1 warm-up"
		head -c 256M /dev/urandom >"$C/data"
		# Fully written child: 128 whole 2 MiB blocks.
		"$VHDTOOL" create "$C/full/parent.vhd" 256M
		"$VHDTOOL" snapshot "$C/full/child.vhd" "$C/full/parent.vhd"
		"$VHDTOOL" write "$C/full/child.vhd" 0 "$C/data"
		# Scattered partial blocks: in each of the 128 blocks, 4 runs of
		# 64 KiB (at 512 KiB steps, shifted by 8 KiB * (block % 8)):
		# 32 MiB in 512 runs, every block bitmap partial.
		"$VHDTOOL" create "$C/part/parent.vhd" 256M
		"$VHDTOOL" snapshot "$C/part/child.vhd" "$C/part/parent.vhd"
		head -c 64K /dev/urandom >"$C/piece"
		for b in $(seq 0 127); do
			for k in 0 1 2 3; do
				"$VHDTOOL" write "$C/part/child.vhd" $((b * 2097152 + k * 524288 + (b % 8) * 8192)) "$C/piece"
			done
		done
		sync
		fresh() {	# fresh <variant>: an untouched copy of the pair in $C/run
			echo "rm -rf '$C/run' && mkdir '$C/run' && cp '$C/$1/parent.vhd' '$C/$1/child.vhd' '$C/run/'"
		}
		B=268435456
		echo "$HDR"
		"$TIME" -n "$R" -d -q -b $B -l "vhdtool coalesce (full, 256 MiB)" -p "$(fresh full)" \
			-e "Coalesced $B bytes" -- "$VHDTOOL" coalesce "$C/run/child.vhd"
		"$TIME" -n "$R" -d -q -b $((32 << 20)) -l "vhdtool coalesce (512 partial runs, 32 MiB)" \
			-p "$(fresh part)" -e "Coalesced $((32 << 20)) bytes" -- "$VHDTOOL" coalesce "$C/run/child.vhd"
		"$TIME" -n "$R" -d -b $B -l "cp" -p "rm -f '$C/copy'" -- cp "$C/data" "$C/copy"
		"$TIME" -n "$R" -d -b $B -l "cp + sync <file>" -p "rm -f '$C/copy'" -- \
			sh -c "cp '$C/data' '$C/copy' && sync '$C/copy'"
		"$TIME" -n "$R" -d -q -b $B -l "dd bs=2M" -p "rm -f '$C/copy'" -- \
			dd if="$C/data" of="$C/copy" bs=2M
		"$TIME" -n "$R" -d -q -b $B -l "dd bs=2M conv=fsync" -p "rm -f '$C/copy'" -- \
			dd if="$C/data" of="$C/copy" bs=2M conv=fsync
		"$TIME" -n "$R" -d -q -b $B -l "dd bs=2M conv=notrunc (into existing file)" \
			-p "cp '$C/data' '$C/copy' && sync" -- dd if="$C/data" of="$C/copy" bs=2M conv=notrunc
		rm -rf "$C"
	fi
fi

# 5. Scan of many images.
if part scan; then
	N=${SCAN_N:-10000}
	echo
	echo "== scan: $N VHDs (vhdtool scan) and FileSR sr_scan of $N VDIs; warm cache =="
	S=$T/scan
	mkdir -p "$S"
	for i in $(seq -w 1 "$N"); do
		"$VHDTOOL" create "$S/img-$i.vhd" 64M
	done
	echo "$N x 64 MiB dynamic VHDs: $(du -sh "$S" | cut -f1) on disk"
	echo "$HDR"
	"$TIME" -n 11 -w 2 -l "vhdtool scan <dir> ($N images)" -c "vhd=:$N" -- "$VHDTOOL" scan "$S"
	"$TIME" -n 11 -w 2 -l "vhdtool scan --phys <dir> ($N images)" -c "vhd=:$N" -- "$VHDTOOL" scan --phys "$S"
	rm -rf "$S"
	echo
	"$BENCH" -n 11 -w 2 -s "$N" --only scan "$DRIVER"
fi

# 6. Snapshot cost against virtual size.
if part snapshot; then
	echo
	echo "== snapshot: vdi_snapshot of a 2040 GiB VDI vs a 1 GiB VDI, 4 blocks written in each =="
	"$BENCH" -n 30 -w 3 --only create,snapshot --size $((2040 << 30)) --write-blocks 4 "$DRIVER"
	"$BENCH" -n 30 -w 3 --only create,snapshot --write-blocks 4 "$DRIVER"
fi

# 7. NFSSR over a private ganesha, beside FileSR on local disk.
if part nfs; then
	NV=${NFS_VDIS:-1000}
	if [ "${BENCH_NFS_INNER:-0}" != 1 ]; then
		echo
		echo "== nfs: NFSSR vdi_create and sr_scan ($NV VDIs) through libnfs, v3 and v4, vs FileSR =="
	fi
	if [ "$ROOT" != yes ]; then
		echo "SKIPPED: needs root (the private nfs-ganesha + rpcbind, in namespaces of their own)"
	elif ! why=$("$REPO/tests/nfs/server.sh" check) || ! why=$(csm_netns_check); then
		echo "SKIPPED: $why"
	elif [ "${CSM_NFS_NETNS:-}" != 1 ]; then
		# The server's ports are those of a network namespace of its own.
		PARTS=nfs BENCH_NFS_INNER=1 "$REPO/tests/nfs/netns.sh" bash "$0" "$BUILD"
	else
		W=$T/nfs
		SERVER=$REPO/tests/nfs/server.sh
		trap '"$SERVER" stop "$W" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
		if ! "$SERVER" start "$W" >"$T/server.out" 2>&1; then
			cat "$T/server.out"
			echo "SKIPPED: cannot start the private nfs-ganesha (above)"
		else
			echo "server: nfs-ganesha $(ganesha.nfsd -v 2>&1 | grep -o 'Release.*' | head -n1) (pid $(cat "$W/ganesha.pid")), export $W/export on $(df -PT "$W/export" | awk 'NR == 2 { print $2 }')"
			for v in 3 4; do
				echo "-- NFSSR, nfsversion=$v"
				"$BENCH" -n 30 -w 3 -s "$NV" --only create,scan \
					--dconf server=127.0.0.1 --dconf serverpath=/export \
					--dconf nfsversion=$v --dconf nfs-timeout=100 "$BUILD/NFSSR"
				rm -rf "${W:?}"/export/*
			done
			"$SERVER" stop "$W"
			trap 'rm -rf "$T"' EXIT
		fi
		echo "-- FileSR on local disk"
		"$BENCH" -n 30 -w 3 -s "$NV" --only create,scan "$DRIVER"
	fi
fi

# 8. LVMSR: sr_scan against a plain lvs of the same VG, vdi_create, vdi_snapshot.
if part lvm; then
	NV=${LVM_VDIS:-1000}
	PAIRS=${LVM_PAIRS:-11}
	LVMSR=$BUILD/LVMSR
	STORE=$BUILD/tests/vstore_lvm_t
	echo
	echo "== lvm: LVMSR sr_scan ($NV thin VDIs) vs one plain lvs of the VG; vdi_create, vdi_snapshot =="
	if [ "$ROOT" != yes ]; then
		echo "SKIPPED: needs root (loop devices)"
	elif [ ! -x "$LVMSR" ] || [ ! -x "$STORE" ]; then
		echo "SKIPPED: $LVMSR or $STORE not built (make $LVMSR $STORE)"
	elif ! command -v lvs >/dev/null 2>&1; then
		echo "SKIPPED: no lvs (lvm2) on PATH"
	else
		W=$T/lvm
		mkdir -p "$W/conf" "$W/refcount"
		printf 'backup {\n\tbackup = 0\n\tarchive = 0\n}\n' >"$W/conf/lvm.conf"
		export LVM_SYSTEM_DIR=$W/conf CSM_LVM_ACTIVATION=off SM_REFCOUNT_DIR=$W/refcount
		export LVM_SUPPRESS_FD_WARNINGS=1
		export SM_LOCK_DIR=$W/lock
		LOOPS=""
		lvm_teardown() {
			local l vg
			for l in $LOOPS; do
				for vg in $(vgs --config "$(lvm_cf "$l")" --noheadings -o vg_name 2>/dev/null); do
					vgremove -ff --config "$(lvm_cf "$l")" "$vg" >/dev/null 2>&1 || true
				done
				pvremove -ff -y --config "$(lvm_cf "$l")" "$l" >/dev/null 2>&1 || true
				losetup -d "$l" 2>/dev/null || true
			done
			rm -rf "$T"
		}
		# The driver's own --config (lib/lvm.c): only that device, activation off.
		lvm_cf() {
			printf 'devices{filter=["a|^%s$|","r|.*|"] global_filter=["a|^%s$|","r|.*|"] use_devicesfile=0 obtain_device_list_from_udev=0} global{activation=0}' "$1" "$1"
		}
		trap lvm_teardown EXIT
		# Thin VHD LVs are 8 MiB; the MGT 4 MiB; 1 GiB spare.
		truncate -s $(((NV * 8 + 1024) << 20)) "$W/pv-scan.img"
		truncate -s 4G "$W/pv-calls.img"
		SCAN_DEV=$(losetup -f --show "$W/pv-scan.img")
		LOOPS=$SCAN_DEV
		CALLS_DEV=$(losetup -f --show "$W/pv-calls.img")
		LOOPS="$LOOPS $CALLS_DEV"
		SRU=0b5e4c57-1d0e-4e4b-9a53-c0ffee00a001
		VG=VG_XenStorage-$SRU
		echo "PVs: loop devices over sparse files on $(df -PT "$W" | awk 'NR == 2 { print $2 }'); LVM $(lvs --version 2>/dev/null | sed -n 's/^ *LVM version: *//p' | cut -d' ' -f1)"
		"$STORE" --thin "$SCAN_DEV" "$SRU" sr-create >/dev/null
		t0=$(date +%s)
		for _ in $(seq "$NV"); do
			"$STORE" --thin "$SCAN_DEV" "$SRU" create "$(cat /proc/sys/kernel/random/uuid)" vhd 1073741824 >/dev/null
		done
		echo "populated: $NV thin 1 GiB VHD VDIs through the store in $(($(date +%s) - t0)) s"
		REQ=$(LVM_SR_DEVICE=$SCAN_DEV LVM_SR_ALLOCATION=thin SR_UUID=$SRU \
			"$SMCALL" --print-request "$LVMSR" "$REPO/examples/dconf/lvm.conf" sr_scan)
		CF=$(lvm_cf "$SCAN_DEV")
		echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) before the scan pairs"
		echo "A: $LVMSR <sr_scan request, dconf device=$SCAN_DEV allocation=thin>"
		echo "B: lvs --config '$CF' $VG"
		# One timed run of each, in turn; bench_time checks the scan lists
		# exactly NV VDIs and that lvs exits 0 and names the VG.
		one() { "$TIME" -n 1 -w 0 -l x "$@" | awk '{ print $(NF - 2) }'; }
		one -q -c "&lt;vdi&gt;:$NV" -- "$LVMSR" "$REQ" >/dev/null	# warm-up
		one -q -e "$VG" -- lvs --config "$CF" "$VG" >/dev/null
		: >"$W/pairs"
		for _ in $(seq "$PAIRS"); do
			a=$(one -q -c "&lt;vdi&gt;:$NV" -- "$LVMSR" "$REQ")
			b=$(one -q -e "$VG" -- lvs --config "$CF" "$VG")
			echo "$a $b" >>"$W/pairs"
		done
		med() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
		printf '%-44s %3s %10s %10s %10s\n' "what (wall ms)" n median min max
		for col in 1 2; do
			label=$([ $col = 1 ] && echo "A: LVMSR sr_scan ($NV VDIs)" || echo "B: lvs <VG> (same config)")
			printf '%-44s %3d %10.1f %10.1f %10.1f\n' "$label" "$PAIRS" \
				"$(cut -d' ' -f$col "$W/pairs" | med)" \
				"$(cut -d' ' -f$col "$W/pairs" | sort -g | head -n1)" \
				"$(cut -d' ' -f$col "$W/pairs" | sort -g | tail -n1)"
		done
		awk '{ printf "%.2f\n", $1 / $2 }' "$W/pairs" >"$W/ratios"
		printf '%-44s %3d %10.2f %10.2f %10.2f   (target: at most 2)\n' "A/B, pair by pair" "$PAIRS" \
			"$(med <"$W/ratios")" "$(sort -g "$W/ratios" | head -n1)" "$(sort -g "$W/ratios" | tail -n1)"
		echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) after the scan pairs"
		echo
		# bench_calls' LVMSR requests are smcall's (i.e. xapi's), byte for byte.
		mkdir "$W/req"
		same=yes
		FILE_SR_DIR=/unused SR_UUID=$SRU VDI_UUID=0b5e4c57-1d0e-4e4b-9a53-c0ffee00a002 \
			"$BENCH" --dconf "device=$CALLS_DEV" --dconf allocation=thin --dump-requests "$W/req"
		for c in "sr_create 0" sr_attach "vdi_create 1G" \
			 "vdi_snapshot --vdi 0b5e4c57-1d0e-4e4b-9a53-c0ffee00a002" sr_scan; do
			# shellcheck disable=SC2086
			LVM_SR_DEVICE=$CALLS_DEV LVM_SR_ALLOCATION=thin SR_UUID=$SRU \
				"$SMCALL" --print-request "$LVMSR" "$REPO/examples/dconf/lvm.conf" $c >"$W/want"
			cmp -s "$W/want" "$W/req/${c%% *}" || { same=no; echo "WARNING: ${c%% *} differs" >&2; }
		done
		echo "bench_calls' LVMSR requests identical to smcall --print-request: $same"
		"$BENCH" -n "${LVM_CALLS:-20}" -w 2 --only floor,create,snapshot \
			--dconf "device=$CALLS_DEV" --dconf allocation=thin "$LVMSR"
		echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) after the calls"
		lvm_teardown
		trap 'rm -rf "$T"' EXIT
		unset LVM_SYSTEM_DIR CSM_LVM_ACTIVATION SM_REFCOUNT_DIR SM_LOCK_DIR LVM_SUPPRESS_FD_WARNINGS
	fi
fi

if part iscsi; then
	echo
	NL=${ISCSI_LUNS:-16}
	echo "9. iscsi: ISCSISR and LVMoISCSISR control calls, private tgtd on 127.0.0.1, one target of $NL LUNs (libiscsi, no kernel initiator)"
	if [ "$ROOT" != yes ] || ! "$REPO/tests/iscsi/target.sh" check >/dev/null 2>&1; then
		echo "skipped: needs root and tgtd (Debian package tgt)"
	elif [ ! -x "$BUILD/ISCSISR" ] || [ ! -x "$BUILD/LVMoISCSISR" ]; then
		echo "skipped: $BUILD/ISCSISR or LVMoISCSISR missing"
	else
		# shellcheck source=../tests/iscsi/target.sh
		source "$REPO/tests/iscsi/target.sh"
		IW=$T/iscsi
		mkdir -p "$IW/state" "$IW/lock" "$IW/ref"
		trap 'iscsi_target_stop >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
		iscsi_target_start "$IW/tgt" >/dev/null
		BIQN=iqn.2024-01.test.local:bench
		iscsi_target_add_target 9 "$BIQN"
		for i in $(seq "$NL"); do
			truncate -s 64M "$IW/lun$i.img"
			iscsi_target_add_lun 9 "$i" "$IW/lun$i.img" "scsi_sn=BENCH$i"
		done
		export ISCSI_TARGET=127.0.0.1 ISCSI_TARGET_IQN=$BIQN ISCSI_LOCAL_IQN=$ISCSI_INITIATOR
		export CSM_ISCSI_STATE_DIR=$IW/state CSM_SR_REF_DIR=$IW/ref SM_LOCK_DIR=$IW/lock
		export SR_UUID=0b5e4c57-1d0e-4e4b-9a53-c0ffee00b001
		ICONF=$REPO/examples/dconf/iscsi.conf
		LCONF=$REPO/examples/dconf/lvmoiscsi.conf
		req() { "$SMCALL" --print-request "$@"; }
		N=${ISCSI_RUNS:-21}
		printf '%-52s %3s %10s %10s %10s\n' "what (wall ms per call)" n median min max
		"$TIME" -n "$N" -w 2 -q -l "ISCSISR sr_probe, no targetIQN (IQN list, 96)" -e "<int>96</int>" -- \
			"$BUILD/ISCSISR" "$(req "$BUILD/ISCSISR" "$ICONF" --dconf targetIQN= sr_probe)"
		"$TIME" -n "$N" -w 2 -q -l "ISCSISR sr_probe, targetIQN (login, SRlist)" -e "SRlist" -- \
			"$BUILD/ISCSISR" "$(req "$BUILD/ISCSISR" "$ICONF" sr_probe)"
		"$TIME" -n "$N" -w 2 -q -l "ISCSISR sr_scan ($NL LUNs)" -c "&lt;vdi&gt;:$NL" -- \
			"$BUILD/ISCSISR" "$(req "$BUILD/ISCSISR" "$ICONF" sr_scan)"
		"$TIME" -n "$N" -w 2 -q -l "LVMoISCSISR sr_probe, no SCSIid (LUN list, 107)" -e "<int>107</int>" -- \
			"$BUILD/LVMoISCSISR" "$(req "$BUILD/LVMoISCSISR" "$LCONF" --dconf SCSIid= sr_probe)"
		echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) after the iSCSI calls"
		iscsi_target_stop >/dev/null 2>&1 || true
		trap 'rm -rf "$T"' EXIT
		unset CSM_ISCSI_STATE_DIR CSM_SR_REF_DIR SM_LOCK_DIR SR_UUID ISCSI_TARGET ISCSI_TARGET_IQN ISCSI_LOCAL_IQN
	fi
fi
