/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The in-memory VDI store (csm/vstore_mem.h): the contract of csm/vstore.h
 * over a flat namespace of byte buffers, with a crash model (current and
 * durable bindings, current and synced bytes), a step counter to kill an
 * operation at any point, and injectable faults per op.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/util.h"
#include "csm/vstore_mem.h"

#define NAME_MAX_LEN 256
#define MEM_EXTENT (4ull * 1024 * 1024)   /* LVM-like rooms are whole extents */

/* Entry flags: they belong to the name, and are durable with it. */
#define F_UNFINISHED 0x1   /* LVM-like create not yet published: invisible */
#define F_RO         0x2   /* the store's read-only flag */
#define F_RAW_HIDDEN 0x4   /* the store's hidden flag of a raw image */
#define F_ODD        0x8   /* not a file (a directory, a link) */

struct mfile {
	int refs;
	uint8_t *data;
	size_t len, cap;
	uint8_t *synced;      /* the bytes of the last sync; NULL: never synced */
	size_t synced_len;
	uint64_t room;        /* LVM-like images: bytes it may hold */
	bool roomed;
	int64_t mtime;
	unsigned mark;
};

struct mentry {
	char name[NAME_MAX_LEN];
	struct mfile *f;
	unsigned flags;
};

struct mns {
	struct mentry *v;
	size_t n, cap;
};

struct fault_rule {
	bool on;
	unsigned nth, seen;
	int errnum;
};

struct activation {
	char uuid[37];
	int count;
};

struct vstore_mem {
	struct vstore vs;
	char sr_uuid[37];
	char host[128];
	struct mns cur, dur;
	bool lvm, gone;
	uint64_t capacity;
	struct fault_rule rule[VMEM_OP_COUNT];
	unsigned calls[VMEM_OP_COUNT];
	unsigned long steps, limit;
	bool limited, dead;
	unsigned gen, mark;
	int64_t clock;
	struct activation *act;
	size_t nact, capact;
	struct vhd_opener opener;
};

/* An open image: stale once the store has crashed (gen moved on). */
struct mio {
	struct vstore_mem *m;
	struct mfile *f;
	unsigned gen;
	bool rw;
};

static const struct vstore_ops mem_dir_ops, mem_lvm_ops;

static const char *const op_names[VMEM_OP_COUNT] = {
	"list", "find", "check", "exists", "clear",
	"create", "publish", "abandon", "open", "remove", "forget", "sync",
	"snap_keep", "snap_child", "snap_commit", "snap_undo",
	"take_over", "take_over_recover",
	"inflate", "deflate", "set_read_only", "raw_set_hidden", "space",
	"activate", "deactivate",
	"meta_read", "meta_write", "meta_lookup",
	"lock_read", "lock_write", "lock_remove", "is_locked",
	"active_set", "active_clear", "active_each",
	"journal_begin", "journal_end", "journal_lookup", "journal_replay",
	"sweep",
	"opener_open", "opener_unlink", "opener_sync_name",
	"io_read", "io_write", "io_truncate", "io_sync",
};

const char *vstore_mem_op_name(enum vstore_mem_op op)
{
	return op < VMEM_OP_COUNT ? op_names[op] : "?";
}

static struct vstore_mem *MEM(const struct vstore *vs)
{
	return (struct vstore_mem *)vs;
}

struct vstore_mem *vstore_mem_of(struct vstore *vs)
{
	return MEM(vs);
}

struct vstore *vstore_mem_vs(struct vstore_mem *m)
{
	return &m->vs;
}

static const char *ext_of(enum vstore_kind k)
{
	return k == VSTORE_RAW ? "raw" : "vhd";
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

/* ---- files --------------------------------------------------------------- */

/* A new file, with one reference: the caller's. */
static struct mfile *file_new(void)
{
	struct mfile *f = calloc(1, sizeof(struct mfile));

	if (f)
		f->refs = 1;
	return f;
}

static void file_ref(struct mfile *f)
{
	f->refs++;
}

static void file_unref(struct mfile *f)
{
	if (!f || --f->refs > 0)
		return;
	free(f->data);
	free(f->synced);
	free(f);
}

static int file_reserve(struct mfile *f, size_t len)
{
	size_t cap = f->cap ? f->cap : 4096;
	uint8_t *p;

	if (len <= f->cap)
		return 0;
	while (cap < len)
		cap *= 2;
	p = realloc(f->data, cap);
	if (!p)
		return -ENOMEM;
	f->data = p;
	f->cap = cap;
	return 0;
}

/* Set the length; new bytes read as zeroes. */
static int file_set_len(struct mfile *f, size_t len)
{
	if (file_reserve(f, len) < 0)
		return -ENOMEM;
	if (len > f->len)
		memset(f->data + f->len, 0, len - f->len);
	f->len = len;
	return 0;
}

static int file_sync(struct mfile *f)
{
	uint8_t *copy = malloc(f->len ? f->len : 1);

	if (!copy)
		return -ENOMEM;
	if (f->len)
		memcpy(copy, f->data, f->len);
	free(f->synced);
	f->synced = copy;
	f->synced_len = f->len;
	return 0;
}

/* A file holding data, synced (records, planted images). */
static struct mfile *file_with(const void *data, size_t len)
{
	struct mfile *f = file_new();

	if (!f)
		return NULL;
	if (file_set_len(f, len) < 0) {
		file_unref(f);
		return NULL;
	}
	if (len)
		memcpy(f->data, data, len);
	if (file_sync(f) < 0) {
		file_unref(f);
		return NULL;
	}
	return f;
}

/* ---- namespaces (no steps here: the callers count them) ------------------ */

static struct mentry *ns_get(const struct mns *ns, const char *name)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i].name, name) == 0)
			return &ns->v[i];
	return NULL;
}

static int ns_set(struct mns *ns, const char *name, struct mfile *f, unsigned flags)
{
	struct mentry *e = ns_get(ns, name);

	if (!e) {
		if (ns->n == ns->cap) {
			size_t cap = ns->cap ? ns->cap * 2 : 32;
			struct mentry *v = realloc(ns->v, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			ns->v = v;
			ns->cap = cap;
		}
		e = &ns->v[ns->n++];
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->f = NULL;
	}
	file_ref(f);
	file_unref(e->f);
	e->f = f;
	e->flags = flags;
	return 0;
}

static void ns_del(struct mns *ns, const char *name)
{
	struct mentry *e = ns_get(ns, name);

	if (!e)
		return;
	file_unref(e->f);
	*e = ns->v[--ns->n];
}

static void ns_clear(struct mns *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		file_unref(ns->v[i].f);
	ns->n = 0;
}

static int ns_copy(struct mns *to, const struct mns *from)
{
	ns_clear(to);
	for (size_t i = 0; i < from->n; i++)
		if (ns_set(to, from->v[i].name, from->v[i].f, from->v[i].flags) < 0)
			return -ENOMEM;
	return 0;
}

/* The durable binding of name becomes its current one. */
static int ns_mirror(struct vstore_mem *m, const char *name)
{
	struct mentry *e = ns_get(&m->cur, name);

	if (!e) {
		ns_del(&m->dur, name);
		return 0;
	}
	return ns_set(&m->dur, name, e->f, e->flags);
}

/* ---- faults and steps ------------------------------------------------------- */

/* 0, or the -errno op must fail with: a dead or gone store, an injected fault. */
static int enter(struct vstore_mem *m, enum vstore_mem_op op)
{
	struct fault_rule *r = &m->rule[op];

	m->calls[op]++;
	if (m->dead)
		return -EIO;
	if (r->on) {
		r->seen++;
		if (r->nth == 0 || r->seen == r->nth)
			return -r->errnum;
	}
	if (m->gone && op != VMEM_EXISTS)
		return -ENOENT;
	return 0;
}

/* One change: refused once the kill limit is reached (the process is dead). */
static int step(struct vstore_mem *m)
{
	if (m->dead)
		return -EIO;
	if (m->limited && m->steps >= m->limit) {
		m->dead = true;
		return -EIO;
	}
	m->steps++;
	return 0;
}

/* A failure as a fault: a dead store is unavailable, as a timeout is. */
static int mem_fail(struct vstore_mem *m, struct sm_error *err, int code, int rc,
		    const char *what, const char *name)
{
	if (m->dead || m->gone || rc == -ETIMEDOUT)
		code = SME_SR_UNAVAILABLE;   /* the store, not the step, is what failed */
	return sm_fail_errno(err, code, -rc, "%s mem://%s/%s", what, m->sr_uuid, name);
}

static bool bound(const struct vstore_mem *m, const char *name)
{
	return ns_get(&m->cur, name) != NULL;
}

static int do_bind(struct vstore_mem *m, const char *name, struct mfile *f, unsigned flags)
{
	int rc = step(m);

	if (rc == 0)
		rc = ns_set(&m->cur, name, f, flags);
	if (rc == 0 && m->lvm)
		rc = ns_mirror(m, name);   /* LVM metadata commits as it changes */
	return rc;
}

static int do_unbind(struct vstore_mem *m, const char *name)
{
	int rc;

	if (!bound(m, name))
		return -ENOENT;
	if ((rc = step(m)) < 0)
		return rc;
	ns_del(&m->cur, name);
	return m->lvm ? ns_mirror(m, name) : 0;
}

/* from's file under the name to (replacing it only when over, never LVM-like). */
static int do_rename(struct vstore_mem *m, const char *from, const char *to, bool over)
{
	struct mentry *e = ns_get(&m->cur, from);
	struct mfile *f;
	unsigned flags;
	int rc;

	if (!e)
		return -ENOENT;
	if (bound(m, to) && (!over || m->lvm))
		return -EEXIST;
	if ((rc = step(m)) < 0)
		return rc;
	f = e->f;
	flags = e->flags;
	file_ref(f);
	rc = ns_set(&m->cur, to, f, flags);
	file_unref(f);
	if (rc < 0)
		return rc;
	ns_del(&m->cur, from);
	if (m->lvm && (rc = ns_mirror(m, to)) == 0)
		rc = ns_mirror(m, from);
	return rc;
}

static int do_commit(struct vstore_mem *m, const char *name)
{
	int rc = step(m);

	return rc < 0 ? rc : ns_mirror(m, name);
}

static int do_commit_all(struct vstore_mem *m)
{
	int rc = step(m);

	return rc < 0 ? rc : ns_copy(&m->dur, &m->cur);
}

/* Flags of a bound name, durably. */
static int do_flags(struct vstore_mem *m, const char *name, unsigned set, unsigned clear)
{
	struct mentry *e = ns_get(&m->cur, name);
	int rc;

	if (!e)
		return -ENOENT;
	if ((rc = step(m)) < 0)
		return rc;
	e->flags = (e->flags | set) & ~clear;
	return ns_mirror(m, name);
}

/* A small record written atomically and durably: old or new after any crash. */
static int write_record(struct vstore_mem *m, const char *name, const char *text)
{
	struct mfile *f = file_with(text, strlen(text));
	int rc;

	if (!f)
		return -ENOMEM;
	rc = do_bind(m, name, f, 0);
	file_unref(f);
	return rc < 0 ? rc : do_commit(m, name);
}

/* A NUL-terminated copy of a record's bytes (free it): 0, -ENOENT. */
static int read_record(struct vstore_mem *m, const char *name, char **text)
{
	struct mentry *e = ns_get(&m->cur, name);

	*text = NULL;
	if (!e)
		return -ENOENT;
	if (e->flags & F_ODD)
		return -EISDIR;
	*text = malloc(e->f->len + 1);
	if (!*text)
		return -ENOMEM;
	if (e->f->len)
		memcpy(*text, e->f->data, e->f->len);
	(*text)[e->f->len] = '\0';
	return 0;
}

/* ---- space ------------------------------------------------------------------- */

static uint64_t used_bytes(const struct vstore_mem *cm)
{
	struct vstore_mem *m = (struct vstore_mem *)cm;
	uint64_t used = 0;

	m->mark++;
	for (size_t i = 0; i < m->cur.n; i++) {
		struct mfile *f = m->cur.v[i].f;

		if (f->mark == m->mark)
			continue;   /* a second name of the same file */
		f->mark = m->mark;
		used += m->lvm && f->roomed ? f->room : f->len;
	}
	return used;
}

uint64_t vstore_mem_used(const struct vstore_mem *m)
{
	return used_bytes(m);
}

/* May f grow to len?  LVM-like images within their room; the rest within the capacity. */
static int may_grow(struct vstore_mem *m, struct mfile *f, uint64_t len)
{
	if (len <= f->len)
		return 0;
	if (m->lvm && f->roomed)
		return len > f->room ? -ENOSPC : 0;
	return used_bytes(m) - f->len + len > m->capacity ? -ENOSPC : 0;
}

/* ---- byte I/O ------------------------------------------------------------------ */

static int io_live(struct mio *io)
{
	if (io->gen != io->m->gen)
		return -ESTALE;   /* opened before a crash */
	return io->m->dead ? -EIO : 0;
}

static int mio_pread(struct vhd_io *io, void *buf, size_t len, uint64_t off)
{
	struct mio *p = io->priv;
	int rc = io_live(p);

	if (rc == 0)
		rc = enter(p->m, VMEM_IO_READ);
	if (rc < 0)
		return rc;
	if (off > p->f->len || len > p->f->len - off)
		return -EIO;
	if (len)
		memcpy(buf, p->f->data + off, len);
	return 0;
}

static int mio_pwrite(struct vhd_io *io, const void *buf, size_t len, uint64_t off)
{
	struct mio *p = io->priv;
	int rc = io_live(p);

	if (rc == 0)
		rc = enter(p->m, VMEM_IO_WRITE);
	if (rc == 0 && !p->rw)
		rc = -EBADF;
	if (rc == 0)
		rc = may_grow(p->m, p->f, off + len);
	if (rc == 0)
		rc = step(p->m);
	if (rc == 0 && off + len > p->f->len)
		rc = file_set_len(p->f, off + len);
	if (rc < 0)
		return rc;
	if (len)
		memcpy(p->f->data + off, buf, len);
	p->f->mtime = ++p->m->clock;
	return 0;
}

static int mio_get_size(struct vhd_io *io, uint64_t *size)
{
	struct mio *p = io->priv;
	int rc = io_live(p);

	if (rc == 0)
		*size = p->f->len;
	return rc;
}

static int mio_truncate(struct vhd_io *io, uint64_t size)
{
	struct mio *p = io->priv;
	int rc = io_live(p);

	if (rc == 0)
		rc = enter(p->m, VMEM_IO_TRUNCATE);
	if (rc == 0 && !p->rw)
		rc = -EBADF;
	if (rc == 0)
		rc = may_grow(p->m, p->f, size);
	if (rc == 0)
		rc = step(p->m);
	if (rc == 0)
		rc = file_set_len(p->f, size);
	if (rc == 0)
		p->f->mtime = ++p->m->clock;
	return rc;
}

static int mio_sync(struct vhd_io *io)
{
	struct mio *p = io->priv;
	int rc = io_live(p);

	if (rc == 0)
		rc = enter(p->m, VMEM_IO_SYNC);
	if (rc == 0)
		rc = step(p->m);
	return rc < 0 ? rc : file_sync(p->f);
}

static int mio_get_mtime(struct vhd_io *io, int64_t *mtime)
{
	struct mio *p = io->priv;
	int rc = io_live(p);

	if (rc == 0)
		*mtime = 1700000000 + p->f->mtime;
	return rc;
}

static void mio_close(struct vhd_io *io)
{
	struct mio *p = io->priv;

	if (!p)
		return;
	file_unref(p->f);
	free(p);
}

static const struct vhd_io_ops mio_ops = {
	.pread = mio_pread, .pwrite = mio_pwrite, .get_size = mio_get_size,
	.truncate = mio_truncate, .sync = mio_sync, .get_mtime = mio_get_mtime,
	.close = mio_close,
};

static int io_attach(struct vstore_mem *m, struct mfile *f, const char *name, bool rw,
		     struct vhd_io *io)
{
	struct mio *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->m = m;
	p->f = f;
	p->gen = m->gen;
	p->rw = rw;
	file_ref(f);
	memset(io, 0, sizeof(*io));
	io->ops = &mio_ops;
	io->priv = p;
	snprintf(io->name, sizeof(io->name), "mem://%s/%s", m->sr_uuid, name);
	return 0;
}

/* ---- names -------------------------------------------------------------------- */

static void image_of(const char *uuid, enum vstore_kind kind, char out[NAME_MAX_LEN])
{
	snprintf(out, NAME_MAX_LEN, "%s.%s", uuid, ext_of(kind));
}

static void mem_image_name(const struct vstore *vs, const char *uuid, enum vstore_kind kind,
			   char *out, size_t cap)
{
	snprintf(out, cap, "%s.%s", uuid, ext_of(kind));
}

static void mem_describe(const struct vstore *vs, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "mem://%s/%s", MEM(vs)->sr_uuid, name);
}

static void mem_locator(const struct vstore *vs, const char *parent_uuid, char *out, size_t cap)
{
	snprintf(out, cap, "./%s.vhd", parent_uuid);
}

static void mem_parent_uuid(const struct vstore *vs, const struct vhd_info *info, char out[37])
{
	vstore_file_parent_uuid(info, out);
}

/* A published image: bound, finished. */
static struct mentry *image_entry(struct vstore_mem *m, const char *uuid, enum vstore_kind kind)
{
	char name[NAME_MAX_LEN];
	struct mentry *e = NULL;

	image_of(uuid, kind, name);
	e = ns_get(&m->cur, name);
	return e && !(e->flags & F_UNFINISHED) ? e : NULL;
}

/* ---- listing and lookup ------------------------------------------------------------ */

static enum vstore_kind entry_kind(const char *name, char uuid[37])
{
	if (strlen(name) != 40 || name[36] != '.')
		return VSTORE_NONE;
	memcpy(uuid, name, 36);
	uuid[36] = '\0';
	if (!sm_uuid_valid(uuid))
		return VSTORE_NONE;
	if (strcmp(name + 37, "vhd") == 0)
		return VSTORE_VHD;
	if (strcmp(name + 37, "raw") == 0)
		return VSTORE_RAW;
	return VSTORE_NONE;
}

static void image_read(struct vstore_mem *m, const struct mentry *e, bool full,
		       struct vstore_image *n)
{
	struct sm_error err = { 0 };
	struct vhd_io io = { 0 };
	char rec[NAME_MAX_LEN];

	snprintf(rec, sizeof(rec), "%s.meta", n->uuid);
	if (bound(m, rec))
		n->records |= VSTORE_HAS_META;
	snprintf(rec, sizeof(rec), "%s.lock", n->uuid);
	if (bound(m, rec))
		n->records |= VSTORE_HAS_LOCK;
	if (e->flags & F_ODD) {
		snprintf(n->error, sizeof(n->error), "%.200s is not a regular file", e->name);
		n->parent_unknown = n->kind == VSTORE_VHD;
		return;
	}
	n->phys_size = e->f->len;
	if (n->kind == VSTORE_RAW) {
		n->virtual_size = e->f->len;
		n->hidden = e->flags & F_RAW_HIDDEN;
		return;
	}
	if (io_attach(m, e->f, e->name, false, &io) < 0 ||
	    (full ? vhd_query(&io, &n->info, &err) : vhd_query_fast(&io, &n->info, &err)) < 0) {
		snprintf(n->error, sizeof(n->error), "%.255s",
			 err.detail[0] ? err.detail : "out of memory");
		memset(&n->info, 0, sizeof(n->info));
		if (!io.ops || !full || vhd_query_fast(&io, &n->info, NULL) < 0)
			n->parent_unknown = true;
	}
	vhd_io_close(&io);
	if (!n->parent_unknown)
		mem_parent_uuid(&m->vs, &n->info, n->parent);
	n->virtual_size = n->info.virtual_size;
	n->hidden = n->info.hidden;
	n->allocated = (uint64_t)n->info.allocated_blocks * VHD_BLOCK_SIZE;
}

static int image_cmp(const void *a, const void *b)
{
	return strcmp(((const struct vstore_image *)a)->uuid, ((const struct vstore_image *)b)->uuid);
}

static int mem_list(struct vstore *vs, bool full, vstore_list_fn fn, void *arg,
		    struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	struct vstore_image *img;
	size_t count = 0;
	int rc = enter(m, VMEM_LIST);

	if (rc < 0)
		return mem_fail(m, err, SME_SR_UNAVAILABLE, rc, "cannot list", "");
	/* Read every image first: fn may change the store. */
	img = calloc(m->cur.n + 1, sizeof(*img));
	if (!img)
		return sm_fail(err, SME_GENERIC, "out of memory");
	for (size_t i = 0; i < m->cur.n; i++) {
		const struct mentry *e = &m->cur.v[i];
		struct vstore_image *n = &img[count];

		if (e->flags & F_UNFINISHED)
			continue;
		n->kind = entry_kind(e->name, n->uuid);
		if (n->kind == VSTORE_NONE)
			continue;
		image_read(m, e, full, n);
		count++;
	}
	qsort(img, count, sizeof(*img), image_cmp);
	rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = fn(arg, &img[i]);
	free(img);
	return rc;
}

static int mem_find(struct vstore *vs, const char *uuid, enum vstore_kind *kind, int code,
		    struct sm_error *err)
{
	static const enum vstore_kind kinds[] = { VSTORE_VHD, VSTORE_RAW };
	struct vstore_mem *m = MEM(vs);
	int rc = enter(m, VMEM_FIND);

	*kind = VSTORE_NONE;
	if (rc < 0)
		return mem_fail(m, err, code, rc, "cannot tell whether an image exists:", uuid);
	for (size_t i = 0; i < 2; i++) {
		struct mentry *e = image_entry(m, uuid, kinds[i]);

		if (!e)
			continue;
		if (e->flags & F_ODD)
			return sm_fail(err, code, "%s is not a regular file; it is left alone", e->name);
		*kind = kinds[i];
		return 0;
	}
	return 0;
}

static int mem_check(struct vstore *vs, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	int rc = enter(m, VMEM_CHECK);

	return rc < 0 ? mem_fail(m, err, SME_SR_UNAVAILABLE, rc, "store", "") : 0;
}

static int mem_exists(struct vstore *vs)
{
	struct vstore_mem *m = MEM(vs);
	int rc = enter(m, VMEM_EXISTS);

	return rc < 0 ? rc : !m->gone;
}

/* Every name under prefix, copied (the caller may change the namespace meanwhile). */
static char (*names_under(struct vstore_mem *m, const char *prefix, size_t *count))[NAME_MAX_LEN]
{
	char (*v)[NAME_MAX_LEN] = calloc(m->cur.n + 1, NAME_MAX_LEN);
	size_t n = 0, plen = strlen(prefix);

	*count = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < m->cur.n; i++)
		if (strncmp(m->cur.v[i].name, prefix, plen) == 0)
			memcpy(v[n++], m->cur.v[i].name, NAME_MAX_LEN);
	qsort(v, n, NAME_MAX_LEN, (int (*)(const void *, const void *))strcmp);
	*count = n;
	return v;
}

/* Remove every name under prefix, durably. */
static int drop_under(struct vstore_mem *m, const char *prefix)
{
	size_t n;
	char (*v)[NAME_MAX_LEN] = names_under(m, prefix, &n);
	int rc = v ? 0 : -ENOMEM;

	for (size_t i = 0; i < n && rc == 0; i++)
		if ((rc = do_unbind(m, v[i])) == 0)
			rc = do_commit(m, v[i]);
	free(v);
	return rc;
}

static int mem_clear(struct vstore *vs, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	int rc = enter(m, VMEM_CLEAR);

	if (rc == 0)
		rc = drop_under(m, "journal/");
	if (rc == 0)
		rc = drop_under(m, "active/");
	return rc < 0 ? mem_fail(m, err, SME_SR_UNAVAILABLE, rc, "cannot clear", "journal/") : 0;
}

/* ---- create, publish, abandon ------------------------------------------------------- */

static void tmp_of(const char *uuid, enum vstore_kind kind, char out[NAME_MAX_LEN])
{
	snprintf(out, NAME_MAX_LEN, ".%s.%s.tmp", uuid, ext_of(kind));
}

/* A new file bound to name (flags), open RDWR in io; LVM-like: with room bytes. */
static int make_file(struct vstore_mem *m, const char *name, unsigned flags, bool roomed,
		     uint64_t room, struct vhd_io *io)
{
	struct mfile *f;
	int rc;

	if (roomed && m->lvm && used_bytes(m) + room > m->capacity)
		return -ENOSPC;
	f = file_new();
	if (!f)
		return -ENOMEM;
	f->roomed = roomed && m->lvm;
	f->room = f->roomed ? room : 0;
	rc = do_bind(m, name, f, flags);
	if (rc == 0 && io)
		rc = io_attach(m, f, name, true, io);
	if (rc < 0 && bound(m, name) && ns_get(&m->cur, name)->f == f)
		do_unbind(m, name);
	file_unref(f);
	return rc;
}

static int mem_create(struct vstore *vs, const char *uuid, enum vstore_kind kind, uint64_t room,
		      struct vhd_io *io, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN];
	int rc = enter(m, VMEM_CREATE);

	if (rc < 0)
		return mem_fail(m, err, SME_VDI_CREATE, rc, "cannot create", uuid);
	if (m->lvm) {
		image_of(uuid, kind, name);
		if (bound(m, name) && !(ns_get(&m->cur, name)->flags & F_UNFINISHED))
			return mem_fail(m, err, SME_VDI_EXISTS, -EEXIST, "", name);
		if (bound(m, name) && (rc = do_unbind(m, name)) < 0)   /* a killed create's */
			return mem_fail(m, err, SME_VDI_CREATE, rc, "cannot remove", name);
		rc = make_file(m, name, F_UNFINISHED, true, room, io);
	} else {
		tmp_of(uuid, kind, name);
		if (bound(m, name) && (rc = do_unbind(m, name)) < 0)
			return mem_fail(m, err, SME_VDI_CREATE, rc, "cannot remove", name);
		rc = make_file(m, name, 0, false, 0, io);
	}
	return rc < 0 ? mem_fail(m, err, SME_VDI_CREATE, rc, "cannot create", name) : 0;
}

static int publish_lvm(struct vstore_mem *m, const char *name, struct sm_error *err)
{
	struct mentry *e = ns_get(&m->cur, name);
	int rc;

	if (!e || !(e->flags & F_UNFINISHED))
		return mem_fail(m, err, SME_VDI_CREATE, -ENOENT, "nothing to publish:", name);
	rc = do_flags(m, name, 0, F_UNFINISHED);
	if (rc < 0) {
		do_unbind(m, name);
		return mem_fail(m, err, SME_VDI_CREATE, rc, "cannot publish", name);
	}
	return 0;
}

static int publish_dir(struct vstore_mem *m, const char *tmp, const char *name,
		       struct sm_error *err)
{
	struct mentry *t = ns_get(&m->cur, tmp);
	int rc;

	if (!t)
		return mem_fail(m, err, SME_VDI_CREATE, -ENOENT, "nothing to publish:", tmp);
	if (bound(m, name)) {
		mem_fail(m, err, SME_VDI_EXISTS, -EEXIST, "", name);
		goto fail;
	}
	/* link, unlink the temporary, sync: as the directory store does */
	rc = do_bind(m, name, t->f, 0);
	if (rc == 0)
		rc = do_unbind(m, tmp);
	if (rc == 0 && (rc = do_commit(m, name)) == 0)
		rc = do_commit(m, tmp);
	return rc < 0 ? mem_fail(m, err, SME_VDI_CREATE, rc, "cannot publish", name) : 0;
fail:
	do_unbind(m, tmp);
	return -1;
}

static int mem_publish(struct vstore *vs, const char *uuid, enum vstore_kind kind,
		       struct vhd_io *io, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char tmp[NAME_MAX_LEN], name[NAME_MAX_LEN];
	int rc = enter(m, VMEM_PUBLISH);

	tmp_of(uuid, kind, tmp);
	image_of(uuid, kind, name);
	if (rc == 0 && io->ops)
		rc = io->ops->sync(io);
	vhd_io_close(io);
	if (rc < 0) {
		mem_fail(m, err, SME_VDI_CREATE, rc, "cannot publish", name);
		if (m->lvm) {
			struct mentry *e = ns_get(&m->cur, name);

			if (e && (e->flags & F_UNFINISHED))
				do_unbind(m, name);
		} else {
			do_unbind(m, tmp);
		}
		return -1;
	}
	return m->lvm ? publish_lvm(m, name, err) : publish_dir(m, tmp, name, err);
}

/* Unbind and commit name if bound; the first error is kept in *rc. */
static void drop(struct vstore_mem *m, const char *name, bool commit, int *rc)
{
	int r = 0;

	if (bound(m, name))
		r = do_unbind(m, name);
	if (r == 0 && commit)
		r = do_commit(m, name);
	if (r < 0 && *rc == 0)
		*rc = r;
}

static int forget_records(struct vstore_mem *m, const char *uuid, bool commit)
{
	char name[NAME_MAX_LEN];
	int rc = 0;

	snprintf(name, sizeof(name), "%s.meta", uuid);
	drop(m, name, commit, &rc);
	snprintf(name, sizeof(name), "%s.lock", uuid);
	drop(m, name, commit, &rc);
	return rc;
}

/* Every step is tried; the first failure is the one reported. */
static int mem_abandon(struct vstore *vs, const char *uuid, struct sm_error *err)
{
	static const enum vstore_kind kinds[] = { VSTORE_VHD, VSTORE_RAW };
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN];
	int rc = enter(m, VMEM_ABANDON), r;

	if (rc < 0)
		return mem_fail(m, err, SME_VDI_DELETE, rc, "cannot abandon", uuid);
	for (size_t i = 0; i < 2; i++) {
		image_of(uuid, kinds[i], name);
		drop(m, name, true, &rc);
		tmp_of(uuid, kinds[i], name);
		drop(m, name, true, &rc);
	}
	if ((r = forget_records(m, uuid, true)) < 0 && rc == 0)
		rc = r;
	return rc < 0 ? mem_fail(m, err, SME_VDI_DELETE, rc, "cannot abandon", uuid) : 0;
}

/* ---- open, remove --------------------------------------------------------------------- */

static int mem_open(struct vstore *vs, const char *uuid, enum vstore_kind kind, int flags,
		    struct vhd_io *io, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN];
	struct mentry *e = NULL;
	int rc = enter(m, VMEM_OPEN);

	image_of(uuid, kind, name);
	if (rc < 0)
		return mem_fail(m, err, SME_VDI_LOAD, rc, "cannot open", name);
	e = image_entry(m, uuid, kind);
	if (!e)
		return mem_fail(m, err, SME_VDI_MISSING, -ENOENT, "cannot open", name);
	if (e->flags & F_ODD)
		return sm_fail(err, SME_VDI_LOAD, "%s is not a regular file", name);
	if ((flags & VHD_IO_RDWR) && (e->flags & F_RO))
		return mem_fail(m, err, SME_VDI_LOAD, -EROFS, "cannot open", name);
	rc = io_attach(m, e->f, name, flags & VHD_IO_RDWR, io);
	return rc < 0 ? mem_fail(m, err, SME_VDI_LOAD, rc, "cannot open", name) : 0;
}

static int mem_remove(struct vstore *vs, const char *uuid, enum vstore_kind kind, bool nosync,
		      struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN];
	int rc = enter(m, VMEM_REMOVE);

	image_of(uuid, kind, name);
	if (rc == 0)
		drop(m, name, !nosync, &rc);
	if (rc == 0)
		rc = forget_records(m, uuid, !nosync);
	return rc < 0 ? mem_fail(m, err, SME_VDI_DELETE, rc, "cannot remove", name) : 0;
}

static int mem_forget(struct vstore *vs, const char *uuid, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	int rc = enter(m, VMEM_FORGET);

	if (rc == 0)
		rc = forget_records(m, uuid, false);
	return rc < 0 ? mem_fail(m, err, SME_VDI_DELETE, rc, "cannot remove the records of", uuid)
		      : 0;
}

static int mem_sync(struct vstore *vs, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	int rc = enter(m, VMEM_SYNC);

	if (rc == 0)
		rc = do_commit_all(m);
	return rc < 0 ? mem_fail(m, err, SME_SR_UNAVAILABLE, rc, "cannot sync", "") : 0;
}

/* ---- room (LVM-like) ------------------------------------------------------------------------ */

static uint64_t mem_room_for(const struct vstore *vs, uint64_t virt, enum vstore_fit fit,
			     uint64_t data)
{
	uint64_t blocks = (virt + VHD_BLOCK_SIZE - 1) / VHD_BLOCK_SIZE;
	/* footers, header, BAT, batmap, and slack for alignment */
	uint64_t bytes = 64 * 1024 + round_up(blocks * 4, 512) + round_up((blocks + 7) / 8, 512);

	if (fit == VSTORE_FIT_FULL)
		bytes += blocks * (VHD_BLOCK_SIZE + 512);
	else if (fit == VSTORE_FIT_DATA)
		bytes += data + (data + VHD_BLOCK_SIZE - 1) / VHD_BLOCK_SIZE * 512;
	return round_up(bytes, MEM_EXTENT);
}

/* The image of uuid, of either kind. */
static struct mentry *any_image(struct vstore_mem *m, const char *uuid)
{
	struct mentry *e = image_entry(m, uuid, VSTORE_VHD);

	return e ? e : image_entry(m, uuid, VSTORE_RAW);
}

static int set_room(struct vstore_mem *m, struct mfile *f, uint64_t room)
{
	int rc;

	if (room > f->room && used_bytes(m) - f->room + room > m->capacity)
		return -ENOSPC;
	if ((rc = step(m)) < 0)
		return rc;
	f->room = room;
	return 0;
}

static int mem_inflate(struct vstore *vs, const char *uuid, uint64_t room, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	struct mentry *e = NULL;
	int rc = enter(m, VMEM_INFLATE);

	if (rc == 0 && !(e = any_image(m, uuid)))
		rc = -ENOENT;
	if (rc == 0 && e->f->room < room)
		rc = set_room(m, e->f, room);
	return rc < 0 ? mem_fail(m, err, rc == -ENOENT ? SME_VDI_MISSING : SME_SM_GENERAL, rc,
				 "cannot inflate", uuid) : 0;
}

static int deflate_entry(struct vstore_mem *m, struct mentry *e)
{
	uint64_t room = round_up(e->f->len ? e->f->len : 1, MEM_EXTENT);

	return room < e->f->room ? set_room(m, e->f, room) : 0;
}

static int mem_deflate(struct vstore *vs, const char *uuid, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	struct mentry *e = NULL;
	int rc = enter(m, VMEM_DEFLATE);

	if (rc == 0 && !(e = any_image(m, uuid)))
		rc = -ENOENT;
	if (rc == 0)
		rc = deflate_entry(m, e);
	return rc < 0 ? mem_fail(m, err, rc == -ENOENT ? SME_VDI_MISSING : SME_SM_GENERAL, rc,
				 "cannot deflate", uuid) : 0;
}

/* ---- snapshot steps ------------------------------------------------------------------------- */

/* Where an LVM-like store parks a leaf while another image takes its name. */
static void old_of(const char *l, char out[NAME_MAX_LEN])
{
	snprintf(out, NAME_MAX_LEN, "OLD_%s.vhd", l);
}

static int mem_snap_keep(struct vstore *vs, const char *src, const char *base, int code,
			 struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char s[NAME_MAX_LEN], b[NAME_MAX_LEN];
	struct mentry *e = NULL;
	int rc = enter(m, VMEM_SNAP_KEEP);

	image_of(src, VSTORE_VHD, s);
	image_of(base, VSTORE_VHD, b);
	if (rc == 0 && !(e = image_entry(m, src, VSTORE_VHD)))
		rc = -ENOENT;
	if (rc == 0 && bound(m, b))
		rc = -EEXIST;
	if (rc == 0 && !m->lvm)
		rc = do_bind(m, b, e->f, e->flags);     /* a second name of the same data */
	if (rc == 0 && m->lvm && (rc = do_rename(m, s, b, false)) == 0)
		rc = deflate_entry(m, ns_get(&m->cur, b));
	return rc < 0 ? mem_fail(m, err, code, rc, "cannot keep as", b) : 0;
}

/* An empty child of parent bound to name (exclusive), data synced. */
static int make_child(struct vstore_mem *m, const char *name, const char *parent, uint64_t size,
		      int code, struct sm_error *err)
{
	struct vhd_io pio = { 0 }, cio = { 0 };
	struct vhd_info pinfo;
	char loc[64];
	struct mentry *p = image_entry(m, parent, VSTORE_VHD);
	uint64_t room = 0;
	int rc;

	if (!p)
		return mem_fail(m, err, code, -ENOENT, "no parent", parent);
	if (bound(m, name))
		return mem_fail(m, err, code, -EEXIST, "", name);
	if ((rc = io_attach(m, p->f, p->name, false, &pio)) < 0)
		return mem_fail(m, err, code, rc, "cannot open", parent);
	if (m->lvm) {
		if (vhd_query_fast(&pio, &pinfo, err) < 0)
			goto fail;
		room = mem_room_for(&m->vs, size ? size : pinfo.virtual_size, VSTORE_FIT_EMPTY, 0);
	}
	if ((rc = make_file(m, name, 0, true, room, &cio)) < 0) {
		mem_fail(m, err, code, rc, "cannot create", name);
		goto fail;
	}
	mem_locator(&m->vs, parent, loc, sizeof(loc));
	if (vhd_create_diff(&cio, &pio, loc, size, err) < 0)
		goto unmake;
	if ((rc = cio.ops->sync(&cio)) < 0) {
		mem_fail(m, err, code, rc, "cannot sync", name);
		goto unmake;
	}
	vhd_io_close(&cio);
	vhd_io_close(&pio);
	return 0;
unmake:
	vhd_io_close(&cio);
	do_unbind(m, name);
fail:
	vhd_io_close(&pio);
	sm_error_recode(err, code);
	return -1;
}

/*
 * LVM-like, the leaf still named (a clone of an empty leaf reuses its
 * parent: no snap_keep moved it away): the child is made aside, the leaf
 * parked as OLD_<uuid>, the child renamed in, the leaf removed.  snap_undo
 * puts a parked leaf back.
 */
static int replace_lvm(struct vstore_mem *m, const char *name, const char *tmp, const char *uuid,
		       int code, struct sm_error *err)
{
	char old[NAME_MAX_LEN];
	int rc;

	old_of(uuid, old);
	rc = do_rename(m, name, old, false);
	if (rc == 0)
		rc = do_rename(m, tmp, name, false);
	if (rc == 0)
		rc = do_unbind(m, old);
	return rc < 0 ? mem_fail(m, err, code, rc, "cannot replace", name) : 0;
}

static int mem_snap_child(struct vstore *vs, const char *uuid, const char *parent,
			  uint64_t size, bool replace, int code, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN], tmp[NAME_MAX_LEN];
	int rc = enter(m, VMEM_SNAP_CHILD);

	image_of(uuid, VSTORE_VHD, name);
	if (rc < 0)
		return mem_fail(m, err, code, rc, "cannot create", name);
	/* LVM-like names are never replaced: snap_keep moved the leaf's away. */
	if (!replace || (m->lvm && !bound(m, name)))
		return make_child(m, name, parent, size, code, err);
	snprintf(tmp, sizeof(tmp), "%s.vhd.new", uuid);
	if (bound(m, tmp) && (rc = do_unbind(m, tmp)) < 0)
		return mem_fail(m, err, code, rc, "cannot remove", tmp);
	if (make_child(m, tmp, parent, size, code, err) < 0)
		return -1;
	if (m->lvm)
		return replace_lvm(m, name, tmp, uuid, code, err);
	rc = do_rename(m, tmp, name, true);
	return rc < 0 ? mem_fail(m, err, code, rc, "cannot rename", tmp) : 0;
}

static int mem_snap_commit(struct vstore *vs, int code, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	int rc = enter(m, VMEM_SNAP_COMMIT);

	if (rc == 0)
		rc = do_commit_all(m);
	return rc < 0 ? mem_fail(m, err, code, rc, "cannot commit", "") : 0;
}

static int set_vhd_hidden(struct vstore_mem *m, struct mfile *f, const char *name, bool hidden)
{
	struct vhd_io io = { 0 };
	int rc = io_attach(m, f, name, true, &io);

	if (rc == 0)
		rc = vhd_set_hidden(&io, hidden, NULL);
	if (rc == 0)
		rc = io.ops->sync(&io);
	vhd_io_close(&io);
	return rc;
}

/* base holds the original data, src does not: base back under src's name, visible. */
static void restore_base(struct vstore_mem *m, const char *s, const char *b, int *rc)
{
	struct mentry *e = ns_get(&m->cur, b);

	if (set_vhd_hidden(m, e->f, b, false) < 0 && *rc == 0)
		*rc = -EIO;
	if (*rc == 0 && (e = ns_get(&m->cur, b)) && (e->flags & F_RO))
		*rc = do_flags(m, b, 0, F_RO);
	if (m->lvm)
		drop(m, s, false, rc);
	if (*rc == 0)
		*rc = do_rename(m, b, s, true);
}

/*
 * src visible, whatever state the crash left: the base's hidden flag is
 * written into the original's bytes (both footers, one after the other),
 * which may outlive the names that made it a base (host crash before
 * snap_commit).  Both footers are rewritten: one may be torn.
 */
static void unhide(struct vstore_mem *m, const char *s, int *rc)
{
	struct mentry *e = ns_get(&m->cur, s);
	struct vhd_io io = { 0 };
	struct vhd_info info;
	bool vhd;

	if (*rc < 0 || !e || (e->flags & F_ODD) || io_attach(m, e->f, s, false, &io) < 0)
		return;
	vhd = vhd_query_fast(&io, &info, NULL) == 0;
	vhd_io_close(&io);
	if (vhd && set_vhd_hidden(m, e->f, s, false) < 0)
		*rc = -EIO;
}

static int mem_snap_undo(struct vstore *vs, const char *src, const char *base,
			 const char *clone, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char s[NAME_MAX_LEN], b[NAME_MAX_LEN], name[NAME_MAX_LEN];
	int rc = enter(m, VMEM_SNAP_UNDO), r;

	if (rc < 0)
		return mem_fail(m, err, SME_VDI_SNAPSHOT, rc, "cannot undo the snapshot of", src);
	image_of(src, VSTORE_VHD, s);
	snprintf(name, sizeof(name), "%s.vhd.new", src);
	drop(m, name, false, &rc);
	old_of(src, name);
	if (bound(m, name) && rc == 0) {
		/* LVM-like: killed while a replacing child took the leaf's name */
		drop(m, s, false, &rc);
		if (rc == 0)
			rc = do_rename(m, name, s, false);
	}
	if (clone && clone[0]) {
		image_of(clone, VSTORE_VHD, name);
		drop(m, name, false, &rc);
		if ((r = forget_records(m, clone, false)) < 0 && rc == 0)
			rc = r;
	}
	if (base && base[0]) {
		image_of(base, VSTORE_VHD, b);
		if (bound(m, b)) {
			struct mentry *se = ns_get(&m->cur, s);

			if (se && se->f == ns_get(&m->cur, b)->f)
				drop(m, b, false, &rc);   /* still a second name of the original */
			else
				restore_base(m, s, b, &rc);
			if ((r = forget_records(m, base, false)) < 0 && rc == 0)
				rc = r;
		}
	}
	unhide(m, s, &rc);
	if (rc == 0)
		rc = do_commit_all(m);
	return rc < 0 ? mem_fail(m, err, SME_VDI_SNAPSHOT, rc, "cannot undo the snapshot of", src)
		      : 0;
}

/* ---- leaf-coalesce take-over ------------------------------------------------------------- */

static int mem_take_over(struct vstore *vs, const char *l, const char *p, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char ln[NAME_MAX_LEN], pn[NAME_MAX_LEN], old[NAME_MAX_LEN];
	int rc = enter(m, VMEM_TAKE_OVER);

	image_of(l, VSTORE_VHD, ln);
	image_of(p, VSTORE_VHD, pn);
	old_of(l, old);
	if (rc == 0 && !image_entry(m, p, VSTORE_VHD))
		rc = -ENOENT;
	if (m->lvm) {
		/* rename l -> OLD_l, p -> l, remove OLD_l: each durable on its own */
		if (rc == 0 && bound(m, ln))
			rc = do_rename(m, ln, old, false);
		if (rc == 0)
			rc = do_rename(m, pn, ln, false);
		if (rc == 0)
			rc = do_unbind(m, old);
	} else if (rc == 0) {
		rc = do_rename(m, pn, ln, true);
	}
	if (rc == 0)
		rc = forget_records(m, p, false);
	if (rc == 0)
		rc = do_commit_all(m);
	return rc < 0 ? mem_fail(m, err, SME_SM_GENERAL, rc, "cannot rename over", ln) : 0;
}

static int mem_take_over_recover(struct vstore *vs, const char *l, const char *p,
				 struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char ln[NAME_MAX_LEN], pn[NAME_MAX_LEN], old[NAME_MAX_LEN];
	int rc = enter(m, VMEM_TAKE_OVER_RECOVER), done;

	if (rc < 0)
		return mem_fail(m, err, SME_SR_UNAVAILABLE, rc, "leaf-coalesce recovery: cannot look",
				p);
	image_of(l, VSTORE_VHD, ln);
	image_of(p, VSTORE_VHD, pn);
	old_of(l, old);
	done = !bound(m, pn);
	if (bound(m, old)) {
		/* LVM-like, killed between the renames: back, or forward */
		if (!done && !bound(m, ln))
			rc = do_rename(m, old, ln, false);
		else if (done)
			rc = do_unbind(m, old);
	}
	if (rc == 0 && done)
		rc = forget_records(m, p, false);
	if (rc == 0)
		rc = do_commit_all(m);
	if (rc < 0)
		return mem_fail(m, err, SME_SR_UNAVAILABLE, rc, "leaf-coalesce recovery of", ln);
	return done;
}

/* ---- flags, space, activation (LVM-like) ------------------------------------------------- */

static int mem_set_read_only(struct vstore *vs, const char *uuid, bool ro, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	struct mentry *e = NULL;
	int rc = enter(m, VMEM_SET_READ_ONLY);

	if (rc == 0 && !(e = any_image(m, uuid)))
		rc = -ENOENT;
	if (rc == 0)
		rc = do_flags(m, e->name, ro ? F_RO : 0, ro ? 0 : F_RO);
	return rc < 0 ? mem_fail(m, err, rc == -ENOENT ? SME_VDI_MISSING : SME_SM_GENERAL, rc,
				 "cannot set read-only", uuid) : 0;
}

static int mem_raw_set_hidden(struct vstore *vs, const char *uuid, bool hidden,
			      struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN];
	int rc = enter(m, VMEM_RAW_SET_HIDDEN);

	image_of(uuid, VSTORE_RAW, name);
	if (rc == 0 && !image_entry(m, uuid, VSTORE_RAW))
		rc = -ENOENT;
	if (rc == 0)
		rc = do_flags(m, name, hidden ? F_RAW_HIDDEN : 0, hidden ? 0 : F_RAW_HIDDEN);
	return rc < 0 ? mem_fail(m, err, rc == -ENOENT ? SME_VDI_MISSING : SME_SM_GENERAL, rc,
				 "cannot set hidden", name) : 0;
}

static int mem_space(struct vstore *vs, uint64_t *size, uint64_t *used, uint64_t *avail,
		     struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	uint64_t u;
	int rc = enter(m, VMEM_SPACE);

	if (rc < 0)
		return mem_fail(m, err, SME_SR_UNAVAILABLE, rc, "cannot tell the space of", "");
	u = used_bytes(m);
	if (size)
		*size = m->capacity;
	if (used)
		*used = u;
	if (avail)
		*avail = m->capacity > u ? m->capacity - u : 0;
	return 0;
}

static struct activation *activation_of(struct vstore_mem *m, const char *uuid, bool add)
{
	for (size_t i = 0; i < m->nact; i++)
		if (strcmp(m->act[i].uuid, uuid) == 0)
			return &m->act[i];
	if (!add)
		return NULL;
	if (m->nact == m->capact) {
		size_t cap = m->capact ? m->capact * 2 : 16;
		struct activation *v = realloc(m->act, cap * sizeof(*v));

		if (!v)
			return NULL;
		m->act = v;
		m->capact = cap;
	}
	snprintf(m->act[m->nact].uuid, 37, "%s", uuid);
	m->act[m->nact].count = 0;
	return &m->act[m->nact++];
}

static int mem_activate(struct vstore *vs, const char *uuid, bool leaf, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	struct activation *a = NULL;
	int rc = enter(m, VMEM_ACTIVATE);

	if (rc == 0 && !any_image(m, uuid))
		rc = -ENOENT;
	if (rc == 0 && !(a = activation_of(m, uuid, true)))
		rc = -ENOMEM;
	if (rc < 0)
		return mem_fail(m, err, rc == -ENOENT ? SME_VDI_MISSING : SME_SM_GENERAL, rc,
				"cannot activate", uuid);
	a->count++;
	return 0;
}

static int mem_deactivate(struct vstore *vs, const char *uuid, bool leaf, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	struct activation *a = activation_of(m, uuid, false);
	int rc = enter(m, VMEM_DEACTIVATE);

	if (rc < 0)
		return mem_fail(m, err, SME_SM_GENERAL, rc, "cannot deactivate", uuid);
	if (a && a->count > 0)
		a->count--;
	return 0;
}

static void mem_data_path(const struct vstore *vs, const char *uuid, enum vstore_kind kind,
			  char *out, size_t cap)
{
	snprintf(out, cap, "mem://%s/%s.%s", MEM(vs)->sr_uuid, uuid, ext_of(kind));
}

/* ---- records ------------------------------------------------------------------------------ */

static int mem_meta_read(struct vstore *vs, const char *uuid, struct vdi_meta *meta)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN], *text;
	int rc = enter(m, VMEM_META_READ);

	memset(meta, 0, sizeof(*meta));
	if (rc < 0)
		return rc;
	snprintf(name, sizeof(name), "%s.meta", uuid);
	if ((rc = read_record(m, name, &text)) < 0)
		return rc;
	rc = vdimeta_parse(text, meta) < 0 ? -EINVAL : 0;
	free(text);
	return rc;
}

static int mem_meta_write(struct vstore *vs, const char *uuid, const struct vdi_meta *meta,
			  int code, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN], *text;
	int rc = enter(m, VMEM_META_WRITE);

	snprintf(name, sizeof(name), "%s.meta", uuid);
	if (rc < 0)
		return mem_fail(m, err, code, rc, "cannot write", name);
	text = vdimeta_format(meta);
	if (!text)
		return sm_fail(err, SME_GENERIC, "out of memory");
	rc = write_record(m, name, text);
	free(text);
	return rc < 0 ? mem_fail(m, err, code, rc, "cannot write", name) : 0;
}

static int lookup(struct vstore_mem *m, enum vstore_mem_op op, const char *name)
{
	int rc = enter(m, op);

	return rc < 0 ? rc : bound(m, name);
}

static int mem_meta_lookup(struct vstore *vs, const char *uuid)
{
	char name[NAME_MAX_LEN];

	snprintf(name, sizeof(name), "%s.meta", uuid);
	return lookup(MEM(vs), VMEM_META_LOOKUP, name);
}

static int mem_lock_read(struct vstore *vs, const char *uuid, struct vstore_lock *r)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN], *text;
	int rc = enter(m, VMEM_LOCK_READ);

	memset(r, 0, sizeof(*r));
	if (rc < 0)
		return rc;
	snprintf(name, sizeof(name), "%s.lock", uuid);
	if ((rc = read_record(m, name, &text)) < 0)
		return rc;
	vstore_lock_parse(text, r);
	free(text);
	return 0;
}

static int mem_lock_write(struct vstore *vs, const char *uuid, const struct vstore_lock *r,
			  bool replace, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN], text[1024];
	int rc = enter(m, VMEM_LOCK_WRITE);

	snprintf(name, sizeof(name), "%s.lock", uuid);
	if (rc == 0 && !replace && bound(m, name))
		rc = -EEXIST;
	vstore_lock_format(r, text, sizeof(text));
	if (rc == 0)
		rc = write_record(m, name, text);
	return rc < 0 ? mem_fail(m, err, SME_LOCK_ERR, rc, "cannot write the lock", name) : 0;
}

static int mem_lock_remove(struct vstore *vs, const char *uuid)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN];
	int rc = enter(m, VMEM_LOCK_REMOVE);

	snprintf(name, sizeof(name), "%s.lock", uuid);
	if (rc == 0)
		drop(m, name, true, &rc);
	return rc;
}

static int mem_is_locked(struct vstore *vs, const char *uuid)
{
	char name[NAME_MAX_LEN];

	snprintf(name, sizeof(name), "%s.lock", uuid);
	return lookup(MEM(vs), VMEM_IS_LOCKED, name);
}

/* ---- activation records -------------------------------------------------------------------- */

static int mem_active_set(struct vstore *vs, const char *uuid, bool rw, int code,
			  struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN];
	int rc = enter(m, VMEM_ACTIVE_SET);

	snprintf(name, sizeof(name), "active/%s@%s", uuid, m->host);
	if (rc == 0)
		rc = write_record(m, name, rw ? "mode=RW\n" : "mode=RO\n");
	return rc < 0 ? mem_fail(m, err, code, rc, "cannot record the activation in", name) : 0;
}

static int mem_active_clear(struct vstore *vs, const char *uuid)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN];
	int rc = enter(m, VMEM_ACTIVE_CLEAR);

	snprintf(name, sizeof(name), "active/%s@%s", uuid, m->host);
	if (rc == 0)
		drop(m, name, true, &rc);
	return rc;
}

static int mem_active_each(struct vstore *vs, vstore_active_fn fn, void *arg)
{
	struct vstore_mem *m = MEM(vs);
	size_t n;
	char (*v)[NAME_MAX_LEN];
	int rc = enter(m, VMEM_ACTIVE_EACH);

	if (rc < 0)
		return rc;
	if (!(v = names_under(m, "active/", &n)))
		return -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *rec = v[i] + strlen("active/");
		char uuid[37];

		if (strlen(rec) < 38 || rec[36] != '@')
			continue;
		memcpy(uuid, rec, 36);
		uuid[36] = '\0';
		rc = fn(arg, uuid, rec + 37);
	}
	free(v);
	return rc;
}

/* ---- journals ------------------------------------------------------------------------------ */

static int journal_name(const char *op, const char *id, char out[NAME_MAX_LEN])
{
	if (!*op || strchr(op, '-') || strchr(op, '/') || !*id || strchr(id, '/'))
		return -EINVAL;
	snprintf(out, NAME_MAX_LEN, "journal/%s-%s", op, id);
	return 0;
}

static int mem_journal_begin(struct vstore *vs, const char *op, const char *id, const char *text,
			     struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN] = "journal/?";
	int rc = enter(m, VMEM_JOURNAL_BEGIN);

	if (rc == 0)
		rc = journal_name(op, id, name);
	if (rc == 0)
		rc = write_record(m, name, text);
	return rc < 0 ? mem_fail(m, err, SME_SM_GENERAL, rc, "cannot write journal record", name) : 0;
}

static int mem_journal_end(struct vstore *vs, const char *op, const char *id, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN] = "journal/?";
	int rc = enter(m, VMEM_JOURNAL_END);

	if (rc == 0)
		rc = journal_name(op, id, name);
	if (rc == 0)
		drop(m, name, true, &rc);
	return rc < 0 ? mem_fail(m, err, SME_SM_GENERAL, rc, "cannot remove journal record", name) : 0;
}

static int mem_journal_lookup(struct vstore *vs, const char *op, const char *id)
{
	struct vstore_mem *m = MEM(vs);
	char name[NAME_MAX_LEN];

	if (journal_name(op, id, name) < 0)
		return -EINVAL;
	return lookup(m, VMEM_JOURNAL_LOOKUP, name);
}

static int replay_one(struct vstore_mem *m, const char *name, journal_fn fn, void *arg,
		      struct sm_error *err)
{
	const char *rec = name + strlen("journal/"), *dash = strchr(rec, '-');
	char op[32], *text;
	int r, rc;

	if (!dash || dash == rec || (size_t)(dash - rec) >= sizeof(op) || !dash[1])
		return 0;   /* not <op>-<id>: not ours */
	memcpy(op, rec, (size_t)(dash - rec));
	op[dash - rec] = '\0';
	rc = read_record(m, name, &text);
	if (rc == -ENOENT)
		return 0;   /* its owner finished it meanwhile */
	if (rc < 0)
		return mem_fail(m, err, SME_SR_UNAVAILABLE, rc, "cannot read journal record", name);
	r = fn(arg, op, dash + 1, text, err);
	free(text);
	if (r < 0)
		return -1;
	rc = 0;
	if (r == 0)
		drop(m, name, true, &rc);
	return rc < 0 ? mem_fail(m, err, SME_SR_UNAVAILABLE, rc, "cannot remove", name) : 0;
}

static int mem_journal_replay(struct vstore *vs, journal_fn fn, void *arg, struct sm_error *err)
{
	struct vstore_mem *m = MEM(vs);
	size_t n;
	char (*v)[NAME_MAX_LEN];
	int rc = enter(m, VMEM_JOURNAL_REPLAY);

	if (rc < 0)
		return mem_fail(m, err, SME_SR_UNAVAILABLE, rc, "cannot list", "journal/");
	/* The names first: a repair may itself add and remove records. */
	if (!(v = names_under(m, "journal/", &n)))
		return sm_fail(err, SME_GENERIC, "out of memory");
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = replay_one(m, v[i], fn, arg, err);
	free(v);
	return rc;
}

/* ---- undo records, opener, leftovers ------------------------------------------------------- */

static void mem_undo_name(const struct vstore *vs, const char *uuid, enum vstore_undo which,
			  char *out, size_t cap)
{
	if (which == VSTORE_UNDO_GC)
		snprintf(out, cap, "%s.vhd.undo", uuid);
	else
		snprintf(out, cap, ".%s.vhd.undo", uuid);
}

static const char *strip_dot_slash(const char *path)
{
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	return path;
}

static int opener_open(void *arg, const char *path, int flags, struct vhd_io *io,
		       struct sm_error *err)
{
	struct vstore_mem *m = arg;
	const char *name = strip_dot_slash(path);
	struct mentry *e = NULL;
	int rc = enter(m, VMEM_OPENER_OPEN);

	if (rc < 0)
		return mem_fail(m, err, SME_VDI_LOAD, rc, "cannot open", name);
	if (strlen(name) >= NAME_MAX_LEN || strchr(name, '/'))
		return mem_fail(m, err, SME_VDI_LOAD, -EINVAL, "cannot open", name);
	if (flags & VHD_IO_CREATE) {
		if (bound(m, name))
			return mem_fail(m, err, SME_VDI_EXISTS, -EEXIST, "cannot create", name);
		rc = make_file(m, name, 0, false, 0, io);
		return rc < 0 ? mem_fail(m, err, SME_VDI_LOAD, rc, "cannot create", name) : 0;
	}
	e = ns_get(&m->cur, name);
	if (!e || (e->flags & F_UNFINISHED))
		return mem_fail(m, err, SME_VDI_MISSING, -ENOENT, "cannot open", name);
	if (e->flags & F_ODD)
		return sm_fail(err, SME_VDI_LOAD, "%s is not a regular file", name);
	if ((flags & VHD_IO_RDWR) && (e->flags & F_RO))
		return mem_fail(m, err, SME_VDI_LOAD, -EROFS, "cannot open", name);
	rc = io_attach(m, e->f, name, flags & VHD_IO_RDWR, io);
	return rc < 0 ? mem_fail(m, err, SME_VDI_LOAD, rc, "cannot open", name) : 0;
}

static int opener_unlink(void *arg, const char *path)
{
	struct vstore_mem *m = arg;
	int rc = enter(m, VMEM_OPENER_UNLINK);

	return rc < 0 ? rc : do_unbind(m, strip_dot_slash(path));
}

/* The name made durable (only it: nothing else gets durable by chance here). */
static int opener_sync_name(void *arg, const char *path)
{
	struct vstore_mem *m = arg;
	int rc = enter(m, VMEM_OPENER_SYNC_NAME);

	return rc < 0 ? rc : do_commit(m, strip_dot_slash(path));
}

static const struct vhd_opener *mem_opener(struct vstore *vs)
{
	return &MEM(vs)->opener;
}

static bool is_leftover(const struct mentry *e)
{
	const char *name = e->name;
	size_t n = strlen(name);

	if (strchr(name, '/'))
		return false;   /* journals and activation records are never leftovers */
	return (e->flags & F_UNFINISHED) || (n > 4 && strcmp(name + n - 4, ".tmp") == 0) ||
	       (n > 8 && strcmp(name + n - 8, ".vhd.new") == 0) ||
	       (name[0] == '.' && n > 9 && strcmp(name + n - 9, ".vhd.undo") == 0);
}

static void mem_sweep(struct vstore *vs)
{
	struct vstore_mem *m = MEM(vs);
	size_t n;
	char (*v)[NAME_MAX_LEN];
	int rc = 0;

	if (enter(m, VMEM_SWEEP) < 0 || !(v = names_under(m, "", &n)))
		return;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct mentry *e = ns_get(&m->cur, v[i]);

		if (e && is_leftover(e))
			drop(m, v[i], true, &rc);
	}
	free(v);
}

static void mem_close(struct vstore *vs)
{
}

#define MEM_COMMON_OPS \
	.image_name = mem_image_name, .describe = mem_describe, .locator = mem_locator, \
	.parent_uuid = mem_parent_uuid, .list = mem_list, .find = mem_find, .check = mem_check, \
	.exists = mem_exists, .clear = mem_clear, .create = mem_create, \
	.publish = mem_publish, .abandon = mem_abandon, .open = mem_open, \
	.remove = mem_remove, .forget = mem_forget, .sync = mem_sync, \
	.snap_keep = mem_snap_keep, .snap_child = mem_snap_child, \
	.snap_commit = mem_snap_commit, .snap_undo = mem_snap_undo, \
	.take_over = mem_take_over, .take_over_recover = mem_take_over_recover, \
	.space = mem_space, .data_path = mem_data_path, \
	.meta_read = mem_meta_read, .meta_write = mem_meta_write, \
	.meta_lookup = mem_meta_lookup, .lock_read = mem_lock_read, \
	.lock_write = mem_lock_write, .lock_remove = mem_lock_remove, \
	.is_locked = mem_is_locked, .active_set = mem_active_set, \
	.active_clear = mem_active_clear, .active_each = mem_active_each, \
	.journal_begin = mem_journal_begin, .journal_end = mem_journal_end, \
	.journal_lookup = mem_journal_lookup, .journal_replay = mem_journal_replay, \
	.undo_name = mem_undo_name, .opener = mem_opener, .sweep = mem_sweep, \
	.close = mem_close

static const struct vstore_ops mem_dir_ops = {
	.type = "mem",
	MEM_COMMON_OPS,
};

static const struct vstore_ops mem_lvm_ops = {
	.type = "mem",
	MEM_COMMON_OPS,
	.room_for = mem_room_for,
	.inflate = mem_inflate,
	.deflate = mem_deflate,
	.set_read_only = mem_set_read_only,
	.raw_set_hidden = mem_raw_set_hidden,
	.activate = mem_activate,
	.deactivate = mem_deactivate,
};

/* ---- the test-facing API ----------------------------------------------------------------- */

struct vstore_mem *vstore_mem_new(const char *sr_uuid)
{
	struct vstore_mem *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	snprintf(m->sr_uuid, sizeof(m->sr_uuid), "%s", sr_uuid ? sr_uuid : "");
	snprintf(m->host, sizeof(m->host), "mem-host");
	m->vs.ops = &mem_dir_ops;
	m->vs.sr_uuid = m->sr_uuid;
	m->capacity = 64ull << 30;
	m->opener.open = opener_open;
	m->opener.unlink = opener_unlink;
	m->opener.sync_name = opener_sync_name;
	m->opener.arg = m;
	return m;
}

void vstore_mem_free(struct vstore_mem *m)
{
	if (!m)
		return;
	ns_clear(&m->cur);
	ns_clear(&m->dur);
	free(m->cur.v);
	free(m->dur.v);
	free(m->act);
	free(m);
}

void vstore_mem_set_lvm(struct vstore_mem *m, bool lvm)
{
	m->lvm = lvm;
	m->vs.ops = lvm ? &mem_lvm_ops : &mem_dir_ops;
}

void vstore_mem_set_capacity(struct vstore_mem *m, uint64_t bytes)
{
	m->capacity = bytes;
}

void vstore_mem_set_host(struct vstore_mem *m, const char *host)
{
	snprintf(m->host, sizeof(m->host), "%s", host);
}

void vstore_mem_set_gone(struct vstore_mem *m, bool gone)
{
	m->gone = gone;
}

void vstore_mem_fail(struct vstore_mem *m, enum vstore_mem_op op, unsigned nth, int errnum)
{
	if (op >= VMEM_OP_COUNT)
		return;
	m->rule[op] = (struct fault_rule){ .on = true, .nth = nth, .errnum = errnum };
}

void vstore_mem_fail_clear(struct vstore_mem *m)
{
	memset(m->rule, 0, sizeof(m->rule));
}

unsigned vstore_mem_calls(const struct vstore_mem *m, enum vstore_mem_op op)
{
	return op < VMEM_OP_COUNT ? m->calls[op] : 0;
}

unsigned long vstore_mem_steps(const struct vstore_mem *m)
{
	return m->steps;
}

void vstore_mem_kill_after(struct vstore_mem *m, unsigned long n)
{
	m->limited = true;
	m->limit = m->steps + n;
}

bool vstore_mem_dead(const struct vstore_mem *m)
{
	return m->dead;
}

void vstore_mem_crash(struct vstore_mem *m, enum vstore_mem_crash how)
{
	m->gen++;
	m->dead = m->limited = false;
	vstore_mem_fail_clear(m);
	if (how == VSTORE_MEM_CRASH_PROCESS)
		return;
	m->nact = 0;   /* activations are the host's */
	if (how != VSTORE_MEM_CRASH_HOST_NAMES)
		ns_copy(&m->cur, &m->dur);
	else
		ns_copy(&m->dur, &m->cur);
	if (how == VSTORE_MEM_CRASH_HOST_BYTES) {
		for (size_t i = 0; i < m->cur.n; i++)
			file_sync(m->cur.v[i].f);   /* what was written is what is on disk now */
		return;
	}
	for (size_t i = 0; i < m->cur.n; i++) {
		struct mfile *f = m->cur.v[i].f;

		/* what was never synced is gone; a file's synced bytes come back */
		if (file_set_len(f, f->synced_len) == 0 && f->synced_len)
			memcpy(f->data, f->synced, f->synced_len);
	}
}

bool vstore_mem_has(const struct vstore_mem *m, const char *name)
{
	return bound(m, name);
}

int vstore_mem_get(const struct vstore_mem *m, const char *name, uint8_t **data, size_t *len)
{
	struct mentry *e = ns_get(&m->cur, name);

	*data = NULL;
	*len = 0;
	if (!e)
		return -ENOENT;
	*data = malloc(e->f->len + 1);
	if (!*data)
		return -ENOMEM;
	if (e->f->len)
		memcpy(*data, e->f->data, e->f->len);
	*len = e->f->len;
	return 0;
}

static int put_durably(struct vstore_mem *m, const char *name, struct mfile *f, unsigned flags)
{
	int rc = ns_set(&m->cur, name, f, flags);

	if (rc == 0)
		rc = ns_mirror(m, name);
	file_unref(f);
	return rc;
}

int vstore_mem_put(struct vstore_mem *m, const char *name, const void *data, size_t len)
{
	struct mfile *f = file_with(data, len);

	return f ? put_durably(m, name, f, 0) : -ENOMEM;
}

int vstore_mem_put_odd(struct vstore_mem *m, const char *name)
{
	struct mfile *f = file_new();

	return f ? put_durably(m, name, f, F_ODD) : -ENOMEM;
}

int vstore_mem_each_name(const struct vstore_mem *m, int (*fn)(void *arg, const char *name),
			 void *arg)
{
	size_t n;
	char (*v)[NAME_MAX_LEN] = names_under((struct vstore_mem *)m, "", &n);
	int rc = v ? 0 : -ENOMEM;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fn(arg, v[i]);
	free(v);
	return rc;
}

size_t vstore_mem_count(const struct vstore_mem *m)
{
	return m->cur.n;
}

uint64_t vstore_mem_room(const struct vstore_mem *m, const char *uuid)
{
	struct mentry *e = any_image((struct vstore_mem *)m, uuid);

	return e ? e->f->room : 0;
}

bool vstore_mem_read_only(const struct vstore_mem *m, const char *uuid)
{
	struct mentry *e = any_image((struct vstore_mem *)m, uuid);

	return e && (e->flags & F_RO);
}

int vstore_mem_active_count(const struct vstore_mem *m, const char *uuid)
{
	struct activation *a = activation_of((struct vstore_mem *)m, uuid, false);

	return a ? a->count : 0;
}
