#!/usr/bin/env bash
# The drivers stay a few MB: libxml2 is linked in statically, but not ICU
# (31 MB of converter tables) nor libstdc++ (lib/static/no_icu.c stands in
# for what libxml2 calls of ICU), and make install strips.
source "$(dirname "$0")/lib.sh"
MIB=$((1024 * 1024))
# Sanitizer builds carry their instrumentation (twice the bounds) and
# their runtimes bring libstdc++ themselves.
scale=1 unwanted='libicu|libxml2|libnfs|libstdc\+\+'
if ldd "$BUILD/FileSR" | grep -q 'libasan\|libubsan'; then
	scale=2 unwanted='libicu|libxml2|libnfs'
fi
BUILT_MAX=$((4 * MIB * scale))
INSTALLED_MAX=$((3 * MIB * scale))

for b in FileSR EXTSR NFSSR csm-gc vhdtool smcall; do
	s=$(stat -c %s "$BUILD/$b")
	[ "$s" -le "$BUILT_MAX" ] && pass "built $b: $s bytes" ||
		fail "built $b: $s bytes, more than $BUILT_MAX"
done

for d in FileSR EXTSR NFSSR; do
	if bad=$(ldd "$BUILD/$d" | grep -E "$unwanted"); then
		fail "$d loads a shared object it should have linked in, or ICU:"$'\n'"$bad"
	elif nm "$BUILD/$d" | grep -q 'icudt[0-9]*_dat'; then
		fail "$d carries ICU's data table"
	else
		pass "$d: libxml2 and libnfs linked in, no ICU"
	fi
done

# -o all: install what $BUILD holds, never rebuild it: a rebuild here
# would drop the flags it was built with (TEST_BUILD=1, SAN=1) and leave
# the tests after this one a different build (a source edited mid-run).
make -s -C "$REPO" install -o all BUILD="$BUILD" ALLOW_TEST_BUILD=1 PREFIX=/usr DESTDIR="$T/root" >/dev/null
for f in libexec/csm/FileSR libexec/csm/EXTSR libexec/csm/NFSSR libexec/csm/csm-gc \
	 bin/vhdtool bin/smcall; do
	p="$T/root/usr/$f"
	s=$(stat -c %s "$p")
	[ "$s" -le "$INSTALLED_MAX" ] && pass "installed $f: $s bytes" ||
		fail "installed $f: $s bytes, more than $INSTALLED_MAX"
	if readelf -S "$p" | grep -q '\.symtab\|\.debug_info'; then
		fail "installed $f is not stripped"
	fi
done
for d in FileSR EXTSR NFSSR; do
	run_raw "$T/root/usr/libexec/csm/$d" "$(cat "$REPO/tests/data/requests/sr_get_driver_info.xml")"
	printf '%s' "$OUT" | "$XAPI_CHECK" driver_info 2>"$T/check" &&
		pass "stripped $d answers" || fail "stripped $d: $(cat "$T/check")"
done

# make install INSTALL_STRIP= keeps the symbols.
make -s -C "$REPO" install -o all BUILD="$BUILD" ALLOW_TEST_BUILD=1 PREFIX=/usr DESTDIR="$T/keep" INSTALL_STRIP= >/dev/null
readelf -S "$T/keep/usr/libexec/csm/FileSR" | grep -q '\.symtab' &&
	pass "INSTALL_STRIP= keeps the symbols" || fail "INSTALL_STRIP= stripped anyway"
finish
