#!/usr/bin/env bash
# What else can sit in a FileSR directory under an image's name: a
# symbolic link to a VHD outside the SR, one to a VDI inside it, a
# directory, a FIFO.  Nothing may follow the links or block on the FIFO:
# resize and snapshot refuse them (never as "missing"), the scan answers
# at once and lists each as a damaged VDI saying what it is (listing is
# right, following is not), the GC runs through, and the file outside the
# SR and the VDI inside are untouched byte for byte.
source "$(dirname "$0")/lib.sh"
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
GC="$BUILD/csm-gc"

L=aaaaaaaa-1111-4111-8111-111111111111     # link to a VHD outside the SR
I=bbbbbbbb-2222-4222-8222-222222222222     # link to a VDI inside the SR
S=dddddddd-4444-4444-8444-444444444444     # directory
F=cccccccc-3333-4333-8333-333333333333     # FIFO

# bounded <seconds> <driver> <smcall args...>: as run_raw, under a time limit (RC 124: it hung).
bounded() {
	local secs=$1 drv=$2 req; shift
	req=$("$SMCALL" --print-request "$@")
	set +e
	timeout "$secs" "$drv" "$req" >"$T/stdout" 2>"$T/stderr"
	RC=$?
	set -e
	OUT=$(cat "$T/stdout")
	ERR=$(cat "$T/stderr")
}

# The <vdi> record of uuid $1 in the document of the last sr_scan.
vdi_record() {
	string_result | awk -v u="$1" '/<vdi>/{r=""; keep=0} {r=r $0 "\n"}
		/<uuid>/ && index($0, u){keep=1} /<\/vdi>/ && keep {printf "%s", r; exit}'
}

# refused <uuid...>: vdi_resize and vdi_snapshot fail at once, and not as "missing" (144).
refused() {
	local u op before=$FAILS
	for u in "$@"; do
		for op in "vdi_resize --vdi $u 128M" "vdi_snapshot --vdi $u"; do
			# shellcheck disable=SC2086
			bounded 20 "$D" "$C" $op
			if [ "$RC" -eq 124 ]; then
				fail "$op hung"
			elif ! grep -q '<fault>' <<<"$OUT" || grep -q '<int>144</int>' <<<"$OUT"; then
				fail "$op not refused as damaged:"$'\n'"$OUT"
			fi
		done
	done
	[ "$FAILS" -eq "$before" ] && pass "vdi_resize and vdi_snapshot refuse $*"
}

untouched() {
	[ "$victim" = "$(sha1sum <"$T/outside/victim.vhd")" ] &&
		pass "$1: the VHD outside the SR is untouched byte for byte" ||
		fail "$1: the VHD outside the SR changed"
	[ "$vdi" = "$(sha1sum <"$FILE_SR_DIR/$V.vhd")" ] || fail "$1: the VDI a link points at changed"
}

call unit "$D" "$C" sr_create 0
call vdi_info "$D" "$C" vdi_create 64M && V=$(member uuid)
head -c 3000000 /dev/urandom >"$T/data"
"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" 4096 "$T/data"
mkdir -p "$T/outside"
"$VHDTOOL" create "$T/outside/victim.vhd" 64M
"$VHDTOOL" write "$T/outside/victim.vhd" 0 "$T/data"
ln -s "$T/outside/victim.vhd" "$FILE_SR_DIR/$L.vhd"
ln -s "$V.vhd" "$FILE_SR_DIR/$I.vhd"
mkdir "$FILE_SR_DIR/$S.vhd"
victim=$(sha1sum <"$T/outside/victim.vhd")
vdi=$(sha1sum <"$FILE_SR_DIR/$V.vhd")

refused "$L" "$I" "$S"
untouched "resize and snapshot of the links"

# A FIFO too: nothing may block on it.
mkfifo "$FILE_SR_DIR/$F.vhd"
bounded 20 "$D" "$C" sr_scan
if [ "$RC" -eq 124 ]; then
	fail "sr_scan hung (on the FIFO?)"
elif printf '%s' "$OUT" | "$XAPI_CHECK" string 2>"$T/check"; then
	pass "sr_scan answers at once with links, a directory and a FIFO in the SR"
	for u in "$L" "$I" "$S" "$F"; do
		rec=$(vdi_record "$u")
		if [ -z "$rec" ]; then
			fail "scan does not list $u"
		elif ! grep -q '<error>.*not a regular file' <<<"$rec"; then
			fail "scan lists $u without saying it is no image:"$'\n'"$rec"
		fi
	done
	rec=$(vdi_record "$V")
	[ -n "$rec" ] && ! grep -q '<error>' <<<"$rec" || fail "the real VDI is not listed as sound:"$'\n'"$rec"
	grep -q 'symbolic link' <<<"$(vdi_record "$L")" && grep -q FIFO <<<"$(vdi_record "$F")" &&
		grep -q directory <<<"$(vdi_record "$S")" &&
		pass "the scan lists each as damaged, saying what it is" ||
		fail "scan errors do not say what the names are"
else
	fail "sr_scan: $(cat "$T/check")"$'\n'"$OUT"$'\n'"$ERR"
fi
refused "$F"

# The GC goes through the SR and leaves them alone.
set +e
timeout 30 "$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --quiet 2>"$T/gc.err"
rc=$?
set -e
[ "$rc" -ne 124 ] && pass "csm-gc runs through (rc $rc)" || fail "csm-gc hung"

untouched "after scan, GC and all"
[ -L "$FILE_SR_DIR/$L.vhd" ] && [ -L "$FILE_SR_DIR/$I.vhd" ] && [ -p "$FILE_SR_DIR/$F.vhd" ] &&
	[ -d "$FILE_SR_DIR/$S.vhd" ] || fail "the odd names were changed"
ls "$FILE_SR_DIR" | grep -qv -E "^($V|$L|$I|$F|$S)\.vhd$|\.meta$" &&
	fail "files appeared: $(ls -A "$FILE_SR_DIR")"
finish
