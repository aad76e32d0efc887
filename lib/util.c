/* SPDX-License-Identifier: LGPL-2.1-only */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "csm/util.h"

bool sm_uuid_valid(const char *s)
{
	if (!s || strlen(s) != SM_UUID_LEN)
		return false;
	for (int i = 0; i < SM_UUID_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}

void sm_uuid_generate(char out[SM_UUID_LEN + 1])
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

int sm_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* The shift of a unit letter (K=10 ... E=60), or -1. */
static int unit_shift(char c)
{
	static const char units[] = "KMGTPE";
	char upper = (char)(c & ~0x20);
	/* strchr finds the terminator too: ' ' & ~0x20 is '\0'. */
	const char *u = upper ? strchr(units, upper) : NULL;

	return u ? 10 * (int)(u - units + 1) : -1;
}

static int size_refused(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -1;
}

int sm_parse_size(const char *s, uint64_t *out, const char **why)
{
	unsigned __int128 whole = 0, frac = 0, scale = 1, bytes;
	int shift = 0;

	if (!s || !*s)
		return size_refused(why, "empty size");
	if (*s < '0' || *s > '9')
		return size_refused(why, "a size starts with a decimal digit (e.g. 4096, 512M, 1.5GiB)");
	for (; *s >= '0' && *s <= '9'; s++) {
		whole = whole * 10 + (unsigned)(*s - '0');
		if (whole > UINT64_MAX)
			return size_refused(why, "size too large (the limit is 16 EiB - 1)");
	}
	if (*s == '.') {
		if (s[1] < '0' || s[1] > '9')
			return size_refused(why, "a decimal point must be followed by digits");
		for (s++; *s >= '0' && *s <= '9'; s++) {
			if (scale >= 1000000000000000000ull)
				return size_refused(why, "too many digits after the decimal point");
			frac = frac * 10 + (unsigned)(*s - '0');
			scale *= 10;
		}
	}
	if (*s) {
		shift = unit_shift(*s);
		if (shift < 0 && (*s == 'B' || *s == 'b') && !s[1])
			shift = 0;
		else if (shift < 0 || !(!s[1] || ((s[1] == 'B' || s[1] == 'b') && !s[2]) ||
					((s[1] == 'i' || s[1] == 'I') && (s[2] == 'B' || s[2] == 'b') && !s[3])))
			return size_refused(why, "unknown unit: use K, M, G, T, P or E (KiB, MiB, ... alike), "
					    "or none for bytes");
	}
	/* 2^60 * (10^18 - 1) fits in 128 bits, so the products cannot wrap. */
	if ((frac << shift) % scale)
		return size_refused(why, "not a whole number of bytes");
	bytes = (whole << shift) + (frac << shift) / scale;
	if (bytes > UINT64_MAX)
		return size_refused(why, "size too large (the limit is 16 EiB - 1)");
	*out = (uint64_t)bytes;
	return 0;
}

int sm_parse_bool(const char *s, bool *out)
{
	if (s && strcmp(s, "true") == 0) {
		*out = true;
		return 0;
	}
	if (s && strcmp(s, "false") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

static const char *env_dir(const char *var, const char *dflt)
{
	const char *v = getenv(var);

	return (v && v[0] == '/') ? v : dflt;
}

const char *sm_mount_base(void)
{
	return env_dir("SM_MOUNT_BASE", "/run/sr-mount");
}

const char *sm_lock_dir(void)
{
	return env_dir("SM_LOCK_DIR", "/var/lock/sm");
}

int sm_exe_dir(char out[PATH_MAX])
{
	ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 1);
	char *slash;

	if (n <= 0)
		return -1;
	out[n] = '\0';
	slash = strrchr(out, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	return 0;
}

int sm_mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int sm_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int sm_write_file_atomic_mode(const char *path, const char *data, size_t len, unsigned mode)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* The temp name is ours alone: a symlink planted there is never followed. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, data, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int sm_write_file_atomic(const char *path, const char *data, size_t len)
{
	return sm_write_file_atomic_mode(path, data, len, 0600);
}

int sm_read_file(const char *path, size_t max, char **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t len = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (len < max) {
		ssize_t n = read(fd, buf + len, max - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

/*
 * The Python SM's isLegalXMLString: XML 1.0 cannot carry C0 controls, and
 * it also refuses DEL, the C1 controls but NEL, the noncharacters
 * U+FDD0-U+FDDF and U+FFFE/U+FFFF, because tools choke on them later.
 */
bool sm_has_illegal_xml_char(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	for (; s && *s; s++) {
		if (*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
			return true;
		if (*s == 0x7f)
			return true;
		if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f && s[1] != 0x85)
			return true;
		if (s[0] == 0xef && s[1] == 0xb7 && s[2] >= 0x90 && s[2] <= 0x9f)
			return true;
		if (s[0] == 0xef && s[1] == 0xbf && (s[2] == 0xbe || s[2] == 0xbf))
			return true;
	}
	return false;
}

char *sm_base64(const unsigned char *data, size_t len)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		*o++ = tbl[(v >> 18) & 63];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? tbl[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

int64_t sm_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
