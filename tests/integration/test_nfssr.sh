#!/usr/bin/env bash
# NFSSR over a private nfs-ganesha on 127.0.0.1 (started here, stopped by
# PID): the file-SR lifecycle over NFS v3 and v4 through libnfs, with
# requests exactly like xapi's from examples/dconf/nfs.conf; the server
# stopped or frozen in the middle of vdi_create and of vdi_snapshot (fault,
# time taken, clean SR once it is back); teardown with the server stopped
# or frozen; a frozen server does not block another SR; two hosts (master
# and slave) on one export; vdi_resize leaves no undo record behind, and
# an empty or garbage one is harmless.
# The test runs in network and mount namespaces of its own (lib.sh,
# tests/nfs/netns.sh): 127.0.0.1 below is its private loopback.
NFS_NETNS=1
source "$(dirname "$0")/lib.sh"
D="$BUILD/NFSSR"
C="$REPO/examples/dconf/nfs.conf"
SERVER="$REPO/tests/nfs/server.sh"
W="$T/nfs"
mkdir -p "$W"
stop_server() { "$SERVER" stop "$W" >/dev/null 2>&1 || true; }
trap 'stop_server; rm -rf "$T"' EXIT
"$SERVER" start "$W" >"$T/server.out" 2>&1 || { cat "$T/server.out"; fail "cannot start nfs-ganesha"; finish; }
EXPORT="$W/export"
export NFS_SERVER=127.0.0.1 NFS_SERVERPATH=/export NFS_TIMEOUT=30
DIR() { echo "$EXPORT/$SR_UUID"; }

lifecycle() {
	local v=$1 V S CL B
	export NFS_VERSION=$v
	call unit "$D" "$C" sr_create 0 || return
	[ -d "$(DIR)" ] && pass "v$v: sr_create made <serverpath>/<sr_uuid>"
	call unit "$D" "$C" sr_attach && pass "v$v: sr_attach"
	call vdi_info "$D" "$C" vdi_create 256M "nfs disk" && V=$(member uuid)
	"$VHDTOOL" query "$(DIR)/$V.vhd" | grep -qx 'virtual_size=.* (268435456 bytes)' && pass "v$v: vdi_create over libnfs"
	head -c 3145728 /dev/urandom >"$T/data"
	"$VHDTOOL" write "$(DIR)/$V.vhd" 1048576 "$T/data"
	call attach "$D" "$C" vdi_attach --vdi "$V" true && pass "v$v: vdi_attach"
	if grep -q 'nfs://' <<<"$OUT"; then
		grep -q "nfs://127.0.0.1/export/$SR_UUID/$V.vhd" <<<"$OUT" && grep -q 'no kernel NFS client' <<<"$OUT" &&
			pass "v$v: no kernel NFS client: params is the nfs:// URL, xenstore_data says so"
	else
		pass "v$v: kernel mount: params is the file under the mount"
	fi
	call vdi_info "$D" "$C" vdi_snapshot --vdi "$V" && S=$(member uuid)
	call vdi_info "$D" "$C" vdi_clone --vdi "$V" && CL=$(member uuid)
	B=$("$VHDTOOL" query "$(DIR)/$V.vhd" | sed -n 's/^parent_name=\(.*\)\.vhd$/\1/p')
	"$VHDTOOL" query "$(DIR)/$B.vhd" | grep -qx 'hidden=1' && pass "v$v: snapshot made a hidden base copy"
	"$VHDTOOL" read "$(DIR)/$V.vhd" 1048576 3145728 | cmp -s - "$T/data" && pass "v$v: data reads back through the chain"
	call vdi_info "$D" "$C" vdi_resize --vdi "$S" 512M && pass "v$v: vdi_resize"
	call unit "$D" "$C" vdi_lock --vdi "$V" false host-a && fault 37 "$D" "$C" vdi_lock --vdi "$V" false host-b &&
		call unit "$D" "$C" vdi_unlock --vdi "$V" host-a && pass "v$v: vdi_lock on the export, second holder refused"
	call string "$D" "$C" sr_scan
	for u in "$V" "$S" "$CL" "$B"; do grep -q "&lt;uuid&gt;$u&lt;/uuid&gt;" <<<"$OUT" || fail "v$v: scan lacks $u"; done
	grep -q '&lt;physical_size&gt;[1-9]' <<<"$OUT" && pass "v$v: sr_scan (sizes from the server's statvfs)"
	call string "$D" "$C" sr_probe && grep -q "$SR_UUID" <<<"$OUT" && pass "v$v: sr_probe lists the SR"
	fault 39 "$D" "$C" sr_delete >/dev/null && pass "v$v: sr_delete with VDIs is 39"
	for u in "$V" "$S" "$CL"; do call unit "$D" "$C" vdi_delete --vdi "$u" >/dev/null; done
	call unit "$D" "$C" sr_detach && call unit "$D" "$C" sr_delete && [ ! -e "$(DIR)" ] &&
		pass "v$v: sr_delete removed the SR directory"
	call unit "$D" "$C" sr_delete && pass "v$v: sr_delete is idempotent"
}

lifecycle 3
lifecycle 4

# --- garbage collection over libnfs (no kernel mount here) ------------------------
export NFS_VERSION=3
call unit "$D" "$C" sr_create 0 >/dev/null
call vdi_info "$D" "$C" vdi_create 64M >/dev/null && G=$(member uuid)
"$VHDTOOL" write "$(DIR)/$G.vhd" 0 "$T/data"
call vdi_info "$D" "$C" vdi_snapshot --vdi "$G" >/dev/null && GS=$(member uuid)
"$VHDTOOL" write "$(DIR)/$G.vhd" 4194304 <(head -c 65536 /dev/urandom)
before=$("$VHDTOOL" read "$(DIR)/$G.vhd" 0 67108864 | sha1sum)
call unit "$D" "$C" vdi_delete --vdi "$GS" >/dev/null
links=$("$VHDTOOL" query --chain "$(DIR)/$G.vhd" | grep -c '^link')
"$BUILD/csm-gc" --sr "$SR_UUID" --nfs "127.0.0.1:/export/$SR_UUID" --nfs-version 3 --nfs-ports 2049,20048 2>"$T/gc.log" ||
	fail "csm-gc over NFS: $(cat "$T/gc.log")"
after_links=$("$VHDTOOL" query --chain "$(DIR)/$G.vhd" | grep -c '^link')
[ "$before" = "$("$VHDTOOL" read "$(DIR)/$G.vhd" 0 67108864 | sha1sum)" ] && [ "$after_links" -lt "$links" ] &&
	pass "csm-gc over libnfs: chain $links -> $after_links links, data intact" ||
	fail "csm-gc over NFS: $links -> $after_links links: $(cat "$T/gc.log")"
call unit "$D" "$C" vdi_delete --vdi "$G" >/dev/null
call unit "$D" "$C" sr_delete >/dev/null

# --- odd names on the export: a link out of the SR, a FIFO, a directory --------------
# An SR of its own: ganesha caches the directory, so the odd names made
# behind its back are left there (the export goes with $T).
odd_names() {
export NFS_VERSION=3 SR_UUID=0dd0dd00-5555-4555-8555-555555555555
call unit "$D" "$C" sr_create 0 >/dev/null
call vdi_info "$D" "$C" vdi_create 8M >/dev/null && OK=$(member uuid)
LNK=aaaaaaaa-1111-4111-8111-111111111111 FIFO=cccccccc-3333-4333-8333-333333333333 SUB=dddddddd-4444-4444-8444-444444444444
"$VHDTOOL" create "$EXPORT/victim.vhd" 8M
victim=$(sha1sum <"$EXPORT/victim.vhd")
ln -s ../victim.vhd "$(DIR)/$LNK.vhd"
mkfifo "$(DIR)/$FIFO.vhd"
mkdir "$(DIR)/$SUB.vhd"
req=$("$SMCALL" --print-request "$D" "$C" sr_scan)
set +e; timeout 60 "$D" "$req" >"$T/scan.out" 2>"$T/scan.err"; rc=$?; set -e
OUT=$(cat "$T/scan.out")
if [ "$rc" -ne 0 ]; then
	fail "sr_scan with odd names on the export: exit $rc: $(tail -30 "$T/scan.err")"
else
	doc=$(string_result)
	for u in "$LNK" "$FIFO" "$SUB"; do
		awk -v u="$u" '/<vdi>/{r=""} {r=r $0} /<\/vdi>/ && index(r, u) {print r}' <<<"$doc" | grep -q '<error>' ||
			fail "sr_scan lists $u on the export as a sound VDI (or not at all)"
	done
	grep -q "$OK" <<<"$doc" && pass "sr_scan over libnfs answers with a link, a FIFO and a directory under image names, listing each as damaged"
fi
for op in "vdi_resize --vdi $LNK 16M" "vdi_snapshot --vdi $LNK"; do
	# shellcheck disable=SC2086
	req=$("$SMCALL" --print-request "$D" "$C" $op); run_raw "$D" "$req"
	grep -q '<fault>' <<<"$OUT" || fail "$op over libnfs was not refused"
done
[ "$(sha1sum <"$EXPORT/victim.vhd")" = "$victim" ] && pass "a link out of the SR is never followed over libnfs" ||
	fail "the file a link on the export points at changed"
}
( odd_names; exit "$FAILS" ) || FAILS=$((FAILS + $?))

# --- the server's ports from the port= and mountport= options ------------------------
for v in 3 4; do
	export NFS_VERSION=$v
	P=(--dconf options=port=2049,mountport=20048)
	call unit "$D" "$C" sr_create 0 "${P[@]}" >/dev/null && call vdi_info "$D" "$C" vdi_create 8M "${P[@]}" &&
		Q=$(member uuid) && call attach "$D" "$C" vdi_attach --vdi "$Q" true "${P[@]}" &&
		{ grep -q 'nfs://' <<<"$OUT" || pass "v$v: kernel mount (the URL is not used)"; } &&
		{ ! grep -q 'nfs://' <<<"$OUT" || grep -q "version=$v&amp;nfsport=2049&amp;mountport=20048<" <<<"$OUT"; } &&
		call unit "$D" "$C" vdi_delete --vdi "$Q" "${P[@]}" && call unit "$D" "$C" sr_delete "${P[@]}" &&
		pass "v$v: port=2049,mountport=20048 in options: the control calls go there, the nfs:// URL carries them" ||
		fail "v$v with port options: $OUT"
done
fault 108 "$D" "$C" sr_scan --dconf options=port=2050 >/dev/null && pass "port= where no server listens is 108"

# --- vdi_resize leaves no undo record behind -------------------------------------
export NFS_VERSION=3
undo_files() { find "$(DIR)" -maxdepth 1 -name '.*.vhd.undo' | wc -l; }
call unit "$D" "$C" sr_create 0 >/dev/null
call vdi_info "$D" "$C" vdi_create 64M >/dev/null && R=$(member uuid)
"$VHDTOOL" write "$(DIR)/$R.vhd" 0 "$T/data"
call vdi_info "$D" "$C" vdi_resize --vdi "$R" 128M >/dev/null &&
	call vdi_info "$D" "$C" vdi_resize --vdi "$R" 100G >/dev/null &&
	"$VHDTOOL" query "$(DIR)/$R.vhd" | grep -qx 'virtual_size=.* (107374182400 bytes)' &&
	[ "$(undo_files)" = 0 ] && pass "vdi_resize in place and past the BAT: no undo file left" ||
	fail "vdi_resize over NFS: $(ls -A "$(DIR)")"
fault 79 "$D" "$C" vdi_resize --vdi "$R" 32M >/dev/null &&
	[ "$(undo_files)" = 0 ] && pass "a refused shrink (79) leaves no undo file either" ||
	fail "refused shrink left: $(ls -A "$(DIR)")"
"$VHDTOOL" read "$(DIR)/$R.vhd" 0 3145728 | cmp -s - "$T/data" || fail "resized image lost its data"
img=$(sha1sum <"$(DIR)/$R.vhd")
# Recovery meets an interrupted resize whose record is empty, or garbage.
mkdir -p "$(DIR)/.csm-journal"
for rec in empty garbage; do
	printf 'vdi=%s\nsize=1\n' "$R" >"$(DIR)/.csm-journal/resize-$R"
	if [ $rec = empty ]; then : >"$(DIR)/.$R.vhd.undo"; else head -c 4096 /dev/urandom >"$(DIR)/.$R.vhd.undo"; fi
	call string "$D" "$C" sr_scan >/dev/null && [ "$(undo_files)" = 0 ] &&
		[ ! -e "$(DIR)/.csm-journal/resize-$R" ] && [ "$img" = "$(sha1sum <"$(DIR)/$R.vhd")" ] &&
		pass "recovery of a resize whose undo record is $rec: nothing undone, record and journal gone" ||
		fail "recovery with a $rec undo record: $(ls -A "$(DIR)" "$(DIR)/.csm-journal")"
done
# A stray empty record (no journal) does not keep sr_delete from removing the SR.
: >"$(DIR)/.$R.vhd.undo"
call unit "$D" "$C" vdi_delete --vdi "$R" >/dev/null
call unit "$D" "$C" sr_delete && { [ ! -e "$(DIR)" ] && pass "sr_delete with a stray empty undo file" ||
	fail "sr_delete left $(ls -A "$(DIR)")"; }

# --- bad input -----------------------------------------------------------------
export NFS_VERSION=3
fault 102 "$D" none sr_scan && pass "missing server is 102"
fault 101 "$D" none sr_scan --dconf server=127.0.0.1 && pass "missing serverpath is 101"
fault 72 "$D" "$C" sr_create 0 --dconf nfsversion=5 && pass "nfsversion 5 is 72"
fault 103 "$D" "$C" sr_create 0 --dconf serverpath=relative && pass "relative serverpath is 103"
run_raw "$D" "$("$SMCALL" --print-request "$D" none sr_probe --dconf server=127.0.0.1)"
printf '%s' "$OUT" | "$XAPI_CHECK" fault 101 && grep -q '<Path>/export</Path>' <<<"$ERR" &&
	pass "sr_probe without serverpath: export list on stderr, fault 101"
fault 108 "$D" "$C" sr_scan --dconf server=127.0.0.2 && pass "no NFS service on the server is 108"

# --- the server goes away in the middle of an operation ---------------------------
call unit "$D" "$C" sr_create 0 >/dev/null
call vdi_info "$D" "$C" vdi_create 64M >/dev/null && V=$(member uuid)
"$VHDTOOL" write "$(DIR)/$V.vhd" 0 "$T/data"
before=$(cd "$(DIR)" && ls | sort)
# Stopped, the calls after the failure are refused at once; frozen, the
# first one that waits out nfs-timeout gives the server up for the rest of
# the call (its rollback does not wait again: the journal repairs later).
MID_BOUND_MS=$((1500 + NFS_TIMEOUT * 100 + 1500))
for step in "stop|vdi_create 64M|create:journal" "stop|vdi_snapshot --vdi $V|snapshot:child" \
	    "freeze|vdi_create 64M|create:journal" "freeze|vdi_snapshot --vdi $V|snapshot:child"; do
	IFS='|' read -r how cmd point <<<"$step"
	gone=$([ "$how" = stop ] && echo stopped || echo frozen)
	# shellcheck disable=SC2086
	req=$("$SMCALL" --print-request "$D" "$C" $cmd)
	start=$(date +%s%N)
	( CSM_FAULT_PAUSE="$point" CSM_FAULT_PAUSE_MS=1500 "$D" "$req" >"$T/mid.out" 2>/dev/null ) &
	pid=$!
	sleep 0.7
	"$SERVER" $how-ganesha "$W" >/dev/null
	wait "$pid"; rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	OUT=$(cat "$T/mid.out")
	[ "$rc" -eq 0 ] || fail "${cmd%% *}: exit $rc"
	code=$(sed -n '/faultCode/{n;s/.*<int>\([0-9]*\)<\/int>.*/\1/p}' <<<"$OUT")
	if [ -n "$code" ] && [ "$ms" -lt "$MID_BOUND_MS" ]; then
		pass "server $gone mid-${cmd%% *} (at $point): fault $code after ${ms} ms ($(sed -n 's/.*<string>\(.*\)<\/string>.*/\1/p' <<<"$OUT" | tail -1 | cut -c1-100))"
	else
		fail "${cmd%% *} with the server $gone: no fault within ${MID_BOUND_MS} ms (${ms} ms): $OUT"
	fi
	[ "$code" = 108 ] || fail "a dead server should be fault 108 (NFSTarget), got $code"
	"$SERVER" "$([ "$how" = stop ] && echo start || echo thaw)-ganesha" "$W" >/dev/null
	call string "$D" "$C" sr_scan >/dev/null   # the next call repairs
	after=$(cd "$(DIR)" && ls | sort)
	[ "$before" = "$after" ] && pass "clean SR after the $gone server returned (${cmd%% *} rolled back)" ||
		fail "SR not clean after ${cmd%% *}:"$'\n'"$before"$'\n---\n'"$after"
	ls -A "$(DIR)/.csm-journal" 2>/dev/null | grep -q . && fail "journal left after ${cmd%% *}"
done

# --- a hung NFS SR does not block another SR ------------------------------------
"$SERVER" freeze-ganesha "$W" >/dev/null
( "$D" "$("$SMCALL" --print-request "$D" "$C" sr_scan)" >/dev/null 2>&1 ) &
hung=$!
export FILE_SR_DIR="$T/filesr" 
other=$(cat /proc/sys/kernel/random/uuid)
start=$(date +%s%N)
call unit "$BUILD/FileSR" "$REPO/examples/dconf/file.conf" sr_create --sr "$other" 0 &&
	call vdi_info "$BUILD/FileSR" "$REPO/examples/dconf/file.conf" vdi_create --sr "$other" 8M >/dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -lt 1500 ] && pass "another SR works while the NFS server hangs (${ms} ms)" || fail "other SR took ${ms} ms"
"$SERVER" thaw-ganesha "$W" >/dev/null
wait "$hung" || true

# --- teardown needs no server ---------------------------------------------------------
# With the server stopped (refused) or frozen (silent), a host must still
# be able to shut its VMs down and unplug the SR: vdi_deactivate,
# vdi_detach and sr_detach succeed, each within one nfs-timeout.
BOUND_MS=$((NFS_TIMEOUT * 100 + 700))
for v in 3 4; do
	export NFS_VERSION=$v
	call vdi_info "$D" "$C" vdi_create 8M >/dev/null && TV=$(member uuid)
	for how in stop freeze; do
		back=$([ $how = stop ] && echo start || echo thaw)
		call unit "$D" "$C" sr_attach >/dev/null && call attach "$D" "$C" vdi_attach --vdi "$TV" true >/dev/null &&
			call unit "$D" "$C" vdi_activate --vdi "$TV" true >/dev/null || continue
		"$SERVER" $how-ganesha "$W" >/dev/null
		times=()
		for cmd in "vdi_deactivate --vdi $TV" "vdi_detach --vdi $TV" sr_detach; do
			start=$(date +%s%N)
			# shellcheck disable=SC2086
			call unit "$D" "$C" $cmd || continue
			ms=$(( ($(date +%s%N) - start) / 1000000 ))
			times+=("${cmd%% *} ${ms} ms")
			[ "$ms" -lt "$BOUND_MS" ] || fail "v$v, server ${how}: ${cmd%% *} took ${ms} ms"
		done
		[ ${#times[@]} = 3 ] && pass "v$v, server $([ $how = stop ] && echo stopped || echo frozen): $(IFS=,; echo "${times[*]}")"
		"$SERVER" $back-ganesha "$W" >/dev/null
	done
	# The server back: whatever deactivation left there is overwritten and removed as usual.
	call unit "$D" "$C" vdi_activate --vdi "$TV" true >/dev/null && call unit "$D" "$C" vdi_deactivate --vdi "$TV" >/dev/null &&
		call unit "$D" "$C" vdi_delete --vdi "$TV" >/dev/null && pass "v$v: the VDI is used and deleted once the server is back"
done
export NFS_VERSION=3

# --- two hosts on one export ------------------------------------------------------
MASTER_LOCK="$T/hostA-lock" SLAVE_LOCK="$T/hostB-lock"
as_slave() { SM_LOCK_DIR="$SLAVE_LOCK" SM_MOUNT_BASE="$T/hostB-mnt" "$@"; }
fault 58 "$D" "$C" vdi_create --slave 8M >/dev/null && pass "a slave may not create VDIs (58)"
SM_LOCK_DIR="$MASTER_LOCK"
kept=()
(
	for i in $(seq 8); do
		req=$("$SMCALL" --print-request "$D" "$C" sr_scan --slave)
		out=$(as_slave "$D" "$req")
		if grep -q '<fault>' <<<"$out"; then echo "slave scan fault: $out"; exit 1; fi
	done
	exit 0
) >"$T/slave.log" 2>&1 &
slave=$!
for i in $(seq 6); do
	call vdi_info "$D" "$C" vdi_create 8M >/dev/null && u=$(member uuid) && kept+=("$u")
	call vdi_info "$D" "$C" vdi_snapshot --vdi "$u" >/dev/null && kept+=("$(member uuid)")
done
wait "$slave" && pass "slave scans while the master changes the SR" || fail "slave: $(cat "$T/slave.log")"
run_raw "$D" "$("$SMCALL" --print-request "$D" "$C" sr_scan --slave)"
for u in "${kept[@]}"; do grep -q "&lt;uuid&gt;$u&lt;/uuid&gt;" <<<"$OUT" || fail "slave's scan lacks $u"; done
pass "the slave sees all ${#kept[@]} VDIs the master made"

# A leaf active on the slave: the master's GC sees it (the record is on the
# export) and leaves it alone until the slave deactivates it.
call vdi_info "$D" "$C" vdi_create 8M >/dev/null && L=$(member uuid)
"$VHDTOOL" write "$(DIR)/$L.vhd" 0 <(head -c 65536 /dev/urandom)
call vdi_info "$D" "$C" vdi_snapshot --vdi "$L" >/dev/null && call unit "$D" "$C" vdi_delete --vdi "$(member uuid)" >/dev/null
slave_call() { local req; req=$("$SMCALL" --print-request "$D" "$C" "$@" --slave); SM_HOST_ID=host-b as_slave "$D" "$req"; }
gc_master() { "$BUILD/csm-gc" --sr "$SR_UUID" --nfs "127.0.0.1:/export/$SR_UUID" --nfs-version 3 --quiet; }
out=$(slave_call vdi_activate --vdi "$L" true)
grep -q '<fault>' <<<"$out" && fail "vdi_activate on the slave: $out"
ls "$(DIR)/.csm-active" | grep -qx "$L@host-b" || fail "no activation record of host-b on the export"
sum=$(sha1sum <"$(DIR)/$L.vhd"); links=$("$VHDTOOL" query --chain "$(DIR)/$L.vhd" | grep -c '^link')
gc_master || true
[ "$(sha1sum <"$(DIR)/$L.vhd")" = "$sum" ] && pass "the master's GC leaves alone a leaf active on the slave" ||
	fail "the master's GC merged a leaf active on the slave"
out=$(slave_call vdi_deactivate --vdi "$L")
grep -q '<fault>' <<<"$out" && fail "vdi_deactivate on the slave: $out"
gc_master || fail "csm-gc after the slave deactivated"
[ "$("$VHDTOOL" query --chain "$(DIR)/$L.vhd" | grep -c '^link')" -lt "$links" ] &&
	pass "once the slave deactivated it, the GC merges the leaf" || fail "leaf not merged after deactivation"
finish
