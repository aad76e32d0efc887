#!/usr/bin/env bash
# The checker the other tests rely on must itself accept exactly what
# xapi accepts; its self-test feeds it Python xmlrpc output and variants.
source "$(dirname "$0")/lib.sh"
need python3=python3
if python3 "$REPO/tests/tools/test_xapi_check.py" "$XAPI_CHECK" >"$T/out" 2>&1; then
	pass "xapi_check self-test"
else
	fail "xapi_check self-test:"$'\n'"$(cat "$T/out")"
fi
finish
