#!/usr/bin/env bash
# A request is read in any encoding libxml2 itself (UTF-8, Latin-1, ASCII)
# or libc's iconv knows.  One only ICU knows (ICU is not linked:
# lib/static/no_icu.c), or that nobody knows, gets a clean fault: 143 on
# stdout naming the encoding, exit status 0, nothing on stderr.
source "$(dirname "$0")/lib.sh"
C="$REPO/examples/dconf/file.conf"
INFO=$(cat "$REPO/tests/data/requests/sr_get_driver_info.xml")

# decl <encoding> <request>: the request with an XML declaration naming it.
decl() { printf '<?xml version="1.0" encoding="%s"?>%s' "$1" "$2"; }
# encoded <encoding> <request>: decl, then the bytes converted to that encoding.
encoded() { decl "$1" "$2" | iconv -f UTF-8 -t "$1"; }

for d in FileSR EXTSR NFSSR; do
	D="$BUILD/$d"
	for enc in SCSU BOCU-1 x-mac-roman x-no-such-encoding; do
		raw_fault 143 "$D" "$(decl "$enc" "$INFO")" || continue
		grep -q "Unsupported encoding $enc" <<<"$OUT" || fail "$d $enc: fault does not name it"$'\n'"$OUT"
		[ -z "$(cat "$T/stderr")" ] || fail "$d $enc: wrote to stderr: $(cat "$T/stderr")"
	done
	pass "$d: ICU-only and unknown encodings are 143, naming the encoding"
	for enc in UTF-8 US-ASCII ISO-8859-1 latin1 windows-1252 ISO-2022-JP IBM037; do
		run_raw "$D" "$(encoded "$enc" "$INFO")"
		[ "$RC" -eq 0 ] && printf '%s' "$OUT" | "$XAPI_CHECK" driver_info 2>"$T/check" ||
			fail "$d: request in $enc: rc $RC $(cat "$T/check")"$'\n'"$OUT"
	done
	pass "$d: requests in UTF-8, ASCII, Latin-1, windows-1252, ISO-2022-JP and EBCDIC are read"
done

# What a label becomes: the same characters, in UTF-8, whatever the request's encoding.
D="$BUILD/FileSR"
call unit "$D" "$C" sr_create 0
call unit "$D" "$C" sr_attach
for e in 'ISO-8859-1:café' 'windows-1252:€ 5' 'ISO-2022-JP:日本語' 'IBM037:ebcdic'; do
	enc=${e%%:*} label=${e#*:}
	REQ=$("$SMCALL" --print-request "$D" "$C" vdi_create 1M "$label" '' '' false 19700101T00:00:00Z '' false)
	run_raw "$D" "$(encoded "$enc" "$REQ")"
	printf '%s' "$OUT" | "$XAPI_CHECK" vdi_info 2>"$T/check" || { fail "vdi_create in $enc: $(cat "$T/check")"$'\n'"$OUT"; continue; }
	call string "$D" "$C" sr_scan
	string_result | grep -qF "<label>$label</label>" && pass "label in $enc comes back as UTF-8" ||
		fail "label '$label' sent in $enc not in the scan"$'\n'"$(string_result)"
done

# The fuzz corpus' Latin-1 request is parsed (it is not a driver request).
raw_fault 143 "$D" "$(cat "$REPO/tests/fuzz/corpus_request/latin1.xml")" &&
	! grep -q 'parse error' <<<"$OUT" && pass "corpus latin1.xml parses" || fail "latin1.xml: $OUT"
finish
