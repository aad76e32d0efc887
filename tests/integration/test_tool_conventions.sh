#!/usr/bin/env bash
# The conventions people expect of smcall, vhdtool and csm-gc (issue 12):
# --help on stdout with exit 0, help per command, usage errors on stderr
# with exit 2, --version with the git revision, --output=json parsed by a
# JSON parser, sizes as 10G / 1.5GiB / 010 (ten), progress on a terminal
# only, man pages that man renders, and make install / uninstall keeping
# and restoring a driver it replaces.
source "$(dirname "$0")/lib.sh"
need python3=python3 man=man-db script=bsdutils make=make
GC="$BUILD/csm-gc"
json_ok() { python3 -c 'import json, sys; json.load(sys.stdin)' 2>"$T/json.err"; }
# expect_rc <what> <rc> <stdout-must-match> <stderr-must-match> <command...>
expect_rc() {
	local what=$1 want=$2 out_re=$3 err_re=$4 rc; shift 4
	set +e; "$@" >"$T/o" 2>"$T/e"; rc=$?; set -e
	if [ "$rc" -eq "$want" ] && { [ -z "$out_re" ] || grep -Eq -- "$out_re" "$T/o"; } &&
	   { [ -z "$err_re" ] || grep -Eq -- "$err_re" "$T/e"; }; then
		pass "$what"
	else
		fail "$what: rc $rc (want $want); stdout: $(head -c 300 "$T/o"); stderr: $(head -c 300 "$T/e")"
	fi
}

# ---- --help, help <cmd>, usage errors --------------------------------------
for tool in "$SMCALL" "$VHDTOOL" "$GC"; do
	n=$(basename "$tool")
	expect_rc "$n --help: stdout, exit 0" 0 '^usage: ' '' "$tool" --help
	[ ! -s "$T/e" ] || fail "$n --help wrote to stderr: $(cat "$T/e")"
	expect_rc "$n -h: stdout, exit 0" 0 '^usage: ' '' "$tool" -h
	[ ! -s "$T/e" ] || fail "$n -h wrote to stderr: $(cat "$T/e")"
	expect_rc "$n --version: the revision" 0 "^$n [0-9a-f]{7,}(-dirty)?$|^$n unknown$" '' "$tool" --version
	expect_rc "$n --bogus: usage on stderr, exit 2" 2 '' 'usage' "$tool" --bogus
	[ ! -s "$T/o" ] || fail "$n usage error wrote to stdout"
done
# The revision the Makefile baked in at build time (git describe, or "unknown").
rev=$(sed -n 's/^#define CSM_VERSION "\(.*\)"$/\1/p' "$BUILD/gen/csm_version.h")
[ -n "$rev" ] && [ "$("$VHDTOOL" --version)" = "vhdtool $rev" ] && [ "$("$SMCALL" --version)" = "smcall $rev" ] &&
	[ "$("$GC" --version)" = "csm-gc $rev" ] && pass "--version: the revision $rev of the build" ||
	fail "--version: $("$VHDTOOL" --version), the build says '$rev'"
git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1 && [ "$rev" = unknown ] && fail "built in git, but the version is unknown"
expect_rc "smcall help vdi_lock names its arguments" 0 '^arguments: <force: true\|false> <user>$' '' "$SMCALL" help vdi_lock
expect_rc "smcall help vdi_create names the size" 0 '^arguments: <size>' '' "$SMCALL" help vdi_create
expect_rc "smcall help lists vdi_attach's argument" 0 'vdi_attach +<writable' '' "$SMCALL" help
expect_rc "smcall help of no command: exit 2" 2 '' "no command 'nope'" "$SMCALL" help nope
expect_rc "smcall without a command: exit 2" 2 '' 'usage' "$SMCALL" "$BUILD/FileSR"
expect_rc "vhdtool help read" 0 '^usage: vhdtool read .*<offset> <len>' '' "$VHDTOOL" help read
expect_rc "vhdtool write --help" 0 '^usage: vhdtool write ' '' "$VHDTOOL" write --help
expect_rc "vhdtool help lists every command" 0 'grow-undo' '' "$VHDTOOL" help
expect_rc "vhdtool help of no command: exit 2" 2 '' "no command" "$VHDTOOL" help frob
expect_rc "vhdtool query --c (not --chain): exit 2" 2 '' 'unknown option --c$' "$VHDTOOL" query --c x.vhd
expect_rc "vhdtool query without a path: its usage, exit 2" 2 '' 'usage: vhdtool query' "$VHDTOOL" query

# ---- smcall runs a driver named bare (FileSR), as operators type it ------------------
(cd "$T" && "$SMCALL" --verbose FileSR none sr_get_driver_info) >"$T/o" 2>"$T/e" &&
	grep -qx "smcall: driver FileSR: $BUILD/FileSR (beside smcall)" "$T/e" && grep -q '^name: ' "$T/o" &&
	pass "smcall FileSR: the driver beside smcall, named in --verbose" ||
	fail "bare FileSR beside smcall: $(cat "$T/e") $(head -3 "$T/o")"
# Installed: smcall in PREFIX/bin, the drivers in PREFIX/libexec/csm.
mkdir -p "$T/inst/bin" "$T/inst/libexec/csm"
cp "$SMCALL" "$T/inst/bin/smcall"; cp "$BUILD/FileSR" "$T/inst/libexec/csm/FileSR"
(cd "$T" && "$T/inst/bin/smcall" --verbose FileSR none sr_get_driver_info) >"$T/o" 2>"$T/e" &&
	grep -qx "smcall: driver FileSR: $T/inst/bin/../libexec/csm/FileSR (the installed drivers)" "$T/e" &&
	grep -q '^name: ' "$T/o" && pass "installed smcall FileSR: PREFIX/libexec/csm/FileSR" ||
	fail "bare FileSR installed: $(cat "$T/e") $(head -3 "$T/o")"
set +e; (cd "$T" && PATH=/usr/bin:/bin "$T/inst/bin/smcall" --verbose NoSuchSR none sr_scan) >"$T/o" 2>"$T/e"; rc=$?; set -e
[ "$rc" = 1 ] && grep -qx 'smcall: driver NoSuchSR: NoSuchSR ($PATH)' "$T/e" && grep -q 'cannot run NoSuchSR' "$T/e" &&
	pass "a driver found nowhere: \$PATH tried, 'cannot run', exit 1" || fail "NoSuchSR: rc $rc: $(cat "$T/e")"
expect_rc "smcall FileSR without --verbose: the answer" 0 '^name: ' '' "$SMCALL" FileSR none sr_get_driver_info
[ ! -s "$T/e" ] || fail "smcall without --verbose wrote: $(cat "$T/e")"

# ---- a lock directory an ordinary user cannot write: the fault says what to do ----------
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$T/nobody/sr" "$T/nobody/lock"; chmod 755 "$T" "$T/nobody" "$T/nobody/lock"; chmod 777 "$T/nobody/sr"
	# Copies nobody can read and run: the checkout may sit where only root
	# can (a clone under /root, a umask of 077).
	install -m 755 "$SMCALL" "$BUILD/FileSR" "$T/nobody/"
	install -m 644 "$REPO/examples/dconf/file.conf" "$T/nobody/"
	set +e
	FILE_SR_DIR="$T/nobody/sr" SM_LOCK_DIR="$T/nobody/lock" setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$T/nobody/smcall" "$T/nobody/FileSR" "$T/nobody/file.conf" sr_create 0 >"$T/o" 2>"$T/e"; rc=$?
	set -e
	grep -q "^FAULT 202 SMGeneral: .*cannot create lock directory $T/nobody/lock/$SR_UUID: Permission denied (run as root, or set SM_LOCK_DIR to a directory you can write)" "$T/o" &&
		[ "$rc" = 1 ] && pass "lock directory not writable: fault 202 says run as root or set SM_LOCK_DIR" ||
		fail "lock dir as nobody: rc $rc: $(cat "$T/o" "$T/e")"
else
	skip_part "not root, or no setpriv: the lock directory an ordinary user cannot write"
fi

# ---- sizes -------------------------------------------------------------------
D="$T/v"; mkdir -p "$D"
"$VHDTOOL" create "$D/ten.vhd" 010M
"$VHDTOOL" query "$D/ten.vhd" | grep -qx 'virtual_size=.* (10485760 bytes)' && pass "010M is ten MiB, not octal" ||
	fail "010M: $("$VHDTOOL" query "$D/ten.vhd" | grep virtual_size)"
"$VHDTOOL" create "$D/a.vhd" 1.5GiB
"$VHDTOOL" query "$D/a.vhd" | grep -qx 'virtual_size=.* (1610612736 bytes)' && pass "1.5GiB" || fail "1.5GiB"
# Sizes for people in GiB (the bytes beside them); a link of --chain in GiB.
"$VHDTOOL" query "$D/a.vhd" >"$T/q.txt"
grep -qx 'virtual_size=1.50 GiB (1610612736 bytes)' "$T/q.txt" && grep -Eqx 'phys_size=0.00 GiB \([0-9]+ bytes\)' "$T/q.txt" &&
	pass "vhdtool query for people: GiB with the bytes" || fail "query human: $(head -3 "$T/q.txt")"
"$VHDTOOL" query --chain "$D/a.vhd" | grep -q ' virtual_size=1.50GiB ' && pass "vhdtool query --chain for people: GiB" ||
	fail "query --chain human: $("$VHDTOOL" query --chain "$D/a.vhd")"
printf 'ABCDEFGHIJKLMNOP' >"$T/pat"
"$VHDTOOL" write "$D/ten.vhd" 0 "$T/pat" 2>/dev/null
[ "$("$VHDTOOL" read "$D/ten.vhd" 010 4)" = KLMN ] && pass "read at offset 010 reads at ten" || fail "offset 010"
for bad in 1.5 10Q 0x10 -1 99999999999999999999 16E 1e3 ''; do
	expect_rc "create with size '$bad' refused, exit 2" 2 '' "bad number '$bad': " "$VHDTOOL" create "$D/bad.vhd" "$bad"
	[ ! -e "$D/bad.vhd" ] || fail "size '$bad' left $D/bad.vhd"
done
expect_rc "smcall vdi_create 10Q refused, exit 2" 2 '' "bad size '10Q': unknown unit" \
	"$SMCALL" --print-request --sr "$SR_UUID" "$BUILD/FileSR" none vdi_create 10Q
"$SMCALL" --print-request --sr "$SR_UUID" "$BUILD/FileSR" none vdi_create 1.5G | grep -q '<value>1610612736</value>' &&
	pass "smcall vdi_create 1.5G sends 1610612736" || fail "smcall 1.5G"
"$SMCALL" --print-request --sr "$SR_UUID" "$BUILD/FileSR" none vdi_create 010 | grep -q '<value>10</value>' &&
	pass "smcall vdi_create 010 sends 10" || fail "smcall 010"
expect_rc "csm-gc --leaf-max 20Q refused, exit 2" 2 '' "bad size '20Q'" "$GC" --sr "$SR_UUID" --dir "$T" --leaf-max 20Q

# ---- --output=json -------------------------------------------------------------
"$VHDTOOL" snapshot "$D/c.vhd" "$D/a.vhd"
"$VHDTOOL" query --output=json "$D/c.vhd" >"$T/q.json"
python3 - "$T/q.json" <<'PY' && pass "vhdtool query --output=json" || fail "query json: $(cat "$T/q.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["virtual_size"] == 1610612736 and d["type"] == "differencing" and d["hidden"] is False, d
assert d["parent_name"] == "a.vhd", d
PY
"$VHDTOOL" query --chain --output=json "$D/c.vhd" | python3 -c 'import json,sys; c=json.load(sys.stdin); assert [l["link"] for l in c] == [0, 1], c' &&
	pass "vhdtool query --chain --output=json: both links" || fail "chain json"
# A name with a quote, a backslash and a newline stays valid JSON.
odd="$T/odd"; mkdir -p "$odd"; name=$'we"ird\\na\nme.vhd'
"$VHDTOOL" create "$odd/$name" 4M
printf 'junk' >"$odd/broken.vhd"
set +e; "$VHDTOOL" scan --output=json "$odd" >"$T/s.json" 2>"$T/e"; rc=$?; set -e
python3 - "$T/s.json" "$name" <<'PY' && [ "$rc" -eq 1 ] && pass "vhdtool scan --output=json: odd names escaped, the broken image as scan_error, exit 1" ||
import json, sys
d = json.load(open(sys.argv[1]))
names = {x["vhd"] for x in d}
assert sys.argv[2] in names, names
bad = [x for x in d if "scan_error" in x]
assert len(bad) == 1 and bad[0]["vhd"].endswith("broken.vhd") and bad[0]["error_message"], d
PY
	fail "scan json (rc $rc): $(cat "$T/s.json")"
set +e; "$VHDTOOL" check --output=json "$D/c.vhd" "$odd/broken.vhd" >"$T/c.json" 2>/dev/null; rc=$?; set -e
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [x["valid"] for x in d] == [True, False] and d[1]["error"], d' "$T/c.json" &&
	[ "$rc" -eq 1 ] && pass "vhdtool check --output=json" || fail "check json (rc $rc): $(cat "$T/c.json")"
# smcall: a struct as an object, a fault as {"fault": {...}}
"$SMCALL" --output=json "$BUILD/FileSR" none sr_get_driver_info >"$T/i.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d["capabilities"], list) and d["name"], d' "$T/i.json" &&
	pass "smcall --output=json: driver info as an object" || fail "smcall json: $(head -c 300 "$T/i.json")"
set +e; "$SMCALL" --output=json --sr "$SR_UUID" "$BUILD/FileSR" none sr_scan >"$T/f.json" 2>/dev/null; rc=$?; set -e
python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["fault"]; assert f["code"] == 94 and f["name"] == "ConfigLocationMissing" and "location" in f["string"], f' "$T/f.json" &&
	[ "$rc" -eq 1 ] && pass "smcall --output=json: a fault, exit 1" || fail "smcall fault json (rc $rc): $(cat "$T/f.json")"
# smcall --output=json sr_scan: the scan document as an object, values typed
# by element (a label of digits stays a string); for people, the XML with
# each lock_since followed by its local time.
sm() { FILE_SR_DIR="$T/ssr" SM_LOCK_DIR="$T/slock" "$SMCALL" "$BUILD/FileSR" "$REPO/examples/dconf/file.conf" "$@"; }
sm sr_create 0 >/dev/null
SV=$(sm vdi_create 64M 007 | awk '/^uuid:/ {print $2}')
SS=$(sm vdi_snapshot --vdi "$SV" | awk '/^uuid:/ {print $2}')
sm vdi_lock --vdi "$SV" false ops >/dev/null
sm --output=json sr_scan >"$T/scan.json"
python3 - "$T/scan.json" "$SV" "$SS" "$SR_UUID" <<'PY' && pass "smcall --output=json sr_scan: an object, vdis an array, sizes numbers, flags booleans" ||
import json, sys
d = json.load(open(sys.argv[1]))
v = {x["uuid"]: x for x in d["vdis"]}
assert d["uuid"] == sys.argv[4] and isinstance(d["physical_size"], int) and d["default_vdi_visibility"] is True, d
leaf, snap = v[sys.argv[2]], v[sys.argv[3]]
assert leaf["size"] == 67108864 and isinstance(leaf["utilisation"], int), leaf
assert leaf["label"] == "007" and leaf["hidden"] is False and leaf["locked"] is True, leaf
assert leaf["lock_user"] == "ops" and isinstance(leaf["lock_since"], int) and leaf["lock_since"] > 0, leaf
assert snap["locked"] is False and "lock_since" not in snap, snap
base = [x for x in d["vdis"] if x["hidden"] is True]
assert len(base) == 1 and base[0]["uuid"] == leaf["parent"] and base[0]["managed"] is False, d["vdis"]
PY
	fail "sr_scan json: $(head -c 600 "$T/scan.json")"
since=$(sed -n 's/.*<lock_since>\([0-9]*\)<.*/\1/p' <(sm --raw sr_scan | sed 's/&lt;/</g; s/&gt;/>/g'))
want=$(TZ=UTC-5:30 date -d "@$since" +%Y-%m-%dT%H:%M:%S%z)
TZ=UTC-5:30 sm sr_scan >"$T/scan.txt"
grep -qx "    <lock_since>$since</lock_since> <!-- $want -->" "$T/scan.txt" &&
	python3 -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])' "$T/scan.txt" &&
	pass "smcall sr_scan for people: lock_since $since with its local time $want; still XML" ||
	fail "sr_scan human lock_since (want $want): $(grep lock_since "$T/scan.txt")"

# csm-gc --status --output=json after a run: numbers are numbers
mkdir -p "$T/sr"; printf 'uuid=%s\n' "$SR_UUID" >"$T/sr/.csm-sr"
"$GC" --sr "$SR_UUID" --dir "$T/sr" --quiet || true
"$GC" --sr "$SR_UUID" --status --output=json >"$T/g.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["running"] is False and isinstance(d["updated"], int) and isinstance(d["bytes_total"], int), d' "$T/g.json" &&
	pass "csm-gc --status --output=json" || fail "gc status json: $(cat "$T/g.json")"
"$GC" --sr "$SR_UUID" --status >"$T/g.txt"
grep -Eq '^updated=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[+-][0-9]{4}$' "$T/g.txt" && grep -q '^bytes_total=0.00 GiB$' "$T/g.txt" &&
	pass "csm-gc --status for people: local time (ISO 8601), GiB" || fail "gc status human: $(cat "$T/g.txt")"

# ---- progress only on a terminal ---------------------------------------------------
head -c 8M /dev/urandom >"$T/data"
"$VHDTOOL" create "$D/p.vhd" 16M
"$VHDTOOL" write "$D/p.vhd" 0 "$T/data" 2>"$T/e"
[ ! -s "$T/e" ] && pass "write: no progress into a file" || fail "write progress into a file: $(head -c 200 "$T/e")"
script -qec "'$VHDTOOL' write '$D/p.vhd' 0 '$T/data'" /dev/null >"$T/tty" 2>&1 </dev/null
grep -q 'write: 100%' "$T/tty" && pass "write: progress on a terminal" || fail "no progress on a terminal: $(head -c 300 "$T/tty")"
"$VHDTOOL" snapshot "$D/pc.vhd" "$D/p.vhd"
"$VHDTOOL" write "$D/pc.vhd" 0 "$T/data" 2>/dev/null
script -qec "'$VHDTOOL' coalesce '$D/pc.vhd'" /dev/null >"$T/tty" 2>&1 </dev/null
grep -q 'coalesce: 100%.*MiB/s' "$T/tty" && pass "coalesce: progress with rate on a terminal" || fail "coalesce on a terminal: $(head -c 300 "$T/tty")"

# ---- a test build never goes to build/ (what make install ships), however spelled ----
for b in build build/ ./build "$REPO/build" "$REPO/./build/"; do
	expect_rc "make TEST_BUILD=1 BUILD=$b refused" 2 '' 'use BUILD=build-test' make -n -C "$REPO" TEST_BUILD=1 BUILD="$b" all
done
expect_rc "make TEST_BUILD=1 BUILD=<elsewhere> accepted" 0 '' '' make -n -C "$REPO" TEST_BUILD=1 BUILD="$T/tb" all

# ---- man pages render ----------------------------------------------------------------
for m in "$REPO"/man/*.[1-8]; do
	out=$(MANWIDTH=80 man -l "$m" 2>"$T/e")
	if grep -q '^NAME' <<<"$out" && grep -q '^SYNOPSIS' <<<"$out" && grep -q '^EXIT STATUS' <<<"$out" &&
	   grep -q '^EXAMPLES' <<<"$out" && ! grep -qi 'warning' "$T/e"; then
		pass "man $(basename "$m") renders with its sections"
	else
		fail "man $(basename "$m"): $(cat "$T/e")"
	fi
done
# csm-drivers(7) names every driver the Makefile builds.
drivers=$(sed -n 's/^DRIVERS *:= *//p' "$REPO/Makefile")
out=$(MANWIDTH=200 man -l "$REPO/man/csm-drivers.7" 2>/dev/null); missing=
for d in $drivers; do grep -qw -- "$d" <<<"$out" || missing="$missing $d"; done
[ -n "$drivers" ] && [ -z "$missing" ] && pass "csm-drivers(7) names every driver:$(printf ' %s' $drivers)" ||
	fail "csm-drivers(7) does not name:$missing (drivers: $drivers)"
bash -n "$REPO/tools/completion/csm.bash" && pass "completion file parses" || fail "completion syntax"
comp=$(PATH="$BUILD:$PATH" bash -c 'source "$1"; COMP_WORDS=(vhdtool query --); COMP_CWORD=2; _csm_vhdtool
	echo "${COMPREPLY[*]}"; COMP_WORDS=(smcall help vdi_lo); COMP_CWORD=2; _csm_smcall; echo "${COMPREPLY[*]}"' _ \
	"$REPO/tools/completion/csm.bash")
[ "$comp" = $'--chain --output=json --help\nvdi_lock' ] && pass "completion offers query's options and smcall's commands" ||
	fail "completion: $comp"

# ---- make install keeps what it replaces; make uninstall restores it --------------------
R="$T/root"; mkdir -p "$R/opt/xensource/sm"
ln -s FileSR.py "$R/opt/xensource/sm/FileSR"
printf '#!/bin/sh\n' >"$R/opt/xensource/sm/NFSSR"
inst() { make -s -C "$REPO" "$1" -o all BUILD="$BUILD" ALLOW_TEST_BUILD=1 PREFIX=/usr DESTDIR="$R" SMDIR=/opt/xensource/sm >/dev/null; }
inst install
[ "$(readlink "$R/opt/xensource/sm/FileSR.orig")" = FileSR.py ] && [ -f "$R/opt/xensource/sm/NFSSR.orig" ] &&
	[ "$(readlink "$R/opt/xensource/sm/FileSR")" = /usr/libexec/csm/FileSR ] &&
	pass "install keeps the replaced link and file as .orig" || fail "install: $(ls -l "$R/opt/xensource/sm")"
inst install
[ "$(readlink "$R/opt/xensource/sm/FileSR.orig")" = FileSR.py ] && pass "a second install keeps the first .orig" ||
	fail "second install lost the .orig"
[ -f "$R/usr/share/man/man1/smcall.1" ] && [ -f "$R/usr/share/man/man7/csm-drivers.7" ] &&
	[ -f "$R/usr/share/man/man8/csm-gc.8" ] && [ -f "$R/usr/share/bash-completion/completions/smcall" ] &&
	[ -L "$R/usr/share/bash-completion/completions/vhdtool" ] && [ -f "$R/usr/share/doc/csm/LICENSE" ] &&
	pass "man pages, completion and LICENSE installed" || fail "installed files: $(find "$R/usr/share")"
inst uninstall
[ "$(readlink "$R/opt/xensource/sm/FileSR")" = FileSR.py ] && [ -f "$R/opt/xensource/sm/NFSSR" ] &&
	! [ -e "$R/opt/xensource/sm/EXTSR" ] && ! [ -e "$R/opt/xensource/sm/FileSR.orig" ] &&
	[ -z "$(find "$R/usr" -type f -o -type l)" ] &&
	pass "uninstall restores the originals and removes the rest" ||
	fail "uninstall left: $(find "$R" -type f -o -type l)"
finish
