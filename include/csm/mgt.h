/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The MGT volume of an LVHD SR (the Python SM's srmetadata.py), byte for
 * byte: the LVM store's equivalent of the file SRs' .meta sidecars, and
 * what the Python SM re-introduces VDIs from.  512-byte sectors, each
 * padded with spaces:
 *
 *   0      "XSSM:<bytes in use, left-justified in 10>:1:2"
 *   1      <?xml version="1.0" ?><uuid>SR</uuid><allocation>thick|thin</allocation>
 *   2      <name_label>SR label</name_label>
 *   3      <name_description>SR description</name_description>
 *   4+2k   slot k: <vdi><name_label>..</name_label><name_description>..</name_description>
 *   5+2k   slot k: <uuid>..</uuid><is_a_snapshot>0</is_a_snapshot>...<deleted>0</deleted></vdi>
 *
 * Bytes in use = 2048 + 1024 x slots.  A deleted VDI keeps its slot with
 * deleted=1; the header shrinks only when it was the last slot; an add
 * takes the last deleted slot (srmetadata.py's loop), else appends.
 *
 * Decoding treats the volume as hostile: every length and number is
 * checked, a slot that does not parse is kept as "damaged" (never reused,
 * never rewritten) instead of failing the SR, and only a bad header or SR
 * record fails the whole volume (SME_METADATA_ERROR with the reason).
 *
 * Rewriting a slot (update, delete, reuse) writes <offset>N</offset> as
 * srmetadata.py does (it reads the offset in as a key and writes it back);
 * a fresh slot has none.  Reading ignores it.
 *
 * Where the Python writer would produce XML it cannot read back itself
 * (a label cut inside an "&amp;", '<' in a sector-2 value, a record
 * longer than its sector) this one does not: it cuts before the entity,
 * escapes, refuses.  Everything Python writes correctly is written
 * identically.
 */
#ifndef CSM_MGT_H
#define CSM_MGT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"
#include "csm/vdimeta.h"
#include "csm/vhdio.h"

#define MGT_SECTOR          512
#define MGT_SR_INFO_SIZE    2048            /* sectors 0-3 */
#define MGT_SLOT_SIZE       1024            /* two sectors per VDI */
#define MGT_VOLUME_SIZE     (4u * 1024 * 1024)
/* The most a volume may claim in use, whatever its size: bounds what we read. */
#define MGT_MAX_LENGTH      (64u * 1024 * 1024)
/* Escaped label + description bytes a slot's first sector holds. */
#define MGT_MAX_LABEL_DESC  445
#define MGT_MAJOR           1
#define MGT_MINOR           2

/* The sector-2 keys the Python SM writes, in its order. */
#define MGT_UUID            "uuid"
#define MGT_IS_A_SNAPSHOT   "is_a_snapshot"
#define MGT_SNAPSHOT_OF     "snapshot_of"
#define MGT_SNAPSHOT_TIME   "snapshot_time"
#define MGT_TYPE            "type"
#define MGT_VDI_TYPE        "vdi_type"
#define MGT_READ_ONLY       "read_only"
#define MGT_MANAGED         "managed"
#define MGT_METADATA_OF_POOL "metadata_of_pool"
#define MGT_DELETED         "deleted"
#define MGT_OFFSET          "offset"        /* written back by Python's updates */
#define MGT_NAME_LABEL      "name_label"
#define MGT_NAME_DESCRIPTION "name_description"

struct mgt_kv {
	char *key;
	char *value;        /* unescaped text */
};

/* One VDI slot.  kv holds the sector-2 keys in on-disk order. */
struct mgt_slot {
	uint64_t offset;    /* byte offset in the volume: 2048 + 1024 k */
	bool damaged;       /* did not parse: error says why; never reused */
	char error[160];
	char *label;        /* unescaped; never NULL in a parsed slot */
	char *description;
	struct mgt_kv *kv;
	size_t nkv;
};

struct mgt {
	unsigned major, minor;
	uint64_t length;            /* bytes in use, from the header */
	char *sr_uuid;
	char *allocation;           /* "thick" | "thin" (as found) */
	char *sr_label;
	char *sr_description;
	struct mgt_slot *slots;     /* every slot in use, deleted and damaged ones too */
	size_t nslots;
};

void mgt_free(struct mgt *m);
void mgt_slot_free(struct mgt_slot *s);

/*
 * Decode a volume's first len bytes (at least what the header says is in
 * use).  0: decoded; 1: sector 0 is blank (zeros or spaces: never written),
 * m empty; -1: SME_METADATA_ERROR saying what is wrong.
 */
int mgt_decode(const void *buf, size_t len, struct mgt *m, struct sm_error *err);
/* The same, reading the volume through io (its size bounds the length). */
int mgt_load(struct vhd_io *io, struct mgt *m, struct sm_error *err);

/* A slot's value for key (NULL when absent). */
const char *mgt_slot_get(const struct mgt_slot *s, const char *key);
/* Set (replace in place, or append) a sector-2 key; label and description go to their fields. */
int mgt_slot_set(struct mgt_slot *s, const char *key, const char *value, struct sm_error *err);
/* Live: parsed and deleted is not "1". */
bool mgt_slot_live(const struct mgt_slot *s);
/* The live slot of a VDI (the last one, as srmetadata.py finds it), or NULL. */
struct mgt_slot *mgt_find(struct mgt *m, const char *uuid);

/*
 * A new record in the Python SM's key order (uuid, is_a_snapshot,
 * snapshot_of, snapshot_time, type, vdi_type, read_only, managed,
 * metadata_of_pool) from what the file SRs keep in .meta: type is
 * meta->vdi_type (user, system...), vdi_type is "vhd" or "aio".
 */
int mgt_slot_from_meta(struct mgt_slot *s, const char *uuid, const struct vdi_meta *meta,
		       const char *vdi_type, bool managed, struct sm_error *err);
/*
 * What the scan needs from a slot, as struct vdi_meta (fields it cannot
 * carry, e.g. a snapshot_of that is not a uuid, are left empty; "1" or
 * any non-zero number is true).
 */
int mgt_slot_to_meta(const struct mgt_slot *s, struct vdi_meta *meta, struct sm_error *err);

/* Encoders (pure, byte-exact). */
void mgt_encode_header(uint64_t length, unsigned major, unsigned minor, uint8_t out[MGT_SECTOR]);
/* Sectors 0-3 for m (its length, SR uuid, allocation, label, description). */
int mgt_encode_sr_info(const struct mgt *m, uint8_t out[MGT_SR_INFO_SIZE], struct sm_error *err);
/* A slot's two sectors (label and description escaped and cut as Python cuts them). */
int mgt_encode_slot(const struct mgt_slot *s, uint8_t out[MGT_SLOT_SIZE], struct sm_error *err);

/*
 * Writers through io (each write is whole sectors, synced before it
 * returns; m is kept equal to what is on the volume).
 */
/* A fresh volume for SR sr_uuid: sectors 0-3, no VDIs. */
int mgt_format(struct vhd_io *io, struct mgt *m, const char *sr_uuid, const char *allocation,
	       const char *label, const char *description, struct sm_error *err);
/*
 * Add a VDI: the last deleted slot is rewritten (as a fresh record, not
 * carrying the deleted VDI's keys as Python's would), else a slot is
 * appended and then the header grows (the slot is durable first, so a
 * crash between the two leaves it unseen).  A VDI that already has a live slot is SME_VDI_EXISTS.
 */
int mgt_add(struct vhd_io *io, struct mgt *m, const struct mgt_slot *rec, struct sm_error *err);
/*
 * Change keys of a VDI's slot (name_label and name_description included),
 * keeping every other key and the order, as srmetadata.updateVdi does.
 * No live slot: SME_METADATA_ERROR.
 */
int mgt_update(struct vhd_io *io, struct mgt *m, const char *uuid, const struct mgt_kv *changes,
	       size_t n, struct sm_error *err);
/* Mark deleted=1; shrink the header when it is the last slot.  No live slot: 0, nothing done. */
int mgt_delete(struct vhd_io *io, struct mgt *m, const char *uuid, struct sm_error *err);
/* Rewrite sectors 2-3 with a new SR label and description. */
int mgt_update_sr(struct vhd_io *io, struct mgt *m, const char *label, const char *description,
		  struct sm_error *err);

#endif
