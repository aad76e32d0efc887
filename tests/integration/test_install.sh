#!/usr/bin/env bash
# make install honours PREFIX, DESTDIR and SMDIR, and the installed driver
# answers where xapi looks for it.
source "$(dirname "$0")/lib.sh"
need make=make install=coreutils
# -o all: install what $BUILD holds, never rebuild it: a rebuild here
# would drop the flags it was built with (TEST_BUILD=1, SAN=1) and leave
# the tests after this one a different build (a source edited mid-run).
make -s -C "$REPO" install -o all BUILD="$BUILD" ALLOW_TEST_BUILD=1 PREFIX=/usr DESTDIR="$T/root" SMDIR=/opt/xensource/sm >/dev/null
[ -x "$T/root/usr/libexec/csm/FileSR" ] && pass "driver in PREFIX/libexec/csm" || fail "no installed driver"
[ -x "$T/root/usr/bin/smcall" ] && [ -x "$T/root/usr/bin/vhdtool" ] && pass "tools in PREFIX/bin" || fail "tools"
# The data path's plugin beside the drivers (they find it there); stripping keeps plugin_init.
[ -f "$T/root/usr/libexec/csm/csm-nbdkit.so" ] && pass "nbdkit plugin in PREFIX/libexec/csm" || fail "no installed plugin"
[ -x "$T/root/usr/libexec/csm/csm-lvm-run" ] && pass "the plugin's LVM helper beside it" || fail "no installed csm-lvm-run"
if command -v nbdkit >/dev/null; then
	# A sanitizer build's plugin needs its runtime loaded first (as test_nbd_plugin.sh does).
	pre=$(nbdkit_preload "$T/root/usr/libexec/csm/csm-nbdkit.so")
	env ${pre:+LD_PRELOAD="$pre"} ASAN_OPTIONS=detect_leaks=0 \
		nbdkit --dump-plugin "$T/root/usr/libexec/csm/csm-nbdkit.so" 2>&1 | grep -q '^name=csm$' &&
		pass "nbdkit loads the installed plugin" || fail "nbdkit cannot load the installed plugin"
fi
[ "$(readlink "$T/root/opt/xensource/sm/FileSR")" = /usr/libexec/csm/FileSR ] && pass "SMDIR link" || fail "SMDIR link"
[ -x "$T/root/usr/libexec/csm/LVMSR" ] && [ "$(readlink "$T/root/opt/xensource/sm/LVMSR")" = /usr/libexec/csm/LVMSR ] &&
	pass "LVMSR installed and linked" || fail "LVMSR not installed"
[ -x "$T/root/usr/libexec/csm/ISCSISR" ] && [ "$(readlink "$T/root/opt/xensource/sm/ISCSISR")" = /usr/libexec/csm/ISCSISR ] &&
	pass "ISCSISR installed and linked (type iscsi)" || fail "ISCSISR not installed"
run_raw "$T/root/usr/libexec/csm/FileSR" "$(cat "$REPO/tests/data/requests/sr_get_driver_info.xml")"
printf '%s' "$OUT" | "$XAPI_CHECK" driver_info && pass "installed driver answers" || fail "installed driver"
finish
