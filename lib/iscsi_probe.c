/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The iSCSI probe documents, byte for byte as the Python SM prints them
 * with xml.dom.minidom's toprettyxml(): header '<?xml version="1.0" ?>',
 * one element per line indented by tabs, an element holding only text on
 * one line, an empty element as '<x/>', and text escaped as minidom's
 * _write_data does (& < " >, in that order of concern; ' stays).
 */
#include <stdio.h>

#include "csm/buf.h"
#include "csm/iscsi_host.h"

static void put_text(struct sm_buf *b, const char *s)
{
	buf_put_xml_escaped(b, s, true);
}

/* "<tabs><name>text</name>\n" */
static void put_leaf(struct sm_buf *b, int depth, const char *name, const char *text)
{
	for (int i = 0; i < depth; i++)
		buf_puts(b, "\t");
	buf_printf(b, "<%s>", name);
	put_text(b, text);
	buf_printf(b, "</%s>\n", name);
}

static void put_header(struct sm_buf *b)
{
	buf_puts(b, "<?xml version=\"1.0\" ?>\n");
}

/* BaseISCSI.print_entries: Index, IPAddress, Port when not 3260, TargetIQN. */
static void put_tgt(struct sm_buf *b, size_t index, const char *address, int port,
		    const char *iqn)
{
	char num[32];

	buf_puts(b, "\t<TGT>\n");
	snprintf(num, sizeof(num), "%zu", index);
	put_leaf(b, 2, "Index", num);
	put_leaf(b, 2, "IPAddress", address);
	if (port != SM_ISCSI_DEFAULT_PORT) {
		snprintf(num, sizeof(num), "%d", port);
		put_leaf(b, 2, "Port", num);
	}
	put_leaf(b, 2, "TargetIQN", iqn);
	buf_puts(b, "\t</TGT>\n");
}

void sm_iscsi_write_iqn_list_at(struct sm_buf *b, const struct sm_iscsi_discovered *d,
				size_t n, const char *target_as_given, int port)
{
	put_header(b);
	buf_puts(b, "<iscsi-target-iqns>\n");
	for (size_t i = 0; i < n; i++)
		put_tgt(b, i, d[i].address, d[i].port, d[i].iqn);
	/* _scan_IQNs appends "<targetlist>:<port>", which print_entries splits again. */
	put_tgt(b, n, target_as_given, port, "*");
	buf_puts(b, "</iscsi-target-iqns>\n");
}

/* LVHDoISCSISR.print_LUNs_XML: vendor, serial, LUNid, size, SCSIid, each only if set. */
static void put_lun(struct sm_buf *b, const struct sm_iscsi_lun *l)
{
	char num[32];

	buf_puts(b, "\t<LUN>\n");
	if (l->vendor[0])
		put_leaf(b, 2, "vendor", l->vendor);
	if (l->serial[0])
		put_leaf(b, 2, "serial", l->serial);
	snprintf(num, sizeof(num), "%d", l->lun);
	put_leaf(b, 2, "LUNid", num);
	if (l->size) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)l->size);
		put_leaf(b, 2, "size", num);
	}
	if (l->scsi_id[0])
		put_leaf(b, 2, "SCSIid", l->scsi_id);
	buf_puts(b, "\t</LUN>\n");
}

void sm_iscsi_write_lun_list(struct sm_buf *b, const struct sm_iscsi_lun *l, size_t n)
{
	put_header(b);
	if (n == 0) {
		buf_puts(b, "<iscsi-target/>\n");
		return;
	}
	buf_puts(b, "<iscsi-target>\n");
	for (size_t i = 0; i < n; i++)
		put_lun(b, &l[i]);
	buf_puts(b, "</iscsi-target>\n");
}

void sm_iscsi_write_srlist_empty(struct sm_buf *b)
{
	put_header(b);
	buf_puts(b, "<SRlist/>\n");
}
