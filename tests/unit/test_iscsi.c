/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The pure parts of lib/iscsi.c: the SCSIid from VPD page 0x83 as udev's
 * scsi_id -g computes it (each designator kind, the priority order, the
 * association rule, the whitespace rule, pre-SPC-3 pages, malformed
 * pages) and the VDI uuid rule against the values verified with tgt
 * (block-family.md §C.3) and md5 edge lengths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "csm/iscsi.h"

/* code sets, associations, designator types (SPC-4 7.8.6) */
enum { BIN = 1, ASC = 2 };
enum { LU = 0, PORT = 1, DEVICE = 2 };
enum { VENDOR = 0, T10 = 1, EUI64 = 2, NAA = 3, RELPORT = 4, TPG = 5 };

struct page {
	uint8_t b[512];
	size_t len;
};

static void page_start(struct page *p)
{
	memset(p, 0, sizeof(*p));
	p->b[1] = 0x83;
	p->len = 4;
}

static void add(struct page *p, int codeset, int assoc, int type, const void *id, size_t n)
{
	uint8_t *d = p->b + p->len;

	d[0] = (uint8_t)codeset;          /* protocol id 0 */
	d[1] = (uint8_t)(assoc << 4 | type);
	d[3] = (uint8_t)n;
	memcpy(d + 4, id, n);
	p->len += 4 + n;
	p->b[2] = (uint8_t)((p->len - 4) >> 8);
	p->b[3] = (uint8_t)(p->len - 4);
}

static const uint8_t naa6_tgt[16] = { 0x60, 0, 0, 0, 0, 0, 0, 0, 0x0e, 0, 0, 0, 0, 0x01, 0, 0x01 };
static const uint8_t naa6_xen[16] = { 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0e, 0, 0x12, 0x34, 0x56, 0x78 };
static const uint8_t naa5[8] = { 0x50, 0x01, 0x40, 0x50, 0xaa, 0xbb, 0xcc, 0xdd };
static const uint8_t naa2[8] = { 0x20, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 };
static const uint8_t eui[8] = { 0x00, 0x14, 0x38, 0x00, 0xde, 0xad, 0xbe, 0xef };

static const char *id_of(const struct page *p)
{
	static char out[SM_ISCSI_SCSIID_MAX];

	memset(out, 'X', sizeof(out));
	if (sm_iscsi_scsi_id_from_vpd83(p->b, p->len, out, sizeof(out)) < 0)
		return NULL;
	return out;
}

/* tgt's page: T10 id (36 bytes, NUL padded) first, then NAA-6, then the
 * target port's designators; the NAA-6 one wins (verified SCSIids). */
static void test_tgt_page(void **state)
{
	struct page p;
	char t10[36] = "IET     00010001";
	uint8_t relport[4] = { 0, 0, 0, 1 }, tpg[4] = { 0, 0, 0, 1 };

	(void)state;
	page_start(&p);
	add(&p, ASC, LU, T10, t10, sizeof(t10));
	add(&p, BIN, LU, NAA, naa6_tgt, sizeof(naa6_tgt));
	add(&p, BIN, PORT, RELPORT, relport, sizeof(relport));
	add(&p, BIN, PORT, TPG, tpg, sizeof(tpg));
	assert_string_equal(id_of(&p), "360000000000000000e00000000010001");

	page_start(&p);
	add(&p, ASC, LU, T10, "XEN     12345678", 16);
	add(&p, BIN, LU, NAA, naa6_xen, sizeof(naa6_xen));
	assert_string_equal(id_of(&p), "3600000000000000000000e0012345678");
}

/* NAA-6 > NAA-5 > other NAA > EUI-64 > T10, whatever the page order. */
static void test_priority(void **state)
{
	struct page p;

	(void)state;
	page_start(&p);
	add(&p, ASC, LU, T10, "VEND    ID1", 11);
	add(&p, BIN, LU, EUI64, eui, sizeof(eui));
	add(&p, BIN, LU, NAA, naa2, sizeof(naa2));
	add(&p, BIN, LU, NAA, naa5, sizeof(naa5));
	add(&p, BIN, LU, NAA, naa6_tgt, sizeof(naa6_tgt));
	assert_string_equal(id_of(&p), "360000000000000000e00000000010001");

	p.len -= 4 + sizeof(naa6_tgt);       /* drop the NAA-6 one */
	p.b[3] = (uint8_t)(p.len - 4);
	assert_string_equal(id_of(&p), "350014050aabbccdd");

	p.len -= 4 + sizeof(naa5);
	p.b[3] = (uint8_t)(p.len - 4);
	assert_string_equal(id_of(&p), "32000001122334455");

	p.len -= 4 + sizeof(naa2);
	p.b[3] = (uint8_t)(p.len - 4);
	assert_string_equal(id_of(&p), "200143800deadbeef");

	p.len -= 4 + sizeof(eui);
	p.b[3] = (uint8_t)(p.len - 4);
	assert_string_equal(id_of(&p), "1VEND_ID1");
}

/* For one kind, binary comes before ASCII; an ASCII designator is copied. */
static void test_binary_before_ascii(void **state)
{
	struct page p;

	(void)state;
	page_start(&p);
	add(&p, ASC, LU, NAA, "6ABCDEF", 7);
	add(&p, BIN, LU, NAA, naa6_xen, sizeof(naa6_xen));
	assert_string_equal(id_of(&p), "3600000000000000000000e0012345678");

	page_start(&p);
	add(&p, ASC, LU, NAA, "6ABCDEF", 7);
	add(&p, BIN, LU, NAA, naa5, sizeof(naa5));
	/* udev takes the NAA kind from the high nibble of the first byte,
	 * ASCII or not: '6' is 0x36, kind 3, so this ASCII designator ranks
	 * with "other NAA", after the binary NAA-5 one. */
	assert_string_equal(id_of(&p), "350014050aabbccdd");

	page_start(&p);
	add(&p, ASC, LU, NAA, "6ABCDEF", 7);
	add(&p, BIN, LU, EUI64, eui, sizeof(eui));
	assert_string_equal(id_of(&p), "36ABCDEF");        /* any NAA > EUI-64 */
}

/* Only designators of the logical unit name it. */
static void test_association(void **state)
{
	struct page p;

	(void)state;
	page_start(&p);
	add(&p, BIN, PORT, NAA, naa6_tgt, sizeof(naa6_tgt));
	add(&p, BIN, DEVICE, NAA, naa5, sizeof(naa5));
	add(&p, BIN, LU, EUI64, eui, sizeof(eui));
	assert_string_equal(id_of(&p), "200143800deadbeef");

	page_start(&p);
	add(&p, BIN, PORT, NAA, naa6_tgt, sizeof(naa6_tgt));
	assert_null(id_of(&p));
}

/* Whitespace: both ends trimmed, each inner run one '_'; NUL ends it. */
static void test_whitespace(void **state)
{
	struct page p;
	char t10[24] = "  IET \t  LUN 7   ";

	(void)state;
	page_start(&p);
	add(&p, ASC, LU, T10, t10, sizeof(t10));
	/* the prefix digit is part of the string udev trims: "1  IET" -> "1_IET" */
	assert_string_equal(id_of(&p), "1_IET_LUN_7");

	page_start(&p);
	add(&p, ASC, LU, T10, "ABC     DEF     ", 16);
	assert_string_equal(id_of(&p), "1ABC_DEF");
}

/* Vendor-specific and SCSI name designators never name it here. */
static void test_no_usable(void **state)
{
	struct page p;

	(void)state;
	page_start(&p);
	add(&p, BIN, LU, VENDOR, naa5, sizeof(naa5));
	add(&p, ASC, LU, 8, "iqn.x", 5);
	assert_null(id_of(&p));

	page_start(&p);
	assert_null(id_of(&p));
}

/* Malformed pages: a fault, never a read past the buffer. */
static void test_malformed(void **state)
{
	struct page p;
	char out[SM_ISCSI_SCSIID_MAX];

	(void)state;
	page_start(&p);
	add(&p, BIN, LU, NAA, naa6_tgt, sizeof(naa6_tgt));
	p.b[1] = 0x80;                                   /* not page 0x83 */
	assert_null(id_of(&p));
	p.b[1] = 0x83;
	assert_int_equal(sm_iscsi_scsi_id_from_vpd83(p.b, 3, out, sizeof(out)), -1);
	assert_int_equal(sm_iscsi_scsi_id_from_vpd83(NULL, 0, out, sizeof(out)), -1);
	/* the designator runs past the bytes given */
	assert_int_equal(sm_iscsi_scsi_id_from_vpd83(p.b, p.len - 1, out, sizeof(out)), -1);
	/* a designator length past the page length */
	p.b[7] = 200;
	assert_null(id_of(&p));
	/* a short output buffer is cut, still terminated */
	p.b[7] = 16;
	assert_int_equal(sm_iscsi_scsi_id_from_vpd83(p.b, p.len, out, 8), 0);
	assert_string_equal(out, "3600000");
}

/* SCSI-2 page 0x83 (byte 6 not zero): the payload in hex after a '3'. */
static void test_pre_spc3(void **state)
{
	uint8_t b[4 + 16] = { 0, 0x83, 0, 16, 0x60, 0x06, 0x01, 0x60, 0xaa, 0xbb, 0xcc, 0xdd,
			      0, 1, 2, 3, 4, 5, 6, 7 };
	char out[SM_ISCSI_SCSIID_MAX];

	(void)state;
	assert_int_equal(sm_iscsi_scsi_id_from_vpd83(b, sizeof(b), out, sizeof(out)), 0);
	assert_string_equal(out, "360060160aabbccdd0001020304050607");
}

static void test_vdi_uuid(void **state)
{
	char u[37];

	(void)state;
	/* verified with the Python rule (scsiutil.py) on tgt's SCSIids */
	sm_iscsi_vdi_uuid("360000000000000000e00000000010001", u);
	assert_string_equal(u, "cc26187c-5707-6d73-0070-e541a4ac88c7");
	sm_iscsi_vdi_uuid("3600000000000000000000e0012345678", u);
	assert_string_equal(u, "c558df94-29df-583e-f0fb-e552d2913125");
	/* md5 block edges: 0, 55, 56, 64 and 200 bytes */
	sm_iscsi_vdi_uuid("", u);
	assert_string_equal(u, "d41d8cd9-8f00-b204-e980-0998ecf8427e");
	{
		char s[201];

		memset(s, 'a', 200);
		s[55] = '\0';
		sm_iscsi_vdi_uuid(s, u);
		assert_string_equal(u, "ef1772b6-dff9-a122-3585-52954ad0df65");
		s[55] = 'a';
		s[56] = '\0';
		sm_iscsi_vdi_uuid(s, u);
		assert_string_equal(u, "3b0c8ac7-03f8-28b0-4c6c-197006d17218");
		s[56] = 'a';
		s[64] = '\0';
		sm_iscsi_vdi_uuid(s, u);
		assert_string_equal(u, "014842d4-80b5-7149-5a4a-0363793f7367");
		s[64] = 'a';
		s[200] = '\0';
		sm_iscsi_vdi_uuid(s, u);
		assert_string_equal(u, "887f30b4-3b28-67f4-a9ac-cceee7d16e6c");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tgt_page),
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_binary_before_ascii),
		cmocka_unit_test(test_association),
		cmocka_unit_test(test_whitespace),
		cmocka_unit_test(test_no_usable),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_pre_spc3),
		cmocka_unit_test(test_vdi_uuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
