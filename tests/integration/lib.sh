# Shared helpers for the integration tests (sourced, bash).
# Each test gets a private temporary directory for its SR, lock and mount
# directories, so tests never touch /var/lock/sm or /run/sr-mount.
set -euo pipefail

BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" && pwd)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SMCALL="$BUILD/smcall"
XAPI_CHECK="$BUILD/tests/xapi_check"
VHDTOOL="$BUILD/vhdtool"
TESTNAME=$(basename "$0" .sh)

# skip <reason>: this test cannot run here. Exit status 77, which
# tests/integration/run.sh reports as a skip (never as a pass), with the
# reason (also written to $CSM_SKIP_FILE, where run.sh reads it).
skip() {
	echo "SKIP [$TESTNAME]: $*"
	[ -z "${CSM_SKIP_FILE:-}" ] || echo "$*" >>"$CSM_SKIP_FILE"
	exit 77
}

# need <command>=<Debian package>...: skip, naming the packages, unless
# every command is installed (tests/setup-deps.sh installs them all).
need() {
	local c missing=()
	for c in "$@"; do
		command -v "${c%%=*}" >/dev/null 2>&1 || missing+=("${c%%=*} (Debian package ${c#*=})")
	done
	[ ${#missing[@]} -eq 0 ] || skip "missing ${missing[*]}; tests/setup-deps.sh test installs them"
}
need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root ($*)"; }

# A test that talks to the private NFS server (tests/nfs/server.sh) sets
# NFS_NETNS=1 before sourcing this file: it then runs again inside
# tests/nfs/netns.sh, in network and mount namespaces of its own, before
# anything else happens here (so the server's ports and /run/rpcbind.sock
# are the test's, whatever the machine runs).
if [ "${NFS_NETNS:-0}" = 1 ] && [ "${CSM_NFS_NETNS:-}" != 1 ]; then
	source "$REPO/tests/nfs/netns.sh"
	why=$(csm_netns_check) || skip "$why"
	why=$("$REPO/tests/nfs/server.sh" check) || skip "$why"
	csm_netns_reexec "$0" "$@"
fi

# Sanitizer builds: one known leak of libnfs's own is not ours (tests/lsan.supp).
export LSAN_OPTIONS="suppressions=$REPO/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

T=$(mktemp -d /tmp/csm-it.XXXXXX)
export SM_LOCK_DIR="$T/lock" SM_MOUNT_BASE="$T/mnt" FILE_SR_DIR="$T/sr"
export SR_UUID=${SR_UUID:-3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10}
# The background GC changes the SR behind a test's back; GC tests turn it on.
export CSM_GC=${CSM_GC:-off}
# vdi_activate's NBD server (csm/nbd_serve.h): its sockets and records in
# the test's directory, and off unless a test turns it on (test_nbd_serve.sh):
# a server left running would hold the SR's files past the test.
export CSM_NBD_DIR="$T/nbd" CSM_NBD=${CSM_NBD:-off}
# nbd_reap: kill -9 every server whose record is under $T (only a process
# whose command line names our directory: never someone else's nbdkit).
nbd_reap() {
	local r pid
	for r in "$T"/nbd/*/*.server; do
		[ -f "$r" ] || continue
		pid=$(sed -n 's/^pid=//p' "$r")
		[ -n "$pid" ] && grep -qF "$T/nbd/" "/proc/$pid/cmdline" 2>/dev/null &&
			kill -9 "$pid" 2>/dev/null || true
	done
}
# nbdkit_preload <plugin>: what LD_PRELOAD must hold for Debian's nbdkit to
# load a sanitizer build of the plugin, "" for an ordinary build: the ASan
# and UBSan runtimes first, then tests/shim's freelocale (docs/testing.md,
# "A hang costs minutes": such an nbdkit can hang in its exit otherwise).
nbdkit_preload() {
	ldd "$1" 2>/dev/null | grep -q libasan || return 0
	printf '%s%s' "$(ldd "$1" | awk '/libasan|libubsan/ { printf "%s ", $3 }')" "$BUILD/tests/asan-exit-shim.so"
}
# nbdkit_for_drivers <plugin>: the drivers start nbdkit themselves: with a
# sanitizer build, point CSM_NBDKIT at a wrapper (in $T) that preloads the
# runtimes; always an absolute nbdkit (a test may hide PATH from the driver).
nbdkit_for_drivers() {
	local pre
	pre=$(nbdkit_preload "$1")
	if [ -z "$pre" ]; then
		CSM_NBDKIT=$(command -v nbdkit)
	else
		printf '#!/bin/sh\nLD_PRELOAD="%s" ASAN_OPTIONS=detect_leaks=0 exec %s "$@"\n' "$pre" "$(command -v nbdkit)" >"$T/nbdkit"
		chmod +x "$T/nbdkit"
		CSM_NBDKIT="$T/nbdkit"
	fi
	export CSM_NBDKIT
}
cleanup() { nbd_reap; rm -rf "$T"; }
trap cleanup EXIT
# Stopped by run.sh's timeout or ^C: leave through exit, so the EXIT trap
# (a test's own cleanup: servers, loop devices) runs.
trap 'exit 143' TERM
trap 'exit 130' INT

FAILS=0
fail() { echo "FAIL [$TESTNAME]: $*" >&2; FAILS=$((FAILS + 1)); }
# Fault-point sweeps run a representative sample: every n-th point, the
# first and the last always.  Two kinds:
#   slow (the LVM ones: every LVM command is a process, a sweep takes
#   minutes): n = CSM_SWEEP_EVERY, 3 by default;
#   --file (the file-SR kill sweeps: seconds): n = CSM_FILE_SWEEP_EVERY,
#   1 (every point) by default.
# make check's ASan pass sets 6 and 3: the build-test pass has already
# killed at those points, what ASan adds is memory errors on the code paths
# (docs/testing.md, "Crash sweeps").  make check-long sets both to 1.
sweep_every() { # sweep_every [--file]: n for that kind
	if [ "${1:-}" = --file ]; then echo "${CSM_FILE_SWEEP_EVERY:-1}"; else echo "${CSM_SWEEP_EVERY:-3}"; fi
}
sweep_sample() { # sweep_sample [--file] <point>...: the points to exercise, one a line
	local every i=0 n p
	every=$(sweep_every "${1:-}")
	[ "${1:-}" != --file ] || shift
	n=$#
	for p in "$@"; do
		if [ "$every" -le 1 ] || [ $((i % every)) -eq 0 ] || [ $i -eq $((n - 1)) ]; then
			echo "$p"
		fi
		i=$((i + 1))
	done
}
pass() { echo "ok   [$TESTNAME]: $*"; }
SKIPPED_PARTS=()
# skip_part <reason>: a part of the test that cannot run here; the rest goes
# on, and unless something fails the test ends as a skip (77), not a pass.
skip_part() { echo "SKIP [$TESTNAME]: $*"; SKIPPED_PARTS+=("$*"); }
finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$TESTNAME: $FAILS failure(s)" >&2
		exit 1
	fi
	if [ ${#SKIPPED_PARTS[@]} -ne 0 ]; then
		skip "the rest passed, but ${#SKIPPED_PARTS[@]} part(s) did not run: ${SKIPPED_PARTS[*]}"
	fi
	echo "$TESTNAME: all passed"
}

# run_raw <driver> <request>: sets OUT (stdout), ERR (stderr), RC.
# lvm_test_env <size>: LVM for a test on this host: a private config (no
# activation, which needs device-mapper; no metadata backups), refcounts
# under $T, and a loop device over a sparse $T/pv.img of <size> in $LOOP.
# The caller's EXIT trap removes the VG and detaches $LOOP.
lvm_test_env() {
	mkdir -p "$T/lvm" "$T/refcount"
	printf 'backup {\n\tbackup = 0\n\tarchive = 0\n}\n' >"$T/lvm/lvm.conf"
	export LVM_SYSTEM_DIR="$T/lvm" CSM_LVM_ACTIVATION=off SM_REFCOUNT_DIR="$T/refcount"
	truncate -s "$1" "$T/pv.img"
	LOOP=$(losetup -f --show "$T/pv.img" 2>"$T/losetup.err") ||
		skip "no loop device: $(cat "$T/losetup.err")"
}

run_raw() {
	local drv=$1 req=$2
	set +e
	# In a subshell whose stderr is muted, so a SIGKILL (crash tests)
	# does not make bash print "Killed"; the driver's stderr is kept.
	( "$drv" "$req" >"$T/stdout" 2>"$T/stderr"; rc=$?; exit $rc ) 2>/dev/null
	RC=$?
	set -e
	OUT=$(cat "$T/stdout"; echo x)
	OUT=${OUT%x}
	ERR=$(cat "$T/stderr")
}

# call <kind> <smcall args...>: build the request xapi would send, run the
# driver, check exit 0 and that xapi's parser accepts the response as <kind>.
call() {
	local kind=$1; shift
	local drv=$1 req
	req=$("$SMCALL" --print-request "$@")
	run_raw "$drv" "$req"
	if [ "$RC" -ne 0 ]; then
		fail "$* exited $RC:"$'\n'"$(printf "%s" "$ERR" | tail -25)"; return 1
	fi
	if ! printf '%s' "$OUT" | "$XAPI_CHECK" "$kind" 2>"$T/check"; then
		fail "$*: response rejected as $kind: $(cat "$T/check")"$'\n'"$OUT"; return 1
	fi
	return 0
}

# fault <code> <smcall args...>: the call must fail with exactly that code.
fault() {
	local code=$1; shift
	local drv=$1 req
	req=$("$SMCALL" --print-request "$@")
	run_raw "$drv" "$req"
	if [ "$RC" -ne 0 ]; then
		fail "$* exited $RC:"$'\n'"$(printf "%s" "$ERR" | tail -25)"; return 1
	fi
	if ! printf '%s' "$OUT" | "$XAPI_CHECK" fault "$code" 2>"$T/check"; then
		fail "$*: expected fault $code: $(cat "$T/check")"$'\n'"$OUT"; return 1
	fi
	return 0
}

# raw_fault <code> <driver> <request...>: argv given directly.
raw_fault() {
	local code=$1 drv=$2; shift 2
	set +e
	"$drv" "$@" >"$T/stdout" 2>"$T/stderr"
	RC=$?
	set -e
	OUT=$(cat "$T/stdout")
	[ "$RC" -eq 0 ] || { fail "raw call exited $RC"; return 1; }
	printf '%s' "$OUT" | "$XAPI_CHECK" fault "$code" 2>"$T/check" ||
		{ fail "expected fault $code: $(cat "$T/check")"$'\n'"$OUT"; return 1; }
}

# The value of a top-level struct member or the string of the last response.
member() { printf '%s' "$OUT" | sed -n "/<name>$1<\/name>/{n;s/.*<string>\(.*\)<\/string>.*/\1/p;q}"; }
string_result() { printf '%s' "$OUT" | sed -n '/<param>/,/<\/param>/p' | sed -e '1,2d' -e 's/^<value><string>//' -e 's/<\/string><\/value>$//' -e '/^<\/param>$/d' | sed -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&amp;/\&/g'; }

# Fingerprint of a directory's files (names, sizes, contents).
tree_sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha1sum) ; }
