/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Drive lib/iscsi.c against a target (tests/iscsi/target.sh); used by
 * tests/integration/test_iscsi_lib.sh.
 *
 *   iscsi_t tcpcheck <host> <port> <timeout_ms>
 *   iscsi_t discover [opts] <host> <port>
 *       one line per (portal, target): "<address> <port> <iqn>"
 *   iscsi_t luns [opts] <host> <port> <iqn>
 *       one line per direct-access LUN: "lun=<n> vendor=<v> product=<p>
 *       serial=<s> scsi_id=<id> uuid=<vdi uuid> size=<bytes> block=<bytes>"
 *   iscsi_t read [opts] <host> <port> <iqn> <lun> <offset> <length>
 *       the bytes, raw, on stdout
 *
 * opts: -i <initiator IQN> (default $ISCSI_INITIATOR), -t <timeout_ms>,
 *       -u <chap user> -p <chap password>, -U <target's user> -P <target's
 *       password> (mutual CHAP), -m <file> -w <ms>: after login create
 *       <file> and sleep <ms> before the commands (the test kills or
 *       freezes the target meanwhile).
 * A fault prints "FAULT <code> <detail>" and exits 1; "elapsed_ms=<n>" goes
 * to stderr either way.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csm/iscsi.h"
#include "tool_common.h"

static int64_t t0;

static void elapsed(void)
{
	fprintf(stderr, "elapsed_ms=%lld\n", (long long)(sm_monotonic_ms() - t0));
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: iscsi_t tcpcheck|discover|luns|read [opts] <host> <port> ...\n");
	exit(2);
}

static void fault(const struct sm_error *err)
{
	elapsed();
	tool_fault(err);
}

struct opts {
	const char *marker;
	int wait_ms;
};

static void target_from(struct sm_iscsi_target *t, const char *host, const char *port)
{
	snprintf(t->host, sizeof(t->host), "%s", host);
	t->port = (int)tool_num(port);
	t->target_as_given = host;
}

static void pause_after_login(const struct opts *o)
{
	struct timespec ts;
	int fd;

	if (!o->marker)
		return;
	fd = open(o->marker, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0)
		close(fd);
	ts.tv_sec = o->wait_ms / 1000;
	ts.tv_nsec = (long)(o->wait_ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static int cmd_discover(struct sm_iscsi_target *t)
{
	struct sm_error err = { 0 };
	struct sm_iscsi_discovered *d;
	size_t n, i;

	if (sm_iscsi_discover(t, &d, &n, &err) < 0)
		fault(&err);
	for (i = 0; i < n; i++)
		printf("%s %d %s\n", d[i].address, d[i].port, d[i].iqn);
	free(d);
	return 0;
}

static int cmd_luns(struct sm_iscsi_target *t, const struct opts *o)
{
	struct sm_error err = { 0 };
	struct sm_iscsi_session *s;
	struct sm_iscsi_lun *l;
	char uuid[37];
	size_t n, i;

	if (sm_iscsi_session_open(t, &s, &err) < 0)
		fault(&err);
	pause_after_login(o);
	if (sm_iscsi_session_luns(s, &l, &n, &err) < 0) {
		sm_iscsi_session_close(s);
		fault(&err);
	}
	for (i = 0; i < n; i++) {
		sm_iscsi_vdi_uuid(l[i].scsi_id, uuid);
		printf("lun=%d vendor=%s product=%s serial=%s scsi_id=%s uuid=%s size=%llu block=%u\n",
		       l[i].lun, l[i].vendor, l[i].product, l[i].serial, l[i].scsi_id, uuid,
		       (unsigned long long)l[i].size, l[i].block_size);
	}
	free(l);
	sm_iscsi_session_close(s);
	return 0;
}

static int cmd_read(struct sm_iscsi_target *t, const struct opts *o, char **argv)
{
	struct sm_error err = { 0 };
	struct sm_iscsi_session *s;
	uint64_t off = tool_num(argv[1]), len = tool_num(argv[2]);
	char *buf;

	buf = malloc(len ? len : 1);
	if (!buf)
		return 1;
	if (sm_iscsi_session_open(t, &s, &err) < 0)
		fault(&err);
	pause_after_login(o);
	if (sm_iscsi_session_read(s, (int)tool_num(argv[0]), off, buf, len, &err) < 0) {
		sm_iscsi_session_close(s);
		fault(&err);
	}
	sm_iscsi_session_close(s);
	fwrite(buf, 1, len, stdout);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	struct sm_iscsi_target t;
	struct opts o = { NULL, 0 };
	struct sm_error err = { 0 };
	const char *cmd;
	int c;

	t0 = sm_monotonic_ms();
	if (argc < 2)
		usage();
	cmd = argv[1];
	memset(&t, 0, sizeof(t));
	t.initiator_iqn = getenv("ISCSI_INITIATOR");
	argv++;
	argc--;
	while ((c = getopt(argc, argv, "i:t:u:p:U:P:m:w:")) != -1) {
		switch (c) {
		case 'i': t.initiator_iqn = optarg; break;
		case 't': t.timeout_ms = (int)tool_num(optarg); break;
		case 'u': t.auth.user = optarg; break;
		case 'p': t.auth.password = optarg; break;
		case 'U': t.auth.in_user = optarg; break;
		case 'P': t.auth.in_password = optarg; break;
		case 'm': o.marker = optarg; break;
		case 'w': o.wait_ms = (int)tool_num(optarg); break;
		default: usage();
		}
	}
	argv += optind;
	argc -= optind;
	if (argc < 2)
		usage();
	target_from(&t, argv[0], argv[1]);
	if (strcmp(cmd, "tcpcheck") == 0 && argc == 3) {
		if (sm_iscsi_tcp_check(t.host, t.port, (int)tool_num(argv[2]), &err) < 0)
			fault(&err);
		printf("ok\n");
	} else if (strcmp(cmd, "discover") == 0 && argc == 2) {
		cmd_discover(&t);
	} else if (strcmp(cmd, "luns") == 0 && argc == 3) {
		t.target_iqn = argv[2];
		cmd_luns(&t, &o);
	} else if (strcmp(cmd, "read") == 0 && argc == 6) {
		t.target_iqn = argv[2];
		cmd_read(&t, &o, argv + 3);
	} else {
		usage();
	}
	elapsed();
	return 0;
}
