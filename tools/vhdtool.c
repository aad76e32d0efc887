/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * vhdtool: inspect and make VHD files with the project's VHD library, for
 * people and for the integration tests (no vhd-util needed).
 *
 *   vhdtool create <path> <size>          size in bytes or with M/G suffix
 *   vhdtool query <path>                  key=value lines
 *   vhdtool snapshot <child> <parent>     differencing child of parent
 *   vhdtool set-hidden <path> 0|1
 *   vhdtool grow <path> <size>            undo record in <path>.undo meanwhile
 *   vhdtool grow-undo <path>              roll back a grow cut short (crash)
 *   vhdtool write <path> <offset> <file|->
 *   vhdtool read <path> <offset> <len>    raw bytes to stdout
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csm/vhd.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: vhdtool create <path> <size>\n"
		"       vhdtool query <path>\n"
		"       vhdtool snapshot <child> <parent>\n"
		"       vhdtool set-hidden <path> 0|1\n"
		"       vhdtool grow <path> <size>\n"
		"       vhdtool grow-undo <path>\n"
		"       vhdtool write <path> <offset> <file|->\n"
		"       vhdtool read <path> <offset> <len>\n");
	return 1;
}

static int fail(const struct sm_error *err)
{
	const char *name = sm_error_name(err->code);

	fprintf(stderr, "vhdtool: %s%s%s\n", name ? name : "error",
		err->detail[0] ? ": " : "", err->detail);
	return 1;
}

/* Parse "123", "64M", "1G", "2T" (binary units). */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	if (!*s || *s == '-')
		return -1;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return -1;
	}
	if (*end && end[1] != '\0')
		return -1;
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int bad_number(const char *s)
{
	fprintf(stderr, "vhdtool: bad number '%s'\n", s);
	return 1;
}

static int cmd_create(const char *path, const char *size_s)
{
	struct sm_error err = { 0 };
	struct vhd_io io;
	uint64_t size;
	int rc;

	if (parse_size(size_s, &size) < 0)
		return bad_number(size_s);
	if (vhd_validate_size(size, &size, &err) < 0)
		return fail(&err);
	if (vhd_io_open_file(&io, path, VHD_IO_CREATE, &err) < 0)
		return fail(&err);
	rc = vhd_create_dynamic(&io, size, &err);
	vhd_io_close(&io);
	if (rc < 0) {
		unlink(path);
		return fail(&err);
	}
	return 0;
}

static const char *type_name(enum vhd_type t)
{
	switch (t) {
	case VHD_TYPE_FIXED:
		return "fixed";
	case VHD_TYPE_DYNAMIC:
		return "dynamic";
	case VHD_TYPE_DIFF:
		return "differencing";
	}
	return "unknown";
}

static int cmd_query(const char *path)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	char uuid[37], puuid[37];

	if (vhd_query_path(path, &info, &err) < 0)
		return fail(&err);
	vhd_uuid_format(info.uuid, uuid);
	vhd_uuid_format(info.parent_uuid, puuid);
	printf("virtual_size=%llu\n", (unsigned long long)info.virtual_size);
	printf("phys_size=%llu\n", (unsigned long long)info.phys_size);
	printf("type=%s\n", type_name(info.type));
	printf("hidden=%d\n", info.hidden ? 1 : 0);
	printf("uuid=%s\n", uuid);
	printf("parent_name=%s\n", info.parent_name);
	printf("parent_uuid=%s\n", info.type == VHD_TYPE_DIFF ? puuid : "");
	printf("parent_locator=%s\n", info.parent_locator);
	printf("allocated_blocks=%u\n", info.allocated_blocks);
	printf("max_bat_entries=%u\n", info.max_bat_entries);
	printf("has_batmap=%d\n", info.has_batmap ? 1 : 0);
	printf("creator=%s\n", info.creator);
	return 0;
}

/* The locator path blktap writes: relative to the child's directory. */
static char *relative_parent(const char *child, const char *parent)
{
	const char *cslash = strrchr(child, '/');
	const char *pslash = strrchr(parent, '/');
	size_t cdir = cslash ? (size_t)(cslash - child) : 0;
	size_t pdir = pslash ? (size_t)(pslash - parent) : 0;
	const char *base = pslash ? pslash + 1 : parent;
	char *out;

	if (cdir == pdir && strncmp(child, parent, cdir) == 0) {
		if (asprintf(&out, "./%s", base) < 0)
			return NULL;
		return out;
	}
	/* Different directories: an absolute path is still resolvable. */
	out = realpath(parent, NULL);
	return out;
}

static int cmd_snapshot(const char *child, const char *parent)
{
	struct sm_error err = { 0 };
	struct vhd_io cio, pio;
	char *rel;
	int rc;

	rel = relative_parent(child, parent);
	if (!rel) {
		fprintf(stderr, "vhdtool: cannot resolve parent path %s\n", parent);
		return 1;
	}
	if (vhd_io_open_file(&pio, parent, VHD_IO_RDONLY, &err) < 0) {
		free(rel);
		return fail(&err);
	}
	if (vhd_io_open_file(&cio, child, VHD_IO_CREATE, &err) < 0) {
		vhd_io_close(&pio);
		free(rel);
		return fail(&err);
	}
	rc = vhd_create_diff(&cio, &pio, rel, 0, &err);
	vhd_io_close(&cio);
	vhd_io_close(&pio);
	free(rel);
	if (rc < 0) {
		unlink(child);
		return fail(&err);
	}
	return 0;
}

static int cmd_set_hidden(const char *path, const char *v)
{
	struct sm_error err = { 0 };

	if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
		return bad_number(v);
	if (vhd_set_hidden_path(path, v[0] == '1', &err) < 0)
		return fail(&err);
	return 0;
}

static int undo_path(const char *path, char *out, size_t cap)
{
	if (snprintf(out, cap, "%s.undo", path) >= (int)cap) {
		fprintf(stderr, "vhdtool: path too long: %s\n", path);
		return -1;
	}
	return 0;
}

/*
 * A grow beyond the BAT moves blocks: the undo record goes to
 * <path>.undo, which exists only while a grow runs.  One left behind by a
 * crash must be rolled back (grow-undo) before the image is grown again.
 */
static int cmd_grow(const char *path, const char *size_s)
{
	struct sm_error err = { 0 }, err2 = { 0 };
	struct vhd_io io, undo;
	char upath[4096];
	uint64_t size;
	int rc;

	if (parse_size(size_s, &size) < 0)
		return bad_number(size_s);
	if (undo_path(path, upath, sizeof(upath)) < 0)
		return 1;
	if (vhd_io_open_file(&io, path, VHD_IO_RDWR, &err) < 0)
		return fail(&err);
	if (vhd_io_open_file(&undo, upath, VHD_IO_CREATE, &err) < 0) {
		vhd_io_close(&io);
		if (err.code == SME_VDI_EXISTS)
			fprintf(stderr, "vhdtool: %s exists: an earlier grow was cut short; "
				"run 'vhdtool grow-undo %s' first\n", upath, path);
		return fail(&err);
	}
	rc = vhd_grow_journaled(&io, size, &undo, &err);
	/* On failure the library already rolled back when it could. */
	if (rc == 0 || vhd_grow_undo(&io, &undo, &err2) == 0)
		unlink(upath);
	else
		fprintf(stderr, "vhdtool: kept %s: run 'vhdtool grow-undo %s'\n", upath, path);
	vhd_io_close(&undo);
	vhd_io_close(&io);
	return rc < 0 ? fail(&err) : 0;
}

static int cmd_grow_undo(const char *path)
{
	struct sm_error err = { 0 };
	struct vhd_io io, undo;
	char upath[4096];
	int rc;

	if (undo_path(path, upath, sizeof(upath)) < 0)
		return 1;
	if (vhd_io_open_file(&undo, upath, VHD_IO_RDWR, &err) < 0) {
		if (err.code == SME_VDI_MISSING)
			return 0;       /* no grow was interrupted */
		return fail(&err);
	}
	if (vhd_io_open_file(&io, path, VHD_IO_RDWR, &err) < 0) {
		vhd_io_close(&undo);
		return fail(&err);
	}
	rc = vhd_grow_undo(&io, &undo, &err);
	vhd_io_close(&io);
	vhd_io_close(&undo);
	if (rc < 0)
		return fail(&err);
	unlink(upath);
	return 0;
}

/* Slurp a file or stdin into memory. */
static int read_all(const char *src, uint8_t **buf, size_t *len)
{
	FILE *f = strcmp(src, "-") == 0 ? stdin : fopen(src, "rb");
	size_t cap = 1 << 16, n = 0;
	uint8_t *b;

	if (!f)
		return -1;
	b = malloc(cap);
	while (b) {
		size_t got = fread(b + n, 1, cap - n, f);

		n += got;
		if (got == 0)
			break;
		if (n == cap) {
			uint8_t *nb = realloc(b, cap * 2);

			if (!nb) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	if (f != stdin)
		fclose(f);
	if (!b)
		return -1;
	*buf = b;
	*len = n;
	return 0;
}

static int cmd_write(const char *path, const char *off_s, const char *src)
{
	struct sm_error err = { 0 };
	struct vhd_io io;
	uint8_t *buf;
	size_t len;
	uint64_t off;
	int rc;

	if (parse_size(off_s, &off) < 0)
		return bad_number(off_s);
	if (read_all(src, &buf, &len) < 0) {
		fprintf(stderr, "vhdtool: cannot read %s\n", src);
		return 1;
	}
	if (vhd_io_open_file(&io, path, VHD_IO_RDWR, &err) < 0) {
		free(buf);
		return fail(&err);
	}
	rc = vhd_write(&io, buf, len, off, &err);
	vhd_io_close(&io);
	free(buf);
	return rc < 0 ? fail(&err) : 0;
}

static int cmd_read(const char *path, const char *off_s, const char *len_s)
{
	struct sm_error err = { 0 };
	struct vhd_io io;
	uint64_t off, len;
	uint8_t *buf;
	int rc = 1;

	if (parse_size(off_s, &off) < 0)
		return bad_number(off_s);
	if (parse_size(len_s, &len) < 0 || len > (1ull << 30))
		return bad_number(len_s);
	buf = malloc(len ? len : 1);
	if (!buf) {
		fprintf(stderr, "vhdtool: out of memory\n");
		return 1;
	}
	if (vhd_io_open_file(&io, path, VHD_IO_RDONLY, &err) < 0) {
		free(buf);
		return fail(&err);
	}
	if (vhd_read(&io, buf, len, off, &err) < 0)
		rc = fail(&err);
	else if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
		fprintf(stderr, "vhdtool: write to stdout failed\n");
	else
		rc = 0;
	vhd_io_close(&io);
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "create") && argc == 4)
		return cmd_create(argv[2], argv[3]);
	if (!strcmp(cmd, "query") && argc == 3)
		return cmd_query(argv[2]);
	if (!strcmp(cmd, "snapshot") && argc == 4)
		return cmd_snapshot(argv[2], argv[3]);
	if (!strcmp(cmd, "set-hidden") && argc == 4)
		return cmd_set_hidden(argv[2], argv[3]);
	if (!strcmp(cmd, "grow") && argc == 4)
		return cmd_grow(argv[2], argv[3]);
	if (!strcmp(cmd, "grow-undo") && argc == 3)
		return cmd_grow_undo(argv[2]);
	if (!strcmp(cmd, "write") && argc == 5)
		return cmd_write(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "read") && argc == 5)
		return cmd_read(argv[2], argv[3], argv[4]);
	return usage();
}
