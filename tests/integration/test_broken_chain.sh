#!/usr/bin/env bash
# A broken VHD chain on a FileSR, found and explained everywhere, driven as
# an operator would (smcall, vhdtool, csm-gc): a parent deleted by hand, a
# self-parent, a loop, a parent replaced by other data (wrong uuid) and a
# parent whose header is unreadable.  For each: sr_scan marks every VDI on
# the chain with <chain_error> (which link, which parent, which file, why);
# vdi_resize, vdi_snapshot and vdi_clone are refused with VDIUnavailable
# naming the link and change nothing on disk; vdi_attach names the VDI, the
# link and the VDIs that depend on it; vhdtool check walks the parents;
# csm-gc leaves the chain alone and names it in --status.  Also: vhdtool
# set-parent refuses a parent of another size or uuid unless --unsafe, and
# a metadata record too large to read is refused at vdi_create, marked by
# sr_scan, and refused by vdi_snapshot (the new VDI would lose the label).
source "$(dirname "$0")/lib.sh"

CONF="$REPO/examples/dconf/file.conf"
GC="$BUILD/csm-gc"
mkdir -p "$FILE_SR_DIR"

sm() { "$SMCALL" "$BUILD/FileSR" "$CONF" "$@"; }
new_uuid() { awk '/^uuid:/ { print $2 }'; }

# The files of the SR and their contents: what "nothing changed" compares.
sr_sum() {
	(cd "$FILE_SR_DIR" && find . -type f ! -name '*.lock' -print0 | sort -z | xargs -0 sha256sum)
}

# chain_attr <scan.xml> <vdi> <attr|text>: the VDI's <chain_error> attribute
# (or its text), "" when the VDI has none; parsed with Python's XML parser.
chain_attr() {
	python3 - "$@" <<'EOF'
import sys, xml.etree.ElementTree as ET
doc, vdi, what = sys.argv[1:]
for v in ET.parse(doc).getroot().iter("vdi"):
    if v.findtext("uuid") == vdi:
        ce = v.find("chain_error")
        if ce is not None:
            print(ce.text if what == "text" else ce.get(what, ""))
EOF
}

# refused <what> <code> <text>... -- <smcall args>: the call fails with that
# fault code, its message holds every <text>, and the SR's files are as before.
refused() {
	local what=$1 code=$2; shift 2
	local texts=() t before
	while [ "$1" != -- ]; do texts+=("$1"); shift; done
	shift
	before=$(sr_sum)
	set +e
	sm "$@" >"$T/f" 2>&1
	local rc=$?
	set -e
	if [ "$rc" -ne 1 ] || ! grep -q "^FAULT $code " "$T/f"; then
		fail "$what: expected FAULT $code, got rc $rc: $(cat "$T/f")"
		return
	fi
	for t in "${texts[@]}"; do
		grep -qF -- "$t" "$T/f" || { fail "$what: the fault does not say '$t': $(cat "$T/f")"; return; }
	done
	[ "$(sr_sum)" = "$before" ] || { fail "$what: the SR's files changed"; return; }
	pass "$what: FAULT $code, naming ${texts[*]}; nothing changed on disk"
}

# ---- a pristine SR: V (leaf) -> B2 (hidden) -> B1 (hidden root) ----------
#   S1, a snapshot taken first, hangs below B1; S2 below B2 is deleted, so
#   that B2 has V as its only child: the GC would merge V into B2.
sm sr_create 0 >/dev/null
sm sr_attach >/dev/null
V=$(sm vdi_create 64M "leaf disk" | new_uuid)
head -c 1M /dev/urandom >"$T/d1"
head -c 1M /dev/urandom >"$T/d2"
"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" 0 "$T/d1"
S1=$(sm vdi_snapshot --vdi "$V" | new_uuid)
"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" 1M "$T/d2"
S2=$(sm vdi_snapshot --vdi "$V" | new_uuid)
sm vdi_delete --vdi "$S2" >/dev/null
parent_of() { "$VHDTOOL" query "$FILE_SR_DIR/$1.vhd" | sed -n 's/^parent_name=\(.*\)\.vhd$/\1/p' | sed 's|.*/||'; }
B2=$(parent_of "$V")
B1=$(parent_of "$B2")
[ -n "$B1" ] && [ -n "$B2" ] && [ "$(parent_of "$S1")" = "$B1" ] ||
	{ fail "set-up: the chain is not V -> B2 -> B1 with S1 below B1 (B2=$B2 B1=$B1)"; finish; }
cp -a "$FILE_SR_DIR" "$T/pristine"
restore() { rm -rf "$FILE_SR_DIR"; cp -a "$T/pristine" "$FILE_SR_DIR"; }

# The intact chain: no marks, check passes, and the GC does merge (so the
# "left alone" below is the break's doing, not an idle GC).
sm sr_scan >"$T/scan.xml"
grep -q chain_error "$T/scan.xml" && fail "intact chain: a <chain_error> in the scan" ||
	pass "intact chain: no <chain_error>"
"$VHDTOOL" check "$FILE_SR_DIR/$V.vhd" >"$T/out" 2>&1 && grep -q "is valid (with its 2 parents)" "$T/out" &&
	pass "intact chain: vhdtool check walks two parents" || fail "check of the intact chain: $(cat "$T/out")"
before=$(sr_sum)
set +e; "$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --quiet >"$T/gc.out" 2>&1; set -e
[ "$(sr_sum)" != "$before" ] && pass "intact chain: the GC merges (the control case)" ||
	fail "intact chain: the GC did nothing, so the broken cases prove nothing: $(cat "$T/gc.out")"
restore

# files_sum <uuid>...: the contents of those images.
files_sum() { local u; for u in "$@"; do sha256sum "$FILE_SR_DIR/$u.vhd"; done; }

# A broken chain, checked the same way whatever broke it.
# broken <case> <reason> <link> <parent> <file> <text> <gc-links> <uuid>...
#   gc-links: the links csm-gc may name (an ERE: it names the first broken
#   link in uuid order, and S1's link to B1 breaks with B2's when B1 is the
#   parent at fault); uuid...: the images on broken chains, which the GC
#   must not touch (it may still merge S1 where S1's own chain is whole).
broken() {
	local case=$1 reason=$2 link=$3 parent=$4 file=$5 text=$6 gclinks=$7 x
	shift 7
	local keep=("$@")
	sm sr_scan >"$T/scan.xml" || { fail "$case: sr_scan failed"; return; }
	for x in "$V" "$B2"; do
		[ "$(chain_attr "$T/scan.xml" "$x" reason)" = "$reason" ] &&
			[ "$(chain_attr "$T/scan.xml" "$x" link)" = "$link" ] &&
			[ "$(chain_attr "$T/scan.xml" "$x" parent)" = "$parent" ] &&
			[ "$(chain_attr "$T/scan.xml" "$x" file)" = "$file" ] &&
			chain_attr "$T/scan.xml" "$x" text | grep -qF "$text" ||
			{ fail "$case: scan's <chain_error> of $x: $(grep -A1 -F "<uuid>$x" "$T/scan.xml" | head -2;
				grep -F chain_error "$T/scan.xml" | head -3)"; return; }
	done
	pass "$case: sr_scan marks V and B2: reason=$reason link=${link:0:8} parent=${parent:0:8}"
	refused "$case: vdi_resize" 46 "VDI $V" "$link" "$text" -- vdi_resize --vdi "$V" 128M
	refused "$case: vdi_snapshot" 46 "VDI $V" "$link" -- vdi_snapshot --vdi "$V"
	refused "$case: vdi_clone" 46 "VDI $V" "$link" -- vdi_clone --vdi "$V"
	refused "$case: vdi_attach" 46 "VDI $V: chain broken at $link" "$text" "depend" -- \
		vdi_attach --vdi "$V" true
	set +e
	"$VHDTOOL" check "$FILE_SR_DIR/$V.vhd" >"$T/out" 2>"$T/err"; local rc=$?
	set -e
	[ "$rc" -eq 1 ] && [ -s "$T/err" ] && ! grep -q "is valid" "$T/out" &&
		pass "$case: vhdtool check fails: $(head -c 160 "$T/err")" ||
		fail "$case: vhdtool check rc $rc: $(cat "$T/out" "$T/err")"
	set +e
	"$VHDTOOL" check -p --output=json "$FILE_SR_DIR/$V.vhd" >"$T/c.json" 2>/dev/null
	set -e
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; sys.exit(0 if not r["valid"] and r["broken_link"] and r["error"] else 1)' \
		"$T/c.json" && pass "$case: vhdtool check -p --output=json: valid=false, broken_link=$(
			python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["broken_link"].split("/")[-1])' "$T/c.json")" ||
		fail "$case: check -p json: $(cat "$T/c.json")"
	local before
	before=$(files_sum "${keep[@]}")
	set +e
	SM_LOG_STDERR=1 "$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" >"$T/gc.out" 2>&1; rc=$?
	set -e
	[ "$(files_sum "${keep[@]}")" = "$before" ] && [ "$rc" -eq 3 ] &&
		pass "$case: csm-gc leaves the chain alone (exit 3: held back)" ||
		fail "$case: csm-gc changed the SR: $(cat "$T/gc.out")"
	"$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --status >"$T/st" 2>&1 || true
	grep "^held_back=" "$T/st" | grep -qF "chain broken at" && grep "^held_back=" "$T/st" | grep -qF "left alone" &&
		pass "$case: csm-gc --status names it: $(grep '^held_back=' "$T/st" | cut -c1-110)" ||
		fail "$case: --status: $(cat "$T/st")"
	grep -Eq "gc $SR_UUID: held back: chain broken at ($gclinks)" "$T/gc.out" &&
		grep -Eq "^csm-gc: work held back: chain broken at ($gclinks)" "$T/gc.out" &&
		pass "$case: csm-gc's log and its own output name the link" ||
		fail "$case: csm-gc's log/output: $(cat "$T/gc.out")"
}

# 1. The grandparent deleted by hand.
rm "$FILE_SR_DIR/$B1.vhd"
broken "missing parent" missing-parent "$B2" "$B1" "$FILE_SR_DIR/$B1.vhd" "its parent $B1 is missing" \
	"$B2|$S1" "$V" "$B2" "$S1"
# The attach fault lists who else hangs below the lost file, S1 included.
set +e; sm vdi_attach --vdi "$V" true >"$T/f" 2>&1; set -e
grep -qF "other VDIs depend on $B1" "$T/f" && grep -qF "$S1" "$T/f" && grep -qF "$B2" "$T/f" &&
	pass "missing parent: the attach fault lists B2 and S1 as depending on B1" ||
	fail "missing parent: attach fault: $(cat "$T/f")"
"$VHDTOOL" check --no-parent "$FILE_SR_DIR/$V.vhd" >/dev/null &&
	pass "missing parent: check --no-parent still passes the leaf alone" || fail "check --no-parent"
restore

# 2. A self-parent (and set-parent refusing it without --unsafe).
set +e
"$VHDTOOL" set-parent "$FILE_SR_DIR/$B2.vhd" "$FILE_SR_DIR/$B2.vhd" >"$T/out" 2>&1; rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q "unsafe" "$T/out" && cmp -s "$FILE_SR_DIR/$B2.vhd" "$T/pristine/$B2.vhd" &&
	pass "set-parent onto itself refused without --unsafe: $(cut -c1-100 "$T/out")" ||
	fail "set-parent self: rc $rc $(cat "$T/out")"
"$VHDTOOL" set-parent --unsafe "$FILE_SR_DIR/$B2.vhd" "$FILE_SR_DIR/$B2.vhd"
broken "self-parent" self-parent "$B2" "$B2" "$FILE_SR_DIR/$B2.vhd" "names itself as its parent" \
	"$B2" "$V" "$B2"
restore

# 3. A loop: B2 re-pointed at its own child V.
"$VHDTOOL" set-parent --unsafe "$FILE_SR_DIR/$B2.vhd" "$FILE_SR_DIR/$V.vhd"
low=$(printf '%s\n%s\n' "$V" "$B2" | sort | head -n1)
other=$([ "$low" = "$V" ] && echo "$B2" || echo "$V")
broken "loop" loop "$low" "$other" "$FILE_SR_DIR/$other.vhd" "run in a loop" "$low" "$V" "$B2"
grep -q "loop" "$T/err" && pass "loop: vhdtool check says loop" || fail "loop: check: $(cat "$T/err")"
restore

# 4. The parent replaced by other data of the same size (wrong uuid).
rm "$FILE_SR_DIR/$B1.vhd"
"$VHDTOOL" create "$FILE_SR_DIR/$B1.vhd" 64M
"$VHDTOOL" set-hidden "$FILE_SR_DIR/$B1.vhd" 1
broken "wrong parent uuid" parent-uuid-mismatch "$B2" "$B1" "$FILE_SR_DIR/$B1.vhd" \
	"is not the image it was made from" "$B2|$S1" "$V" "$B2" "$B1" "$S1"
grep -q "has uuid" "$T/err" && pass "wrong parent uuid: vhdtool check names both uuids" ||
	fail "wrong uuid: check: $(cat "$T/err")"
restore

# 5. The parent's header unreadable (zeroed), then the file cut short.
dd if=/dev/zero of="$FILE_SR_DIR/$B1.vhd" bs=512 seek=1 count=2 conv=notrunc status=none
broken "unreadable parent" unreadable-parent "$B2" "$B1" "$FILE_SR_DIR/$B1.vhd" "cannot be read" \
	"$B2|$S1" "$V" "$B2" "$B1" "$S1"
restore
truncate -s 700 "$FILE_SR_DIR/$B1.vhd"
broken "truncated parent" unreadable-parent "$B2" "$B1" "$FILE_SR_DIR/$B1.vhd" "cannot be read" \
	"$B2|$S1" "$V" "$B2" "$B1" "$S1"
restore

# ---- set-parent: the size and uuid must fit --------------------------------
"$VHDTOOL" create "$T/other.vhd" 64M
"$VHDTOOL" create "$T/big.vhd" 128M
cp "$FILE_SR_DIR/$V.vhd" "$T/leaf.vhd"
for p in other big; do
	set +e; "$VHDTOOL" set-parent "$T/leaf.vhd" "$T/$p.vhd" >"$T/out" 2>&1; rc=$?; set -e
	[ "$rc" -eq 1 ] && cmp -s "$T/leaf.vhd" "$FILE_SR_DIR/$V.vhd" &&
		pass "set-parent onto $p.vhd refused, leaf unchanged: $(cut -c1-90 "$T/out")" ||
		fail "set-parent $p: rc $rc $(cat "$T/out")"
done
grep -q "VDISize" "$T/out" || fail "set-parent onto a bigger parent: not a size fault: $(cat "$T/out")"
"$VHDTOOL" set-parent --unsafe "$T/leaf.vhd" "$T/other.vhd" &&
	"$VHDTOOL" query "$T/leaf.vhd" | grep -q "^parent_name=.*other.vhd$" &&
	pass "set-parent --unsafe re-points anyway" || fail "set-parent --unsafe"
cp "$FILE_SR_DIR/$V.vhd" "$T/leaf2.vhd"
cp "$FILE_SR_DIR/$B2.vhd" "$T/copy-of-b2.vhd"
"$VHDTOOL" set-parent "$T/leaf2.vhd" "$T/copy-of-b2.vhd" >/dev/null 2>&1 || true
"$VHDTOOL" query "$T/leaf2.vhd" | grep -q "^parent_name=.*copy-of-b2.vhd$" &&
	pass "set-parent onto a copy of the true parent (same uuid, same size) is allowed" ||
	fail "set-parent onto a copy of the parent was refused"

# ---- a metadata record too large to read ------------------------------------
before=$(sr_sum)
big=$(head -c 70000 /dev/zero | tr '\0' x)
set +e; sm vdi_create 8M "$big" >"$T/f" 2>&1; rc=$?; set -e
[ "$rc" -eq 1 ] && grep -q "^FAULT 78 .*more than the 65536" "$T/f" && [ "$(sr_sum)" = "$before" ] &&
	pass "vdi_create with a 70000-byte label: FAULT 78, nothing left behind" ||
	fail "big label: rc $rc $(cut -c1-200 "$T/f")"
python3 -c "print('label=' + 'y' * 70000)" >"$FILE_SR_DIR/$V.meta"
sm sr_scan >"$T/scan.xml"
python3 - "$T/scan.xml" "$V" <<'EOF' && pass "sr_scan: a record too large to read is the VDI's <error>" || fail "scan of a big record: $(grep -F "<error>" "$T/scan.xml")"
import sys, xml.etree.ElementTree as ET
for v in ET.parse(sys.argv[1]).getroot().iter("vdi"):
    if v.findtext("uuid") == sys.argv[2]:
        sys.exit(0 if "larger than" in (v.findtext("error") or "") else 1)
sys.exit(1)
EOF
refused "vdi_snapshot of a VDI whose record is too large" 82 "metadata of $V" "File too large" -- \
	vdi_snapshot --vdi "$V"
restore

finish
