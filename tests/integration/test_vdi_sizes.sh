#!/usr/bin/env bash
# VDI sizes at the edges, for VHD (largest 2040 GiB, as the Python SM) and
# raw (largest 16 TiB - 4 KiB, the largest file ext4 holds): 0, the
# largest, one byte more, and 2^64-1, whose rounding to whole sectors once
# wrapped to a 0-byte raw VDI.  Every refusal is VDISize (79) and leaves
# the SR as it was; vdi_resize the same.
source "$(dirname "$0")/lib.sh"
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
VHD_MAX=$((2040 << 30))
RAW_MAX=$(((16 << 40) - 4096))
U64_MAX=18446744073709551615

# What is in the SR: every name (directories too) with its size and blocks
# used, and the bytes of the small files (the raw VDIs are terabytes of holes).
sr_state() {
	(cd "$FILE_SR_DIR" && find . -printf '%p %s %b\n' | sort &&
		find . -type f -size -64M -print0 | sort -z | xargs -0 -r sha1sum)
}
# refused <what> <smcall args...>: fault 79, and the SR unchanged.
refused() {
	local what=$1 before; shift
	before=$(sr_state)
	fault 79 "$D" "$C" "$@" || return 0
	if [ "$(sr_state)" = "$before" ]; then
		pass "$what is VDISize (79), nothing left"
	else
		fail "$what left: $(diff <(echo "$before") <(sr_state))"
	fi
}
# created <what> <expected size> <vhd|raw> <smcall args...>: sets V.
created() {
	local what=$1 want=$2 kind=$3 got; shift 3
	call vdi_info "$D" "$C" "$@" || return 0
	V=$(member uuid)
	if [ "$kind" = vhd ]; then
		got=$("$VHDTOOL" query "$FILE_SR_DIR/$V.vhd" | sed -n 's/^virtual_size=.* (\([0-9]*\) bytes)$/\1/p')
	else
		got=$(stat -c %s "$FILE_SR_DIR/$V.raw")
	fi
	[ "$got" = "$want" ] && pass "$what makes a VDI of $want bytes" || fail "$what: size $got, not $want"
}

call unit "$D" "$C" sr_create 0 && call unit "$D" "$C" sr_attach || { finish; exit 1; }

# --- VHD ----------------------------------------------------------------------
created "vhd 0" 2097152 vhd vdi_create 0
created "vhd 1" 2097152 vhd vdi_create 1
created "vhd at the limit" "$VHD_MAX" vhd vdi_create "$VHD_MAX"; VHD_BIG=$V
refused "vhd at the limit + 1" vdi_create $((VHD_MAX + 1))
refused "vhd of 2^64-1" vdi_create "$U64_MAX"

# --- raw ----------------------------------------------------------------------
created "raw 0" 0 raw vdi_create --sm-config type=raw 0; RAW0=$V
created "raw 1 (a whole sector)" 512 raw vdi_create --sm-config type=raw 1
created "raw at the limit" "$RAW_MAX" raw vdi_create --sm-config type=raw "$RAW_MAX"
created "raw just under the limit (rounded up to it)" "$RAW_MAX" raw \
	vdi_create --sm-config type=raw $((RAW_MAX - 511))
refused "raw at the limit + 1" vdi_create --sm-config type=raw $((RAW_MAX + 1))
refused "raw of 2^64-1" vdi_create --sm-config type=raw "$U64_MAX"
refused "raw of 2^64-512 (rounds past 2^64)" vdi_create --sm-config type=raw 18446744073709551104
refused "raw of 2^63" vdi_create --sm-config type=raw 9223372036854775808

# --- resize -------------------------------------------------------------------
refused "raw resize to the limit + 1" vdi_resize --vdi "$RAW0" $((RAW_MAX + 1))
refused "raw resize to 2^64-1" vdi_resize --vdi "$RAW0" "$U64_MAX"
call vdi_info "$D" "$C" vdi_resize --vdi "$RAW0" "$RAW_MAX" &&
	[ "$(stat -c %s "$FILE_SR_DIR/$RAW0.raw")" = "$RAW_MAX" ] && pass "raw resize to the limit"
refused "vhd resize to the limit + 1" vdi_resize --vdi "$VHD_BIG" $((VHD_MAX + 1))
refused "vhd resize to 2^64-1" vdi_resize --vdi "$VHD_BIG" "$U64_MAX"

# The scan agrees with what was made.
call string "$D" "$C" sr_scan && S=$(string_result)
[ "$(grep -c '<vdi>' <<<"$S")" = 7 ] && pass "sr_scan lists the 7 VDIs made" || fail "sr_scan: $S"
grep -q "<size>$RAW_MAX</size>" <<<"$S" && grep -q "<size>$VHD_MAX</size>" <<<"$S" ||
	fail "sr_scan sizes: $S"
finish
