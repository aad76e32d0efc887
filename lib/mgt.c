/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The MGT metadata volume of an LVHD SR (include/csm/mgt.h).
 *
 * Reading wraps each record in <SRMetadata>...</SRMetadata> and parses it
 * with libxml2, as srmetadata.py does with minidom: an element's value is
 * its text children, each stripped of whitespace, joined; NULs are removed
 * first.  Writing builds the same strings srmetadata.py builds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "csm/mgt.h"
#include "csm/util.h"

#define XML_DECL        "<?xml version=\"1.0\" ?>"
#define XML_DECL_LEN    (sizeof(XML_DECL) - 1)
#define WRAP_OPEN       XML_DECL "<SRMetadata>"
#define WRAP_CLOSE      "</SRMetadata>"
#define HDR_MAGIC       "XSSM"
#define HDR_LEN_WIDTH   10

static int mgt_fail(struct sm_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int mgt_fail(struct sm_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sm_vfail(err, SME_METADATA_ERROR, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- memory ---- */

void mgt_slot_free(struct mgt_slot *s)
{
	for (size_t i = 0; i < s->nkv; i++) {
		free(s->kv[i].key);
		free(s->kv[i].value);
	}
	free(s->kv);
	free(s->label);
	free(s->description);
	memset(s, 0, sizeof(*s));
}

void mgt_free(struct mgt *m)
{
	for (size_t i = 0; i < m->nslots; i++)
		mgt_slot_free(&m->slots[i]);
	free(m->slots);
	free(m->sr_uuid);
	free(m->allocation);
	free(m->sr_label);
	free(m->sr_description);
	memset(m, 0, sizeof(*m));
}

static int replace_str(char **field, const char *value, struct sm_error *err)
{
	char *copy = strdup(value ? value : "");

	if (!copy)
		return mgt_fail(err, "out of memory");
	free(*field);
	*field = copy;
	return 0;
}

const char *mgt_slot_get(const struct mgt_slot *s, const char *key)
{
	for (size_t i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].value;
	return NULL;
}

/* An XML name as we accept it for a key: [A-Za-z_][A-Za-z0-9_.-]*. */
static bool key_valid(const char *k)
{
	if (!k || !((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
		return false;
	for (k++; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= '0' && *k <= '9') || *k == '_' || *k == '.' || *k == '-'))
			return false;
	return true;
}

int mgt_slot_set(struct mgt_slot *s, const char *key, const char *value, struct sm_error *err)
{
	struct mgt_kv *kv;

	if (!key_valid(key))
		return mgt_fail(err, "'%s' is not a metadata key", key ? key : "");
	if (strcmp(key, MGT_NAME_LABEL) == 0)
		return replace_str(&s->label, value, err);
	if (strcmp(key, MGT_NAME_DESCRIPTION) == 0)
		return replace_str(&s->description, value, err);
	for (size_t i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return replace_str(&s->kv[i].value, value, err);
	kv = realloc(s->kv, (s->nkv + 1) * sizeof(*kv));
	if (!kv)
		return mgt_fail(err, "out of memory");
	s->kv = kv;
	kv[s->nkv].key = strdup(key);
	kv[s->nkv].value = strdup(value ? value : "");
	if (!kv[s->nkv].key || !kv[s->nkv].value) {
		free(kv[s->nkv].key);
		free(kv[s->nkv].value);
		return mgt_fail(err, "out of memory");
	}
	s->nkv++;
	return 0;
}

bool mgt_slot_live(const struct mgt_slot *s)
{
	const char *d;

	if (s->damaged)
		return false;
	d = mgt_slot_get(s, MGT_DELETED);
	return !d || strcmp(d, "1") != 0;
}

struct mgt_slot *mgt_find(struct mgt *m, const char *uuid)
{
	struct mgt_slot *found = NULL;

	for (size_t i = 0; i < m->nslots; i++) {
		const char *u = mgt_slot_get(&m->slots[i], MGT_UUID);

		/* The uuid first: it rules out all slots but one, the key lookups of live do not. */
		if (u && uuid && strcmp(u, uuid) == 0 && mgt_slot_live(&m->slots[i]))
			found = &m->slots[i];
	}
	return found;
}

static int slot_copy(struct mgt_slot *dst, const struct mgt_slot *src, struct sm_error *err)
{
	memset(dst, 0, sizeof(*dst));
	dst->offset = src->offset;
	dst->damaged = src->damaged;
	memcpy(dst->error, src->error, sizeof(dst->error));
	if (replace_str(&dst->label, src->label, err) < 0 ||
	    replace_str(&dst->description, src->description, err) < 0)
		goto fail;
	for (size_t i = 0; i < src->nkv; i++)
		if (mgt_slot_set(dst, src->kv[i].key, src->kv[i].value, err) < 0)
			goto fail;
	return 0;
fail:
	mgt_slot_free(dst);
	return -1;
}

/* ---- text ---- */

/*
 * Well-formed UTF-8 whose characters XML 1.0 allows (no C0 control but
 * TAB, LF, CR; no U+FFFE/U+FFFF): what a label may hold.
 */
static bool xml_text_valid(const char *str)
{
	const uint8_t *s = (const uint8_t *)str;

	while (*s) {
		uint32_t cp;
		int n;

		if (*s < 0x80) {
			if (*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
				return false;
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s <= 0xdf) {
			n = 1;
			cp = *s & 0x1f;
		} else if (*s >= 0xe0 && *s <= 0xef) {
			n = 2;
			cp = *s & 0x0f;
		} else if (*s >= 0xf0 && *s <= 0xf4) {
			n = 3;
			cp = *s & 0x07;
		} else {
			return false;
		}
		for (int k = 1; k <= n; k++) {
			if ((s[k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
			return false;
		s += n + 1;
	}
	return true;
}

/* xml.sax.saxutils.escape: &, < and > only.  malloc'd, NULL when out of memory. */
static char *xml_escape(const char *s)
{
	size_t n = 1;
	char *out, *o;

	for (const char *p = s; *p; p++)
		n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
	out = malloc(n);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = s; *p; p++) {
		if (*p == '&')
			o = stpcpy(o, "&amp;");
		else if (*p == '<')
			o = stpcpy(o, "&lt;");
		else if (*p == '>')
			o = stpcpy(o, "&gt;");
		else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

/*
 * Cut escaped text to at most max bytes, as util.unictrunc does (never
 * inside a UTF-8 sequence), and never inside an entity: Python would cut
 * "&amp;" to "&am" and write a record no parser reads back.
 */
static void cut_escaped(char *esc, size_t max)
{
	size_t len = strlen(esc), cut;
	char *amp;

	if (len <= max)
		return;
	cut = max;
	while (cut > 0 && ((uint8_t)esc[cut] & 0xc0) == 0x80)
		cut--;
	esc[cut] = '\0';
	amp = strrchr(esc, '&');
	if (amp && !strchr(amp, ';'))
		*amp = '\0';
}

/* Python's str.isspace() for the code point starting at s (n = its byte length). */
static bool py_space(const uint8_t *s, size_t n)
{
	uint32_t cp;

	if (n == 1)
		return (*s >= 0x09 && *s <= 0x0d) || (*s >= 0x1c && *s <= 0x20);
	if (n == 2) {
		cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
		return cp == 0x85 || cp == 0xa0;
	}
	if (n == 3) {
		cp = ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
		return cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
		       cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
	}
	return false;
}

static size_t utf8_seq_len(uint8_t c)
{
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* Append text (valid UTF-8, from libxml2) to *buf stripped as Python's str.strip(). */
static int append_stripped(char **buf, size_t *len, const char *text)
{
	const uint8_t *b = (const uint8_t *)text, *e = b + strlen(text);
	char *nb;

	while (b < e && py_space(b, utf8_seq_len(*b)))
		b += utf8_seq_len(*b);
	while (e > b) {
		const uint8_t *p = e - 1;

		while (p > b && (*p & 0xc0) == 0x80)
			p--;
		if (!py_space(p, (size_t)(e - p)))
			break;
		e = p;
	}
	if (e == b)
		return 0;
	nb = realloc(*buf, *len + (size_t)(e - b) + 1);
	if (!nb)
		return -1;
	memcpy(nb + *len, b, (size_t)(e - b));
	*len += (size_t)(e - b);
	nb[*len] = '\0';
	*buf = nb;
	return 0;
}

/* ---- decoding ---- */

/*
 * Parse <?xml?><SRMetadata>frag (NULs dropped)</SRMetadata>.  NULL with a
 * message in why on failure.
 */
static xmlDocPtr parse_fragment(xmlParserCtxtPtr ctxt, const uint8_t *frag, size_t len,
				char *why, size_t why_cap)
{
	size_t cap = sizeof(WRAP_OPEN) + len + sizeof(WRAP_CLOSE), n = 0;
	xmlDocPtr doc = NULL;
	char *buf = malloc(cap);

	if (!buf) {
		snprintf(why, why_cap, "out of memory");
		return NULL;
	}
	memcpy(buf, WRAP_OPEN, sizeof(WRAP_OPEN) - 1);
	n = sizeof(WRAP_OPEN) - 1;
	for (size_t i = 0; i < len; i++)
		if (frag[i] != '\0')
			buf[n++] = (char)frag[i];
	memcpy(buf + n, WRAP_CLOSE, sizeof(WRAP_CLOSE) - 1);
	n += sizeof(WRAP_CLOSE) - 1;

	/* xmlCtxtReadMemory resets the context: one serves every record. */
	doc = xmlCtxtReadMemory(ctxt, buf, (int)n, NULL, "UTF-8",
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		size_t l;

		snprintf(why, why_cap, "not XML: %s", e && e->message ? e->message : "parse error");
		l = strlen(why);
		while (l > 0 && (why[l - 1] == '\n' || why[l - 1] == ' '))
			why[--l] = '\0';
	}
	free(buf);
	return doc;
}

/*
 * An element's value as metadata._walkXML takes it: its text children,
 * stripped, joined.  An element with element children is not a value
 * this format has: an error.
 */
static int element_text(xmlNodePtr el, char **out, char *why, size_t why_cap)
{
	size_t len = 0;
	char *buf = strdup("");

	if (!buf)
		goto oom;
	for (xmlNodePtr c = el->children; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE) {
			snprintf(why, why_cap, "<%s> holds an element", (const char *)el->name);
			free(buf);
			return -1;
		}
		if (c->type == XML_TEXT_NODE && c->content &&
		    append_stripped(&buf, &len, (const char *)c->content) < 0)
			goto oom;
	}
	*out = buf;
	return 0;
oom:
	free(buf);
	snprintf(why, why_cap, "out of memory");
	return -1;
}

static int decode_sr_info(xmlParserCtxtPtr ctxt, const uint8_t *buf, struct mgt *m,
			  struct sm_error *err)
{
	char why[160] = "";
	xmlDocPtr doc;
	xmlNodePtr root;
	int rc = 0;

	if (memcmp(buf + MGT_SECTOR, XML_DECL, XML_DECL_LEN) != 0)
		return mgt_fail(err, "SR record (sector 1) does not start with %s", XML_DECL);
	doc = parse_fragment(ctxt, buf + MGT_SECTOR + XML_DECL_LEN,
			     MGT_SR_INFO_SIZE - MGT_SECTOR - XML_DECL_LEN, why, sizeof(why));
	if (!doc)
		return mgt_fail(err, "SR record (sectors 1-3): %s", why);
	root = xmlDocGetRootElement(doc);
	for (xmlNodePtr c = root ? root->children : NULL; c && rc == 0; c = c->next) {
		const char *name = (const char *)c->name;
		char **field = NULL, *text = NULL;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp(name, "uuid") == 0)
			field = &m->sr_uuid;
		else if (strcmp(name, "allocation") == 0)
			field = &m->allocation;
		else if (strcmp(name, MGT_NAME_LABEL) == 0)
			field = &m->sr_label;
		else if (strcmp(name, MGT_NAME_DESCRIPTION) == 0)
			field = &m->sr_description;
		else
			continue;   /* tolerated, as Python keeps and ignores it */
		if (element_text(c, &text, why, sizeof(why)) < 0) {
			rc = mgt_fail(err, "SR record: %s", why);
			break;
		}
		free(*field);
		*field = text;
	}
	xmlFreeDoc(doc);
	if (rc < 0)
		return -1;
	if (replace_str(&m->sr_uuid, m->sr_uuid, err) < 0 ||
	    replace_str(&m->allocation, m->allocation, err) < 0 ||
	    replace_str(&m->sr_label, m->sr_label, err) < 0 ||
	    replace_str(&m->sr_description, m->sr_description, err) < 0)
		return -1;
	return 0;
}

/* Why a slot is damaged; 0 for a slot parsed, -1 only when out of memory. */
static int slot_damaged(struct mgt_slot *s, const char *why)
{
	uint64_t offset = s->offset;

	mgt_slot_free(s);
	s->offset = offset;
	s->damaged = true;
	snprintf(s->error, sizeof(s->error), "%s", why);
	return 0;
}

static int decode_slot(xmlParserCtxtPtr ctxt, const uint8_t *buf, uint64_t offset,
		       struct mgt_slot *s)
{
	char why[160] = "";
	xmlNodePtr root, vdi = NULL;
	xmlDocPtr doc;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	s->offset = offset;
	doc = parse_fragment(ctxt, buf, MGT_SLOT_SIZE, why, sizeof(why));
	if (!doc)
		return slot_damaged(s, why);
	root = xmlDocGetRootElement(doc);
	/* Python's dict keeps the last <vdi> of the record. */
	for (xmlNodePtr c = root ? root->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, "vdi") == 0)
			vdi = c;
	if (!vdi) {
		xmlFreeDoc(doc);
		return slot_damaged(s, "no <vdi> element");
	}
	for (xmlNodePtr c = vdi->children; c && rc == 0; c = c->next) {
		char *text = NULL;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (element_text(c, &text, why, sizeof(why)) < 0 ||
		    mgt_slot_set(s, (const char *)c->name, text, NULL) < 0) {
			if (!why[0])
				snprintf(why, sizeof(why), "bad element <%.64s>", (const char *)c->name);
			rc = -1;
		}
		free(text);
	}
	xmlFreeDoc(doc);
	if (rc == 0 && !mgt_slot_get(s, MGT_UUID)) {
		snprintf(why, sizeof(why), "no <uuid>");
		rc = -1;
	}
	if (rc == 0 && (replace_str(&s->label, s->label, NULL) < 0 ||
			replace_str(&s->description, s->description, NULL) < 0)) {
		snprintf(why, sizeof(why), "out of memory");
		rc = -1;
	}
	if (rc < 0)
		return slot_damaged(s, why);
	s->offset = offset;
	return 0;
}

static bool blank(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != '\0' && buf[i] != ' ')
			return false;
	return true;
}

/* "<digits>" at *p, advancing; false when none or above max. */
static bool parse_num(const char **p, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
	}
	*out = v;
	*p = s;
	return true;
}

/* "XSSM:<length><spaces>:<major>:<minor>" then spaces or NULs. */
static int decode_header(const uint8_t *sector, struct mgt *m, struct sm_error *err)
{
	char text[MGT_SECTOR + 1];
	const char *p = text;
	uint64_t len, major, minor;

	memcpy(text, sector, MGT_SECTOR);
	text[MGT_SECTOR] = '\0';
	if (strncmp(p, HDR_MAGIC ":", 5) != 0)
		return mgt_fail(err, "bad header: no %s magic", HDR_MAGIC);
	p += 5;
	if (!parse_num(&p, MGT_MAX_LENGTH, &len))
		return mgt_fail(err, "bad header: length is not a number up to %u", MGT_MAX_LENGTH);
	while (*p == ' ')
		p++;
	if (*p++ != ':' || !parse_num(&p, 1000, &major) || *p++ != ':' ||
	    !parse_num(&p, 1000, &minor))
		return mgt_fail(err, "bad header: not XSSM:<length>:<major>:<minor>");
	if (!blank((const uint8_t *)p, (size_t)(text + MGT_SECTOR - p)))
		return mgt_fail(err, "bad header: text after the version");
	if (len < MGT_SR_INFO_SIZE || (len - MGT_SR_INFO_SIZE) % MGT_SLOT_SIZE != 0)
		return mgt_fail(err, "bad header: %llu bytes in use is not 2048 + 1024 x slots",
				(unsigned long long)len);
	m->length = len;
	m->major = (unsigned)major;
	m->minor = (unsigned)minor;
	return 0;
}

int mgt_decode(const void *data, size_t len, struct mgt *m, struct sm_error *err)
{
	const uint8_t *buf = data;
	xmlParserCtxtPtr ctxt = NULL;
	size_t nslots;

	memset(m, 0, sizeof(*m));
	if (len < MGT_SECTOR)
		return mgt_fail(err, "volume of %zu bytes holds no header", len);
	if (blank(buf, MGT_SECTOR))
		return 1;
	if (decode_header(buf, m, err) < 0)
		goto fail;
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		mgt_fail(err, "out of memory");
		goto fail;
	}
	if (m->length > len) {
		mgt_fail(err, "header says %llu bytes in use, the volume holds %zu",
			 (unsigned long long)m->length, len);
		goto fail;
	}
	if (decode_sr_info(ctxt, buf, m, err) < 0)
		goto fail;
	nslots = (size_t)((m->length - MGT_SR_INFO_SIZE) / MGT_SLOT_SIZE);
	if (nslots) {
		m->slots = calloc(nslots, sizeof(*m->slots));
		if (!m->slots) {
			mgt_fail(err, "out of memory");
			goto fail;
		}
	}
	for (size_t i = 0; i < nslots; i++) {
		uint64_t off = MGT_SR_INFO_SIZE + (uint64_t)i * MGT_SLOT_SIZE;

		decode_slot(ctxt, buf + off, off, &m->slots[i]);
		m->nslots++;
	}
	xmlFreeParserCtxt(ctxt);
	return 0;
fail:
	if (ctxt)
		xmlFreeParserCtxt(ctxt);
	mgt_free(m);
	return -1;
}

static int io_read(struct vhd_io *io, void *buf, size_t len, uint64_t off, struct sm_error *err)
{
	int rc = io->ops->pread(io, buf, len, off);

	if (rc < 0)
		return sm_fail_errno(err, SME_METADATA_ERROR, -rc, "cannot read %zu bytes at %llu of %s",
				     len, (unsigned long long)off, io->name);
	return 0;
}

static int io_size(struct vhd_io *io, uint64_t *size, struct sm_error *err)
{
	int rc = io->ops->get_size(io, size);

	if (rc < 0)
		return sm_fail_errno(err, SME_METADATA_ERROR, -rc, "cannot size %s", io->name);
	return 0;
}

int mgt_load(struct vhd_io *io, struct mgt *m, struct sm_error *err)
{
	uint8_t sector[MGT_SECTOR];
	struct mgt hdr = { 0 };
	uint64_t size, want;
	uint8_t *buf;
	int rc;

	memset(m, 0, sizeof(*m));
	if (io_size(io, &size, err) < 0)
		return -1;
	if (size < MGT_SR_INFO_SIZE)
		return mgt_fail(err, "%s is %llu bytes, too small for metadata", io->name,
				(unsigned long long)size);
	if (io_read(io, sector, sizeof(sector), 0, err) < 0)
		return -1;
	if (blank(sector, sizeof(sector)))
		return 1;
	if (decode_header(sector, &hdr, err) < 0)
		return -1;
	want = hdr.length;
	if (want > size)
		return mgt_fail(err, "header says %llu bytes in use, %s holds %llu",
				(unsigned long long)want, io->name, (unsigned long long)size);
	buf = malloc(want);
	if (!buf)
		return mgt_fail(err, "out of memory");
	rc = io_read(io, buf, want, 0, err);
	if (rc == 0)
		rc = mgt_decode(buf, want, m, err);
	free(buf);
	return rc;
}

/* ---- encoding ---- */

static void pad_sector(uint8_t *sector, const char *text, size_t len)
{
	memset(sector, ' ', MGT_SECTOR);
	memcpy(sector, text, len);
}

void mgt_encode_header(uint64_t length, unsigned major, unsigned minor, uint8_t out[MGT_SECTOR])
{
	char text[64];
	int n = snprintf(text, sizeof(text), HDR_MAGIC ":%-*llu:%u:%u", HDR_LEN_WIDTH,
			 (unsigned long long)length, major, minor);

	pad_sector(out, text, (size_t)n);
}

/* Check a value is text XML can carry. */
static int check_text(const char *what, const char *s, struct sm_error *err)
{
	if (s && !xml_text_valid(s))
		return sm_fail(err, SME_ILLEGAL_XML_CHAR, "%s holds a character XML cannot carry", what);
	return 0;
}

/* <tag>escaped value</tag> into one sector; Python's buildXMLSector cuts the value to fit. */
static int encode_xml_sector(const char *tag, const char *value, uint8_t out[MGT_SECTOR],
			     struct sm_error *err)
{
	char text[MGT_SECTOR * 2];
	char *esc;
	int n;

	if (check_text(tag, value, err) < 0)
		return -1;
	esc = xml_escape(value ? value : "");
	if (!esc)
		return mgt_fail(err, "out of memory");
	cut_escaped(esc, MGT_SECTOR - 2 * strlen(tag) - 5);
	n = snprintf(text, sizeof(text), "<%s>%s</%s>", tag, esc, tag);
	free(esc);
	pad_sector(out, text, (size_t)n);
	return 0;
}

int mgt_encode_sr_info(const struct mgt *m, uint8_t out[MGT_SR_INFO_SIZE], struct sm_error *err)
{
	char text[MGT_SECTOR * 2];
	char *uuid = NULL, *alloc = NULL;
	int n, rc = -1;

	if (check_text("SR uuid", m->sr_uuid, err) < 0 ||
	    check_text("allocation", m->allocation, err) < 0)
		return -1;
	uuid = xml_escape(m->sr_uuid ? m->sr_uuid : "");
	alloc = xml_escape(m->allocation ? m->allocation : "");
	if (!uuid || !alloc) {
		mgt_fail(err, "out of memory");
		goto out;
	}
	n = snprintf(text, sizeof(text), XML_DECL "<uuid>%s</uuid><allocation>%s</allocation>",
		     uuid, alloc);
	if (n < 0 || n > MGT_SECTOR) {
		mgt_fail(err, "SR uuid and allocation do not fit a sector");
		goto out;
	}
	mgt_encode_header(m->length, m->major, m->minor, out);
	pad_sector(out + MGT_SECTOR, text, (size_t)n);
	if (encode_xml_sector(MGT_NAME_LABEL, m->sr_label, out + 2 * MGT_SECTOR, err) < 0 ||
	    encode_xml_sector(MGT_NAME_DESCRIPTION, m->sr_description, out + 3 * MGT_SECTOR, err) < 0)
		goto out;
	rc = 0;
out:
	free(uuid);
	free(alloc);
	return rc;
}

/* Sector 1 of a slot: label and description, cut as LVMMetadataHandler.getVdiInfo cuts them. */
static int encode_slot_names(const struct mgt_slot *s, uint8_t out[MGT_SECTOR],
			     struct sm_error *err)
{
	char text[MGT_SECTOR * 2];
	char *label, *desc;
	int n;

	if (check_text("VDI label", s->label, err) < 0 ||
	    check_text("VDI description", s->description, err) < 0)
		return -1;
	label = xml_escape(s->label ? s->label : "");
	desc = xml_escape(s->description ? s->description : "");
	if (!label || !desc) {
		free(label);
		free(desc);
		return mgt_fail(err, "out of memory");
	}
	if (strlen(label) + strlen(desc) > MGT_MAX_LABEL_DESC) {
		cut_escaped(label, MGT_MAX_LABEL_DESC / 2);
		cut_escaped(desc, MGT_MAX_LABEL_DESC / 2);
	}
	n = snprintf(text, sizeof(text),
		     "<vdi><" MGT_NAME_LABEL ">%s</" MGT_NAME_LABEL "><" MGT_NAME_DESCRIPTION
		     ">%s</" MGT_NAME_DESCRIPTION ">", label, desc);
	free(label);
	free(desc);
	pad_sector(out, text, (size_t)n);
	return 0;
}

/* Append s to the sector text at *pos; false when it would pass the sector. */
static bool put_text(char *text, size_t *pos, const char *s)
{
	size_t n = strlen(s);

	if (*pos + n > MGT_SECTOR)
		return false;
	memcpy(text + *pos, s, n);
	*pos += n;
	return true;
}

/* Sector 2: every key in order, <deleted>0</deleted> if there is none, </vdi>. */
static int encode_slot_keys(const struct mgt_slot *s, uint8_t out[MGT_SECTOR],
			    struct sm_error *err)
{
	char text[MGT_SECTOR];
	size_t pos = 0;
	bool ok = true;

	for (size_t i = 0; i < s->nkv && ok; i++) {
		char *esc;

		if (!key_valid(s->kv[i].key))
			return mgt_fail(err, "'%s' is not a metadata key", s->kv[i].key);
		if (check_text(s->kv[i].key, s->kv[i].value, err) < 0)
			return -1;
		esc = xml_escape(s->kv[i].value);
		if (!esc)
			return mgt_fail(err, "out of memory");
		ok = put_text(text, &pos, "<") && put_text(text, &pos, s->kv[i].key) &&
		     put_text(text, &pos, ">") && put_text(text, &pos, esc) &&
		     put_text(text, &pos, "</") && put_text(text, &pos, s->kv[i].key) &&
		     put_text(text, &pos, ">");
		free(esc);
	}
	if (ok && !mgt_slot_get(s, MGT_DELETED))
		ok = put_text(text, &pos, "<" MGT_DELETED ">0</" MGT_DELETED ">");
	if (ok)
		ok = put_text(text, &pos, "</vdi>");
	if (!ok)
		return mgt_fail(err, "the record of VDI %s does not fit a sector",
				mgt_slot_get(s, MGT_UUID) ? mgt_slot_get(s, MGT_UUID) : "?");
	pad_sector(out, text, pos);
	return 0;
}

int mgt_encode_slot(const struct mgt_slot *s, uint8_t out[MGT_SLOT_SIZE], struct sm_error *err)
{
	if (s->damaged)
		return mgt_fail(err, "a damaged slot is never written");
	if (!mgt_slot_get(s, MGT_UUID))
		return mgt_fail(err, "a VDI record needs a uuid");
	if (encode_slot_names(s, out, err) < 0 || encode_slot_keys(s, out + MGT_SECTOR, err) < 0)
		return -1;
	return 0;
}

/* ---- records from and to struct vdi_meta ---- */

int mgt_slot_from_meta(struct mgt_slot *s, const char *uuid, const struct vdi_meta *meta,
		       const char *vdi_type, bool managed, struct sm_error *err)
{
	memset(s, 0, sizeof(*s));
	if (!sm_uuid_valid(uuid))
		return sm_fail(err, SME_INVALID_ARG, "VDI uuid '%s' is not canonical", uuid ? uuid : "");
	if (replace_str(&s->label, meta->label, err) < 0 ||
	    replace_str(&s->description, meta->description, err) < 0 ||
	    mgt_slot_set(s, MGT_UUID, uuid, err) < 0 ||
	    mgt_slot_set(s, MGT_IS_A_SNAPSHOT, meta->is_a_snapshot ? "1" : "0", err) < 0 ||
	    mgt_slot_set(s, MGT_SNAPSHOT_OF, meta->snapshot_of, err) < 0 ||
	    mgt_slot_set(s, MGT_SNAPSHOT_TIME, meta->snapshot_time, err) < 0 ||
	    mgt_slot_set(s, MGT_TYPE, meta->vdi_type[0] ? meta->vdi_type : "user", err) < 0 ||
	    mgt_slot_set(s, MGT_VDI_TYPE, vdi_type ? vdi_type : "vhd", err) < 0 ||
	    mgt_slot_set(s, MGT_READ_ONLY, meta->read_only ? "1" : "0", err) < 0 ||
	    mgt_slot_set(s, MGT_MANAGED, managed ? "1" : "0", err) < 0 ||
	    mgt_slot_set(s, MGT_METADATA_OF_POOL, "", err) < 0) {
		mgt_slot_free(s);
		return -1;
	}
	return 0;
}

/* Python's bool(int(x)) without the exception: digits, non-zero. */
static bool truthy(const char *v)
{
	bool nonzero = false;

	if (!v || !*v)
		return false;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return false;
		nonzero |= *v != '0';
	}
	return nonzero;
}

int mgt_slot_to_meta(const struct mgt_slot *s, struct vdi_meta *meta, struct sm_error *err)
{
	const char *type = mgt_slot_get(s, MGT_TYPE);
	const char *of = mgt_slot_get(s, MGT_SNAPSHOT_OF);
	const char *when = mgt_slot_get(s, MGT_SNAPSHOT_TIME);

	memset(meta, 0, sizeof(*meta));
	if (s->damaged)
		return mgt_fail(err, "slot at %llu is damaged: %s", (unsigned long long)s->offset,
				s->error);
	meta->label = strdup(s->label ? s->label : "");
	meta->description = strdup(s->description ? s->description : "");
	if (!meta->label || !meta->description) {
		vdimeta_free(meta);
		return mgt_fail(err, "out of memory");
	}
	if (type && strlen(type) < sizeof(meta->vdi_type))
		strcpy(meta->vdi_type, type);
	meta->read_only = truthy(mgt_slot_get(s, MGT_READ_ONLY));
	meta->is_a_snapshot = truthy(mgt_slot_get(s, MGT_IS_A_SNAPSHOT));
	if (of && sm_uuid_valid(of))
		strcpy(meta->snapshot_of, of);
	if (when && strlen(when) < sizeof(meta->snapshot_time))
		strcpy(meta->snapshot_time, when);
	return 0;
}

/* ---- writing ---- */

static int io_write(struct vhd_io *io, const void *buf, size_t len, uint64_t off,
		    struct sm_error *err)
{
	int rc = io->ops->pwrite(io, buf, len, off);

	if (rc < 0)
		return sm_fail_errno(err, SME_METADATA_ERROR, -rc,
				     "cannot write %zu bytes at %llu of %s", len,
				     (unsigned long long)off, io->name);
	return 0;
}

static int io_sync(struct vhd_io *io, struct sm_error *err)
{
	int rc = io->ops->sync ? io->ops->sync(io) : 0;

	if (rc < 0)
		return sm_fail_errno(err, SME_METADATA_ERROR, -rc, "cannot sync %s", io->name);
	return 0;
}

/* Write sector 0 for length, durably. */
static int write_header(struct vhd_io *io, uint64_t length, unsigned major, unsigned minor,
			struct sm_error *err)
{
	uint8_t sector[MGT_SECTOR];

	mgt_encode_header(length, major, minor, sector);
	if (io_write(io, sector, sizeof(sector), 0, err) < 0)
		return -1;
	return io_sync(io, err);
}

/*
 * Encode rec for offset, read the encoding back into *written (so m holds
 * what the volume holds: labels cut, entities resolved), write it, sync.
 */
static int write_slot(struct vhd_io *io, const struct mgt_slot *rec, uint64_t offset,
		      struct mgt_slot *written, struct sm_error *err)
{
	uint8_t buf[MGT_SLOT_SIZE];
	xmlParserCtxtPtr ctxt;
	uint64_t size;

	if (io_size(io, &size, err) < 0)
		return -1;
	if (offset + MGT_SLOT_SIZE > size || offset + MGT_SLOT_SIZE > MGT_MAX_LENGTH)
		return mgt_fail(err, "metadata volume %s is full (%llu bytes)", io->name,
				(unsigned long long)size);
	if (mgt_encode_slot(rec, buf, err) < 0)
		return -1;
	ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return mgt_fail(err, "out of memory");
	decode_slot(ctxt, buf, offset, written);
	xmlFreeParserCtxt(ctxt);
	if (written->damaged) {
		mgt_fail(err, "VDI record does not read back: %s", written->error);
		mgt_slot_free(written);
		return -1;
	}
	if (io_write(io, buf, sizeof(buf), offset, err) < 0 || io_sync(io, err) < 0) {
		mgt_slot_free(written);
		return -1;
	}
	return 0;
}

int mgt_format(struct vhd_io *io, struct mgt *m, const char *sr_uuid, const char *allocation,
	       const char *label, const char *description, struct sm_error *err)
{
	uint8_t buf[MGT_SR_INFO_SIZE];
	struct mgt fresh = { .major = MGT_MAJOR, .minor = MGT_MINOR, .length = MGT_SR_INFO_SIZE };
	uint64_t size;

	if (io_size(io, &size, err) < 0)
		return -1;
	if (size < MGT_SR_INFO_SIZE)
		return mgt_fail(err, "%s is too small for metadata", io->name);
	if (replace_str(&fresh.sr_uuid, sr_uuid, err) < 0 ||
	    replace_str(&fresh.allocation, allocation, err) < 0 ||
	    replace_str(&fresh.sr_label, label, err) < 0 ||
	    replace_str(&fresh.sr_description, description, err) < 0 ||
	    mgt_encode_sr_info(&fresh, buf, err) < 0)
		goto fail;
	mgt_free(&fresh);
	/* What we keep is what reads back (a label cut to fit its sector). */
	if (mgt_decode(buf, sizeof(buf), &fresh, err) != 0)
		goto fail;
	/* The SR record first, then the header that makes it valid. */
	if (io_write(io, buf + MGT_SECTOR, sizeof(buf) - MGT_SECTOR, MGT_SECTOR, err) < 0 ||
	    io_sync(io, err) < 0 || write_header(io, fresh.length, fresh.major, fresh.minor, err) < 0)
		goto fail;
	mgt_free(m);
	*m = fresh;
	return 0;
fail:
	mgt_free(&fresh);
	return -1;
}

/* The offset key srmetadata.py writes into every slot it rewrites. */
static int set_offset(struct mgt_slot *s, uint64_t offset, struct sm_error *err)
{
	char off[32];

	snprintf(off, sizeof(off), "%llu", (unsigned long long)offset);
	return mgt_slot_set(s, MGT_OFFSET, off, err);
}

/* The slot an add takes: the last deleted one (srmetadata.py's loop), or -1 to append. */
static long reusable_slot(const struct mgt *m)
{
	long found = -1;

	for (size_t i = 0; i < m->nslots; i++)
		if (!m->slots[i].damaged && !mgt_slot_live(&m->slots[i]))
			found = (long)i;
	return found;
}

int mgt_add(struct vhd_io *io, struct mgt *m, const struct mgt_slot *rec, struct sm_error *err)
{
	const char *uuid = mgt_slot_get(rec, MGT_UUID);
	struct mgt_slot copy, written, *grown;
	long reuse = reusable_slot(m);
	uint64_t offset = reuse >= 0 ? m->slots[reuse].offset : m->length;

	if (!uuid)
		return mgt_fail(err, "a VDI record needs a uuid");
	if (mgt_find(m, uuid))
		return sm_fail(err, SME_VDI_EXISTS, "VDI %s already has a metadata record", uuid);
	if (slot_copy(&copy, rec, err) < 0)
		return -1;
	if (mgt_slot_set(&copy, MGT_DELETED, "0", err) < 0 ||
	    (reuse >= 0 && set_offset(&copy, offset, err) < 0) ||
	    write_slot(io, &copy, offset, &written, err) < 0) {
		mgt_slot_free(&copy);
		return -1;
	}
	mgt_slot_free(&copy);
	if (reuse >= 0) {
		mgt_slot_free(&m->slots[reuse]);
		m->slots[reuse] = written;
		return 0;
	}
	/* The slot is durable before the header that makes it count. */
	grown = realloc(m->slots, (m->nslots + 1) * sizeof(*grown));
	if (!grown || write_header(io, m->length + MGT_SLOT_SIZE, m->major, m->minor, err) < 0) {
		if (grown)
			m->slots = grown;
		mgt_slot_free(&written);
		return grown ? -1 : mgt_fail(err, "out of memory");
	}
	m->slots = grown;
	m->slots[m->nslots++] = written;
	m->length += MGT_SLOT_SIZE;
	return 0;
}

/* Rewrite slot i from rec (an updated copy of it). */
static int rewrite_slot(struct vhd_io *io, struct mgt *m, size_t i, struct mgt_slot *rec,
			struct sm_error *err)
{
	struct mgt_slot written;

	/*
	 * srmetadata.py writes the in-memory offset back into every slot it
	 * rewrites (it reads it as a key); so do we, to write what it writes.
	 */
	if (set_offset(rec, m->slots[i].offset, err) < 0 ||
	    write_slot(io, rec, m->slots[i].offset, &written, err) < 0)
		return -1;
	mgt_slot_free(&m->slots[i]);
	m->slots[i] = written;
	return 0;
}

int mgt_update(struct vhd_io *io, struct mgt *m, const char *uuid, const struct mgt_kv *changes,
	       size_t n, struct sm_error *err)
{
	struct mgt_slot *s = mgt_find(m, uuid), copy;
	int rc = -1;

	if (!s)
		return mgt_fail(err, "no metadata record for VDI %s", uuid ? uuid : "");
	if (slot_copy(&copy, s, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(changes[i].key, MGT_UUID) == 0 && strcmp(changes[i].value, uuid) != 0) {
			mgt_fail(err, "a record's uuid cannot change");
			goto out;
		}
		if (mgt_slot_set(&copy, changes[i].key, changes[i].value, err) < 0)
			goto out;
	}
	rc = rewrite_slot(io, m, (size_t)(s - m->slots), &copy, err);
out:
	mgt_slot_free(&copy);
	return rc;
}

int mgt_delete(struct vhd_io *io, struct mgt *m, const char *uuid, struct sm_error *err)
{
	struct mgt_slot *s = mgt_find(m, uuid), copy;
	size_t i;
	int rc;

	if (!s)
		return 0;
	i = (size_t)(s - m->slots);
	if (slot_copy(&copy, s, err) < 0)
		return -1;
	rc = mgt_slot_set(&copy, MGT_DELETED, "1", err);
	if (rc == 0)
		rc = rewrite_slot(io, m, i, &copy, err);
	mgt_slot_free(&copy);
	if (rc < 0)
		return -1;
	if (m->slots[i].offset + MGT_SLOT_SIZE != m->length)
		return 0;
	if (write_header(io, m->length - MGT_SLOT_SIZE, m->major, m->minor, err) < 0)
		return -1;
	mgt_slot_free(&m->slots[i]);
	m->nslots--;
	m->length -= MGT_SLOT_SIZE;
	return 0;
}

int mgt_update_sr(struct vhd_io *io, struct mgt *m, const char *label, const char *description,
		  struct sm_error *err)
{
	uint8_t buf[MGT_SR_INFO_SIZE];
	struct mgt next = *m, back;
	int rc = -1;

	next.sr_label = NULL;
	next.sr_description = NULL;
	if (replace_str(&next.sr_label, label, err) < 0 ||
	    replace_str(&next.sr_description, description, err) < 0 ||
	    mgt_encode_sr_info(&next, buf, err) < 0)
		goto out;
	/* Decode what we are about to write, with no slots, for the cut label. */
	mgt_encode_header(MGT_SR_INFO_SIZE, next.major, next.minor, buf);
	if (mgt_decode(buf, sizeof(buf), &back, err) != 0)
		goto out;
	/*
	 * srmetadata.py rewrites sectors 2-3; we rewrite 1 too (the same bytes
	 * for any volume it wrote), so a sector-1 record that ran on into
	 * sector 2 cannot make the SR record unreadable.
	 */
	if (io_write(io, buf + MGT_SECTOR, 3 * MGT_SECTOR, MGT_SECTOR, err) < 0 ||
	    io_sync(io, err) < 0) {
		mgt_free(&back);
		goto out;
	}
	free(m->sr_uuid);
	free(m->allocation);
	free(m->sr_label);
	free(m->sr_description);
	m->sr_uuid = back.sr_uuid;
	m->allocation = back.allocation;
	m->sr_label = back.sr_label;
	m->sr_description = back.sr_description;
	back.sr_uuid = back.allocation = back.sr_label = back.sr_description = NULL;
	mgt_free(&back);
	rc = 0;
out:
	free(next.sr_label);
	free(next.sr_description);
	return rc;
}
