/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Exercise srfs over NFS (libnfs) against a test server; driven by
 * tests/integration/test_srfs_nfs.sh.
 *
 *   srfs_probe ops <server> <export> <version>
 *   srfs_probe outage|hang <server> <export> <version> <timeout_ms> <server.sh> <workdir>
 *       outage: ganesha stopped then restarted; hang: frozen (SIGSTOP) then thawed
 *   srfs_probe budget <server> <export> <version> <timeout_ms> <server.sh> <workdir>
 *       a lazy open with a budget of timeout_ms, ganesha frozen: the open
 *       costs nothing, three calls together one bound; thawed: it works
 *   srfs_probe open <server> <export> <version> <timeout_ms>   (prints the error code)
 *   srfs_probe exports <server> <timeout_ms>
 *
 * Prints what it checked; exits non-zero at the first surprise.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csm/srfs.h"
#include "csm/srfs_nfs.h"
#include "csm/vhd.h"
#include "csm/vhdchain.h"

#define MiB (1024ull * 1024)

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
			exit(1);                                             \
		}                                                            \
	} while (0)

#define CHECK_RC(expr, want)                                                 \
	do {                                                                 \
		int rc_ = (expr);                                            \
		CHECK(rc_ == (want), "%s = %d (%s), want %d", #expr, rc_,    \
		      rc_ < 0 ? strerror(-rc_) : "ok", (want));              \
	} while (0)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void open_nfs(struct srfs *fs, char **argv, int timeout_ms)
{
	struct srfs_nfs_opts o = {
		.server = argv[0], .export_path = argv[1], .version = atoi(argv[2]),
		.timeout_ms = timeout_ms,
	};
	struct sm_error err = { 0 };

	CHECK(srfs_open_nfs(fs, &o, &err) == 0, "srfs_open_nfs: %s [%s]",
	      sm_error_name(err.code), err.detail);
}

static int count_fn(void *arg, const char *name)
{
	int *n = arg;

	if (strstr(name, ".vhd"))
		n[0]++;
	n[1]++;
	return 0;
}

static void ops_images(struct srfs *fs)
{
	const struct vhd_opener *op = srfs_opener(fs);
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_chain ch;
	struct vhd_io io, pio;
	char buf[4096], back[4096];

	CHECK_RC(fs->ops->open(fs, "sr/base.vhd", VHD_IO_CREATE, &io, &err), 0);
	CHECK_RC(vhd_create_dynamic(&io, 64 * MiB, &err), 0);
	memset(buf, 0xa5, sizeof(buf));
	CHECK(vhd_write(&io, buf, sizeof(buf), 3 * MiB, &err) == 0, "vhd_write: %s", err.detail);
	CHECK_RC(io.ops->sync(&io), 0);
	vhd_io_close(&io);
	CHECK_RC(fs->ops->open(fs, "sr/base.vhd", VHD_IO_CREATE, &io, &err), -EEXIST);
	CHECK(err.code == SME_VDI_EXISTS, "create over existing: %d", err.code);
	sm_error_clear(&err);

	CHECK_RC(fs->ops->open(fs, "sr/base.vhd", VHD_IO_RDONLY, &io, &err), 0);
	CHECK_RC(vhd_query(&io, &info, &err), 0);
	CHECK(info.virtual_size == 64 * MiB && info.allocated_blocks == 1,
	      "query: size %llu blocks %u", (unsigned long long)info.virtual_size,
	      info.allocated_blocks);
	vhd_io_close(&io);
	printf("vhd_create_dynamic + vhd_write + vhd_query over nfs: ok\n");

	/* a child, then the chain read through the opener (parent found by locator) */
	CHECK_RC(fs->ops->open(fs, "sr/base.vhd", VHD_IO_RDONLY, &pio, &err), 0);
	CHECK_RC(fs->ops->open(fs, "sr/leaf.vhd", VHD_IO_CREATE, &io, &err), 0);
	CHECK_RC(vhd_create_diff(&io, &pio, "./base.vhd", 0, &err), 0);
	vhd_io_close(&io);
	vhd_io_close(&pio);
	CHECK(vhd_chain_open_with(&ch, op, "sr/leaf.vhd", false, &err) == 0, "chain: %s",
	      err.detail);
	CHECK(ch.depth == 2, "depth %zu", ch.depth);
	CHECK_RC(vhd_chain_read(&ch, back, sizeof(back), 3 * MiB, &err), 0);
	CHECK(memcmp(buf, back, sizeof(buf)) == 0, "chain read differs");
	vhd_chain_close(&ch);
	CHECK(vhd_check_with(op, "sr/leaf.vhd", true, &err) == 0, "check: %s", err.detail);
	printf("chain over the srfs opener: ok\n");
}

static void ops_names(struct srfs *fs)
{
	struct srfs_stat st;
	uint64_t size, used;
	char *data = NULL;
	int n[2] = { 0, 0 };

	CHECK_RC(fs->ops->link(fs, "sr/base.vhd", "sr/base.vhd.new"), 0);
	CHECK_RC(fs->ops->stat(fs, "sr/base.vhd", &st), 0);
	CHECK(st.nlink == 2 && st.is_reg, "nlink %u", st.nlink);
	CHECK_RC(fs->ops->link(fs, "sr/base.vhd", "sr/leaf.vhd"), -EEXIST);
	CHECK_RC(fs->ops->rename(fs, "sr/base.vhd.new", "sr/copy.vhd"), 0);
	CHECK(srfs_lookup(fs, "sr/base.vhd.new") == 0, "rename left the source");
	CHECK_RC(fs->ops->list(fs, "sr", count_fn, n), 0);
	CHECK(n[0] == 3 && n[1] == 3, "listed %d vhd of %d", n[0], n[1]);
	CHECK_RC(fs->ops->unlink(fs, "sr/copy.vhd"), 0);
	CHECK_RC(fs->ops->unlink(fs, "sr/copy.vhd"), -ENOENT);
	CHECK_RC(fs->ops->statvfs(fs, &size, &used), 0);
	CHECK(size > 0 && used <= size, "statvfs %llu %llu", (unsigned long long)size,
	      (unsigned long long)used);
	printf("link, rename, list, unlink, statvfs: ok\n");

	CHECK_RC(srfs_write_file_atomic(fs, "sr/meta", "one", 3), 0);
	CHECK_RC(srfs_write_file_atomic(fs, "sr/meta", "two!", 4), 0);
	CHECK_RC(srfs_read_file(fs, "sr/meta", 100, &data), 0);
	CHECK(strcmp(data, "two!") == 0, "read back '%s'", data);
	free(data);
	CHECK_RC(srfs_read_file(fs, "sr/meta", 2, &data), -EFBIG);
	CHECK_RC(fs->ops->sync_dir(fs, "sr"), 0);
	printf("read_file, write_file_atomic: ok\n");
}

static int cmd_ops(char **argv)
{
	struct srfs fs;
	struct srfs_stat st;

	open_nfs(&fs, argv, 5000);
	CHECK(strncmp(fs.root, "nfs://", 6) == 0, "root %s", fs.root);
	CHECK_RC(fs.ops->mkdir(&fs, "sr", 0755), 0);
	CHECK_RC(fs.ops->mkdir(&fs, "sr", 0755), -EEXIST);
	CHECK_RC(fs.ops->stat(&fs, "sr", &st), 0);
	CHECK(st.is_dir, "sr not a dir");
	CHECK_RC(fs.ops->stat(&fs, "nope", &st), -ENOENT);
	CHECK_RC(fs.ops->stat(&fs, "../etc", &st), -EINVAL);
	printf("mkdir, stat: ok\n");
	ops_images(&fs);
	ops_names(&fs);

	/* leave the export empty */
	CHECK_RC(fs.ops->rmdir(&fs, "sr"), -ENOTEMPTY);
	CHECK_RC(fs.ops->unlink(&fs, "sr/base.vhd"), 0);
	CHECK_RC(fs.ops->unlink(&fs, "sr/leaf.vhd"), 0);
	CHECK_RC(fs.ops->unlink(&fs, "sr/meta"), 0);
	CHECK_RC(fs.ops->rmdir(&fs, "sr"), 0);
	CHECK(srfs_lookup(&fs, "sr") == 0, "rmdir");
	srfs_close(&fs);
	printf("ops v%s: all ok\n", argv[2]);
	return 0;
}

static void run(const char *script, const char *verb, const char *workdir)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "'%s' %s '%s' >/dev/null", script, verb, workdir);
	CHECK(system(cmd) == 0, "%s", cmd);
}

static int cmd_outage(char **argv, bool hang)
{
	int timeout_ms = atoi(argv[3]);
	struct sm_error err = { 0 };
	struct srfs_stat st;
	struct vhd_io io;
	struct srfs fs;
	char buf[8] = { 0 };
	int64_t t0, dt;
	int rc;

	open_nfs(&fs, argv, timeout_ms);
	CHECK_RC(srfs_write_file_atomic(&fs, "outage", "survives", 8), 0);
	CHECK_RC(fs.ops->open(&fs, "outage", VHD_IO_RDONLY, &io, &err), 0);

	run(argv[4], hang ? "freeze-ganesha" : "stop-ganesha", argv[5]);
	t0 = now_ms();
	rc = fs.ops->stat(&fs, "outage", &st);
	dt = now_ms() - t0;
	printf("stat with the server gone: %d (%s) after %lld ms (bound %d ms)\n", rc,
	       rc < 0 ? strerror(-rc) : "ok", (long long)dt, timeout_ms);
	CHECK(rc == -ETIMEDOUT || (!hang && (rc == -ECONNREFUSED || rc == -ECONNRESET)),
	      "unexpected %d", rc);
	CHECK(dt < timeout_ms + 2000, "took %lld ms", (long long)dt);
	t0 = now_ms();
	rc = io.ops->pread(&io, buf, 8, 0);
	dt = now_ms() - t0;
	printf("pread with the server gone: %d (%s) after %lld ms\n", rc,
	       rc < 0 ? strerror(-rc) : "ok", (long long)dt);
	CHECK(rc < 0 && dt < timeout_ms + 2000, "pread %d in %lld ms", rc, (long long)dt);

	run(argv[4], hang ? "thaw-ganesha" : "start-ganesha", argv[5]);
	t0 = now_ms();
	rc = fs.ops->stat(&fs, "outage", &st);
	dt = now_ms() - t0;
	printf("stat after restart: %d after %lld ms\n", rc, (long long)dt);
	CHECK(rc == 0 && st.size == 8, "after restart: %d", rc);
	CHECK_RC(io.ops->pread(&io, buf, 8, 0), 0);
	CHECK(memcmp(buf, "survives", 8) == 0, "re-opened read");
	printf("open file re-opened after restart: ok\n");
	vhd_io_close(&io);
	CHECK_RC(fs.ops->unlink(&fs, "outage"), 0);
	srfs_close(&fs);
	return 0;
}

static int cmd_open(char **argv)
{
	struct srfs_nfs_opts o = {
		.server = argv[0], .export_path = argv[1], .version = atoi(argv[2]),
		.timeout_ms = atoi(argv[3]),
	};
	struct sm_error err = { 0 };
	struct srfs fs;
	int64_t t0 = now_ms();

	if (srfs_open_nfs(&fs, &o, &err) == 0) {
		printf("ok\n");
		srfs_close(&fs);
		return 0;
	}
	printf("%s %lld ms [%s]\n", sm_error_name(err.code), (long long)(now_ms() - t0),
	       err.detail);
	return 0;
}

static int cmd_exports(char **argv)
{
	struct sm_error err = { 0 };
	char **paths;
	size_t n;

	if (nfs_list_exports(argv[0], atoi(argv[1]), &paths, &n, &err) < 0) {
		printf("%s [%s]\n", sm_error_name(err.code), err.detail);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s\n", paths[i]);
	nfs_free_exports(paths, n);
	return 0;
}

static int cmd_budget(char **argv)
{
	struct srfs_nfs_opts o = {
		.server = argv[0], .export_path = argv[1], .version = atoi(argv[2]),
		.timeout_ms = atoi(argv[3]), .hard = true, .lazy = true, .budget_ms = atoi(argv[3]),
	};
	struct sm_error err = { 0 };
	struct srfs_stat st;
	struct srfs fs;
	size_t n = 0;
	int64_t t0, dt;

	run(argv[4], "freeze-ganesha", argv[5]);
	t0 = now_ms();
	CHECK(srfs_open_nfs(&fs, &o, &err) == 0, "lazy open: %s", err.detail);
	dt = now_ms() - t0;
	CHECK(dt < 200, "a lazy open took %lld ms", (long long)dt);
	t0 = now_ms();
	CHECK(fs.ops->stat(&fs, "x", &st) == -ETIMEDOUT, "stat on a frozen server");
	CHECK(fs.ops->unlink(&fs, "x") < 0, "unlink on a frozen server");
	CHECK(fs.ops->list(&fs, "", count_fn, &n) < 0, "list on a frozen server");
	dt = now_ms() - t0;
	printf("frozen server: lazy open free, three calls failed in %lld ms (budget %s ms)\n",
	       (long long)dt, argv[3]);
	CHECK(dt < o.budget_ms + 1000, "three calls took %lld ms", (long long)dt);
	srfs_close(&fs);
	run(argv[4], "thaw-ganesha", argv[5]);
	CHECK(srfs_open_nfs(&fs, &o, &err) == 0, "lazy open: %s", err.detail);
	CHECK_RC(srfs_write_file_atomic(&fs, "budget", "x", 1), 0);
	CHECK_RC(fs.ops->unlink(&fs, "budget"), 0);
	srfs_close(&fs);
	printf("thawed: a lazy open connects at its first call\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "ops"))
		return cmd_ops(argv + 2);
	if (argc == 8 && !strcmp(argv[1], "outage"))
		return cmd_outage(argv + 2, false);
	if (argc == 8 && !strcmp(argv[1], "hang"))
		return cmd_outage(argv + 2, true);
	if (argc == 8 && !strcmp(argv[1], "budget"))
		return cmd_budget(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "open"))
		return cmd_open(argv + 2);
	if (argc == 4 && !strcmp(argv[1], "exports"))
		return cmd_exports(argv + 2);
	fprintf(stderr, "usage: see tests/tools/srfs_probe.c\n");
	return 2;
}
