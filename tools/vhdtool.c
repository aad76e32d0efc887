/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * vhdtool: the project's answer to vhd-util, over the project's VHD
 * library: inspect, make, check, read and write VHD files and chains,
 * for people and for the integration tests.  Errors are one plain line
 * on stderr and a non-zero exit status.
 *
 *   vhdtool create <path> <size>          size in bytes or with K/M/G/T suffix
 *   vhdtool query [--chain] <path>        key=value lines, sizes in GiB (and bytes);
 *                                         --chain: one line per link
 *   vhdtool check [-p|--parents|--no-parent] [--repair] <path>...
 *                                         every structure, of every parent too
 *                                         (vhd-util check -p) unless --no-parent;
 *                                         "<path> is valid";
 *                                         --repair first puts right what a
 *                                         killed writer leaves (vhd_repair)
 *                                         and says "<path>: repaired <what>"
 *   vhdtool snapshot <child> <parent>     differencing child of parent
 *   vhdtool set-hidden <path> 0|1
 *   vhdtool set-parent [--unsafe] <child> <parent>
 *                                         re-point child (vhd-util modify -p);
 *                                         a parent of another size or uuid only
 *                                         with --unsafe (qemu-img rebase -u)
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
 * reads or writes the one image without its parents.  Sizes, offsets and
 * lengths are decimal (never octal: "010" is ten) with an optional binary
 * unit: 4096, 512M, 10G, 1.5GiB (sm_parse_size).
 *
 *   vhdtool --help | help [<command>] | <command> --help   on stdout, exit 0
 *   vhdtool --version                    the git revision it was built from
 *   query, check, scan: --output=json    one JSON document (bytes, booleans)
 *
 * Progress (coalesce, write) goes to stderr when stderr is a terminal,
 * never into a log.  A usage error is a message on stderr and exit 2.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csm/json.h"
#include "csm/util.h"
#include "csm/vhd.h"
#include "csm/vhdchain.h"
#include "csm_version.h"

#define CHUNK (4u * 1024 * 1024)

struct opts;

/* One subcommand: its flags, its synopsis and help (vhdtool help <name>). */
struct command {
	const char *name;
	const char *options;    /* the --flags it accepts, space-separated */
	const char *synopsis;   /* the arguments, after the name */
	const char *help;       /* what it does, what each option means */
	int (*run)(const struct opts *o);
};

static const struct command *find_command(const char *name);
static void list_commands(FILE *f);

/* The command being run, for its usage line. */
static const struct command *current;

/* A usage error: the synopsis of the command (or all of them) on stderr, exit 2. */
static int usage(void)
{
	if (current) {
		fprintf(stderr, "usage: vhdtool %s %s\n"
			"Try 'vhdtool help %s' for more information.\n",
			current->name, current->synopsis, current->name);
	} else {
		list_commands(stderr);
		fprintf(stderr, "Try 'vhdtool --help' for more information.\n");
	}
	return 2;
}

static int fail(const struct sm_error *err)
{
	const char *name = sm_error_name(err->code);

	fprintf(stderr, "vhdtool: %s%s%s\n", name ? name : "error",
		err->detail[0] ? ": " : "", err->detail);
	return 1;
}

/* Why the last parse_size refused its argument (sm_parse_size's sentence). */
static const char *size_why = "";

/* A size, offset or length: decimal, optional binary unit (lib/util.c). */
static int parse_size(const char *s, uint64_t *out)
{
	return sm_parse_size(s, out, &size_why);
}

/* A value that is not a number is a usage error (exit 2), said plainly. */
static int bad_number(const char *s)
{
	fprintf(stderr, "vhdtool: bad number '%s': %s\n", s, size_why);
	return 2;
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

/* Print a finished JSON document; 0, or 1 if the writer was misused or out of memory. */
static int json_emit(struct json_writer *w, struct sm_buf *b)
{
	int rc = 0;

	if (json_finish(w) < 0) {
		fprintf(stderr, "vhdtool: cannot write the JSON document\n");
		rc = 1;
	} else {
		fputs(b->data, stdout);
	}
	buf_free(b);
	return rc;
}

/*
 * Sizes for people are GiB; the exact bytes stay beside them in query
 * (and only in --output=json for the one-line chain listing).
 */
static double in_gib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0 * 1024.0);
}

/* One image's fields as JSON members: bytes as numbers, flags as booleans. */
static void query_json_members(struct json_writer *w, const struct vhd_info *info)
{
	char uuid[37], puuid[37];
	bool diff = info->type == VHD_TYPE_DIFF;

	vhd_uuid_format(info->uuid, uuid);
	vhd_uuid_format(info->parent_uuid, puuid);
	json_kv_u64(w, "virtual_size", info->virtual_size);
	json_kv_u64(w, "phys_size", info->phys_size);
	json_kv_string(w, "type", type_name(info->type));
	json_kv_bool(w, "hidden", info->hidden);
	json_kv_string(w, "uuid", uuid);
	json_kv_string(w, "parent_name", diff ? info->parent_name : NULL);
	json_kv_string(w, "parent_uuid", diff ? puuid : NULL);
	json_kv_string(w, "parent_locator", diff ? info->parent_locator : NULL);
	json_kv_u64(w, "blocks", info->blocks);
	json_kv_u64(w, "allocated_blocks", info->allocated_blocks);
	json_kv_u64(w, "max_bat_entries", info->max_bat_entries);
	json_kv_bool(w, "has_batmap", info->has_batmap);
	json_kv_string(w, "creator", info->creator);
}

static int query_one(const char *path, bool json)
{
	struct sm_error err = { 0 };
	struct vhd_info info;
	char uuid[37], puuid[37];

	if (vhd_query_path(path, &info, &err) < 0)
		return fail(&err);
	if (json) {
		struct sm_buf b = SM_BUF_INIT;
		struct json_writer w;

		json_init(&w, &b, true);
		json_begin_object(&w);
		json_kv_string(&w, "filename", path);
		query_json_members(&w, &info);
		json_end_object(&w);
		return json_emit(&w, &b);
	}
	vhd_uuid_format(info.uuid, uuid);
	vhd_uuid_format(info.parent_uuid, puuid);
	printf("virtual_size=%.2f GiB (%llu bytes)\n", in_gib(info.virtual_size),
	       (unsigned long long)info.virtual_size);
	printf("phys_size=%.2f GiB (%llu bytes)\n", in_gib(info.phys_size),
	       (unsigned long long)info.phys_size);
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

	if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
		fprintf(stderr, "vhdtool: set-hidden wants 0 or 1, not '%s'\n", v);
		return 2;
	}
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


/* One line per link of the chain, leaf first; with json, an array of them. */
static int query_chain(const char *path, bool json)
{
	struct sm_error err = { 0 };
	struct sm_buf b = SM_BUF_INIT;
	struct json_writer w;
	struct vhd_chain ch;
	int rc = 0;

	if (vhd_chain_open(&ch, path, false, &err) < 0)
		return fail(&err);
	json_init(&w, &b, true);
	json_begin_array(&w);
	for (size_t i = 0; i < ch.depth; i++) {
		struct vhd_info info;
		char uuid[37];

		if (vhd_query(&ch.io[i], &info, &err) < 0) {
			rc = fail(&err);
			break;
		}
		if (json) {
			json_begin_object(&w);
			json_kv_u64(&w, "link", i);
			json_kv_string(&w, "filename", ch.path[i]);
			query_json_members(&w, &info);
			json_end_object(&w);
			continue;
		}
		vhd_uuid_format(info.uuid, uuid);
		printf("link=%zu path=%s type=%s virtual_size=%.2fGiB allocated_blocks=%u "
		       "hidden=%d uuid=%s\n", i, ch.path[i], type_name(info.type),
		       in_gib(info.virtual_size), info.allocated_blocks,
		       info.hidden ? 1 : 0, uuid);
	}
	vhd_chain_close(&ch);
	json_end_array(&w);
	if (json && rc == 0)
		return json_emit(&w, &b);
	buf_free(&b);
	return rc;
}

/* ---- option handling ------------------------------------------------- */

struct opts {
	bool chain, no_parent, single, sectors, phys, repair, parents, unsafe;
	bool json;              /* --output=json */
	bool help;              /* --help after the command */
	int argc;               /* positional arguments left */
	char **argv;
};

/* Is flag one of the space-separated words of allowed?  Whole words only. */
static bool option_allowed(const char *allowed, const char *flag, size_t len)
{
	for (const char *p = allowed; *p; ) {
		size_t n = strcspn(p, " ");

		if (n == len && strncmp(p, flag, len) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

/* --output=FORMAT (or --output FORMAT): json or human. */
static int parse_output(const char *v, struct opts *o)
{
	if (strcmp(v, "json") == 0 || strcmp(v, "human") == 0) {
		o->json = v[0] == 'j';
		return 0;
	}
	fprintf(stderr, "vhdtool: --output wants json or human, not '%s'\n", v);
	return -1;
}

/*
 * Split argv (after the command) into its --flags and positionals.  A
 * flag must match one the command takes exactly ("--c" is not --chain);
 * "--" ends the flags, so a file may be named "--x".
 */
static int parse_opts(int argc, char **argv, const char *allowed, struct opts *o)
{
	bool flags = true;

	memset(o, 0, sizeof(*o));
	o->argv = calloc((size_t)argc + 1, sizeof(char *));
	if (!o->argv)
		return -1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *eq = strchr(a, '=');
		size_t len = eq ? (size_t)(eq - a) : strlen(a);

		/* vhd-util's spelling of check's --parents, for the fingers that know it. */
		if (flags && strcmp(a, "-p") == 0 && option_allowed(allowed, "--parents", 9)) {
			o->parents = true;
			continue;
		}
		if (!flags || strncmp(a, "--", 2) != 0) {
			o->argv[o->argc++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			flags = false;
			continue;
		}
		if (strcmp(a, "--help") == 0) {
			o->help = true;
			continue;
		}
		if (!option_allowed(allowed, a, len)) {
			fprintf(stderr, "vhdtool: unknown option %.*s\n", (int)len, a);
			return -1;
		}
		if (strncmp(a, "--output", len) == 0) {
			const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : "");

			if (parse_output(v, o) < 0)
				return -1;
			continue;
		}
		if (eq) {
			fprintf(stderr, "vhdtool: %.*s takes no value\n", (int)len, a);
			return -1;
		}
		o->chain |= !strcmp(a, "--chain");
		o->no_parent |= !strcmp(a, "--no-parent");
		o->single |= !strcmp(a, "--single");
		o->sectors |= !strcmp(a, "--sectors");
		o->phys |= !strcmp(a, "--phys");
		o->repair |= !strcmp(a, "--repair");
		o->parents |= !strcmp(a, "--parents");
		o->unsafe |= !strcmp(a, "--unsafe");
	}
	return 0;
}

static int cmd_query(const struct opts *o)
{
	if (o->argc != 1)
		return usage();
	return o->chain ? query_chain(o->argv[0], o->json) : query_one(o->argv[0], o->json);
}

/* ---- check ----------------------------------------------------------- */

/* vhd_repair on one image; 0 (what it put right in what, "" if nothing), or -1 after printing why not. */
static int repair_one(const char *path, char what[64])
{
	struct sm_error err = { 0 };
	struct vhd_io io;
	unsigned fixed = 0;
	int rc;

	what[0] = '\0';
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
	if (fixed)
		vhd_repair_describe(fixed, what, 64);
	return 0;
}

/*
 * The library's chain and check errors begin with the file they are about
 * ("<child>: parent <p> missing", "<p>: primary footer: bad cookie"):
 * that file is the broken link.  -1.
 */
static int problem_file(const struct sm_error *err, char *bad, size_t cap)
{
	const char *colon = strstr(err->detail, ": ");
	char file[4096];

	if (colon && (size_t)(colon - err->detail) < sizeof(file)) {
		snprintf(file, sizeof(file), "%.*s", (int)(colon - err->detail), err->detail);
		if (access(file, F_OK) == 0)
			snprintf(bad, cap, "%s", file);
	}
	return -1;
}

/*
 * path and every ancestor, as vhd-util check -p: each link's structures
 * and the uuid of its parent, leaf first.  A leaf is only as good as its
 * chain: a grandparent deleted by hand must not pass as "valid".  *links:
 * how many were looked at; *bad: the path of the link that failed.
 */
static int check_chain(const char *path, size_t *links, char *bad, size_t cap,
		       struct sm_error *err)
{
	struct vhd_chain *ch = malloc(sizeof(*ch));
	int rc = 0;

	*links = 1;
	snprintf(bad, cap, "%s", path);
	if (!ch)
		return sm_fail(err, SME_GENERIC, "out of memory");
	if (vhd_check(path, true, err) < 0 || vhd_chain_open(ch, path, false, err) < 0) {
		free(ch);
		return problem_file(err, bad, cap);
	}
	*links = ch->depth;
	for (size_t i = 1; i < ch->depth && rc == 0; i++) {
		snprintf(bad, cap, "%s", ch->path[i]);
		rc = vhd_check(ch->path[i], true, err);
		if (rc < 0)
			problem_file(err, bad, cap);
	}
	vhd_chain_close(ch);
	free(ch);
	if (rc == 0)
		bad[0] = '\0';
	return rc;
}

/*
 * Each image checked in turn with its parents (--no-parent: alone): "<path>
 * is valid", or the problem on stderr; with --output=json an array of
 * {"filename", "valid", "error", "repaired", "links", "broken_link"}.
 */
static int cmd_check(const struct opts *o)
{
	struct sm_buf b = SM_BUF_INIT;
	struct json_writer w;
	int rc = 0;

	if (o->argc < 1)
		return usage();
	json_init(&w, &b, true);
	json_begin_array(&w);
	for (int i = 0; i < o->argc; i++) {
		struct sm_error err = { 0 };
		const char *path = o->argv[i], *problem = NULL;
		char what[64] = "", bad[4096] = "";
		size_t links = 1;

		if (o->repair && repair_one(path, what) < 0) {
			problem = "cannot repair";
		} else if (o->no_parent ? vhd_check(path, false, &err) < 0
			   : check_chain(path, &links, bad, sizeof(bad), &err) < 0) {
			/* The detail names the file (or its parent) already. */
			problem = err.detail[0] ? err.detail : "invalid";
			fprintf(stderr, "vhdtool: %s\n", err.detail[0] ? err.detail : path);
		}
		if (problem)
			rc = 1;
		if (o->json) {
			json_begin_object(&w);
			json_kv_string(&w, "filename", path);
			json_kv_bool(&w, "valid", !problem);
			json_kv_string(&w, "error", problem);
			json_key(&w, "repaired");
			if (what[0])
				json_string(&w, what);
			else
				json_null(&w);
			json_kv_u64(&w, "links", links);
			json_kv_string(&w, "broken_link", problem && bad[0] ? bad : NULL);
			json_end_object(&w);
			continue;
		}
		if (what[0])
			printf("%s: repaired %s\n", path, what);
		if (!problem && links > 1)
			printf("%s is valid (with its %zu parent%s)\n", path, links - 1,
			       links == 2 ? "" : "s");
		else if (!problem)
			printf("%s is valid\n", path);
	}
	json_end_array(&w);
	if (o->json && json_emit(&w, &b) != 0)
		return 1;
	buf_free(&b);
	return rc;
}

/* ---- progress on a terminal ----------------------------------------- */

/*
 * Progress for people: one line on stderr rewritten in place, with the
 * rate and, when the total is known, the time left.  Only when stderr is
 * a terminal: in a log file the carriage returns are noise.
 */
struct progress {
	const char *what;
	bool on;
	int64_t start_ms, last_ms;
	bool shown;
};

static void progress_init(struct progress *p, const char *what)
{
	*p = (struct progress){ .what = what, .on = isatty(STDERR_FILENO) == 1,
				.start_ms = sm_monotonic_ms() };
}

static void progress_show(struct progress *p, uint64_t done, uint64_t total)
{
	int64_t now = sm_monotonic_ms();
	double secs = (double)(now - p->start_ms) / 1000.0;
	double rate = secs > 0 ? (double)done / secs : 0;
	/* GiB for people, MiB while the amounts are small. */
	bool gib = (total ? total : done) >= (1u << 30);
	double unit = gib ? (double)(1u << 30) : (double)(1u << 20);
	const char *uname = gib ? "GiB" : "MiB";

	if (!p->on || (p->shown && now - p->last_ms < 200 && done != total))
		return;
	p->last_ms = now;
	p->shown = true;
	if (total) {
		fprintf(stderr, "\r%s: %3d%% (%.1f of %.1f %s, %.0f MiB/s, %.0f s left)   ", p->what,
			(int)(done * 100 / total), (double)done / unit, (double)total / unit, uname,
			rate / (1 << 20), rate > 0 ? (double)(total - done) / rate : 0.0);
	} else {
		fprintf(stderr, "\r%s: %.1f %s (%.0f MiB/s)   ", p->what, (double)done / unit, uname,
			rate / (1 << 20));
	}
}

static void progress_end(struct progress *p)
{
	if (p->on && p->shown)
		fprintf(stderr, "\n");
}

/* ---- read and write -------------------------------------------------- */

/* An offset or length in bytes, or in sectors with --sectors. */
static int parse_pos(const char *s, bool sectors, uint64_t *out)
{
	if (parse_size(s, out) < 0)
		return -1;
	if (sectors) {
		if (*out > UINT64_MAX / 512) {
			size_why = "too many sectors (the limit is 16 EiB - 1 bytes)";
			return -1;
		}
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
	struct progress prog;
	uint64_t written = 0, total = 0;
	struct stat st;
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
	if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode))
		total = (uint64_t)st.st_size;
	progress_init(&prog, "write");
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
			progress_end(&prog);
			fail(&err);
			goto done;
		}
		off += n;
		written += n;
		progress_show(&prog, written, total > written ? total : written);
	}
	progress_end(&prog);
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
	progress_show(arg, done, total);
	return 0;
}

static int cmd_coalesce(const struct opts *o)
{
	struct sm_error err = { 0 };
	struct vhd_chain ch;
	char parent[sizeof(ch.path[0])];
	uint64_t copied = 0;
	struct progress prog;
	int rc;

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
	progress_init(&prog, "coalesce");
	rc = vhd_coalesce(o->argv[0], parent, &copied, print_progress, &prog, &err);
	progress_end(&prog);
	if (rc < 0)
		return fail(&err);
	printf("Coalesced %llu bytes\n", (unsigned long long)copied);
	return 0;
}

/*
 * Whether parent can stand under child: the same virtual size, and the
 * footer uuid the child was made from (its header's parent uuid), which
 * is what blktap checks before it reads anything.  Anything else is other
 * data under the child's unwritten sectors: only with --unsafe (qemu-img
 * rebase -u), for a parent the operator knows to hold the same data.
 */
static int parent_fits(const char *child, const char *parent, struct sm_error *err)
{
	struct vhd_info c, p;
	char want[37], have[37];

	if (vhd_query_path(child, &c, err) < 0 || vhd_query_path(parent, &p, err) < 0)
		return -1;
	if (c.type != VHD_TYPE_DIFF)
		return sm_fail(err, SME_VDI_TYPE, "%s: not a differencing disk", child);
	if (p.virtual_size != c.virtual_size)
		return sm_fail(err, SME_VDI_SIZE, "%s is %llu bytes, %s is %llu: a parent must have "
			       "its child's virtual size (--unsafe to re-point anyway)", parent,
			       (unsigned long long)p.virtual_size, child,
			       (unsigned long long)c.virtual_size);
	vhd_uuid_format(p.uuid, have);
	vhd_uuid_format(c.parent_uuid, want);
	if (memcmp(p.uuid, c.parent_uuid, 16) != 0)
		return sm_fail(err, SME_VDI_LOAD, "%s has uuid %s, but %s was made from %s: other "
			       "data (--unsafe to re-point anyway, as qemu-img rebase -u)", parent,
			       have, child, want);
	return 0;
}

static int cmd_set_parent(const struct opts *o)
{
	struct sm_error err = { 0 };

	if (o->argc != 2)
		return usage();
	if (!o->unsafe && parent_fits(o->argv[0], o->argv[1], &err) < 0)
		return fail(&err);
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

/* One line for one file (or one JSON object into w); -1 (after writing the error) on failure. */
static int scan_one(const char *path, bool phys, struct json_writer *w)
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
	if (w) {
		bool parent = info.type == VHD_TYPE_DIFF && info.parent_name[0];

		json_begin_object(w);
		json_kv_string(w, "vhd", base_name(path));
		json_kv_u64(w, "capacity", info.virtual_size);
		json_kv_u64(w, "size", size);
		json_kv_bool(w, "hidden", info.hidden);
		if (phys) {
			json_kv_u64(w, "phys_size", info.phys_size);
			json_kv_u64(w, "allocated_blocks", info.allocated_blocks);
		}
		json_kv_string(w, "parent", parent ? base_name(info.parent_name) : NULL);
		json_end_object(w);
		return 0;
	}
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
	if (w) {
		json_begin_object(w);
		json_kv_string(w, "vhd", path);
		json_key(w, "scan_error");
		json_i64(w, scan_errno(&err));
		json_kv_string(w, "error_message", err.detail[0] ? err.detail : "error");
		json_end_object(w);
		return rc;
	}
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
static int scan_dir(const char *dir, bool phys, struct json_writer *w)
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
		} else if (scan_one(path, phys, w) < 0) {
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
	struct sm_buf b = SM_BUF_INIT;
	struct json_writer jw, *w = o->json ? &jw : NULL;
	int rc = 0;

	if (o->argc < 1)
		return usage();
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	json_init(&jw, &b, true);
	json_begin_array(&jw);
	for (int i = 0; i < o->argc; i++) {
		struct stat st;

		if (stat(o->argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (scan_dir(o->argv[i], o->phys, w))
				rc = 1;
		} else if (scan_one(o->argv[i], o->phys, w) < 0) {
			rc = 1;
		}
	}
	json_end_array(&jw);
	if (w && json_emit(&jw, &b) != 0)
		rc = 1;
	buf_free(&b);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "vhdtool: write to stdout failed\n");
		rc = 1;
	}
	return rc;
}

/* ---- main ------------------------------------------------------------ */

static int run_create(const struct opts *o)
{
	return o->argc == 2 ? cmd_create(o->argv[0], o->argv[1]) : usage();
}

static int run_snapshot(const struct opts *o)
{
	return o->argc == 2 ? cmd_snapshot(o->argv[0], o->argv[1]) : usage();
}

static int run_set_hidden(const struct opts *o)
{
	return o->argc == 2 ? cmd_set_hidden(o->argv[0], o->argv[1]) : usage();
}

static int run_grow(const struct opts *o)
{
	return o->argc == 2 ? cmd_grow(o->argv[0], o->argv[1]) : usage();
}

static int run_grow_undo(const struct opts *o)
{
	return o->argc == 1 ? cmd_grow_undo(o->argv[0]) : usage();
}

#define SIZE_HELP "  Sizes are decimal bytes or take a binary unit: 4096, 512M, 10G, 1.5GiB.\n"

static const struct command commands[] = {
	{ "create", "", "<path> <size>",
	  "Create an empty dynamic VHD of <size> (rounded up to a whole 2 MiB block).\n"
	  SIZE_HELP, run_create },
	{ "query", "--chain --output", "[--chain] [--output=json] <path>",
	  "Print the image's footer and header fields as key=value lines; sizes as\n"
	  "  GiB with the bytes beside them: virtual_size=10.00 GiB (10737418240 bytes).\n"
	  "  --chain        one line per link of the chain, leaf first\n"
	  "  --output=json  one JSON object (an array of them with --chain)\n", cmd_query },
	{ "check", "--no-parent --parents --repair --output",
	  "[-p|--parents|--no-parent] [--repair] [--output=json] <path>...",
	  "Check every structure of each image and of every parent up to the root,\n"
	  "each link's parent uuid included (vhd-util check -p); \"<path> is valid\"\n"
	  "on stdout, the problem and the link it is in on stderr, exit 1 if any failed.\n"
	  "  -p, --parents  walk the parents (the default; vhd-util's flag)\n"
	  "  --no-parent    this image alone: do not open any parent\n"
	  "  --repair       first put right what a killed writer leaves behind\n"
	  "  --output=json  an array of {filename, valid, error, repaired, links,\n"
	  "                 broken_link}\n", cmd_check },
	{ "snapshot", "", "<child> <parent>",
	  "Create <child> as an empty differencing image of <parent>.\n", run_snapshot },
	{ "set-hidden", "", "<path> 0|1",
	  "Clear (0) or set (1) the hidden flag in the footer.\n", run_set_hidden },
	{ "set-parent", "--unsafe", "[--unsafe] <child> <parent>",
	  "Re-point <child> at <parent> (vhd-util modify -p).  Refused unless <parent>\n"
	  "has <child>'s virtual size and the uuid <child> was made from.\n"
	  "  --unsafe       re-point anyway (qemu-img rebase -u): the data is not\n"
	  "                 compared; only for a parent known to hold the same data\n",
	  cmd_set_parent },
	{ "grow", "", "<path> <size>",
	  "Grow the virtual size to <size>; <path>.undo exists while it runs.\n" SIZE_HELP,
	  run_grow },
	{ "grow-undo", "", "<path>",
	  "Roll back a grow that was cut short (a crash left <path>.undo).\n", run_grow_undo },
	{ "coalesce", "", "<child>",
	  "Copy <child>'s data into its parent; progress on a terminal, then\n"
	  "\"Coalesced N bytes\".  The child's children can then be re-pointed at\n"
	  "the parent with set-parent --unsafe (the data is the same, the uuid not).\n",
	  cmd_coalesce },
	{ "read", "--single --sectors", "[--single] [--sectors] <path> <offset> <len> [<out>]",
	  "Write <len> bytes of the guest's view from <offset> to <out> (default stdout).\n"
	  "  --single       this image alone, not through its parents\n"
	  "  --sectors      <offset> and <len> count 512-byte sectors\n" SIZE_HELP, cmd_read },
	{ "write", "--single --sectors", "[--single] [--sectors] <path> <offset> <file|->",
	  "Write <file> (or stdin) into the leaf at <offset>; holes are filled from the\n"
	  "chain.  Progress on a terminal.\n"
	  "  --single       this image alone, not through its parents\n"
	  "  --sectors      <offset> counts 512-byte sectors\n" SIZE_HELP, cmd_write },
	{ "scan", "--phys --output", "[--phys] [--output=json] <file...|dir>",
	  "One line per image, like vhd-util scan (a directory: its *.vhd files):\n"
	  "  vhd=<name> capacity=<bytes> size=<bytes> hidden=<0|1> parent=<name|none>\n"
	  "  --phys         add phys_size= and allocated_blocks= (reads the BAT)\n"
	  "  --output=json  an array of objects with the same fields\n"
	  "Exit 1 if any image could not be read.\n", cmd_scan },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void list_commands(FILE *f)
{
	fprintf(f, "usage: vhdtool <command> [options] [arguments]\n"
		   "       vhdtool help [<command>] | --help | --version\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].synopsis);
}

static int help(const char *name)
{
	const struct command *c = name ? find_command(name) : NULL;

	if (name && !c) {
		fprintf(stderr, "vhdtool: no command '%s'; 'vhdtool help' lists them\n", name);
		return 2;
	}
	if (c) {
		printf("usage: vhdtool %s %s\n\n%s", c->name, c->synopsis, c->help);
		return 0;
	}
	list_commands(stdout);
	printf("\n'vhdtool help <command>' says what a command does and which options it takes.\n"
	       "Errors go to stderr: exit 1 when the work failed, 2 for a usage error.\n"
	       "See also vhdtool(1).\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	struct opts o;
	int rc;

	if (!cmd)
		return usage();
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		return help(NULL);
	if (strcmp(cmd, "help") == 0)
		return argc > 3 ? usage() : help(argc == 3 ? argv[2] : NULL);
	if (strcmp(cmd, "--version") == 0) {
		printf("vhdtool %s\n", CSM_VERSION);
		return 0;
	}
	current = find_command(cmd);
	if (!current) {
		fprintf(stderr, "vhdtool: unknown command '%s'\n", cmd);
		return usage();
	}
	if (parse_opts(argc - 2, argv + 2, current->options, &o) < 0) {
		free(o.argv);
		return usage();
	}
	rc = o.help ? help(current->name) : current->run(&o);
	free(o.argv);
	return rc;
}
