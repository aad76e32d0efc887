/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The LVM store (lib/vstore_lvm.c) one op per run, for
 * tests/integration/test_vstore_lvm.sh:
 *
 *   vstore_lvm_t [--thin] [--slave] DEV[,DEV...] SR COMMAND ARGS...
 *
 *   sr-create [LABEL] | sr-delete | sr-attach | probe | space | sweep
 *   create UUID vhd|vhd-small|raw SIZE [LABEL]   room_for(FULL, thick | EMPTY, thin),
 *                     publish, metadata (vhd-small: BAT for SIZE only, as a foreign VHD)
 *   list [full]       uuid kind phys virtual hidden parent records error
 *   find UUID         vhd | raw | none
 *   query UUID | check UUID | data-path UUID vhd|raw
 *   write UUID OFF FILE | read UUID OFF LEN   through the chain (the store's opener)
 *   snapshot SRC [clone]      the generic snapshot's steps; prints "BASE CLONE"
 *   snap-undo SRC BASE CLONE  ("-" for none)
 *   snap-child UUID PARENT SIZE [replace]
 *   take-over L P | take-over-recover L P
 *   inflate UUID BYTES | deflate UUID | grow UUID SIZE
 *   replay            journal_replay with the generic recovery; prints each record
 *   journal-begin OP ID TEXT | journal-end OP ID | journal-lookup OP ID
 *   meta UUID | lock UUID USER HOST | lock-read UUID | unlock UUID
 *   activate UUID [leaf] | deactivate UUID [leaf] | active
 *   ro UUID r|rw | raw-hide UUID 0|1 | remove UUID vhd|raw | abandon UUID
 *
 * A failure prints "FAULT <code> <detail>" and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csm/fault.h"
#include "csm/util.h"
#include "csm/vhdchain.h"
#include "csm/vstore_lvm.h"

#include "tool_common.h"

static struct vstore_lvm st;
static struct vstore *vs = &st.vs;
static struct sm_error err;

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: vstore_lvm_t [--thin] [--slave] DEV[,DEV...] SR COMMAND ARGS...\n");
	exit(2);
}

static enum vstore_kind kind_of(const char *s)
{
	return strcmp(s, "raw") == 0 ? VSTORE_RAW : VSTORE_VHD;
}

static const char *opt(const char *s)
{
	return strcmp(s, "-") == 0 ? "" : s;
}

static int cmd_create(char **a, int n)
{
	enum vstore_kind kind = kind_of(a[1]);
	struct vdi_meta m = { 0 };
	struct vhd_io io = { 0 };
	uint64_t size = tool_num(a[2]), room;

	if (kind == VSTORE_VHD) {
		if (lvhd_vhd_size_round(size, &size, &err) < 0)
			return -1;
		room = vstore_room_for(vs, size, st.thin ? VSTORE_FIT_EMPTY : VSTORE_FIT_FULL, 0);
	} else {
		room = size;
	}
	if (vs->ops->create(vs, a[0], kind, room, &io, &err) < 0)
		return -1;
	/* "vhd-small": a foreign VHD whose BAT holds only its size (no 2 TiB prealloc). */
	if (kind == VSTORE_VHD &&
	    (strcmp(a[1], "vhd-small") == 0 ? vhd_create_dynamic(&io, size, &err)
	     : vhd_create_dynamic_prealloc(&io, size, LVHD_VHD_PREALLOC, &err)) < 0) {
		vhd_io_close(&io);
		vs->ops->abandon(vs, a[0], NULL);
		return -1;
	}
	if (vs->ops->publish(vs, a[0], kind, &io, &err) < 0)
		return -1;
	m.label = n > 3 ? a[3] : "";
	m.description = "";
	snprintf(m.vdi_type, sizeof(m.vdi_type), "user");
	return vs->ops->meta_write(vs, a[0], &m, SME_VDI_CREATE, &err);
}

static int print_image(void *arg, const struct vstore_image *img)
{
	printf("%s %s %llu %llu %d %s %u %s\n", img->uuid, vstore_kind_name(img->kind),
	       (unsigned long long)img->phys_size, (unsigned long long)img->virtual_size,
	       img->hidden, img->parent[0] ? img->parent : "-", img->records,
	       img->error[0] ? img->error : "-");
	return 0;
}

static int cmd_find(const char *uuid)
{
	enum vstore_kind k;

	if (vs->ops->find(vs, uuid, &k, SME_VDI_MISSING, &err) < 0)
		return -1;
	printf("%s\n", k == VSTORE_NONE ? "none" : vstore_kind_name(k));
	return 0;
}

static int cmd_query(const char *uuid)
{
	struct vhd_info info;

	if (vstore_vhd_query(vs, uuid, false, &info, &err) < 0)
		return -1;
	printf("virtual=%llu phys=%llu hidden=%d max_bat=%u parent_name=%s parent_locator=%s\n",
	       (unsigned long long)info.virtual_size, (unsigned long long)info.phys_size,
	       info.hidden, info.max_bat_entries, info.parent_name[0] ? info.parent_name : "-",
	       info.parent_locator[0] ? info.parent_locator : "-");
	return 0;
}

static int cmd_io(const char *cmd, char **a)
{
	char name[128];
	struct vhd_chain ch;
	int rc;

	vs->ops->image_name(vs, a[0], VSTORE_VHD, name, sizeof(name));
	if (strcmp(cmd, "check") == 0) {
		rc = vhd_check_with(vs->ops->opener(vs), name, true, &err);
		if (rc == 0)
			printf("ok\n");
		return rc;
	}
	if (strcmp(cmd, "write") == 0) {
		static char buf[8 << 20];
		FILE *f = fopen(a[2], "rb");
		size_t len = f ? fread(buf, 1, sizeof(buf), f) : 0;

		if (f)
			fclose(f);
		if (vhd_chain_open_with(&ch, vs->ops->opener(vs), name, true, &err) < 0)
			return -1;
		rc = vhd_chain_write(&ch, buf, len, tool_num(a[1]), &err);
		if (rc == 0)
			rc = vhd_chain_flush(&ch, &err);
		vhd_chain_close(&ch);
		return rc;
	}
	{
		uint64_t len = tool_num(a[2]);
		char *buf = malloc(len ? len : 1);

		rc = -1;
		if (buf && vhd_chain_open_with(&ch, vs->ops->opener(vs), name, false, &err) == 0) {
			rc = vhd_chain_read(&ch, buf, len, tool_num(a[1]), &err);
			if (rc == 0)
				fwrite(buf, 1, len, stdout);
			vhd_chain_close(&ch);
		}
		free(buf);
		return rc;
	}
}

/* The generic snapshot's steps (drivers/vhdsr.c's snap_do), with its fault points. */
static int cmd_snapshot(char **a, int n)
{
	const char *src = a[0];
	char base[37], clone[37] = "", jtext[256];
	struct vhd_info info;

	if (vstore_vhd_query(vs, src, true, &info, &err) < 0)
		return -1;
	sm_uuid_generate(base);
	if (n > 1 && strcmp(a[1], "clone") == 0)
		sm_uuid_generate(clone);
	snprintf(jtext, sizeof(jtext), "src=%s\nbase=%s\nclone=%s\n", src, base, clone);
	if (vs->ops->journal_begin(vs, "snapshot", src, jtext, &err) < 0)
		return -1;
	sm_fault_point("snapshot:journal");
	if (vs->ops->snap_keep(vs, src, base, SME_VDI_SNAPSHOT, &err) < 0)
		goto undo;
	sm_fault_point("snapshot:link");
	if (vs->ops->snap_child(vs, src, base, info.virtual_size, true, SME_VDI_SNAPSHOT, &err) < 0)
		goto undo;
	sm_fault_point("snapshot:rename");
	if (clone[0] && vs->ops->snap_child(vs, clone, base, info.virtual_size, false,
					    SME_VDI_SNAPSHOT, &err) < 0)
		goto undo;
	sm_fault_point("snapshot:clone");
	if (vstore_vhd_set_hidden(vs, base, true, &err) < 0)
		goto undo;
	sm_fault_point("snapshot:hide");
	if (vs->ops->snap_commit(vs, SME_VDI_SNAPSHOT, &err) < 0)
		goto undo;
	if (clone[0]) {
		struct vdi_meta m = { .label = "clone", .description = "" };

		snprintf(m.vdi_type, sizeof(m.vdi_type), "user");
		if (vs->ops->meta_write(vs, clone, &m, SME_VDI_SNAPSHOT, &err) < 0)
			goto undo;
	}
	sm_fault_point("snapshot:meta");
	if (vs->ops->journal_end(vs, "snapshot", src, &err) < 0)
		goto undo;
	printf("%s %s\n", base, clone[0] ? clone : "-");
	return 0;
undo:
	vs->ops->snap_undo(vs, src, base, clone, NULL);
	vs->ops->journal_end(vs, "snapshot", src, NULL);
	return -1;
}

/* drivers/vhdsr.c's recover_one, printing what it is handed. */
static int replay_fn(void *arg, const char *op, const char *id, const char *text,
		     struct sm_error *e)
{
	char flat[1024], base[64], clone[64], parent[64];
	size_t i;

	snprintf(flat, sizeof(flat), "%s", text);
	for (i = 0; flat[i]; i++)
		if (flat[i] == '\n')
			flat[i] = ';';
	printf("record %s %s %s\n", op, id, flat);
	if (strcmp(op, "snapshot") == 0) {
		journal_get(text, "base", base, sizeof(base));
		journal_get(text, "clone", clone, sizeof(clone));
		vs->ops->snap_undo(vs, id, base, clone, NULL);
		return 0;
	}
	if (strcmp(op, "leaf") == 0) {
		journal_get(text, "parent", parent, sizeof(parent));
		return vstore_leaf_recover(vs, id, parent, e);
	}
	if (strcmp(op, "create") == 0) {
		vs->ops->abandon(vs, id, NULL);
		return 0;
	}
	return 1;
}

static int cmd_meta(const char *uuid)
{
	struct vdi_meta m;
	int rc = vs->ops->meta_read(vs, uuid, &m);

	if (rc < 0) {
		printf("none %d\n", rc);
		return 0;
	}
	printf("label=%s type=%s read_only=%d is_a_snapshot=%d snapshot_of=%s\n",
	       m.label ? m.label : "", m.vdi_type, m.read_only, m.is_a_snapshot,
	       m.snapshot_of[0] ? m.snapshot_of : "-");
	vdimeta_free(&m);
	return 0;
}

static int print_active(void *arg, const char *uuid, const char *host)
{
	printf("%s\n", uuid);
	return 0;
}

static int cmd_probe(void)
{
	struct vstore_lvm_probe p[8];
	size_t n;

	if (vstore_lvm_probe(st.devices, st.ndev, p, 8, &n, &err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		printf("%s %llu %s\n", p[i].sr_uuid, (unsigned long long)p[i].size, p[i].devices);
	return 0;
}

static int run(const char *cmd, char **a, int n)
{
	uint64_t size, used, free_b;
	struct vstore_lock lk;
	char path[256];
	bool pending;

	if (strcmp(cmd, "sr-create") == 0)
		return vstore_lvm_sr_create(&st, n > 0 ? a[0] : "", "", &err);
	if (strcmp(cmd, "sr-delete") == 0)
		return vstore_lvm_sr_delete(&st, &err);
	if (strcmp(cmd, "sr-attach") == 0)
		return vstore_lvm_sr_attach_check(&st, &err);
	if (strcmp(cmd, "probe") == 0)
		return cmd_probe();
	if (strcmp(cmd, "space") == 0) {
		if (vs->ops->space(vs, &size, &used, &free_b, &err) < 0)
			return -1;
		printf("%llu %llu %llu\n", (unsigned long long)size, (unsigned long long)used,
		       (unsigned long long)free_b);
		return 0;
	}
	if (strcmp(cmd, "sweep") == 0) {
		vs->ops->sweep(vs);
		return 0;
	}
	if (strcmp(cmd, "list") == 0)
		return vs->ops->list(vs, n > 0, print_image, NULL, &err);
	if (strcmp(cmd, "replay") == 0)
		return vs->ops->journal_replay(vs, replay_fn, NULL, &err);
	if (strcmp(cmd, "active") == 0) {
		int rc = vs->ops->active_each(vs, print_active, NULL);

		return rc < 0 ? sm_fail(&err, SME_SM_GENERAL, "active_each: %d", rc) : 0;
	}
	if (n < 1)
		usage();
	if (strcmp(cmd, "create") == 0 && n >= 3)
		return cmd_create(a, n);
	if (strcmp(cmd, "find") == 0)
		return cmd_find(a[0]);
	if (strcmp(cmd, "query") == 0)
		return cmd_query(a[0]);
	if ((strcmp(cmd, "check") == 0) || ((strcmp(cmd, "write") == 0 || strcmp(cmd, "read") == 0) &&
					    n == 3))
		return cmd_io(cmd, a);
	if (strcmp(cmd, "data-path") == 0 && n == 2) {
		vs->ops->data_path(vs, a[0], kind_of(a[1]), path, sizeof(path));
		printf("%s\n", path);
		return 0;
	}
	if (strcmp(cmd, "snapshot") == 0)
		return cmd_snapshot(a, n);
	if (strcmp(cmd, "snap-child") == 0 && n >= 3)
		return vs->ops->snap_child(vs, a[0], a[1], tool_num(a[2]), n > 3, SME_VDI_SNAPSHOT, &err);
	if (strcmp(cmd, "snap-undo") == 0 && n == 3) {
		vs->ops->snap_undo(vs, a[0], opt(a[1]), opt(a[2]), NULL);
		return 0;
	}
	if (strcmp(cmd, "take-over") == 0 && n == 2)
		return vs->ops->take_over(vs, a[0], a[1], &err);
	if (strcmp(cmd, "take-over-recover") == 0 && n == 2) {
		int rc = vs->ops->take_over_recover(vs, a[0], a[1], &err);

		if (rc >= 0)
			printf("%d\n", rc);
		return rc < 0 ? -1 : 0;
	}
	if (strcmp(cmd, "inflate") == 0 && n == 2)
		return vs->ops->inflate(vs, a[0], tool_num(a[1]), &err);
	if (strcmp(cmd, "deflate") == 0)
		return vs->ops->deflate(vs, a[0], &err);
	if (strcmp(cmd, "grow") == 0 && n == 2)
		return vstore_grow(vs, a[0], tool_num(a[1]), VSTORE_UNDO_RESIZE, &pending, &err);
	if (strcmp(cmd, "journal-begin") == 0 && n == 3)
		return vs->ops->journal_begin(vs, a[0], a[1], a[2], &err);
	if (strcmp(cmd, "journal-end") == 0 && n == 2)
		return vs->ops->journal_end(vs, a[0], a[1], &err);
	if (strcmp(cmd, "journal-lookup") == 0 && n == 2) {
		printf("%d\n", vs->ops->journal_lookup(vs, a[0], a[1]));
		return 0;
	}
	if (strcmp(cmd, "meta") == 0)
		return cmd_meta(a[0]);
	if (strcmp(cmd, "lock") == 0 && n == 3) {
		memset(&lk, 0, sizeof(lk));
		snprintf(lk.user, sizeof(lk.user), "%s", a[1]);
		snprintf(lk.host, sizeof(lk.host), "%s", a[2]);
		lk.since = (long long)time(NULL);
		return vs->ops->lock_write(vs, a[0], &lk, false, &err) < 0 ? -1 : 0;
	}
	if (strcmp(cmd, "lock-read") == 0) {
		int rc = vs->ops->lock_read(vs, a[0], &lk);

		if (rc < 0)
			printf("none %d\n", rc);
		else
			printf("%s %s\n", lk.user, lk.host);
		return 0;
	}
	if (strcmp(cmd, "unlock") == 0)
		return vs->ops->lock_remove(vs, a[0]) < 0 ? sm_fail(&err, SME_LOCK_ERR, "unlock") : 0;
	if (strcmp(cmd, "activate") == 0)
		return vs->ops->activate(vs, a[0], n > 1, &err);
	if (strcmp(cmd, "deactivate") == 0)
		return vs->ops->deactivate(vs, a[0], n > 1, &err);
	if (strcmp(cmd, "ro") == 0 && n == 2)
		return vs->ops->set_read_only(vs, a[0], strcmp(a[1], "r") == 0, &err);
	if (strcmp(cmd, "raw-hide") == 0 && n == 2)
		return vs->ops->raw_set_hidden(vs, a[0], strcmp(a[1], "1") == 0, &err);
	if (strcmp(cmd, "remove") == 0 && n == 2)
		return vs->ops->remove(vs, a[0], kind_of(a[1]), false, &err);
	if (strcmp(cmd, "abandon") == 0) {
		vs->ops->abandon(vs, a[0], NULL);
		return 0;
	}
	usage();
}

int main(int argc, char **argv)
{
	const char *devs[LVM_MAX_DEVICES];
	bool thin = false, master = true;
	char *tok, *save = NULL;
	size_t ndev = 0;
	int i = 1, rc;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--thin") == 0)
			thin = true;
		else if (strcmp(argv[i], "--slave") == 0)
			master = false;
		else
			usage();
	}
	if (argc - i < 3)
		usage();
	for (tok = strtok_r(argv[i++], ",", &save); tok && ndev < LVM_MAX_DEVICES;
	     tok = strtok_r(NULL, ",", &save))
		devs[ndev++] = tok;
	if (!sm_uuid_valid(argv[i])) {
		fprintf(stderr, "not a uuid: %s\n", argv[i]);
		return 2;
	}
	vstore_lvm_init(&st, argv[i], devs, ndev, master, thin);
	i++;
	rc = run(argv[i], argv + i + 1, argc - i - 1);
	vs->ops->close(vs);
	if (rc < 0)
		tool_fault(&err);
	return 0;
}
