/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * bench_calls: wall time per driver call, the way xapi pays for it.
 *
 *   bench_calls [-n N] [-w W] [-s SCAN_VDIS] [-f FLOOR_BIN] [--only LIST]
 *               [--size BYTES] [--write-blocks K] [--dconf KEY=VALUE]...
 *               [--dump-requests DIR] DRIVER
 *
 * Every timed sample is one fork + execv(DRIVER, {DRIVER, request}) +
 * reading all of its stdout through a pipe + waitpid, measured with
 * CLOCK_MONOTONIC around the whole thing.  Requests are built with the
 * project's XML-RPC writer in the xapi style, with the same members in
 * the same order as tools/smcall.c (bench/run.sh checks the bytes against
 * smcall --print-request).  Every response is checked: exit status 0, no
 * <fault>, and the expected result (a VDI uuid, or the exact number of
 * <vdi> entries in a scan), so a broken driver cannot post good numbers.
 *
 * Columns: median, p10, p90, min, max of the wall time (ms); cpu-med, the
 * median user+system CPU time of the child (from wait4; less sensitive
 * than wall time to other load on the machine, blind to waits such as
 * fsync); -floor, the median minus the median of the spawn floor.
 *
 * The SRs live in a private mkdtemp directory (SM_LOCK_DIR, SM_MOUNT_BASE
 * point into it too) which is removed at the end.
 *
 * Measured (N samples each after W warm-up samples):
 *   spawn floor        FLOOR_BIN (default /bin/true) with a request as argv[1]
 *   sr_get_driver_info
 *   vdi_create 1 GiB   a new VDI each time; the SR grows by W+N VDIs
 *   vdi_snapshot       of a VDI never snapshotted before (chain depth 1)
 *   vdi_snapshot deep  round robin over fresh VDIs, each snapshotted up to
 *                      25 times (chain depth 1..25; the driver's limit is 30)
 *   sr_scan            an SR of exactly SCAN_VDIS (default 1000) plain VDIs
 *   sr_scan mixed      SCAN_VDIS/2 VDIs each snapshotted once: SCAN_VDIS
 *                      visible VDIs plus SCAN_VDIS/2 hidden base copies
 *
 * --size sets the virtual size of the VDIs vdi_create makes (default
 * 1 GiB; up to 2040 GiB, the VHD maximum) for the create and snapshot
 * rows.  --write-blocks K writes K whole 2 MiB blocks, spread evenly over
 * the virtual size, into each VDI before it is snapshotted (untimed; through
 * the VHD library on <location>/<uuid>.vhd, so FileSR only).
 *
 * --dconf KEY=VALUE (repeatable) replaces the FileSR dconf (location=<a
 * private directory>) with the given members, e.g. for NFSSR:
 * --dconf server=127.0.0.1 --dconf serverpath=/export --dconf nfsversion=3.
 * The SR then lives wherever the driver puts it (NFSSR: <serverpath>/<sr
 * uuid> on the server); the caller cleans it up.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "csm/buf.h"
#include "csm/vhdchain.h"
#include "csm/xmlrpc.h"

#define MAX_DEPTH_PER_VDI 25

static const char *driver;
static char root[4096];
static char vdi_size[32] = "1073741824";
static int write_blocks;
static const char *dconf_kv[32];
static int n_dconf;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void cleanup(void)
{
	if (root[0])
		nftw(root, rm_one, 32, FTW_DEPTH | FTW_PHYS);
	root[0] = '\0';
}

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_calls: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup();
	exit(1);
}

/* ---- requests, as tools/smcall.c builds them ---------------------------- */

struct sr {
	char uuid[37];
	char location[4200];
};

static void set(struct xr_value *st, const char *k, struct xr_value *v)
{
	if (!v || xr_struct_set(st, k, v) < 0)
		die("out of memory");
}

static void set_s(struct xr_value *st, const char *k, const char *v)
{
	set(st, k, xr_string(v));
}

/*
 * The xapi request for command on sr (NULL for sr_get_driver_info), with
 * vdi (NULL for SR commands) and nargs string args.
 */
static char *request(const char *cmd, const struct sr *sr, const char *vdi,
		     int nargs, const char *const *args)
{
	bool info = strcmp(cmd, "sr_get_driver_info") == 0;
	bool create = strcmp(cmd, "vdi_create") == 0;
	bool vdicmd = strncmp(cmd, "vdi_", 4) == 0 && !create;
	struct xr_value *st = xr_struct(), *params = xr_array(), *a = xr_array();
	struct xr_value *dconf = xr_struct();
	char *doc;

	if (!st || !params || !a || !dconf)
		die("out of memory");
	for (int i = 0; i < nargs; i++)
		if (xr_array_append(a, xr_string(args[i])) < 0)
			die("out of memory");
	if (!info) {
		set_s(dconf, "SRmaster", "true");
		if (n_dconf == 0)
			set_s(dconf, "location", sr->location);
		for (int i = 0; i < n_dconf; i++) {
			const char *eq = strchr(dconf_kv[i], '=');
			char key[256];

			snprintf(key, sizeof(key), "%.*s", (int)(eq - dconf_kv[i]), dconf_kv[i]);
			set_s(dconf, key, eq + 1);
		}
	}
	set_s(st, "host_ref", "OpaqueRef:00000000-0000-4000-8000-000000000001");
	set_s(st, "command", cmd);
	set(st, "args", a);
	set(st, "device_config", dconf);
	if (!info) {
		set_s(st, "session_ref", "OpaqueRef:00000000-0000-4000-8000-000000000002");
		set_s(st, "sr_ref", "OpaqueRef:00000000-0000-4000-8000-000000000003");
		if (create)
			set_s(st, "vdi_type", "user");
		set_s(st, "sr_uuid", sr->uuid);
		if (vdicmd) {
			set_s(st, "vdi_ref", "OpaqueRef:00000000-0000-4000-8000-000000000004");
			set_s(st, "vdi_location", vdi);
			set_s(st, "vdi_uuid", vdi);
		}
		if (create && vdi)
			set_s(st, "vdi_uuid", vdi);
		if (strcmp(cmd, "vdi_snapshot") == 0 || strcmp(cmd, "vdi_clone") == 0)
			set(st, "driver_params", xr_struct());
		if (create)
			set(st, "vdi_sm_config", xr_struct());
		set_s(st, "subtask_of", "OpaqueRef:00000000-0000-4000-8000-000000000005");
		if (vdicmd) {
			set_s(st, "vdi_on_boot", "persist");
			set_s(st, "vdi_allow_caching", "false");
		}
	}
	if (xr_array_append(params, st) < 0)
		die("out of memory");
	doc = xr_write_call(cmd, params, XR_STYLE_XAPI);
	xr_free(params);
	if (!doc)
		die("out of memory");
	return doc;
}

static const char *create_1g[8] = {
	"1073741824", "", "", "", "false", "19700101T00:00:00Z", "", "false",
};

/* ---- running the driver ----------------------------------------------- */

struct run {
	char *out;      /* all of stdout, NUL-terminated */
	size_t len;
	int status;
	double ms;      /* fork .. waitpid */
	double cpu_ms;  /* the child's user + system CPU time */
};

static double last_cpu;  /* CPU time of the latest child */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void spawn(const char *bin, const char *req, struct run *r)
{
	static char buf[1 << 16];
	struct sm_buf out = SM_BUF_INIT;
	struct rusage ru;
	int pfd[2];
	double t0;
	pid_t pid;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	t0 = now_ms();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[3] = { (char *)bin, (char *)req, NULL };

		dup2(pfd[1], 1);
		execv(bin, argv);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read: %s", strerror(errno));
		buf_append(&out, buf, (size_t)n);
	}
	while (wait4(pid, &r->status, 0, &ru) < 0)
		if (errno != EINTR)
			die("wait4: %s", strerror(errno));
	r->ms = now_ms() - t0;
	last_cpu = r->cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	close(pfd[0]);
	r->len = out.len;
	r->out = buf_steal(&out);
	if (!r->out)
		die("out of memory");
}

/* Run the driver; fail the whole benchmark unless it answered properly. */
static double call(const char *what, const char *req, struct run *r)
{
	spawn(driver, req, r);
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
		die("%s: driver exited with status %d:\n%s", what, r->status, r->out);
	if (strstr(r->out, "<fault>") || !strstr(r->out, "<params>"))
		die("%s: driver answered with a fault or no result:\n%s", what, r->out);
	return r->ms;
}

/* The "uuid" member of a vdi_info struct response. */
static void result_uuid(const char *what, const struct run *r, char out[37])
{
	const char *p = strstr(r->out, "<name>uuid</name>");
	uuid_t u;

	if (p)
		p = strstr(p, "<string>");
	if (!p || strlen(p) < 8 + 36 || strncmp(p + 8 + 36, "</string>", 9) != 0)
		die("%s: no uuid in the response:\n%s", what, r->out);
	memcpy(out, p + 8, 36);
	out[36] = '\0';
	if (uuid_parse(out, u) < 0)
		die("%s: bad uuid '%s'", what, out);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- statistics --------------------------------------------------------- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Linear interpolation between closest ranks (numpy's default). */
static double pct(const double *s, int n, double p)
{
	double pos = p * (n - 1);
	int i = (int)pos;

	return i + 1 < n ? s[i] + (pos - i) * (s[i + 1] - s[i]) : s[n - 1];
}

static double floor_median = -1;
static void report(const char *name, double *t, double *c, int n)
{
	double med;

	qsort(t, (size_t)n, sizeof(*t), cmp_d);
	qsort(c, (size_t)n, sizeof(*c), cmp_d);
	med = pct(t, n, 0.5);
	printf("%-40s %5d %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f", name, n, med,
	       pct(t, n, 0.1), pct(t, n, 0.9), t[0], t[n - 1], pct(c, n, 0.5));
	if (floor_median >= 0)
		printf(" %8.2f", med - floor_median);
	printf("\n");
	fflush(stdout);
}

/* ---- fixtures ----------------------------------------------------------- */

static void new_uuid(char out[37])
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

static void make_sr(struct sr *sr, const char *name)
{
	const char *zero[1] = { "0" };
	struct run r;
	char *req;

	new_uuid(sr->uuid);
	snprintf(sr->location, sizeof(sr->location), "%s/%s", root, name);
	req = request("sr_create", sr, NULL, 1, zero);
	call("sr_create", req, &r);
	free(req);
	free(r.out);
	req = request("sr_attach", sr, NULL, 0, NULL);
	call("sr_attach", req, &r);
	free(req);
	free(r.out);
}

/* Create a VDI of vdi_size (1 GiB by default); returns its uuid in out. */
static double create_vdi(const struct sr *sr, char out[37])
{
	struct run r;
	char *req = request("vdi_create", sr, NULL, 8, create_1g);
	double ms = call("vdi_create", req, &r);

	result_uuid("vdi_create", &r, out);
	free(req);
	free(r.out);
	return ms;
}

/* --write-blocks: K whole blocks spread over the VDI, through the VHD library. */
static void fill_blocks(const struct sr *sr, const char *vdi)
{
	static char *blk;
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	uint64_t size = strtoull(vdi_size, NULL, 10), nblocks = size >> 21;
	char path[4300];

	if (write_blocks <= 0)
		return;
	if (!blk) {
		blk = malloc(2u << 20);
		if (!blk)
			die("out of memory");
		memset(blk, 0xa5, 2u << 20);
	}
	snprintf(path, sizeof(path), "%s/%s.vhd", sr->location, vdi);
	if (vhd_chain_open(&ch, path, true, &err) < 0)
		die("%s: %s", path, err.detail);
	for (int i = 0; i < write_blocks; i++) {
		uint64_t b = nblocks * (uint64_t)i / (uint64_t)write_blocks;

		if (vhd_chain_write(&ch, blk, 2u << 20, b << 21, &err) < 0)
			die("%s: write: %s", path, err.detail);
	}
	if (vhd_chain_flush(&ch, &err) < 0)
		die("%s: flush: %s", path, err.detail);
	vhd_chain_close(&ch);
}

static double snapshot_vdi(const struct sr *sr, const char *vdi, char out[37])
{
	struct run r;
	char *req = request("vdi_snapshot", sr, vdi, 0, NULL);
	double ms = call("vdi_snapshot", req, &r);

	result_uuid("vdi_snapshot", &r, out);
	if (strcmp(out, vdi) == 0)
		die("vdi_snapshot returned the source %s", vdi);
	free(req);
	free(r.out);
	return ms;
}

static double scan(const struct sr *sr, const char *req, size_t want_vdis)
{
	struct run r;
	double ms = call("sr_scan", req, &r);
	size_t got = count(r.out, "&lt;vdi&gt;");

	if (got != want_vdis)
		die("sr_scan reported %zu VDIs, expected %zu", got, want_vdis);
	free(r.out);
	return ms;
}

/* ---- main ---------------------------------------------------------------- */

static bool wanted(const char *only, const char *name)
{
	size_t l = strlen(name);

	if (!only)
		return true;
	for (const char *p = only; (p = strstr(p, name)); p += l)
		if ((p == only || p[-1] == ',') && (p[l] == ',' || p[l] == '\0'))
			return true;
	return false;
}

static void write_file(const char *dir, const char *name, const char *s)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(s, f) < 0 || fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

/* The requests, for a fixed SR/VDI, so run.sh can compare them with smcall. */
static void dump_requests(const char *dir)
{
	struct sr sr;
	const char *loc = getenv("FILE_SR_DIR"), *u = getenv("SR_UUID");
	const char *vdi = getenv("VDI_UUID");
	char *s;

	if (!loc || !u || !vdi)
		die("--dump-requests needs FILE_SR_DIR, SR_UUID and VDI_UUID");
	snprintf(sr.uuid, sizeof(sr.uuid), "%s", u);
	snprintf(sr.location, sizeof(sr.location), "%s", loc);
	write_file(dir, "sr_get_driver_info", s = request("sr_get_driver_info", NULL, NULL, 0, NULL)); free(s);
	write_file(dir, "sr_create", s = request("sr_create", &sr, NULL, 1, (const char *const[]){ "0" })); free(s);
	write_file(dir, "sr_attach", s = request("sr_attach", &sr, NULL, 0, NULL)); free(s);
	write_file(dir, "vdi_create", s = request("vdi_create", &sr, NULL, 8, create_1g)); free(s);
	write_file(dir, "vdi_snapshot", s = request("vdi_snapshot", &sr, vdi, 0, NULL)); free(s);
	write_file(dir, "sr_scan", s = request("sr_scan", &sr, NULL, 0, NULL)); free(s);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_calls [-n N] [-w W] [-s SCAN_VDIS] [-f FLOOR_BIN] [--only LIST] DRIVER\n"
		"       bench_calls --dump-requests DIR   (env FILE_SR_DIR SR_UUID VDI_UUID)\n"
		"  -n N          timed samples per call (default 200)\n"
		"  -w W          untimed warm-up samples per call (default 10)\n"
		"  -s K          VDIs in the scanned SR (default 1000)\n"
		"  -f BIN        spawn-floor program (default /bin/true)\n"
		"  --only LIST   comma list of: floor,info,create,snapshot,snapshot_deep,scan,scan_mixed\n"
		"  --size BYTES  virtual size of the created/snapshotted VDIs (default 1073741824)\n"
		"  --write-blocks K  write K 2 MiB blocks into each VDI before snapshotting (FileSR)\n"
		"  --dconf K=V   dconf member instead of location=<private dir> (repeatable)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "only", required_argument, NULL, 'o' },
		{ "dump-requests", required_argument, NULL, 'D' },
		{ "size", required_argument, NULL, 'S' },
		{ "write-blocks", required_argument, NULL, 'B' },
		{ "dconf", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int n = 200, w = 10, scan_vdis = 1000, c, total;
	const char *floor_bin = "/bin/true", *only = NULL;
	const char *tmp = getenv("TMPDIR");
	char label[64], path[4200];
	struct sr a, s, m;
	struct run r;
	double *t, *cpu;
	char *req;

	while ((c = getopt_long(argc, argv, "n:w:s:f:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n': n = atoi(optarg); break;
		case 'w': w = atoi(optarg); break;
		case 's': scan_vdis = atoi(optarg); break;
		case 'f': floor_bin = optarg; break;
		case 'o': only = optarg; break;
		case 'D': dump_requests(optarg); return 0;
		case 'S': snprintf(vdi_size, sizeof(vdi_size), "%llu", strtoull(optarg, NULL, 10));
			  create_1g[0] = vdi_size; break;
		case 'B': write_blocks = atoi(optarg); break;
		case 'C':
			if (n_dconf == 32 || !strchr(optarg, '=') || optarg[0] == '=')
				usage();
			dconf_kv[n_dconf++] = optarg;
			break;
		default: usage();
		}
	}
	if (optind + 1 != argc || n < 1 || w < 0 || scan_vdis < 2)
		usage();
	driver = argv[optind];
	if (access(driver, X_OK) < 0)
		die("%s: %s", driver, strerror(errno));
	total = w + n;
	t = calloc((size_t)total, sizeof(*t));
	cpu = calloc((size_t)total, sizeof(*cpu));
	if (!t || !cpu)
		die("out of memory");

	snprintf(root, sizeof(root), "%s/csm-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root))
		die("mkdtemp %s: %s", root, strerror(errno));
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/lock", root);
	setenv("SM_LOCK_DIR", path, 1);
	snprintf(path, sizeof(path), "%s/mnt", root);
	setenv("SM_MOUNT_BASE", path, 1);
	unsetenv("SM_LOG_STDERR");

	printf("driver %s, %d samples after %d warm-up, SRs under %s\n", driver, n, w, root);
	printf("%-40s %5s %8s %8s %8s %8s %8s %8s %8s\n", "call (wall ms per call)", "n",
	       "median", "p10", "p90", "min", "max", "cpu-med", "-floor");

	/* The floor: the same fork/exec/pipe/wait around a program doing nothing. */
	req = request("sr_get_driver_info", NULL, NULL, 0, NULL);
	if (wanted(only, "floor")) {
		for (int i = 0; i < total; i++) {
			spawn(floor_bin, req, &r);
			if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
				die("%s exited with status %d", floor_bin, r.status);
			free(r.out);
			t[i] = r.ms;
			cpu[i] = last_cpu;
		}
		snprintf(label, sizeof(label), "spawn floor (%s)", floor_bin);
		report(label, t + w, cpu + w, n);
		qsort(t + w, (size_t)n, sizeof(*t), cmp_d);
		floor_median = pct(t + w, n, 0.5);
	}

	if (wanted(only, "info")) {
		for (int i = 0; i < total; i++) {
			t[i] = call("sr_get_driver_info", req, &r);
			cpu[i] = last_cpu;
			if (!strstr(r.out, "VDI_SNAPSHOT"))
				die("sr_get_driver_info without capabilities:\n%s", r.out);
			free(r.out);
		}
		report("sr_get_driver_info", t + w, cpu + w, n);
	}
	free(req);

	/* SR a: vdi_create, then snapshots of the VDIs it made. */
	if (wanted(only, "create") || wanted(only, "snapshot") || wanted(only, "snapshot_deep")) {
		char (*vdis)[37] = calloc((size_t)total, 37), snap[37];

		if (!vdis)
			die("out of memory");
		make_sr(&a, "sr-a");
		for (int i = 0; i < total; i++) {
			t[i] = create_vdi(&a, vdis[i]);
			cpu[i] = last_cpu;
		}
		if (wanted(only, "create")) {
			if (strcmp(vdi_size, "1073741824") == 0)
				snprintf(label, sizeof(label), "vdi_create 1 GiB");
			else
				snprintf(label, sizeof(label), "vdi_create %llu MiB",
					 strtoull(vdi_size, NULL, 10) >> 20);
			report(label, t + w, cpu + w, n);
		}
		if (wanted(only, "snapshot")) {
			for (int i = 0; i < total; i++)
				fill_blocks(&a, vdis[i]);
			for (int i = 0; i < total; i++) {
				t[i] = snapshot_vdi(&a, vdis[i], snap);
				cpu[i] = last_cpu;
			}
			snprintf(label, sizeof(label), "vdi_snapshot (fresh VDI, depth 1)");
			report(label, t + w, cpu + w, n);
		}
		if (wanted(only, "snapshot_deep")) {
			int k = (total + MAX_DEPTH_PER_VDI - 1) / MAX_DEPTH_PER_VDI;

			for (int i = 0; i < k; i++)
				create_vdi(&a, vdis[i]);
			for (int i = 0; i < total; i++) {
				t[i] = snapshot_vdi(&a, vdis[i % k], snap);
				cpu[i] = last_cpu;
			}
			snprintf(label, sizeof(label), "vdi_snapshot (depth 1-%d)", (total + k - 1) / k);
			report(label, t + w, cpu + w, n);
		}
		free(vdis);
	}

	/* SR s: exactly scan_vdis plain VDIs. */
	if (wanted(only, "scan")) {
		char u[37];

		make_sr(&s, "sr-scan");
		for (int i = 0; i < scan_vdis; i++)
			create_vdi(&s, u);
		req = request("sr_scan", &s, NULL, 0, NULL);
		for (int i = 0; i < total; i++) {
			t[i] = scan(&s, req, (size_t)scan_vdis);
			cpu[i] = last_cpu;
		}
		free(req);
		snprintf(label, sizeof(label), "sr_scan (%d VDIs)", scan_vdis);
		report(label, t + w, cpu + w, n);
	}

	/* SR m: scan_vdis/2 VDIs, each snapshotted once. */
	if (wanted(only, "scan_mixed")) {
		int half = scan_vdis / 2;
		char u[37], snap[37];

		make_sr(&m, "sr-mixed");
		for (int i = 0; i < half; i++) {
			create_vdi(&m, u);
			snapshot_vdi(&m, u, snap);
		}
		req = request("sr_scan", &m, NULL, 0, NULL);
		for (int i = 0; i < total; i++) {
			t[i] = scan(&m, req, (size_t)(3 * half));
			cpu[i] = last_cpu;
		}
		free(req);
		snprintf(label, sizeof(label), "sr_scan (%d VDIs+%d snaps+%d bases)", half, half, half);
		report(label, t + w, cpu + w, n);
	}

	free(t);
	free(cpu);
	cleanup();
	return 0;
}
