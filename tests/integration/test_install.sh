#!/usr/bin/env bash
# make install honours PREFIX, DESTDIR and SMDIR, and the installed driver
# answers where xapi looks for it.
source "$(dirname "$0")/lib.sh"
need make=make install=coreutils
make -s -C "$REPO" install BUILD="$BUILD" PREFIX=/usr DESTDIR="$T/root" SMDIR=/opt/xensource/sm >/dev/null
[ -x "$T/root/usr/libexec/csm/FileSR" ] && pass "driver in PREFIX/libexec/csm" || fail "no installed driver"
[ -x "$T/root/usr/bin/smcall" ] && [ -x "$T/root/usr/bin/vhdtool" ] && pass "tools in PREFIX/bin" || fail "tools"
[ "$(readlink "$T/root/opt/xensource/sm/FileSR")" = /usr/libexec/csm/FileSR ] && pass "SMDIR link" || fail "SMDIR link"
[ -x "$T/root/usr/libexec/csm/LVMSR" ] && [ "$(readlink "$T/root/opt/xensource/sm/LVMSR")" = /usr/libexec/csm/LVMSR ] &&
	pass "LVMSR installed and linked" || fail "LVMSR not installed"
[ -x "$T/root/usr/libexec/csm/ISCSISR" ] && [ "$(readlink "$T/root/opt/xensource/sm/ISCSISR")" = /usr/libexec/csm/ISCSISR ] &&
	pass "ISCSISR installed and linked (type iscsi)" || fail "ISCSISR not installed"
run_raw "$T/root/usr/libexec/csm/FileSR" "$(cat "$REPO/tests/data/requests/sr_get_driver_info.xml")"
printf '%s' "$OUT" | "$XAPI_CHECK" driver_info && pass "installed driver answers" || fail "installed driver"
finish
