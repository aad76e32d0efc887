#!/usr/bin/env bash
# README and docs agree with the code, and what they show works when pasted
# (issue 12):
#  * every shell snippet marked runnable (the line `<!-- runnable -->` right
#    before a ```sh fence; docs/testing.md, "Runnable snippets"; a snippet
#    marked `<!-- runnable, continued -->` runs on in the same script as the
#    runnable one before it on its page, so a page's steps run in order;
#    marker and fence may be indented up to three spaces, inside a list
#    item; four make a Markdown code block, an example, not a snippet) in
#    README.md and docs/*.md runs with exit 0, pasted into bash -e at the
#    top of a built tree, with none of the SR variables set; as root, in a
#    mount namespace whose /run (so /var/lock) and /var/tmp are empty
#    tmpfs, and nothing may land there: it writes only where it says;
#  * the README lists every docs/*.md page and every vhdtool command
#    `vhdtool help` lists, and smcall's replay options;
#  * docs/filesr.md no longer calls crash recovery "the next issue";
#  * a TEST_BUILD=1 make never builds into build/ (make install ships it).
source "$(dirname "$0")/lib.sh"
need python3=python3 make=make
unset SM_LOCK_DIR SM_MOUNT_BASE FILE_SR_DIR SR_UUID

# ---- the snippets ------------------------------------------------------------------
# extract <file> <outdir>: each runnable snippet as <outdir>/<name>-<line>.sh,
# a continued one appended to the script before it (a comment names its
# line); a marker not followed by a ```sh fence, a continued one with no
# runnable snippet before it, or a fence never closed, is an error.
extract() {
	awk -v out="$2" -v name="$(basename "$1" .md)" '
		/^ ? ? ?<!-- runnable -->$/ { want = NR + 1; cont = 0; next }
		/^ ? ? ?<!-- runnable, continued -->$/ { want = NR + 1; cont = 1; next }
		NR == want {
			if ($0 !~ /^ ? ? ?```sh$/) { printf "%s:%d: the runnable marker is not followed by a ```sh fence\n", FILENAME, NR - 1; bad = 1; next }
			if (cont && f == "") { printf "%s:%d: a continued snippet with no runnable one before it\n", FILENAME, NR - 1; bad = 1; next }
			if (!cont) { f = sprintf("%s/%s-%d.sh", out, name, NR); printf "" > f }
			printf "# --- line %d\n", NR >> f
			inb = 1; next
		}
		inb && /^ ? ? ?```$/ { inb = 0; close(f); n++; next }
		inb { print >> f }
		END { if (inb) { printf "%s: a runnable snippet is not closed\n", FILENAME; bad = 1 } exit bad }
	' "$1"
}
mkdir -p "$T/snippets"
for f in "$REPO/README.md" "$REPO"/docs/*.md; do
	extract "$f" "$T/snippets" >"$T/extract.err" || fail "$(cat "$T/extract.err")"
done
n=$(ls "$T/snippets" | wc -l)
[ "$n" -ge 3 ] && pass "$n runnable snippets found: $(ls "$T/snippets" | tr '\n' ' ')" ||
	fail "only $n runnable snippets (README, docs/gc.md and docs/locking.md have one each)"

confined=0
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && unshare --mount true 2>/dev/null; then
	confined=1
else
	skip_part "not root (or no mount namespaces): the snippets run, but what they write outside their directory is not checked"
fi
for s in "$T"/snippets/*.sh; do
	name=$(basename "$s" .sh)
	D="$T/run-$name"
	mkdir -p "$D/tmp"
	# The tree a person pastes into: build/ (this build), examples/ and tests/.
	ln -s "$BUILD" "$D/build"
	ln -s "$REPO/examples" "$D/examples"
	ln -s "$REPO/tests" "$D/tests"
	if [ "$confined" = 1 ]; then
		set +e
		TMPDIR="$D/tmp" unshare --mount --propagation private bash -c '
			mount -n -t tmpfs csm-docs /run && mount -n -t tmpfs csm-docs /var/tmp || exit 99
			mkdir /run/lock   # /var/lock, as on the host
			cd "$1" && bash -e "$2" >"$1/out" 2>&1; rc=$?
			find /run /var/tmp -mindepth 1 ! -path /run/lock >"$1/outside"
			exit $rc' _ "$D" "$s"
		rc=$?
		set -e
	else
		set +e; (cd "$D" && TMPDIR="$D/tmp" bash -e "$s" >"$D/out" 2>&1); rc=$?; set -e
	fi
	if [ "$rc" -eq 0 ]; then
		pass "$name runs when pasted (exit 0)"
	else
		fail "$name: exit $rc:"$'\n'"$(tail -20 "$D/out")"
	fi
	if [ "$confined" = 1 ]; then
		[ ! -s "$D/outside" ] && pass "$name writes nothing in /var/lock, /run or /var/tmp" ||
			fail "$name wrote outside its directory: $(head -5 "$D/outside")"
	fi
done

# ---- the README agrees with the code --------------------------------------------------
for page in "$REPO"/docs/*.md; do
	p=docs/$(basename "$page")
	grep -q "$p" "$REPO/README.md" || fail "README.md does not list $p"
done
pass "README.md lists every docs/*.md page" 
cmds=$("$BUILD/vhdtool" help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
[ -n "$cmds" ] || fail "vhdtool help lists no commands"
vline=$(grep '^| `vhdtool` |' "$REPO/README.md" || true)
for c in $cmds; do
	[[ $vline == *"\`$c\`"* ]] || fail "README's vhdtool row lacks '$c' (vhdtool help lists it)"
done
for c in $(printf '%s\n' "$vline" | grep -o '`[a-z][a-z-]*`' | tr -d '`'); do
	[[ $c == vhdtool ]] || grep -qx "$c" <<<"$cmds" || fail "README's vhdtool row names '$c', which vhdtool does not have"
done
pass "README's vhdtool row lists exactly vhdtool's commands"
for o in --request-file --from-log --output=json --print-request; do
	"$SMCALL" --help | grep -q -- "$o" && grep -q -- "$o" "$REPO/README.md" || fail "smcall $o: in the README and smcall --help?"
done
for o in --status --abort --dir --nfs --lvm --background; do
	"$BUILD/csm-gc" --help | grep -q -- "$o" && grep -q -- "$o" "$REPO/README.md" || fail "csm-gc $o: in the README and csm-gc --help?"
done
pass "README names smcall's and csm-gc's modes, which their --help has"
grep -q 'subject of the next issue' "$REPO/docs/filesr.md" && fail "docs/filesr.md still calls crash recovery the next issue" ||
	pass "docs/filesr.md describes the journal's crash recovery"

# ---- test builds never land in build/ -------------------------------------------------
out=$(cd "$REPO" && env -u BUILD -u TEST_BUILD -u SAN -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n TEST_BUILD=1 all 2>&1) || fail "make -n TEST_BUILD=1 all failed: $(tail -3 <<<"$out")"
grep -q 'build-test/' <<<"$out" && ! grep -Eq '(^| |-o )build/' <<<"$out" &&
	pass "make TEST_BUILD=1 (no BUILD=) builds into build-test/, never build/" ||
	fail "make TEST_BUILD=1 would build into build/: $(grep -E '(^| )build/' <<<"$out" | head -3)"
set +e; out=$(cd "$REPO" && env -u BUILD -u TEST_BUILD -u SAN -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n TEST_BUILD=1 BUILD=build all 2>&1); rc=$?; set -e
[ "$rc" -ne 0 ] && grep -q 'use BUILD=build-test' <<<"$out" && pass "make TEST_BUILD=1 BUILD=build is refused" ||
	fail "make TEST_BUILD=1 BUILD=build: rc $rc: $(tail -2 <<<"$out")"
finish
