#!/usr/bin/env bash
# 16 processes create, snapshot, clone and delete VDIs on one SR at once.
# The SR lock serialises them; afterwards every VDI a worker kept is in the
# scan with its chain intact, nothing a worker deleted is, and no
# temporary or journal file is left.
source "$(dirname "$0")/lib.sh"
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
call unit "$D" "$C" sr_create 0
WORKERS=16
ROUNDS=6

worker() {
	local w=$1 i v s req out
	for i in $(seq "$ROUNDS"); do
		req=$("$SMCALL" --print-request "$D" "$C" vdi_create 16M "w$w-$i")
		out=$("$D" "$req") || { echo "ERR create exit" ; return 1; }
		v=$(sed -n '/<name>uuid<\/name>/{n;s/.*<string>\(.*\)<\/string>.*/\1/p}' <<<"$out")
		[ -n "$v" ] || { echo "ERR create: $out"; return 1; }
		"$VHDTOOL" write "$FILE_SR_DIR/$v.vhd" $((i * 4096)) <(head -c 4096 /dev/urandom) >/dev/null 2>&1 || true
		req=$("$SMCALL" --print-request "$D" "$C" vdi_snapshot --vdi "$v")
		out=$("$D" "$req")
		s=$(sed -n '/<name>uuid<\/name>/{n;s/.*<string>\(.*\)<\/string>.*/\1/p}' <<<"$out")
		[ -n "$s" ] || { echo "ERR snapshot: $out"; return 1; }
		if [ $((i % 2)) -eq 0 ]; then
			for x in "$s" "$v"; do
				out=$("$D" "$("$SMCALL" --print-request "$D" "$C" vdi_delete --vdi "$x")")
				grep -q '<nil/>' <<<"$out" || { echo "ERR delete: $out"; return 1; }
				echo "DEL $x"
			done
		else
			echo "KEEP $v"
			echo "KEEP $s"
		fi
		out=$("$D" "$("$SMCALL" --print-request "$D" "$C" sr_scan)")
		grep -q '<fault>' <<<"$out" && { echo "ERR scan: $out"; return 1; }
	done
	return 0
}

pids=()
for w in $(seq "$WORKERS"); do
	worker "$w" >"$T/w$w.log" 2>&1 &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
[ "$bad" -eq 0 ] || fail "$bad workers failed: $(grep -h ERR "$T"/w*.log | head -5)"
grep -h ERR "$T"/w*.log && fail "errors in worker logs"

call string "$D" "$C" sr_scan
SCAN=$(string_result)
kept=$(grep -h '^KEEP' "$T"/w*.log | awk '{print $2}' | sort)
deleted=$(grep -h '^DEL' "$T"/w*.log | awk '{print $2}' | sort)
nkept=$(wc -l <<<"$kept")
[ "$nkept" -eq $((WORKERS * ROUNDS)) ] || fail "expected $((WORKERS * ROUNDS)) kept VDIs, logs say $nkept"
for u in $kept; do
	grep -q "<uuid>$u</uuid>" <<<"$SCAN" || fail "kept VDI $u missing from the scan"
	call attach "$D" "$C" vdi_attach --vdi "$u" false >/dev/null || fail "kept VDI $u does not attach"
done
for u in $deleted; do
	grep -q "<uuid>$u</uuid>" <<<"$SCAN" && fail "deleted VDI $u still in the scan"
	[ ! -e "$FILE_SR_DIR/$u.vhd" ] || fail "deleted VDI $u still on disk"
done
visible=$(grep -c '<hidden>false</hidden>' <<<"$SCAN")
[ "$visible" -eq "$nkept" ] || fail "scan shows $visible visible VDIs, expected $nkept"
ls -A "$FILE_SR_DIR" | grep -qE '\.tmp|\.new$' && fail "leftover files"
ls -A "$FILE_SR_DIR/.csm-journal" 2>/dev/null | grep -q . && fail "journal records left"
pass "$WORKERS concurrent workers: $nkept VDIs kept and intact, $(wc -l <<<"$deleted") deleted, SR consistent"
finish
