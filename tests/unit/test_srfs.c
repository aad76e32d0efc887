/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of srfs over a local directory: every op with its -errno
 * returns, names that try to leave the root, listing, the whole-file
 * helpers (atomic replace, size bound) and the opener the chain code uses;
 * confinement: symbolic links (at the name or on the way), FIFOs,
 * sockets, devices and directories under an image's name are refused at
 * once and never followed.  In test builds the whole suite runs twice:
 * with openat2 and with the component-by-component walk of older kernels.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "csm/srfs.h"
#include "csm/vhd.h"

struct fixture {
	char dir[64];
	struct srfs fs;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sm_error err = { 0 };

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_srfs.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	if (srfs_open_posix(&f->fs, f->dir, &err) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	srfs_close(&f->fs);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void put_file(struct fixture *f, const char *rel, const char *data)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(data, fp);
	fclose(fp);
}

static void test_open_errors(void **state)
{
	struct srfs fs;
	struct sm_error err = { 0 };

	assert_int_equal(srfs_open_posix(&fs, "/nonexistent/sr", &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	assert_non_null(strstr(err.detail, "/nonexistent/sr"));
	sm_error_clear(&err);
	assert_int_equal(srfs_open_posix(&fs, "/etc/passwd", &err), -1);
	assert_int_equal(err.code, SME_SR_UNAVAILABLE);
	srfs_close(&fs);	/* safe on a failed open */
}

static void test_root_and_describe(void **state)
{
	struct fixture *f = *state;
	struct srfs fs;
	struct sm_error err = { 0 };
	char slashed[80], out[256];

	snprintf(slashed, sizeof(slashed), "%s//", f->dir);
	assert_int_equal(srfs_open_posix(&fs, slashed, &err), 0);
	assert_string_equal(fs.root, f->dir);
	assert_string_equal(fs.ops->name, "posix");
	srfs_describe(&fs, "", out, sizeof(out));
	assert_string_equal(out, f->dir);
	srfs_describe(&fs, "a.vhd", out, sizeof(out));
	assert_true(strncmp(out, f->dir, strlen(f->dir)) == 0);
	assert_string_equal(out + strlen(f->dir), "/a.vhd");
	srfs_close(&fs);
}

static void test_stat_exists(void **state)
{
	struct fixture *f = *state;
	struct srfs_stat st;

	put_file(f, "a", "hello");
	assert_int_equal(f->fs.ops->stat(&f->fs, "a", &st), 0);
	assert_int_equal(st.size, 5);
	assert_true(st.is_reg);
	assert_false(st.is_dir);
	assert_int_equal(st.nlink, 1);
	assert_true(st.mtime > 0);
	assert_int_equal(f->fs.ops->stat(&f->fs, "", &st), 0);
	assert_true(st.is_dir);
	assert_int_equal(f->fs.ops->stat(&f->fs, "missing", &st), -ENOENT);
	assert_int_equal(srfs_lookup(&f->fs, "a"), 1);
	assert_int_equal(srfs_lookup(&f->fs, ""), 1);
	assert_int_equal(srfs_lookup(&f->fs, "missing"), 0);
}

static void test_names_outside_root(void **state)
{
	struct fixture *f = *state;
	struct srfs_stat st;
	struct vhd_io io;
	struct sm_error err = { 0 };

	assert_int_equal(f->fs.ops->stat(&f->fs, "/etc/passwd", &st), -EINVAL);
	assert_int_equal(f->fs.ops->stat(&f->fs, "../x", &st), -EINVAL);
	assert_int_equal(f->fs.ops->stat(&f->fs, "a/../../x", &st), -EINVAL);
	assert_int_equal(f->fs.ops->open(&f->fs, "../x", VHD_IO_RDONLY, &io, &err), -EINVAL);
	assert_int_equal(err.code, SME_VDI_LOAD);
	assert_int_equal(f->fs.ops->unlink(&f->fs, ""), -EINVAL);
	assert_int_equal(f->fs.ops->rename(&f->fs, "a", "/tmp/x"), -EINVAL);
	assert_int_equal(f->fs.ops->link(&f->fs, "../a", "b"), -EINVAL);
	assert_int_equal(f->fs.ops->mkdir(&f->fs, "..", 0755), -EINVAL);
	assert_int_equal(f->fs.ops->rmdir(&f->fs, ""), -EINVAL);
	/* ".." inside a longer name is just a name. */
	assert_int_equal(f->fs.ops->stat(&f->fs, "a..b", &st), -ENOENT);
}

static void test_open_create_rw(void **state)
{
	struct fixture *f = *state;
	struct sm_error err = { 0 };
	struct vhd_io io;
	uint64_t size;
	int64_t mtime;
	char buf[6] = { 0 };

	assert_int_equal(f->fs.ops->open(&f->fs, "img", VHD_IO_CREATE, &io, &err), 0);
	assert_int_equal(io.ops->pwrite(&io, "abcdef", 6, 0), 0);
	assert_int_equal(io.ops->sync(&io), 0);
	assert_int_equal(io.ops->get_size(&io, &size), 0);
	assert_int_equal(size, 6);
	assert_int_equal(io.ops->get_mtime(&io, &mtime), 0);
	assert_true(mtime > 0);
	assert_int_equal(io.ops->truncate(&io, 3), 0);
	vhd_io_close(&io);

	/* CREATE never clobbers. */
	assert_int_equal(f->fs.ops->open(&f->fs, "img", VHD_IO_CREATE, &io, &err), -EEXIST);
	assert_int_equal(err.code, SME_VDI_EXISTS);
	sm_error_clear(&err);
	assert_int_equal(f->fs.ops->open(&f->fs, "nope", VHD_IO_RDONLY, &io, &err), -ENOENT);
	assert_int_equal(err.code, SME_VDI_MISSING);
	assert_non_null(strstr(err.detail, "nope"));
	sm_error_clear(&err);

	assert_int_equal(f->fs.ops->open(&f->fs, "img", VHD_IO_RDONLY, &io, &err), 0);
	assert_int_equal(io.ops->pread(&io, buf, 3, 0), 0);
	assert_string_equal(buf, "abc");
	assert_int_equal(io.ops->pread(&io, buf, 4, 0), -EIO);	/* short at EOF */
	assert_int_equal(io.ops->pwrite(&io, "x", 1, 0), -EBADF);
	vhd_io_close(&io);
}

static void test_link_rename_unlink(void **state)
{
	struct fixture *f = *state;
	struct srfs_stat st;

	put_file(f, "a", "1");
	put_file(f, "b", "22");
	assert_int_equal(f->fs.ops->link(&f->fs, "a", "c"), 0);
	assert_int_equal(f->fs.ops->stat(&f->fs, "a", &st), 0);
	assert_int_equal(st.nlink, 2);
	assert_int_equal(f->fs.ops->link(&f->fs, "a", "b"), -EEXIST);
	assert_int_equal(f->fs.ops->link(&f->fs, "nope", "d"), -ENOENT);

	/* rename replaces its target */
	assert_int_equal(f->fs.ops->rename(&f->fs, "b", "c"), 0);
	assert_int_equal(f->fs.ops->stat(&f->fs, "c", &st), 0);
	assert_int_equal(st.size, 2);
	assert_int_equal(srfs_lookup(&f->fs, "b"), 0);
	assert_int_equal(f->fs.ops->rename(&f->fs, "b", "x"), -ENOENT);

	assert_int_equal(f->fs.ops->unlink(&f->fs, "c"), 0);
	assert_int_equal(f->fs.ops->unlink(&f->fs, "c"), -ENOENT);
	assert_int_equal(f->fs.ops->stat(&f->fs, "a", &st), 0);
	assert_int_equal(st.nlink, 1);
}

static void test_mkdir_rmdir_sync(void **state)
{
	struct fixture *f = *state;
	struct srfs_stat st;

	assert_int_equal(f->fs.ops->mkdir(&f->fs, "d", 0755), 0);
	assert_int_equal(f->fs.ops->mkdir(&f->fs, "d", 0755), -EEXIST);
	assert_int_equal(f->fs.ops->mkdir(&f->fs, "x/y", 0755), -ENOENT);
	assert_int_equal(f->fs.ops->stat(&f->fs, "d", &st), 0);
	assert_true(st.is_dir);
	put_file(f, "d/f", "z");
	assert_int_equal(f->fs.ops->sync_dir(&f->fs, "d"), 0);
	assert_int_equal(f->fs.ops->sync_dir(&f->fs, ""), 0);
	assert_int_equal(f->fs.ops->sync_dir(&f->fs, "nope"), -ENOENT);
	assert_int_equal(f->fs.ops->sync_dir(&f->fs, "d/f"), -ENOTDIR);
	assert_int_equal(f->fs.ops->rmdir(&f->fs, "d"), -ENOTEMPTY);
	assert_int_equal(f->fs.ops->unlink(&f->fs, "d"), -EISDIR);
	assert_int_equal(f->fs.ops->unlink(&f->fs, "d/f"), 0);
	assert_int_equal(f->fs.ops->rmdir(&f->fs, "d"), 0);
	assert_int_equal(f->fs.ops->rmdir(&f->fs, "d"), -ENOENT);
}

struct seen {
	char names[8][32];
	int n;
	int stop_after;
};

static int collect(void *arg, const char *name)
{
	struct seen *s = arg;

	if (s->n < 8)
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct seen s = { 0 };

	assert_int_equal(f->fs.ops->list(&f->fs, "", collect, &s), 0);
	assert_int_equal(s.n, 0);
	put_file(f, "b.vhd", "");
	put_file(f, "a.vhd", "");
	assert_int_equal(f->fs.ops->mkdir(&f->fs, "sub", 0755), 0);
	put_file(f, "sub/c", "");
	assert_int_equal(f->fs.ops->list(&f->fs, "", collect, &s), 0);
	assert_int_equal(s.n, 3);
	qsort(s.names, 3, sizeof(s.names[0]), cmp_names);
	assert_string_equal(s.names[0], "a.vhd");
	assert_string_equal(s.names[1], "b.vhd");
	assert_string_equal(s.names[2], "sub");

	memset(&s, 0, sizeof(s));
	assert_int_equal(f->fs.ops->list(&f->fs, "sub", collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.names[0], "c");

	/* a non-zero return stops the listing */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	assert_int_equal(f->fs.ops->list(&f->fs, "", collect, &s), 0);
	assert_int_equal(s.n, 1);

	assert_int_equal(f->fs.ops->list(&f->fs, "nope", collect, &s), -ENOENT);
	assert_int_equal(f->fs.ops->list(&f->fs, "a.vhd", collect, &s), -ENOTDIR);
}

static void test_statvfs(void **state)
{
	struct fixture *f = *state;
	uint64_t size = 0, used = ~0ull;

	assert_int_equal(f->fs.ops->statvfs(&f->fs, &size, &used), 0);
	assert_true(size > 0);
	assert_true(used <= size);
}

static int count_entries(void *arg, const char *name)
{
	(*(int *)arg)++;
	return 0;
}

static void test_read_write_file(void **state)
{
	struct fixture *f = *state;
	char *data = NULL;
	int n = 0;

	assert_int_equal(srfs_read_file(&f->fs, "meta", 100, &data), -ENOENT);
	assert_null(data);
	assert_int_equal(srfs_write_file_atomic(&f->fs, "meta", "first", 5), 0);
	assert_int_equal(srfs_read_file(&f->fs, "meta", 100, &data), 0);
	assert_string_equal(data, "first");
	free(data);

	/* replace: the new content, and no temporary left behind */
	assert_int_equal(srfs_write_file_atomic(&f->fs, "meta", "second!", 7), 0);
	assert_int_equal(srfs_read_file(&f->fs, "meta", 100, &data), 0);
	assert_string_equal(data, "second!");
	free(data);
	assert_int_equal(f->fs.ops->list(&f->fs, "", count_entries, &n), 0);
	assert_int_equal(n, 1);

	/* bounded reads */
	assert_int_equal(srfs_read_file(&f->fs, "meta", 6, &data), -EFBIG);
	assert_null(data);
	assert_int_equal(srfs_read_file(&f->fs, "meta", 7, &data), 0);
	free(data);

	/* empty files, subdirectories */
	assert_int_equal(f->fs.ops->mkdir(&f->fs, "j", 0755), 0);
	assert_int_equal(srfs_write_file_atomic(&f->fs, "j/empty", "", 0), 0);
	assert_int_equal(srfs_read_file(&f->fs, "j/empty", 10, &data), 0);
	assert_string_equal(data, "");
	free(data);

	/* a missing directory fails and leaves nothing */
	assert_int_equal(srfs_write_file_atomic(&f->fs, "nodir/x", "a", 1), -ENOENT);
	assert_int_equal(srfs_read_file(&f->fs, "j", 1 << 20, &data), -EISDIR);
}

static void test_write_atomic_stale_tmp(void **state)
{
	struct fixture *f = *state;
	char tmp[64], *data = NULL;

	/* a temporary a dead run with our pid left is replaced, not an error */
	snprintf(tmp, sizeof(tmp), "meta.tmp.%ld", (long)getpid());
	put_file(f, tmp, "stale stale stale");
	assert_int_equal(srfs_write_file_atomic(&f->fs, "meta", "ok", 2), 0);
	assert_int_equal(srfs_lookup(&f->fs, tmp), 0);
	assert_int_equal(srfs_read_file(&f->fs, "meta", 10, &data), 0);
	assert_string_equal(data, "ok");
	free(data);
}

static void test_write_atomic_keeps_old_on_failure(void **state)
{
	struct fixture *f = *state;
	char *data = NULL;

	assert_int_equal(srfs_write_file_atomic(&f->fs, "meta", "old", 3), 0);
	/* a directory where the rename must land: the rename fails, old data stays */
	assert_int_equal(f->fs.ops->mkdir(&f->fs, "d", 0755), 0);
	assert_true(srfs_write_file_atomic(&f->fs, "d", "new", 3) < 0);
	assert_int_equal(srfs_read_file(&f->fs, "meta", 10, &data), 0);
	assert_string_equal(data, "old");
	free(data);
	{
		int n = 0;

		assert_int_equal(f->fs.ops->list(&f->fs, "", count_entries, &n), 0);
		assert_int_equal(n, 2);	/* meta, d: the temporary went */
	}
}

static void test_opener(void **state)
{
	struct fixture *f = *state;
	const struct vhd_opener *op = srfs_opener(&f->fs);
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_io io;

	assert_int_equal(op->open(op->arg, "d.vhd", VHD_IO_CREATE, &io, &err), 0);
	assert_int_equal(vhd_create_dynamic(&io, 8 << 20, &err), 0);
	vhd_io_close(&io);
	/* "./" as the chain code's locator joins produce it */
	assert_int_equal(op->open(op->arg, "./d.vhd", VHD_IO_RDONLY, &io, &err), 0);
	assert_int_equal(vhd_query(&io, &info, &err), 0);
	assert_int_equal(info.virtual_size, 8 << 20);
	vhd_io_close(&io);
	assert_true(op->open(op->arg, "x.vhd", VHD_IO_RDONLY, &io, &err) < 0);
	assert_int_equal(err.code, SME_VDI_MISSING);
}


/* ---- confinement ---------------------------------------------------------- */

#define IMG "0f6c3a52-8a59-4f0c-9d2e-6b1f2a3c4d5e.vhd"

/* A directory outside the SR, with a file that must never change. */
static void make_outside(char *dir, size_t cap, char *victim, size_t vcap)
{
	FILE *fp;

	snprintf(dir, cap, "/tmp/test_srfs_out.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(victim, vcap, "%s/victim", dir);
	fp = fopen(victim, "w");
	assert_non_null(fp);
	fputs("precious", fp);
	fclose(fp);
}

static void expect_untouched(const char *victim)
{
	char buf[32] = { 0 };
	FILE *fp = fopen(victim, "r");
	struct stat st;

	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "precious");
	assert_int_equal(lstat(victim, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

static void rm_rf(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* open must fail at once with want, SME_VDI_LOAD and what the name is. */
static void expect_refused(struct fixture *f, const char *rel, int flags, int want,
			   const char *kind)
{
	struct sm_error err = { 0 };
	struct vhd_io io;

	alarm(10);      /* a blocking open would hang: die instead */
	assert_int_equal(f->fs.ops->open(&f->fs, rel, flags, &io, &err), want);
	alarm(0);
	assert_int_equal(err.code, SME_VDI_LOAD);
	assert_non_null(strstr(err.detail, "not a regular file"));
	if (kind && !strstr(err.detail, kind))
		fail_msg("'%s' does not say '%s'", err.detail, kind);
	assert_null(io.ops);
}

static void test_symlink_outside(void **state)
{
	struct fixture *f = *state;
	char out[64], victim[96], path[256], *data = NULL;
	struct srfs_stat st;
	struct sm_error err = { 0 };
	struct vhd_io io;

	make_outside(out, sizeof(out), victim, sizeof(victim));
	snprintf(path, sizeof(path), "%s/" IMG, f->dir);
	assert_int_equal(symlink(victim, path), 0);

	expect_refused(f, IMG, VHD_IO_RDONLY, -ELOOP, "symbolic link");
	expect_refused(f, IMG, VHD_IO_RDWR, -ELOOP, "symbolic link");
	/* an exclusive create never writes through an existing name */
	assert_int_equal(f->fs.ops->open(&f->fs, IMG, VHD_IO_CREATE, &io, &err), -EEXIST);
	assert_int_equal(err.code, SME_VDI_EXISTS);
	/* stat sees the link, not its target */
	assert_int_equal(f->fs.ops->stat(&f->fs, IMG, &st), 0);
	assert_false(st.is_reg);
	assert_false(st.is_dir);
	assert_int_equal(srfs_read_file(&f->fs, IMG, 100, &data), -ELOOP);
	assert_null(data);
	/* a second name for it is a second name for the link */
	assert_int_equal(f->fs.ops->link(&f->fs, IMG, "copy.vhd"), 0);
	expect_refused(f, "copy.vhd", VHD_IO_RDWR, -ELOOP, NULL);
	/* replacing and removing it act on the link */
	assert_int_equal(srfs_write_file_atomic(&f->fs, "copy.vhd", "new", 3), 0);
	assert_int_equal(f->fs.ops->unlink(&f->fs, IMG), 0);
	expect_untouched(victim);
	rm_rf(out);
}

static void test_symlink_inside(void **state)
{
	struct fixture *f = *state;
	struct sm_error err = { 0 };
	struct vhd_io io;
	char path[256];

	put_file(f, "a.vhd", "image");
	snprintf(path, sizeof(path), "%s/b.vhd", f->dir);
	assert_int_equal(symlink("a.vhd", path), 0);
	expect_refused(f, "b.vhd", VHD_IO_RDONLY, -ELOOP, "symbolic link");
	assert_int_equal(f->fs.ops->open(&f->fs, "a.vhd", VHD_IO_RDWR, &io, &err), 0);
	vhd_io_close(&io);
}

static void test_fifo(void **state)
{
	struct fixture *f = *state;
	char path[256], *data = NULL;

	snprintf(path, sizeof(path), "%s/" IMG, f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_refused(f, IMG, VHD_IO_RDONLY, -EINVAL, "FIFO");
	expect_refused(f, IMG, VHD_IO_RDWR, -EINVAL, "FIFO");
	alarm(10);
	assert_int_equal(srfs_read_file(&f->fs, IMG, 100, &data), -EINVAL);
	alarm(0);
	assert_null(data);
}

static void test_directory_named_image(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(f->fs.ops->mkdir(&f->fs, IMG, 0755), 0);
	expect_refused(f, IMG, VHD_IO_RDONLY, -EISDIR, "directory");
	expect_refused(f, IMG, VHD_IO_RDWR, -EISDIR, "directory");
	expect_refused(f, "", VHD_IO_RDONLY, -EISDIR, "directory");
}

static void test_device_and_socket(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[256];
	int sock;

	/* /dev/null's numbers: opening it would succeed, reading it give nothing */
	snprintf(path, sizeof(path), "%s/" IMG, f->dir);
	if (mknod(path, S_IFCHR | 0600, makedev(1, 3)) == 0) {
		expect_refused(f, IMG, VHD_IO_RDONLY, -EINVAL, "character device");
		expect_refused(f, IMG, VHD_IO_RDWR, -EINVAL, "character device");
		unlink(path);
	} else {
		print_message("mknod: %s (no CAP_MKNOD): device case skipped\n", strerror(errno));
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s.vhd", f->dir);
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(sock >= 0);
	assert_int_equal(bind(sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	expect_refused(f, "s.vhd", VHD_IO_RDONLY, -EINVAL, NULL);
	close(sock);
}

/* A directory on the way that is a symbolic link: nothing behind it is reached. */
static void test_symlinked_directory(void **state)
{
	struct fixture *f = *state;
	char out[64], victim[96], path[256], *data = NULL;
	struct srfs_stat st;
	struct seen s = { 0 };
	struct stat sb;

	make_outside(out, sizeof(out), victim, sizeof(victim));
	put_file(f, "a", "1");
	snprintf(path, sizeof(path), "%s/sub", f->dir);
	assert_int_equal(symlink(out, path), 0);
	assert_int_equal(f->fs.ops->mkdir(&f->fs, "d", 0755), 0);
	snprintf(path, sizeof(path), "%s/d/deep", f->dir);
	assert_int_equal(symlink(out, path), 0);

	for (int i = 0; i < 2; i++) {
		const char *dir = i ? "d/deep" : "sub";
		char rel[64], rel2[64];

		snprintf(rel, sizeof(rel), "%s/victim", dir);
		expect_refused(f, rel, VHD_IO_RDONLY, -ELOOP, "symbolic link");
		expect_refused(f, rel, VHD_IO_RDWR, -ELOOP, "symbolic link");
		assert_int_equal(f->fs.ops->stat(&f->fs, rel, &st), -ELOOP);
		assert_int_equal(f->fs.ops->unlink(&f->fs, rel), -ELOOP);
		assert_int_equal(srfs_read_file(&f->fs, rel, 100, &data), -ELOOP);
		assert_int_equal(f->fs.ops->list(&f->fs, dir, collect, &s), -ELOOP);
		assert_int_equal(f->fs.ops->sync_dir(&f->fs, dir), -ELOOP);
		snprintf(rel2, sizeof(rel2), "%s/new", dir);
		assert_int_equal(f->fs.ops->mkdir(&f->fs, rel2, 0755), -ELOOP);
		assert_int_equal(f->fs.ops->rename(&f->fs, "a", rel2), -ELOOP);
		assert_int_equal(f->fs.ops->link(&f->fs, "a", rel2), -ELOOP);
		assert_int_equal(f->fs.ops->rename(&f->fs, rel, "b"), -ELOOP);
		assert_true(srfs_write_file_atomic(&f->fs, rel2, "x", 1) < 0);
		assert_true(srfs_write_file_atomic(&f->fs, rel, "x", 1) < 0);
	}
	expect_untouched(victim);
	snprintf(path, sizeof(path), "%s/new", out);
	assert_int_equal(lstat(path, &sb), -1);
	assert_int_equal(s.n, 0);
	/* The links themselves are names in the SR: they can be removed. */
	assert_int_equal(f->fs.ops->unlink(&f->fs, "sub"), 0);
	assert_int_equal(f->fs.ops->unlink(&f->fs, "d/deep"), 0);
	expect_untouched(victim);
	rm_rf(out);
}

/* Real subdirectories, several levels, "." and doubled slashes: all fine. */
static void test_nested_names(void **state)
{
	struct fixture *f = *state;
	struct sm_error err = { 0 };
	struct srfs_stat st;
	struct vhd_io io;
	char *data = NULL;

	assert_int_equal(f->fs.ops->mkdir(&f->fs, "a", 0755), 0);
	assert_int_equal(f->fs.ops->mkdir(&f->fs, "a/b", 0755), 0);
	assert_int_equal(srfs_write_file_atomic(&f->fs, "a/b/c", "deep", 4), 0);
	assert_int_equal(srfs_read_file(&f->fs, "./a//b/c", 10, &data), 0);
	assert_string_equal(data, "deep");
	free(data);
	assert_int_equal(f->fs.ops->stat(&f->fs, "a/./b/c", &st), 0);
	assert_true(st.is_reg);
	assert_int_equal(f->fs.ops->open(&f->fs, "a/b/new", VHD_IO_CREATE, &io, &err), 0);
	vhd_io_close(&io);
	assert_int_equal(f->fs.ops->link(&f->fs, "a/b/new", "a/n2"), 0);
	assert_int_equal(f->fs.ops->rename(&f->fs, "a/n2", "top"), 0);
	assert_int_equal(f->fs.ops->unlink(&f->fs, "top"), 0);
	assert_int_equal(f->fs.ops->sync_dir(&f->fs, "a/b"), 0);
	assert_int_equal(f->fs.ops->open(&f->fs, "a/nope/x", VHD_IO_RDONLY, &io, &err), -ENOENT);
	assert_int_equal(err.code, SME_VDI_MISSING);
	assert_int_equal(f->fs.ops->stat(&f->fs, "a/b/c/d", &st), -ENOTDIR);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_errors),
		T(test_root_and_describe),
		T(test_stat_exists),
		T(test_names_outside_root),
		T(test_open_create_rw),
		T(test_link_rename_unlink),
		T(test_mkdir_rmdir_sync),
		T(test_list),
		T(test_statvfs),
		T(test_read_write_file),
		T(test_write_atomic_stale_tmp),
		T(test_write_atomic_keeps_old_on_failure),
		T(test_opener),
		T(test_symlink_outside),
		T(test_symlink_inside),
		T(test_fifo),
		T(test_directory_named_image),
		T(test_device_and_socket),
		T(test_symlinked_directory),
		T(test_nested_names),
	};
	int rc = cmocka_run_group_tests_name("srfs posix", tests, NULL, NULL);

#ifdef CSM_TEST_BUILD
	/* Kernels before 5.6 have no openat2: the walk by hand must hold the same line. */
	setenv("CSM_SRFS_NO_OPENAT2", "1", 1);
	rc |= cmocka_run_group_tests_name("srfs posix, component walk", tests, NULL, NULL);
#endif
	return rc;
}
