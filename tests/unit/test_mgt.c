/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Tests of the MGT volume format.  The golden sectors are what the Python
 * SM's srmetadata.LVMMetadataHandler wrote, run on a 4 MiB file, for the
 * sequence replayed in test_python_sequence: format, add three VDIs,
 * delete the middle one, rename the first, add a fourth (it takes the
 * deleted slot), delete the last, set a 600-character SR label.  Then
 * decoding of what Python wrote, truncation, and hostile volumes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csm/mgt.h"

#define SR "3f1c0d9e-5d2a-4c8b-9e7f-0a1b2c3d4e5f"
#define A  "aaaaaaaa-0000-4000-8000-000000000001"
#define B  "bbbbbbbb-0000-4000-8000-000000000002"
#define C  "cccccccc-0000-4000-8000-000000000003"
#define D  "dddddddd-0000-4000-8000-000000000004"

/* ---- golden sectors (srmetadata.py's output, trailing spaces dropped) ---- */

#define G_HDR_2048 "XSSM:2048      :1:2"
#define G_HDR_4096 "XSSM:4096      :1:2"
#define G_HDR_5120 "XSSM:5120      :1:2"
#define G_SR1 "<?xml version=\"1.0\" ?><uuid>" SR "</uuid><allocation>thick</allocation>"
#define G_SR2 "<name_label>Local storage &amp; &lt;more&gt;</name_label>"
#define G_SR3 "<name_description></name_description>"
#define G_A1 "<vdi><name_label>disk A</name_label><name_description>first &amp; only</name_description>"
#define G_TAIL(ro, managed) "<snapshot_time></snapshot_time><type>user</type><vdi_type>vhd</vdi_type>" \
	"<read_only>" ro "</read_only><managed>" managed "</managed><metadata_of_pool></metadata_of_pool>"
#define G_A2 "<uuid>" A "</uuid><is_a_snapshot>0</is_a_snapshot><snapshot_of></snapshot_of>" \
	G_TAIL("0", "1") "<deleted>0</deleted></vdi>"
#define G_B1 G_A1
#define G_B2 "<uuid>" B "</uuid><is_a_snapshot>1</is_a_snapshot><snapshot_of>" A "</snapshot_of>" \
	G_TAIL("0", "1") "<deleted>0</deleted></vdi>"
#define G_C1 "<vdi><name_label>base copy</name_label><name_description></name_description>"
#define G_C2 "<uuid>" C "</uuid><is_a_snapshot>0</is_a_snapshot><snapshot_of></snapshot_of>" \
	G_TAIL("1", "0") "<deleted>0</deleted></vdi>"
/* After deleteVdi(B): deleted=1 and the offset key Python writes back. */
#define G_B2_DELETED "<uuid>" B "</uuid><is_a_snapshot>1</is_a_snapshot><snapshot_of>" A "</snapshot_of>" \
	G_TAIL("0", "1") "<deleted>1</deleted><offset>3072</offset></vdi>"
/* After updateVdi(A, name_label): the "real sector 5" of the notes, 308 bytes. */
#define G_A1_RENAMED "<vdi><name_label>renamed &lt;A&gt;</name_label><name_description>first &amp; only</name_description>"
#define G_A2_UPDATED "<uuid>" A "</uuid><is_a_snapshot>0</is_a_snapshot><snapshot_of></snapshot_of>" \
	G_TAIL("0", "1") "<deleted>0</deleted><offset>2048</offset></vdi>"
/* addVdi(D) takes B's slot. */
#define G_D1 "<vdi><name_label>new D</name_label><name_description>x&gt;y</name_description>"
#define G_D2 "<uuid>" D "</uuid><is_a_snapshot>0</is_a_snapshot><snapshot_of></snapshot_of>" \
	G_TAIL("0", "1") "<deleted>0</deleted><offset>3072</offset></vdi>"
#define G_C2_DELETED "<uuid>" C "</uuid><is_a_snapshot>0</is_a_snapshot><snapshot_of></snapshot_of>" \
	G_TAIL("1", "0") "<deleted>1</deleted><offset>4096</offset></vdi>"

/* ---- an in-memory volume ---- */

struct memvol {
	uint8_t *buf;
	size_t len;
	int writes;         /* pwrite calls so far */
	int fail_write;     /* fail the pwrite with this number (1-based), 0: never */
	int fail_read;      /* fail every pread with -EIO */
};

static int mv_pread(struct vhd_io *io, void *buf, size_t len, uint64_t off)
{
	struct memvol *v = io->priv;

	if (v->fail_read || off > v->len || len > v->len - off)
		return -EIO;
	memcpy(buf, v->buf + off, len);
	return 0;
}

static int mv_pwrite(struct vhd_io *io, const void *buf, size_t len, uint64_t off)
{
	struct memvol *v = io->priv;

	if (++v->writes == v->fail_write)
		return -EIO;
	if (off > v->len || len > v->len - off)
		return -ENOSPC;
	memcpy(v->buf + off, buf, len);
	return 0;
}

static int mv_size(struct vhd_io *io, uint64_t *size)
{
	*size = ((struct memvol *)io->priv)->len;
	return 0;
}

static int mv_sync(struct vhd_io *io)
{
	return 0;
}

static const struct vhd_io_ops mv_ops = {
	.pread = mv_pread, .pwrite = mv_pwrite, .get_size = mv_size, .sync = mv_sync,
};

static void mv_open(struct vhd_io *io, struct memvol *v, size_t len)
{
	memset(v, 0, sizeof(*v));
	v->buf = calloc(1, len);
	assert_non_null(v->buf);
	v->len = len;
	memset(io, 0, sizeof(*io));
	io->ops = &mv_ops;
	io->priv = v;
	io->is_block = true;
	snprintf(io->name, sizeof(io->name), "test-MGT");
}

/* Sector n of buf is text then spaces to 512. */
static void check_sector(const uint8_t *buf, int n, const char *text)
{
	const uint8_t *s = buf + (size_t)n * MGT_SECTOR;
	size_t len = strlen(text);

	assert_true(len <= MGT_SECTOR);
	if (memcmp(s, text, len) != 0)
		fail_msg("sector %d: want '%s', have '%.*s'", n, text, (int)len, (const char *)s);
	for (size_t i = len; i < MGT_SECTOR; i++)
		if (s[i] != ' ')
			fail_msg("sector %d: byte %zu is 0x%02x, not a space", n, i, s[i]);
}

/* Write text into sector n, space padded. */
static void put_sector(uint8_t *buf, int n, const char *text)
{
	memset(buf + (size_t)n * MGT_SECTOR, ' ', MGT_SECTOR);
	memcpy(buf + (size_t)n * MGT_SECTOR, text, strlen(text));
}

static void record(struct mgt_slot *s, const char *uuid, const char *label, const char *desc,
		   bool snap, const char *of, bool ro, bool managed)
{
	struct vdi_meta meta = { 0 };
	struct sm_error err = { 0 };

	meta.label = (char *)label;
	meta.description = (char *)desc;
	strcpy(meta.vdi_type, "user");
	meta.is_a_snapshot = snap;
	strcpy(meta.snapshot_of, of);
	meta.read_only = ro;
	assert_int_equal(mgt_slot_from_meta(s, uuid, &meta, "vhd", managed, &err), 0);
}

static void add(struct vhd_io *io, struct mgt *m, const char *uuid, const char *label,
		const char *desc, bool snap, const char *of, bool ro, bool managed)
{
	struct mgt_slot s;
	struct sm_error err = { 0 };

	record(&s, uuid, label, desc, snap, of, ro, managed);
	if (mgt_add(io, m, &s, &err) != 0)
		fail_msg("add %s: %d %s", uuid, err.code, err.detail);
	mgt_slot_free(&s);
}

/* The volume reads back equal to what m says. */
static void check_reload(struct vhd_io *io, const struct mgt *m)
{
	struct mgt back;
	struct sm_error err = { 0 };

	assert_int_equal(mgt_load(io, &back, &err), 0);
	assert_int_equal(back.length, m->length);
	assert_int_equal(back.nslots, m->nslots);
	assert_string_equal(back.sr_label, m->sr_label);
	for (size_t i = 0; i < m->nslots; i++) {
		assert_int_equal(back.slots[i].offset, m->slots[i].offset);
		assert_int_equal(back.slots[i].damaged, m->slots[i].damaged);
		assert_int_equal(back.slots[i].nkv, m->slots[i].nkv);
		if (m->slots[i].damaged)
			continue;
		assert_string_equal(back.slots[i].label, m->slots[i].label);
		assert_string_equal(back.slots[i].description, m->slots[i].description);
		for (size_t k = 0; k < m->slots[i].nkv; k++) {
			assert_string_equal(back.slots[i].kv[k].key, m->slots[i].kv[k].key);
			assert_string_equal(back.slots[i].kv[k].value, m->slots[i].kv[k].value);
		}
	}
	mgt_free(&back);
}

static void test_header_exact(void **state)
{
	uint8_t s[MGT_SECTOR];

	mgt_encode_header(5120, 1, 2, s);
	check_sector(s, 0, G_HDR_5120);
	mgt_encode_header(2048, MGT_MAJOR, MGT_MINOR, s);
	check_sector(s, 0, G_HDR_2048);
	/* Longer than the 10-character field: Python's %-10s does not cut. */
	mgt_encode_header(12345678901ull, 1, 2, s);
	check_sector(s, 0, "XSSM:12345678901:1:2");
}

static void test_python_sequence(void **state)
{
	struct memvol v;
	struct vhd_io io;
	struct mgt m = { 0 };
	struct sm_error err = { 0 };
	struct mgt_kv rename = { (char *)"name_label", (char *)"renamed <A>" };
	char big_l[601], big_d[601], want[600];

	mv_open(&io, &v, MGT_VOLUME_SIZE);
	assert_int_equal(mgt_format(&io, &m, SR, "thick", "Local storage & <more>", "", &err), 0);
	check_sector(v.buf, 0, G_HDR_2048);
	check_sector(v.buf, 1, G_SR1);
	check_sector(v.buf, 2, G_SR2);
	check_sector(v.buf, 3, G_SR3);
	assert_string_equal(m.sr_label, "Local storage & <more>");

	add(&io, &m, A, "disk A", "first & only", false, "", false, true);
	add(&io, &m, B, "disk A", "first & only", true, A, false, true);
	add(&io, &m, C, "base copy", "", false, "", true, false);
	check_sector(v.buf, 0, G_HDR_5120);
	check_sector(v.buf, 4, G_A1);
	check_sector(v.buf, 5, G_A2);
	check_sector(v.buf, 6, G_B1);
	check_sector(v.buf, 7, G_B2);
	check_sector(v.buf, 8, G_C1);
	check_sector(v.buf, 9, G_C2);
	check_reload(&io, &m);

	assert_int_equal(mgt_delete(&io, &m, B, &err), 0);
	check_sector(v.buf, 0, G_HDR_5120);
	check_sector(v.buf, 7, G_B2_DELETED);
	assert_null(mgt_find(&m, B));

	assert_int_equal(mgt_update(&io, &m, A, &rename, 1, &err), 0);
	check_sector(v.buf, 4, G_A1_RENAMED);
	check_sector(v.buf, 5, G_A2_UPDATED);
	assert_int_equal(strlen(G_A2_UPDATED), 308);

	add(&io, &m, D, "new D", "x>y", false, "", false, true);
	check_sector(v.buf, 0, G_HDR_5120);
	check_sector(v.buf, 6, G_D1);
	check_sector(v.buf, 7, G_D2);
	assert_int_equal(m.nslots, 3);

	assert_int_equal(mgt_delete(&io, &m, C, &err), 0);
	check_sector(v.buf, 0, G_HDR_4096);
	check_sector(v.buf, 9, G_C2_DELETED);
	assert_int_equal(m.nslots, 2);
	assert_int_equal(m.length, 4096);
	check_reload(&io, &m);

	/* A label too long for its sector is cut to 512 - 2 x len(tag) - 5 bytes. */
	memset(big_l, 'L', 600);
	big_l[600] = '\0';
	memset(big_d, 'D', 600);
	big_d[600] = '\0';
	assert_int_equal(mgt_update_sr(&io, &m, big_l, big_d, &err), 0);
	snprintf(want, sizeof(want), "<name_label>%.487s</name_label>", big_l);
	check_sector(v.buf, 2, want);
	snprintf(want, sizeof(want), "<name_description>%.475s</name_description>", big_d);
	check_sector(v.buf, 3, want);
	assert_int_equal(strlen(m.sr_label), 487);
	check_sector(v.buf, 4, G_A1_RENAMED);   /* the VDIs are untouched */
	check_reload(&io, &m);

	mgt_free(&m);
	free(v.buf);
}

/* The volume Python left after the sequence (before the SR label change). */
static uint8_t *python_volume(size_t *len)
{
	uint8_t *buf = malloc(MGT_VOLUME_SIZE);

	assert_non_null(buf);
	memset(buf, 0, MGT_VOLUME_SIZE);
	put_sector(buf, 0, G_HDR_4096);
	put_sector(buf, 1, G_SR1);
	put_sector(buf, 2, G_SR2);
	put_sector(buf, 3, G_SR3);
	put_sector(buf, 4, G_A1_RENAMED);
	put_sector(buf, 5, G_A2_UPDATED);
	put_sector(buf, 6, G_D1);
	put_sector(buf, 7, G_D2);
	put_sector(buf, 8, G_C1);
	put_sector(buf, 9, G_C2_DELETED);
	*len = MGT_VOLUME_SIZE;
	return buf;
}

static void test_decode_python_volume(void **state)
{
	struct mgt m;
	struct sm_error err = { 0 };
	struct vdi_meta meta;
	size_t len;
	uint8_t *buf = python_volume(&len);

	assert_int_equal(mgt_decode(buf, len, &m, &err), 0);
	assert_int_equal(m.major, 1);
	assert_int_equal(m.minor, 2);
	assert_int_equal(m.length, 4096);
	assert_string_equal(m.sr_uuid, SR);
	assert_string_equal(m.allocation, "thick");
	assert_string_equal(m.sr_label, "Local storage & <more>");
	assert_string_equal(m.sr_description, "");
	/* C's slot lies beyond the length: not in use any more. */
	assert_int_equal(m.nslots, 2);
	assert_int_equal(m.slots[0].offset, 2048);
	assert_int_equal(m.slots[1].offset, 3072);
	assert_string_equal(m.slots[0].label, "renamed <A>");
	assert_string_equal(m.slots[0].description, "first & only");
	assert_string_equal(mgt_slot_get(&m.slots[0], "offset"), "2048");
	assert_string_equal(mgt_slot_get(&m.slots[1], "description") ? "x" : "none", "none");
	assert_string_equal(m.slots[1].description, "x>y");
	assert_ptr_equal(mgt_find(&m, D), &m.slots[1]);
	assert_null(mgt_find(&m, C));

	assert_int_equal(mgt_slot_to_meta(&m.slots[0], &meta, &err), 0);
	assert_string_equal(meta.label, "renamed <A>");
	assert_string_equal(meta.vdi_type, "user");
	assert_false(meta.read_only);
	assert_false(meta.is_a_snapshot);
	vdimeta_free(&meta);
	mgt_free(&m);

	/* Python pads what it writes beyond the volume's end with spaces or leaves zeros: both fine. */
	put_sector(buf, 10, "");
	assert_int_equal(mgt_decode(buf, len, &m, &err), 0);
	mgt_free(&m);
	free(buf);
}

/* label+description escaped above 445 bytes: each cut to 222 at a character boundary. */
static void test_truncation(void **state)
{
	struct mgt_slot s;
	struct sm_error err = { 0 };
	uint8_t out[MGT_SLOT_SIZE];
	char label[700], desc[400], want[1200];

	memset(label, 'x', 300);
	label[300] = '\0';
	memset(desc, 'y', 300);
	desc[300] = '\0';
	record(&s, A, label, desc, false, "", false, true);
	assert_int_equal(mgt_encode_slot(&s, out, &err), 0);
	snprintf(want, sizeof(want),
		 "<vdi><name_label>%.222s</name_label><name_description>%.222s</name_description>",
		 label, desc);
	check_sector(out, 0, want);
	mgt_slot_free(&s);

	/* 200 two-byte characters and one: 401 bytes fit, nothing is cut. */
	label[0] = '\0';
	for (int i = 0; i < 200; i++)
		strcat(label, "\xc3\xa9");
	record(&s, A, label, "d", false, "", false, true);
	assert_int_equal(mgt_encode_slot(&s, out, &err), 0);
	snprintf(want, sizeof(want),
		 "<vdi><name_label>%s</name_label><name_description>d</name_description>", label);
	check_sector(out, 0, want);
	assert_int_equal(strlen(want), 468);
	mgt_slot_free(&s);

	/* 150 of them (300 bytes) and 200 'd': the label is cut to 111 characters (222 bytes). */
	label[300] = '\0';
	memset(desc, 'd', 200);
	desc[200] = '\0';
	record(&s, A, label, desc, false, "", false, true);
	assert_int_equal(mgt_encode_slot(&s, out, &err), 0);
	snprintf(want, sizeof(want),
		 "<vdi><name_label>%.222s</name_label><name_description>%s</name_description>",
		 label, desc);
	check_sector(out, 0, want);
	assert_int_equal(strlen(want), 489);
	mgt_slot_free(&s);

	/* An odd cut would split a character: 1 + 150 x 2 bytes cut to 221. */
	strcpy(label, "z");
	for (int i = 0; i < 150; i++)
		strcat(label, "\xc3\xa9");
	record(&s, A, label, desc, false, "", false, true);
	assert_int_equal(mgt_encode_slot(&s, out, &err), 0);
	snprintf(want, sizeof(want),
		 "<vdi><name_label>%.221s</name_label><name_description>%s</name_description>",
		 label, desc);
	check_sector(out, 0, want);
	mgt_slot_free(&s);
}

/*
 * Python cuts 100 'x' + 100 '&' (escaped: 600 bytes) to 222 bytes, ending
 * in "&a", which no parser reads; we stop before that entity.
 */
static void test_truncation_never_splits_entity(void **state)
{
	struct mgt_slot s;
	struct sm_error err = { 0 };
	uint8_t out[MGT_SLOT_SIZE], vol[MGT_SR_INFO_SIZE + MGT_SLOT_SIZE];
	char label[300], want_label[300], desc[301];
	struct mgt m;

	memset(label, 'x', 100);
	memset(label + 100, '&', 100);
	label[200] = '\0';
	memset(desc, 'y', 300);
	desc[300] = '\0';
	record(&s, A, label, desc, false, "", false, true);
	assert_int_equal(mgt_encode_slot(&s, out, &err), 0);
	mgt_slot_free(&s);
	/* Read it back inside a volume: 100 'x' and 24 '&'. */
	memset(vol, ' ', sizeof(vol));
	mgt_encode_header(sizeof(vol), 1, 2, vol);
	put_sector(vol, 1, G_SR1);
	put_sector(vol, 2, G_SR2);
	put_sector(vol, 3, G_SR3);
	memcpy(vol + MGT_SR_INFO_SIZE, out, sizeof(out));
	assert_int_equal(mgt_decode(vol, sizeof(vol), &m, &err), 0);
	assert_int_equal(m.nslots, 1);
	assert_false(m.slots[0].damaged);
	memset(want_label, 'x', 100);
	memset(want_label + 100, '&', 24);
	want_label[124] = '\0';
	assert_string_equal(m.slots[0].label, want_label);
	mgt_free(&m);
}

static void test_decode_tolerates(void **state)
{
	uint8_t vol[MGT_SR_INFO_SIZE + 3 * MGT_SLOT_SIZE];
	struct mgt m;
	struct sm_error err = { 0 };
	struct vdi_meta meta;

	memset(vol, ' ', sizeof(vol));
	mgt_encode_header(sizeof(vol), 1, 2, vol);
	/* Unknown SR tags, and NULs where a sector was only partly written. */
	put_sector(vol, 1, G_SR1 "<pool_metadata_detected>false</pool_metadata_detected>");
	put_sector(vol, 2, "<name_label>  spaced \n</name_label>");
	memset(vol + 3 * MGT_SECTOR, 0, MGT_SECTOR);
	memcpy(vol + 3 * MGT_SECTOR, "<name_description>d</name_description>", 38);
	/* Keys in another order, unknown tags, <offset>, entities and whitespace. */
	put_sector(vol, 4, "<vdi> <name_description>two &#x41;&#66;</name_description>"
		   "<name_label><![CDATA[ignored]]>kept<!-- c --></name_label>");
	put_sector(vol, 5, "<vdi_lock>host1</vdi_lock><offset>9999</offset><uuid> " A " </uuid>"
		   "<read_only>1</read_only><is_a_snapshot>1</is_a_snapshot>"
		   "<snapshot_of>" B "</snapshot_of><snapshot_time>20240101T00:00:00Z</snapshot_time>"
		   "<type>system</type><snapshot_of>" C "</snapshot_of></vdi>");
	/* Self-closing elements and no deleted key at all. */
	put_sector(vol, 6, "<vdi><name_label/><name_description></name_description>");
	put_sector(vol, 7, "<uuid>" B "</uuid><snapshot_of/><read_only>0</read_only></vdi>");
	/* A deleted slot. */
	put_sector(vol, 8, G_C1);
	put_sector(vol, 9, G_C2_DELETED);

	assert_int_equal(mgt_decode(vol, sizeof(vol), &m, &err), 0);
	assert_string_equal(m.sr_label, "spaced");
	assert_string_equal(m.sr_description, "d");
	assert_int_equal(m.nslots, 3);
	assert_false(m.slots[0].damaged);
	assert_string_equal(m.slots[0].label, "kept");
	assert_string_equal(m.slots[0].description, "two AB");
	assert_string_equal(mgt_slot_get(&m.slots[0], "uuid"), A);
	assert_string_equal(mgt_slot_get(&m.slots[0], "vdi_lock"), "host1");
	/* A repeated key: the later value, in the first one's place (a Python dict). */
	assert_string_equal(mgt_slot_get(&m.slots[0], "snapshot_of"), C);
	assert_string_equal(m.slots[0].kv[0].key, "vdi_lock");
	assert_string_equal(m.slots[0].kv[1].key, "offset");
	assert_true(mgt_slot_live(&m.slots[0]));
	assert_true(mgt_slot_live(&m.slots[1]));
	assert_false(mgt_slot_live(&m.slots[2]));
	assert_string_equal(m.slots[1].label, "");

	assert_int_equal(mgt_slot_to_meta(&m.slots[0], &meta, &err), 0);
	assert_string_equal(meta.label, "kept");
	assert_string_equal(meta.vdi_type, "system");
	assert_true(meta.read_only);
	assert_true(meta.is_a_snapshot);
	assert_string_equal(meta.snapshot_of, C);
	assert_string_equal(meta.snapshot_time, "20240101T00:00:00Z");
	vdimeta_free(&meta);
	mgt_free(&m);
}

/* A volume with one good slot and one given as its two sector texts. */
static void one_bad_slot(const char *s1, const char *s2, const char *want_error)
{
	uint8_t vol[MGT_SR_INFO_SIZE + 2 * MGT_SLOT_SIZE];
	struct mgt m;
	struct sm_error err = { 0 };

	memset(vol, ' ', sizeof(vol));
	mgt_encode_header(sizeof(vol), 1, 2, vol);
	put_sector(vol, 1, G_SR1);
	put_sector(vol, 2, G_SR2);
	put_sector(vol, 3, G_SR3);
	put_sector(vol, 4, G_A1);
	put_sector(vol, 5, G_A2);
	put_sector(vol, 6, s1);
	memcpy(vol + 7 * MGT_SECTOR, s2, strlen(s2));
	assert_int_equal(mgt_decode(vol, sizeof(vol), &m, &err), 0);
	assert_int_equal(m.nslots, 2);
	assert_false(m.slots[0].damaged);
	assert_true(m.slots[1].damaged);
	if (!strstr(m.slots[1].error, want_error))
		fail_msg("error '%s' does not say '%s'", m.slots[1].error, want_error);
	assert_false(mgt_slot_live(&m.slots[1]));
	assert_ptr_equal(mgt_find(&m, A), &m.slots[0]);
	assert_int_equal(mgt_slot_to_meta(&m.slots[1], &(struct vdi_meta){ 0 }, &err), -1);
	mgt_free(&m);
}

static void test_damaged_slots(void **state)
{
	one_bad_slot(G_B1, "<uuid>" B "</uuid></vd", "not XML");
	one_bad_slot(G_B1, "<uuid>" B "</uuid><deleted>0</deleted></vdi>junk<", "not XML");
	one_bad_slot("<other>", "<uuid>" B "</uuid></other>", "no <vdi>");
	one_bad_slot(G_B1, "<deleted>0</deleted></vdi>", "no <uuid>");
	one_bad_slot(G_B1, "<uuid><x>" B "</x></uuid></vdi>", "holds an element");
	one_bad_slot(G_B1, "<uuid>\xff\xfe</uuid></vdi>", "not XML");
	one_bad_slot(G_B1, "<uuid>&bogus;</uuid></vdi>", "not XML");
	one_bad_slot(G_B1, "<uuid a='1'>x</uuid><bad:key>1</bad:key></vdi>", "bad element");
	one_bad_slot("<vdi><name_label>&am</name_label>", "<uuid>" B "</uuid></vdi>", "not XML");
	/* Control characters XML does not allow. */
	one_bad_slot(G_B1, "<uuid>\x01</uuid></vdi>", "not XML");
}

/* Whole-volume failures: a clear error, never a crash. */
static void bad_volume(const uint8_t *vol, size_t len, const char *want)
{
	struct mgt m;
	struct sm_error err = { 0 };

	assert_int_equal(mgt_decode(vol, len, &m, &err), -1);
	assert_int_equal(err.code, SME_METADATA_ERROR);
	if (!strstr(err.detail, want))
		fail_msg("error '%s' does not say '%s'", err.detail, want);
	assert_null(m.slots);
	assert_null(m.sr_uuid);
}

static void test_hostile_volumes(void **state)
{
	static const char *const headers[][2] = {
		{ "XSXM:2048      :1:2", "magic" },
		{ "XSSM:", "length" },
		{ "XSSM:-2048:1:2", "length" },
		{ "XSSM:99999999999999999999999:1:2", "length" },
		{ "XSSM:2048", "not XSSM" },
		{ "XSSM:2048 :1", "not XSSM" },
		{ "XSSM:2048:1:2:3", "after the version" },
		{ "XSSM:2048:one:2", "not XSSM" },
		{ "XSSM:1024:1:2", "2048 + 1024" },
		{ "XSSM:2049:1:2", "2048 + 1024" },
		{ "XSSM:3072:1:2", "the volume holds" },
		{ "XSSM:67109888:1:2", "length" },
	};
	uint8_t vol[MGT_SR_INFO_SIZE + 512];
	struct mgt m;
	struct sm_error err = { 0 };

	memset(vol, ' ', sizeof(vol));
	put_sector(vol, 1, G_SR1);
	put_sector(vol, 2, G_SR2);
	put_sector(vol, 3, G_SR3);
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		put_sector(vol, 0, headers[i][0]);
		bad_volume(vol, MGT_SR_INFO_SIZE, headers[i][1]);
	}
	/* Truncated: the header alone, and less than a sector. */
	put_sector(vol, 0, G_HDR_2048);
	bad_volume(vol, MGT_SECTOR, "the volume holds");
	bad_volume(vol, 100, "no header");
	bad_volume(vol, 0, "no header");
	/* The SR record. */
	put_sector(vol, 1, "<?xml version=\"1.1\" ?><uuid>x</uuid>");
	bad_volume(vol, MGT_SR_INFO_SIZE, "does not start with");
	put_sector(vol, 1, "<?xml version=\"1.0\" ?><uuid>x</uuid><allocation>");
	bad_volume(vol, MGT_SR_INFO_SIZE, "not XML");
	put_sector(vol, 1, "<?xml version=\"1.0\" ?><uuid><b>x</b></uuid>");
	bad_volume(vol, MGT_SR_INFO_SIZE, "holds an element");
	put_sector(vol, 1, "<?xml version=\"1.0\" ?><!DOCTYPE x [<!ENTITY e 'x'>]><uuid>&e;</uuid>");
	bad_volume(vol, MGT_SR_INFO_SIZE, "not XML");

	/* Blank: never written. */
	memset(vol, 0, sizeof(vol));
	assert_int_equal(mgt_decode(vol, sizeof(vol), &m, &err), 1);
	assert_int_equal(err.code, 0);
	memset(vol, ' ', MGT_SECTOR);
	assert_int_equal(mgt_decode(vol, sizeof(vol), &m, &err), 1);
	/* A trailing NUL run after the header is how Python leaves it too. */
	memset(vol, 0, sizeof(vol));
	memcpy(vol, G_HDR_2048, strlen(G_HDR_2048));
	put_sector(vol, 1, G_SR1);
	assert_int_equal(mgt_decode(vol, MGT_SR_INFO_SIZE, &m, &err), 0);
	assert_string_equal(m.sr_label, "");
	mgt_free(&m);
}

/* An add takes the last deleted slot (srmetadata.py's loop never breaks), never a damaged one. */
static void test_slot_reuse(void **state)
{
	struct memvol v;
	struct vhd_io io;
	struct mgt m = { 0 };
	struct sm_error err = { 0 };

	mv_open(&io, &v, MGT_VOLUME_SIZE);
	assert_int_equal(mgt_format(&io, &m, SR, "thin", "sr", "", &err), 0);
	add(&io, &m, A, "a", "", false, "", false, true);
	add(&io, &m, B, "b", "", false, "", false, true);
	add(&io, &m, C, "c", "", false, "", false, true);
	add(&io, &m, D, "d", "", false, "", false, true);
	assert_int_equal(mgt_delete(&io, &m, A, &err), 0);
	assert_int_equal(mgt_delete(&io, &m, C, &err), 0);
	/* Damage B's slot on the volume and reload. */
	memcpy(v.buf + 2048 + 1024 + 512, "<broken", 7);
	mgt_free(&m);
	assert_int_equal(mgt_load(&io, &m, &err), 0);
	assert_true(m.slots[1].damaged);

	add(&io, &m, "eeeeeeee-0000-4000-8000-000000000005", "e", "", false, "", false, true);
	assert_string_equal(mgt_slot_get(&m.slots[2], "uuid"), "eeeeeeee-0000-4000-8000-000000000005");
	assert_string_equal(mgt_slot_get(&m.slots[2], "deleted"), "0");
	add(&io, &m, "ffffffff-0000-4000-8000-000000000006", "f", "", false, "", false, true);
	assert_string_equal(mgt_slot_get(&m.slots[0], "uuid"), "ffffffff-0000-4000-8000-000000000006");
	/* No deleted slot left but the damaged one: the next add appends. */
	add(&io, &m, "abababab-0000-4000-8000-000000000007", "g", "", false, "", false, true);
	assert_int_equal(m.nslots, 5);
	assert_int_equal(m.slots[4].offset, 2048 + 4 * 1024);
	assert_true(m.slots[1].damaged);
	assert_memory_equal(v.buf + 2048 + 1024 + 512, "<broken", 7);
	check_reload(&io, &m);

	/* The same VDI twice is refused. */
	{
		struct mgt_slot s;

		record(&s, D, "again", "", false, "", false, true);
		assert_int_equal(mgt_add(&io, &m, &s, &err), -1);
		assert_int_equal(err.code, SME_VDI_EXISTS);
		mgt_slot_free(&s);
	}
	/* Deleting what is not there is not an error (srmetadata.py: nothing to do). */
	sm_error_clear(&err);
	assert_int_equal(mgt_delete(&io, &m, C, &err), 0);
	mgt_free(&m);
	free(v.buf);
}

/* A reused slot is a fresh record: the deleted VDI's own keys do not leak into it. */
static void test_reuse_drops_old_keys(void **state)
{
	struct memvol v;
	struct vhd_io io;
	struct mgt m = { 0 };
	struct sm_error err = { 0 };
	struct mgt_kv lock = { (char *)"vdi_lock", (char *)"host1" };

	mv_open(&io, &v, MGT_VOLUME_SIZE);
	assert_int_equal(mgt_format(&io, &m, SR, "thick", "", "", &err), 0);
	add(&io, &m, A, "a", "", false, "", false, true);
	add(&io, &m, B, "b", "", false, "", false, true);
	assert_int_equal(mgt_update(&io, &m, A, &lock, 1, &err), 0);
	assert_string_equal(mgt_slot_get(&m.slots[0], "vdi_lock"), "host1");
	assert_int_equal(mgt_delete(&io, &m, A, &err), 0);
	add(&io, &m, C, "c", "", false, "", false, true);
	assert_null(mgt_slot_get(&m.slots[0], "vdi_lock"));
	check_sector(v.buf, 5, "<uuid>" C "</uuid><is_a_snapshot>0</is_a_snapshot><snapshot_of></snapshot_of>"
		     G_TAIL("0", "1") "<deleted>0</deleted><offset>2048</offset></vdi>");
	mgt_free(&m);
	free(v.buf);
}

static void test_full_volume(void **state)
{
	struct memvol v;
	struct vhd_io io;
	struct mgt m = { 0 };
	struct mgt_slot s;
	struct sm_error err = { 0 };

	mv_open(&io, &v, MGT_SR_INFO_SIZE + 2 * MGT_SLOT_SIZE);
	assert_int_equal(mgt_format(&io, &m, SR, "thick", "", "", &err), 0);
	add(&io, &m, A, "a", "", false, "", false, true);
	add(&io, &m, B, "b", "", false, "", false, true);
	record(&s, C, "c", "", false, "", false, true);
	assert_int_equal(mgt_add(&io, &m, &s, &err), -1);
	assert_int_equal(err.code, SME_METADATA_ERROR);
	assert_non_null(strstr(err.detail, "full"));
	assert_int_equal(m.nslots, 2);
	mgt_slot_free(&s);
	mgt_free(&m);
	free(v.buf);

	/* Too small for even the SR record. */
	mv_open(&io, &v, 1024);
	sm_error_clear(&err);
	assert_int_equal(mgt_format(&io, &m, SR, "thick", "", "", &err), -1);
	assert_int_equal(mgt_load(&io, &m, &err), -1);
	free(v.buf);
}

/* The slot is written before the header that makes it count. */
static void test_append_order(void **state)
{
	struct memvol v;
	struct vhd_io io;
	struct mgt m = { 0 }, back;
	struct mgt_slot s;
	struct sm_error err = { 0 };

	mv_open(&io, &v, MGT_VOLUME_SIZE);
	assert_int_equal(mgt_format(&io, &m, SR, "thick", "", "", &err), 0);
	record(&s, A, "a", "", false, "", false, true);
	v.writes = 0;
	v.fail_write = 2;   /* the slot goes through, the header does not */
	assert_int_equal(mgt_add(&io, &m, &s, &err), -1);
	assert_int_equal(err.code, SME_METADATA_ERROR);
	assert_int_equal(m.nslots, 0);
	check_sector(v.buf, 4, "<vdi><name_label>a</name_label><name_description></name_description>");
	check_sector(v.buf, 0, G_HDR_2048);
	assert_int_equal(mgt_load(&io, &back, &err), 0);
	assert_int_equal(back.nslots, 0);
	mgt_free(&back);

	/* The retry takes the same place. */
	v.fail_write = 0;
	assert_int_equal(mgt_add(&io, &m, &s, &err), 0);
	assert_int_equal(m.slots[0].offset, 2048);
	check_sector(v.buf, 0, "XSSM:3072      :1:2");
	mgt_slot_free(&s);

	v.fail_read = 1;
	sm_error_clear(&err);
	assert_int_equal(mgt_load(&io, &back, &err), -1);
	assert_int_equal(err.code, SME_METADATA_ERROR);
	mgt_free(&m);
	free(v.buf);
}

static void test_refusals(void **state)
{
	struct mgt_slot s;
	struct sm_error err = { 0 };
	uint8_t out[MGT_SLOT_SIZE];
	char value[600];
	struct memvol v;
	struct vhd_io io;
	struct mgt m = { 0 };
	struct mgt_kv change = { (char *)"uuid", (char *)B };

	record(&s, A, "bell\x07", "", false, "", false, true);
	assert_int_equal(mgt_encode_slot(&s, out, &err), -1);
	assert_int_equal(err.code, SME_ILLEGAL_XML_CHAR);
	mgt_slot_free(&s);

	sm_error_clear(&err);
	record(&s, A, "bad \xc3", "", false, "", false, true);
	assert_int_equal(mgt_encode_slot(&s, out, &err), -1);
	assert_int_equal(err.code, SME_ILLEGAL_XML_CHAR);
	mgt_slot_free(&s);

	/* A record too long for its sector is refused (Python would spill into the next slot). */
	sm_error_clear(&err);
	record(&s, A, "a", "", false, "", false, true);
	memset(value, 'v', 300);
	value[300] = '\0';
	assert_int_equal(mgt_slot_set(&s, "extra", value, &err), 0);
	assert_int_equal(mgt_encode_slot(&s, out, &err), -1);
	assert_non_null(strstr(err.detail, "does not fit"));
	mgt_slot_free(&s);

	sm_error_clear(&err);
	memset(&s, 0, sizeof(s));
	assert_int_equal(mgt_slot_set(&s, "not a key", "x", &err), -1);
	assert_int_equal(mgt_slot_set(&s, "1st", "x", &err), -1);
	assert_int_equal(mgt_encode_slot(&s, out, &err), -1);   /* no uuid */
	mgt_slot_free(&s);

	sm_error_clear(&err);
	assert_int_equal(mgt_slot_from_meta(&s, "not-a-uuid", &(struct vdi_meta){ 0 }, "vhd", true, &err), -1);

	mv_open(&io, &v, MGT_VOLUME_SIZE);
	sm_error_clear(&err);
	assert_int_equal(mgt_format(&io, &m, SR, "thick", "", "", &err), 0);
	add(&io, &m, A, "a", "", false, "", false, true);
	assert_int_equal(mgt_update(&io, &m, A, &change, 1, &err), -1);
	sm_error_clear(&err);
	assert_int_equal(mgt_update(&io, &m, B, &change, 1, &err), -1);
	assert_int_equal(err.code, SME_METADATA_ERROR);
	/* '<' and '&' in a sector-2 value are escaped (Python writes them raw, unreadably). */
	change.key = (char *)"snapshot_time";
	change.value = (char *)"a<b&c";
	assert_int_equal(mgt_update(&io, &m, A, &change, 1, &err), 0);
	assert_string_equal(mgt_slot_get(&m.slots[0], "snapshot_time"), "a<b&c");
	assert_non_null(memmem(v.buf + 5 * 512, 512, "<snapshot_time>a&lt;b&amp;c</snapshot_time>", 43));
	check_reload(&io, &m);
	mgt_free(&m);
	free(v.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_exact),
		cmocka_unit_test(test_python_sequence),
		cmocka_unit_test(test_decode_python_volume),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_truncation_never_splits_entity),
		cmocka_unit_test(test_decode_tolerates),
		cmocka_unit_test(test_damaged_slots),
		cmocka_unit_test(test_hostile_volumes),
		cmocka_unit_test(test_slot_reuse),
		cmocka_unit_test(test_reuse_drops_old_keys),
		cmocka_unit_test(test_full_volume),
		cmocka_unit_test(test_append_order),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
