/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * vhdtool: the project's answer to vhd-util, over the project's VHD
 * library: inspect, make, check, read and write VHD files and chains,
 * for people and for the integration tests.  Errors are one plain line
 * on stderr and a non-zero exit status.
 *
 *   vhdtool create <path> <size>          size in bytes or with K/M/G/T suffix
 *   vhdtool query [--chain] <path>        key=value lines; --chain: one line per link
 *   vhdtool check [--no-parent] [--repair] <path>...
 *                                         every structure; "<path> is valid";
 *                                         --repair first puts right what a
 *                                         killed writer leaves (vhd_repair)
 *                                         and says "<path>: repaired <what>"
 *   vhdtool snapshot <child> <parent>     differencing child of parent
 *   vhdtool set-hidden <path> 0|1
 *   vhdtool set-parent <child> <parent>   re-point child (vhd-util modify -p)
 *   vhdtool grow <path> <size>            undo record in <path>.undo meanwhile
 *   vhdtool grow-undo <path>              roll back a grow cut short (crash)
 *   vhdtool coalesce <child>              copy child into its parent; progress
 *                                         on stderr, "Coalesced N bytes"
 *   vhdtool read [--single] [--sectors] <path> <offset> <len> [<out>]
 *                                         guest bytes through the chain (stdout)
 *   vhdtool write [--single] [--sectors] <path> <offset> <file|->
 *                                         into the leaf, holes filled from the chain
 *   vhdtool scan [--phys] <file...|dir>   one line per image, like vhd-util scan:
 *       vhd=<name> capacity=<bytes> size=<bytes> hidden=<0|1> parent=<name|none>
 *       vhd=<name> scan-error=<-errno> error-message='<msg>'
 *     (a directory means its *.vhd files; --phys adds phys_size= and
 *     allocated_blocks=, which needs the BAT; exit 1 if any image failed)
 *
 * Offsets and lengths are bytes, or sectors with --sectors; --single
 * reads or writes the one image without its parents.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csm/vhd.h"
#include "csm/vhdchain.h"

#define CHUNK (4u * 1024 * 1024)

static int usage(void)
{
	fprintf(stderr,
		"usage: vhdtool create <path> <size>\n"
		"       vhdtool query [--chain] <path>\n"
		"       vhdtool check [--no-parent] [--repair] <path>...\n"
		"       vhdtool snapshot <child> <parent>\n"
		"       vhdtool set-hidden <path> 0|1\n"
		"       vhdtool set-parent <child> <parent>\n"
		"       vhdtool grow <path> <size>\n"
		"       vhdtool grow-undo <path>\n"
		"       vhdtool coalesce <child>\n"
		"       vhdtool read [--single] [--sectors] <path> <offset> <len> [<out>]\n"
		"       vhdtool write [--single] [--sectors] <path> <offset> <file|->\n"
		"       vhdtool scan [--phys] <file...|dir>\n");
	return 2;
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

static int query_one(const char *path)
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
	printf("blocks=%u\n", info.blocks);
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
	struct sm_error err = { 0 };
	char upath[4096];
	uint64_t size;
	bool pending;

	if (parse_size(size_s, &size) < 0)
		return bad_number(size_s);
	if (undo_path(path, upath, sizeof(upath)) < 0)
		return 1;
	if (vhd_grow_with_undo(&vhd_opener_local, path, upath, size, &pending, &err) == 0)
		return 0;
	if (err.code == SME_VDI_EXISTS && strstr(err.detail, upath))
		fprintf(stderr, "vhdtool: %s exists: an earlier grow was cut short; "
			"run 'vhdtool grow-undo %s' first\n", upath, path);
	if (pending)
		fprintf(stderr, "vhdtool: kept %s: run 'vhdtool grow-undo %s'\n", upath, path);
	return fail(&err);
}

static int cmd_grow_undo(const char *path)
{
	struct sm_error err = { 0 };
	char upath[4096];

	if (undo_path(path, upath, sizeof(upath)) < 0)
		return 1;
	if (vhd_grow_recover(&vhd_opener_local, path, upath, NULL, &err) < 0)
		return fail(&err);
	return 0;
}


/* One line per link of the chain, leaf first. */
static int query_chain(const char *path)
{
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	int rc = 0;

	if (vhd_chain_open(&ch, path, false, &err) < 0)
		return fail(&err);
	for (size_t i = 0; i < ch.depth; i++) {
		struct vhd_info info;
		char uuid[37];

		if (vhd_query(&ch.io[i], &info, &err) < 0) {
			rc = fail(&err);
			break;
		}
		vhd_uuid_format(info.uuid, uuid);
		printf("link=%zu path=%s type=%s virtual_size=%llu allocated_blocks=%u "
		       "hidden=%d uuid=%s\n", i, ch.path[i], type_name(info.type),
		       (unsigned long long)info.virtual_size, info.allocated_blocks,
		       info.hidden ? 1 : 0, uuid);
	}
	vhd_chain_close(&ch);
	return rc;
}

/* ---- option handling ------------------------------------------------- */

struct opts {
	bool chain, no_parent, single, sectors, phys, repair;
	int argc;               /* positional arguments left */
	char **argv;
};

/* Split argv (after the command) into known --flags and positionals. */
static int parse_opts(int argc, char **argv, const char *allowed, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->argv = calloc((size_t)argc + 1, sizeof(char *));
	if (!o->argv)
		return -1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strncmp(a, "--", 2) != 0 || !strstr(allowed, a)) {
			if (strncmp(a, "--", 2) == 0) {
				fprintf(stderr, "vhdtool: unknown option %s\n", a);
				return -1;
			}
			o->argv[o->argc++] = argv[i];
			continue;
		}
		o->chain |= !strcmp(a, "--chain");
		o->no_parent |= !strcmp(a, "--no-parent");
		o->single |= !strcmp(a, "--single");
		o->sectors |= !strcmp(a, "--sectors");
		o->phys |= !strcmp(a, "--phys");
		o->repair |= !strcmp(a, "--repair");
	}
	return 0;
}

static int cmd_query(const struct opts *o)
{
	if (o->argc != 1)
		return usage();
	return o->chain ? query_chain(o->argv[0]) : query_one(o->argv[0]);
}

/* ---- check ----------------------------------------------------------- */

/* vhd_repair on one image; 0, or -1 after printing why not. */
static int repair_one(const char *path)
{
	struct sm_error err = { 0 };
	struct vhd_io io;
	unsigned fixed = 0;
	char what[64];
	int rc;

	if (vhd_io_open_file(&io, path, VHD_IO_RDWR, &err) < 0) {
		fail(&err);
		return -1;
	}
	rc = vhd_repair(&io, &fixed, &err);
	vhd_io_close(&io);
	if (rc < 0) {
		fprintf(stderr, "vhdtool: cannot repair %s: %s\n", path, err.detail);
		return -1;
	}
	if (fixed) {
		vhd_repair_describe(fixed, what, sizeof(what));
		printf("%s: repaired %s\n", path, what);
	}
	return 0;
}

static int cmd_check(const struct opts *o)
{
	int rc = 0;

	if (o->argc < 1)
		return usage();
	for (int i = 0; i < o->argc; i++) {
		struct sm_error err = { 0 };

		if (o->repair && repair_one(o->argv[i]) < 0) {
			rc = 1;
			continue;
		}
		if (vhd_check(o->argv[i], !o->no_parent, &err) < 0) {
			/* The detail names the file (or its parent) already. */
			fprintf(stderr, "vhdtool: %s\n",
				err.detail[0] ? err.detail : o->argv[i]);
			rc = 1;
		} else {
			printf("%s is valid\n", o->argv[i]);
		}
	}
	return rc;
}

/* ---- read and write -------------------------------------------------- */

/* An offset or length in bytes, or in sectors with --sectors. */
static int parse_pos(const char *s, bool sectors, uint64_t *out)
{
	if (parse_size(s, out) < 0)
		return -1;
	if (sectors) {
		if (*out > UINT64_MAX / 512)
			return -1;
		*out *= 512;
	}
	return 0;
}

/* The guest view (or one image's) through whichever handle is open. */
struct target {
	bool single;
	struct vhd_io io;
	struct vhd_chain ch;
};

static int target_open(struct target *t, const char *path, bool single, bool rw,
		       struct sm_error *err)
{
	memset(t, 0, sizeof(*t));
	t->single = single;
	if (single)
		return vhd_io_open_file(&t->io, path, rw ? VHD_IO_RDWR : VHD_IO_RDONLY, err);
	return vhd_chain_open(&t->ch, path, rw, err);
}

static int target_io(struct target *t, bool wr, void *buf, uint64_t len, uint64_t off,
		     struct sm_error *err)
{
	if (t->single)
		return wr ? vhd_write(&t->io, buf, len, off, err)
			  : vhd_read(&t->io, buf, len, off, err);
	return wr ? vhd_chain_write(&t->ch, buf, len, off, err)
		  : vhd_chain_read(&t->ch, buf, len, off, err);
}

static int target_close(struct target *t, struct sm_error *err)
{
	int rc = 0;

	if (t->single) {
		vhd_io_close(&t->io);
		return 0;
	}
	if (t->ch.priv)
		rc = vhd_chain_flush(&t->ch, err);
	vhd_chain_close(&t->ch);
	return rc;
}

static int cmd_read(const struct opts *o)
{
	struct sm_error err = { 0 };
	struct target t;
	uint64_t off, len;
	uint8_t *buf;
	FILE *out = stdout;
	int rc = 1;

	if (o->argc != 3 && o->argc != 4)
		return usage();
	if (parse_pos(o->argv[1], o->sectors, &off) < 0)
		return bad_number(o->argv[1]);
	if (parse_pos(o->argv[2], o->sectors, &len) < 0)
		return bad_number(o->argv[2]);
	buf = malloc(CHUNK);
	if (!buf) {
		fprintf(stderr, "vhdtool: out of memory\n");
		return 1;
	}
	if (target_open(&t, o->argv[0], o->single, false, &err) < 0) {
		free(buf);
		return fail(&err);
	}
	if (o->argc == 4 && strcmp(o->argv[3], "-") != 0) {
		out = fopen(o->argv[3], "wb");
		if (!out) {
			fprintf(stderr, "vhdtool: %s: %s\n", o->argv[3], strerror(errno));
			goto done;
		}
	}
	while (len > 0) {
		uint64_t n = len < CHUNK ? len : CHUNK;

		if (target_io(&t, false, buf, n, off, &err) < 0) {
			fail(&err);
			goto done;
		}
		if (fwrite(buf, 1, n, out) != n) {
			fprintf(stderr, "vhdtool: write of the output failed\n");
			goto done;
		}
		off += n;
		len -= n;
	}
	if (fflush(out) != 0) {
		fprintf(stderr, "vhdtool: write of the output failed\n");
		goto done;
	}
	rc = 0;
done:
	if (out && out != stdout && fclose(out) != 0 && rc == 0) {
		fprintf(stderr, "vhdtool: closing %s failed\n", o->argv[3]);
		rc = 1;
	}
	(void)target_close(&t, &err);
	free(buf);
	return rc;
}

static int cmd_write(const struct opts *o)
{
	struct sm_error err = { 0 };
	struct target t;
	uint64_t off;
	uint8_t *buf;
	FILE *in = stdin;
	int rc = 1;

	if (o->argc != 3)
		return usage();
	if (parse_pos(o->argv[1], o->sectors, &off) < 0)
		return bad_number(o->argv[1]);
	if (strcmp(o->argv[2], "-") != 0) {
		in = fopen(o->argv[2], "rb");
		if (!in) {
			fprintf(stderr, "vhdtool: cannot read %s: %s\n", o->argv[2],
				strerror(errno));
			return 1;
		}
	}
	buf = malloc(CHUNK);
	if (!buf || target_open(&t, o->argv[0], o->single, true, &err) < 0) {
		if (in != stdin)
			fclose(in);
		if (!buf)
			fprintf(stderr, "vhdtool: out of memory\n");
		free(buf);
		return buf ? fail(&err) : 1;
	}
	for (;;) {
		size_t n = fread(buf, 1, CHUNK, in);

		if (n == 0)
			break;
		if (target_io(&t, true, buf, n, off, &err) < 0) {
			fail(&err);
			goto done;
		}
		off += n;
	}
	if (ferror(in)) {
		fprintf(stderr, "vhdtool: cannot read %s\n", o->argv[2]);
		goto done;
	}
	if (target_close(&t, &err) < 0) {
		rc = fail(&err);
		goto out;
	}
	rc = 0;
	goto out;
done:
	(void)target_close(&t, &err);
out:
	if (in != stdin)
		fclose(in);
	free(buf);
	return rc;
}

/* ---- coalesce and set-parent ----------------------------------------- */

static int print_progress(void *arg, uint64_t done, uint64_t total)
{
	int *last = arg;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (pct != *last) {
		fprintf(stderr, "\rcoalesce: %3d%% (%llu of %llu MiB)", pct,
			(unsigned long long)(done >> 20), (unsigned long long)(total >> 20));
		*last = pct;
	}
	return 0;
}

static int cmd_coalesce(const struct opts *o)
{
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	char parent[sizeof(ch.path[0])];
	uint64_t copied = 0;
	int last = -1, rc;

	if (o->argc != 1)
		return usage();
	if (vhd_chain_open(&ch, o->argv[0], false, &err) < 0)
		return fail(&err);
	if (ch.depth < 2) {
		vhd_chain_close(&ch);
		fprintf(stderr, "vhdtool: %s has no parent\n", o->argv[0]);
		return 1;
	}
	memcpy(parent, ch.path[1], sizeof(parent));
	vhd_chain_close(&ch);
	rc = vhd_coalesce(o->argv[0], parent, &copied, print_progress, &last, &err);
	if (last >= 0)
		fprintf(stderr, "\n");
	if (rc < 0)
		return fail(&err);
	printf("Coalesced %llu bytes\n", (unsigned long long)copied);
	return 0;
}

static int cmd_set_parent(const struct opts *o)
{
	struct sm_error err = { 0 };

	if (o->argc != 2)
		return usage();
	if (vhd_set_parent(o->argv[0], o->argv[1], &err) < 0)
		return fail(&err);
	return 0;
}

/* ---- scan ------------------------------------------------------------ */

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s && s[1] ? s + 1 : p;
}

static int scan_errno(const struct sm_error *err)
{
	return err->code == SME_VDI_MISSING ? -ENOENT : -EINVAL;
}

/* One line for one file; returns -1 (after printing the error line) on failure. */
static int scan_one(const char *path, bool phys)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	struct vhd_io io;
	uint64_t size = 0;
	int rc = -1;

	if (vhd_io_open_file(&io, path, VHD_IO_RDONLY, &err) < 0)
		goto bad;
	if (io.ops->get_size(&io, &size) < 0 ||
	    (phys ? vhd_query(&io, &info, &err) : vhd_query_fast(&io, &info, &err)) < 0) {
		sm_fail(&err, SME_VDI_LOAD, "%s: cannot read", path);
		vhd_io_close(&io);
		goto bad;
	}
	vhd_io_close(&io);
	printf("vhd=%s capacity=%llu size=%llu hidden=%d", base_name(path),
	       (unsigned long long)info.virtual_size, (unsigned long long)size,
	       info.hidden ? 1 : 0);
	if (phys)
		printf(" phys_size=%llu allocated_blocks=%u",
		       (unsigned long long)info.phys_size, info.allocated_blocks);
	printf(" parent=%s\n", info.type == VHD_TYPE_DIFF && info.parent_name[0] ?
	       base_name(info.parent_name) : "none");
	return 0;
bad:
	/* The message is quoted: keep single quotes out of it. */
	for (char *c = err.detail; *c; c++)
		if (*c == '\'' || *c == '\n')
			*c = '"';
	printf("vhd=%s scan-error=%d error-message='%s'\n", path, scan_errno(&err),
	       err.detail[0] ? err.detail : "error");
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_vhd_name(const char *n)
{
	size_t l = strlen(n);

	return l > 4 && strcmp(n + l - 4, ".vhd") == 0;
}

/* Every *.vhd in dir, sorted, each scanned once. */
static int scan_dir(const char *dir, bool phys)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "vhdtool: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!is_vhd_name(e->d_name))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 256) * sizeof(*nn));

			if (!nn) {
				rc = 1;
				break;
			}
			names = nn;
		}
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			rc = 1;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc)
		fprintf(stderr, "vhdtool: out of memory listing %s\n", dir);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path)) {
			fprintf(stderr, "vhdtool: path too long: %s/%s\n", dir, names[i]);
			rc = 1;
		} else if (scan_one(path, phys) < 0) {
			rc = 1;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static int cmd_scan(const struct opts *o)
{
	static char outbuf[1 << 16];
	int rc = 0;

	if (o->argc < 1)
		return usage();
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	for (int i = 0; i < o->argc; i++) {
		struct stat st;

		if (stat(o->argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (scan_dir(o->argv[i], o->phys))
				rc = 1;
		} else if (scan_one(o->argv[i], o->phys) < 0) {
			rc = 1;
		}
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "vhdtool: write to stdout failed\n");
		rc = 1;
	}
	return rc;
}

/* ---- main ------------------------------------------------------------ */

struct command {
	const char *name;
	const char *options;    /* --flags it accepts */
	int (*run)(const struct opts *o);
};

static int run_query(const struct opts *o)
{
	return cmd_query(o);
}

static int run_legacy(const char *cmd, int argc, char **argv)
{
	if (!strcmp(cmd, "create") && argc == 2)
		return cmd_create(argv[0], argv[1]);
	if (!strcmp(cmd, "snapshot") && argc == 2)
		return cmd_snapshot(argv[0], argv[1]);
	if (!strcmp(cmd, "set-hidden") && argc == 2)
		return cmd_set_hidden(argv[0], argv[1]);
	if (!strcmp(cmd, "grow") && argc == 2)
		return cmd_grow(argv[0], argv[1]);
	if (!strcmp(cmd, "grow-undo") && argc == 1)
		return cmd_grow_undo(argv[0]);
	return usage();
}

int main(int argc, char **argv)
{
	static const struct command cmds[] = {
		{ "query", "--chain", run_query },
		{ "check", "--no-parent --repair", cmd_check },
		{ "read", "--single --sectors", cmd_read },
		{ "write", "--single --sectors", cmd_write },
		{ "coalesce", "", cmd_coalesce },
		{ "set-parent", "", cmd_set_parent },
		{ "scan", "--phys", cmd_scan },
	};
	const char *cmd = argc > 1 ? argv[1] : "";
	struct opts o;
	int rc;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].name) != 0)
			continue;
		if (parse_opts(argc - 2, argv + 2, cmds[i].options, &o) < 0) {
			free(o.argv);
			return usage();
		}
		rc = cmds[i].run(&o);
		free(o.argv);
		return rc;
	}
	if (argc < 2)
		return usage();
	return run_legacy(cmd, argc - 2, argv + 2);
}
