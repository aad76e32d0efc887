#!/usr/bin/env bash
# vdi_snapshot and vdi_clone with each of their I/O calls failing in turn
# (test builds: CSM_FAULT_IO=<class>:<n> fails the n-th open, read, stat or
# listing with EIO): every failure is one documented fault (VDISnapshot 82
# or VDIClone 81; SRUnavailable 47 where the SR itself could not be
# looked at; SRNoSpace 44 when the injected error is ENOSPC), the VDIs'
# data is intact, and a failed call leaves the SR's files and scan as they
# were.  A call that survives an injected error (a step that tolerates it)
# must have done its whole job.
source "$(dirname "$0")/lib.sh"
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"

call unit "$D" "$C" sr_create 0 && call unit "$D" "$C" sr_attach || finish
call vdi_info "$D" "$C" vdi_create 10M 'labelled' && V=$(member uuid)
head -c 1048576 /dev/urandom >"$T/pattern1"
head -c 1048576 /dev/urandom >"$T/pattern2"
"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" 0 "$T/pattern1"
call vdi_info "$D" "$C" vdi_snapshot --vdi "$V" && S=$(member uuid)
"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" 0 "$T/pattern2"
cp -a "$FILE_SR_DIR" "$T/golden"
restore() { rm -rf "$FILE_SR_DIR"; cp -a "$T/golden" "$FILE_SR_DIR"; }

data_intact() {
	"$VHDTOOL" read "$FILE_SR_DIR/$V.vhd" 0 1048576 | cmp -s - "$T/pattern2" &&
		"$VHDTOOL" read "$FILE_SR_DIR/$S.vhd" 0 1048576 | cmp -s - "$T/pattern1"
}
sr_names() { (cd "$FILE_SR_DIR" && find . -printf '%p %s\n' | sort); }
# uuid, size, parent and label of every VDI a scan lists.
scan_state() {
	call string "$D" "$C" sr_scan || return 0
	string_result | tr -d '\n\t' | sed 's/<vdi>/\n/g' |
		sed -n 's/.*<uuid>\([^<]*\)<\/uuid>.*<size>\([^<]*\)<\/size>.*<parent>\([^<]*\)<\/parent>.*<label>\([^<]*\)<\/label>.*/\1 \2 \3 \4/p' |
		sort
}
restore
GOLDEN_NAMES=$(sr_names)
GOLDEN_SCAN=$(scan_state)
grep -q "^$V 10485760 [-0-9a-f]* labelled$" <<<"$GOLDEN_SCAN" || fail "starting scan: $GOLDEN_SCAN"

# run_with <fault spec> <smcall args...>: run the driver with the fault armed.
run_with() {
	local spec=$1 req; shift
	req=$("$SMCALL" --print-request "$D" "$C" "$@")
	export CSM_FAULT_IO=$spec
	run_raw "$D" "$req"
	unset CSM_FAULT_IO
}
code_of() { printf '%s' "$OUT" | tr -d '\n' | sed -n 's/.*<name>faultCode<\/name><value><int>\([0-9]*\)<.*/\1/p'; }

# sweep <name> <allowed codes> <smcall args...>
sweep() {
	local name=$1 allowed=$2 cls n count total=0 failures=0 code codes=; shift 2
	restore
	rm -f "$T/iolog"
	export CSM_FAULT_IO_LOG=$T/iolog
	call vdi_info "$D" "$C" "$@" || { unset CSM_FAULT_IO_LOG; return 0; }
	unset CSM_FAULT_IO_LOG
	for cls in open read stat list; do
		count=$(grep -c "^$cls " "$T/iolog" || true)
		for ((n = 1; n <= count; n++)); do
			restore
			run_with "$cls:$n" "$@"
			total=$((total + 1))
			local what; what=$(sed -n "/^$cls $n /{s/^[a-z]* [0-9]* //p;q}" "$T/iolog")
			if [ "$RC" -ne 0 ]; then
				fail "$name, $cls $n ($what) failing: exit $RC: $(tail -3 <<<"$ERR")"
			elif code=$(code_of) && [ -n "$code" ]; then
				failures=$((failures + 1)) codes="$codes $code"
				grep -qw "$code" <<<"$allowed" ||
					fail "$name, $cls $n ($what) failing: fault $code, not one of $allowed: $(printf '%s' "$OUT" | grep -o 'opterr=[^<]*')"
				[ "$(sr_names)" = "$GOLDEN_NAMES" ] ||
					fail "$name, $cls $n ($what) failing: the SR's files changed:"$'\n'"$(diff <(echo "$GOLDEN_NAMES") <(sr_names))"
				[ "$(scan_state)" = "$GOLDEN_SCAN" ] ||
					fail "$name, $cls $n ($what) failing: the scan changed"
			else
				# It survived (a step that may fail, as the check whether
				# an empty leaf's parent can be reused): the new VDI is
				# listed beside the old ones.
				local new scan; new=$(member uuid); scan=$(scan_state)
				grep -q "^$new " <<<"$scan" && grep -q "^$V " <<<"$scan" && grep -q "^$S " <<<"$scan" ||
					fail "$name, $cls $n ($what) failing: succeeded with $new, but the scan: $scan"
			fi
			data_intact || fail "$name, $cls $n ($what) failing: the data changed"
		done
	done
	pass "$name: $total I/O calls failed in turn, $failures refused (codes:$(tr ' ' '\n' <<<"$codes" |
		sed '/^$/d' | sort | uniq -c | awk '{printf " %s x%s", $2, $1}')), data intact"
}

# V has data written since its snapshot: a base copy and new leaves.
sweep "vdi_snapshot" "82 47" vdi_snapshot --vdi "$V"
sweep "vdi_clone" "81 47" vdi_clone --vdi "$V"
sweep "vdi_snapshot type=single" "82 47" vdi_snapshot --vdi "$V" --driver-param type=single
# S has nothing written since: the new leaf hangs off its parent.
sweep "vdi_snapshot of an unchanged leaf" "82 47" vdi_snapshot --vdi "$S"
sweep "vdi_clone of an unchanged leaf" "81 47" vdi_clone --vdi "$S"

# The same calls failing with ENOSPC are SRNoSpace.
restore
export CSM_FAULT_IO_ERRNO=28
run_with open:3 vdi_snapshot --vdi "$V"
unset CSM_FAULT_IO_ERRNO
[ "$(code_of)" = 44 ] && [ "$(sr_names)" = "$GOLDEN_NAMES" ] && data_intact &&
	pass "an open failing with ENOSPC in vdi_snapshot is 44, nothing left" ||
	fail "ENOSPC injected: $(code_of) $(printf '%s' "$OUT" | grep -o 'opterr=[^<]*')"
finish
