/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * lvm_label_t <file or device>: what lib/lvm_label.c reads off a PV, one
 * "key=value" a line, for tests/integration/test_lvm_label.sh to compare
 * with what the LVM commands report.  "NO_LABEL" when the device is no PV;
 * "FAULT <code> <detail>" (exit 1) when the label or metadata is bad.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "csm/lvm_label.h"
#include "tool_common.h"

static int read_fd(void *ctx, uint64_t off, void *buf, size_t len)
{
	int fd = *(int *)ctx;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;   /* past the end */
		done += (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sm_lvm_pv_info pv;
	struct sm_error err;
	int fd, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: lvm_label_t <file or device>\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	sm_error_clear(&err);
	rc = sm_lvm_label_read(read_fd, &fd, &pv, &err);
	close(fd);
	if (rc < 0)
		tool_fault(&err);
	if (rc == SM_LVM_NO_LABEL) {
		printf("NO_LABEL\n");
		return 0;
	}
	printf("pv_uuid=%s\ndevice_size=%llu\npe_start=%llu\nmda_offset=%llu\nmda_size=%llu\n"
	       "text_offset=%llu\ntext_size=%llu\nvg_name=%s\nvg_uuid=%s\nseqno=%llu\n"
	       "extent_size=%llu\npe_count=%llu\nvg_pe_count=%llu\nvg_size=%llu\npv_count=%u\n",
	       pv.pv_uuid, (unsigned long long)pv.device_size, (unsigned long long)pv.pe_start,
	       (unsigned long long)pv.mda_offset, (unsigned long long)pv.mda_size,
	       (unsigned long long)pv.text_offset, (unsigned long long)pv.text_size, pv.vg_name,
	       pv.vg_uuid, (unsigned long long)pv.seqno, (unsigned long long)pv.extent_size,
	       (unsigned long long)pv.pe_count, (unsigned long long)pv.vg_pe_count,
	       (unsigned long long)pv.vg_size, pv.pv_count);
	return 0;
}
