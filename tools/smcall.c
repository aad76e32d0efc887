/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * smcall: call a driver by hand the way xapi does.
 *
 *   smcall [options] <driver> <dconf-file> <command> [args...]
 *
 * Builds the XML-RPC request xapi would send (same members, same order,
 * same bytes), runs the driver with it as argv[1], and prints the response
 * readably: strings as they are, structs as "key: value", faults as
 * "FAULT <code> <Name>: <faultString>" with exit status 1.
 *
 * The dconf file has one "key=value" per line ('#' starts a comment);
 * "${VAR}" and "${VAR:-default}" are taken from the environment.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csm/buf.h"
#include "csm/driver.h"
#include "csm/util.h"
#include "csm/xmlrpc.h"

struct opts {
	const char *driver, *dconf_file, *command;
	const char *sr_uuid, *vdi_uuid, *new_uuid, *location, *vdi_type;
	const char *master;
	struct xr_value *dconf_extra;   /* --dconf k=v */
	struct xr_value *sm_config;     /* --sm-config k=v */
	struct xr_value *driver_params; /* --driver-param k=v */
	char **args;
	int nargs;
	int style;                      /* 0 xapi, 1 python */
	int print_request, raw, check_only;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: smcall [options] <driver> <dconf-file> <command> [args...]\n"
		"  --sr UUID            sr_uuid (default $SR_UUID)\n"
		"  --vdi UUID           vdi_uuid (vdi_location defaults to it)\n"
		"  --new-uuid UUID      new_uuid (vdi_introduce)\n"
		"  --location LOC       vdi_location\n"
		"  --vdi-type TYPE      vdi_type for vdi_create (default user)\n"
		"  --dconf K=V          add or override a dconf key\n"
		"  --sm-config K=V      vdi_sm_config / sr_sm_config entry\n"
		"  --driver-param K=V   driver_params entry (snapshot, clone)\n"
		"  --slave              SRmaster=false\n"
		"  --python             write the request as Python's xmlrpc does\n"
		"  --print-request      print the request and do not run the driver\n"
		"  --raw                print the driver's stdout unchanged\n"
		"vdi_create accepts 1-8 args: size (bytes, or with K/M/G/T), name, description, ...\n");
	exit(2);
}

static void die(const char *what)
{
	fprintf(stderr, "smcall: %s\n", what);
	exit(2);
}

static int put_kv(struct xr_value *st, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *key;
	int rc;

	if (!eq || eq == kv)
		return -1;
	key = strndup(kv, (size_t)(eq - kv));
	rc = key ? xr_struct_set_string(st, key, eq + 1) : -1;
	free(key);
	return rc;
}

/* ${VAR} and ${VAR:-default} from the environment. */
static char *expand(const char *s)
{
	struct sm_buf b = SM_BUF_INIT;

	while (*s) {
		const char *end;

		if (s[0] != '$' || s[1] != '{' || !(end = strchr(s, '}'))) {
			buf_append(&b, s++, 1);
			continue;
		}
		{
			char *name = strndup(s + 2, (size_t)(end - s - 2));
			char *dflt = name ? strstr(name, ":-") : NULL;
			const char *v;

			if (!name)
				die("out of memory");
			if (dflt) {
				*dflt = '\0';
				dflt += 2;
			}
			v = getenv(name);
			if (!v || !*v)
				v = dflt ? dflt : "";
			buf_puts(&b, v);
			free(name);
		}
		s = end + 1;
	}
	return buf_steal(&b);
}

static struct xr_value *read_dconf(const char *path, const char *master)
{
	struct xr_value *st = xr_struct();
	char line[4096];
	FILE *f = strcmp(path, "-") == 0 ? NULL : fopen(path, "r");

	if (!st)
		die("out of memory");
	/* xapi puts SRmaster first (sm.ml). */
	xr_struct_set_string(st, "SRmaster", master);
	if (strcmp(path, "-") == 0 || strcmp(path, "none") == 0)
		return st;
	if (!f) {
		fprintf(stderr, "smcall: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *x;

		line[strcspn(line, "\r\n")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\0')
			continue;
		x = expand(p);
		if (!x || put_kv(st, x) < 0) {
			fprintf(stderr, "smcall: %s: bad line '%s' (want key=value)\n", path, p);
			exit(2);
		}
		free(x);
	}
	fclose(f);
	return st;
}

static int parse_size(const char *s, char out[32])
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	case 'T': case 't': shift = 40; break;
	default: return -1;
	}
	if (*end && end[1])
		return -1;
	if (shift && v > (~0ULL >> shift))
		return -1;
	snprintf(out, 32, "%llu", v << shift);
	return 0;
}

static void add(struct xr_value *st, const char *k, struct xr_value *v)
{
	if (!v || xr_struct_set(st, k, v) < 0)
		die("out of memory");
}

static void add_s(struct xr_value *st, const char *k, const char *v)
{
	add(st, k, xr_string(v));
}

static struct xr_value *build_args(const struct opts *o)
{
	static const char *const create_defaults[8] = {
		"", "", "", "", "false", "19700101T00:00:00Z", "", "false",
	};
	struct xr_value *a = xr_array();
	int n = o->nargs;
	char size[32];

	if (!a)
		die("out of memory");
	if (strcmp(o->command, "vdi_create") == 0 && n >= 1 && n < 8) {
		if (parse_size(o->args[0], size) < 0)
			die("vdi_create: bad size");
		xr_array_append(a, xr_string(size));
		for (int i = 1; i < 8; i++)
			xr_array_append(a, xr_string(i < n ? o->args[i] : create_defaults[i]));
		return a;
	}
	for (int i = 0; i < n; i++) {
		const char *v = o->args[i];

		if ((strcmp(o->command, "vdi_resize") == 0 || strcmp(o->command, "vdi_create") == 0) &&
		    i == 0 && parse_size(v, size) == 0)
			v = size;
		xr_array_append(a, xr_string(v));
	}
	return a;
}

/* A copy of a struct of strings (the options keep their own). */
static struct xr_value *copy_kv(const struct xr_value *src)
{
	struct xr_value *st = xr_struct();

	if (!st)
		die("out of memory");
	for (size_t i = 0; src && i < src->u.st.count; i++)
		if (xr_struct_set_string(st, src->u.st.members[i].name,
					 src->u.st.members[i].value->u.str) < 0)
			die("out of memory");
	return st;
}

static bool is_vdi_command(const char *c)
{
	return strncmp(c, "vdi_", 4) == 0 && strcmp(c, "vdi_create") != 0 &&
	       strcmp(c, "vdi_introduce") != 0;
}

/* The members and order of xmlrpc_of_call (protocol.md §1.4-1.5). */
static struct xr_value *build_request(const struct opts *o)
{
	const char *c = o->command;
	bool info = strcmp(c, "sr_get_driver_info") == 0;
	bool probe = strcmp(c, "sr_probe") == 0;
	bool vdi = is_vdi_command(c);
	struct xr_value *st = xr_struct(), *params = xr_array(), *dconf;
	const char *loc = o->location ? o->location : o->vdi_uuid;

	if (!st || !params)
		die("out of memory");
	dconf = info ? xr_struct() : read_dconf(o->dconf_file, o->master);
	for (size_t i = 0; !info && o->dconf_extra && i < o->dconf_extra->u.st.count; i++)
		add_s(dconf, o->dconf_extra->u.st.members[i].name,
		      o->dconf_extra->u.st.members[i].value->u.str);
	add_s(st, "host_ref", "OpaqueRef:00000000-0000-4000-8000-000000000001");
	add_s(st, "command", c);
	add(st, "args", build_args(o));
	add(st, "device_config", dconf);
	if (info)
		goto done;
	add_s(st, "session_ref", "OpaqueRef:00000000-0000-4000-8000-000000000002");
	if (probe) {
		add(st, "sr_sm_config", copy_kv(o->sm_config));
	} else {
		add_s(st, "sr_ref", "OpaqueRef:00000000-0000-4000-8000-000000000003");
		if (strcmp(c, "vdi_create") == 0)
			add_s(st, "vdi_type", o->vdi_type ? o->vdi_type : "user");
		if (o->sr_uuid)
			add_s(st, "sr_uuid", o->sr_uuid);
	}
	if (vdi) {
		add_s(st, "vdi_ref", "OpaqueRef:00000000-0000-4000-8000-000000000004");
		add_s(st, "vdi_location", loc ? loc : "");
		if (o->vdi_uuid)
			add_s(st, "vdi_uuid", o->vdi_uuid);
	}
	if (strcmp(c, "vdi_create") == 0 && o->vdi_uuid)
		add_s(st, "vdi_uuid", o->vdi_uuid);
	if (strcmp(c, "vdi_introduce") == 0 && loc)
		add_s(st, "vdi_location", loc);
	if (strcmp(c, "vdi_snapshot") == 0 || strcmp(c, "vdi_clone") == 0)
		add(st, "driver_params", copy_kv(o->driver_params));
	if (strcmp(c, "vdi_create") == 0 || strcmp(c, "vdi_introduce") == 0)
		add(st, "vdi_sm_config", copy_kv(o->sm_config));
	if (strcmp(c, "vdi_introduce") == 0 && o->new_uuid)
		add_s(st, "new_uuid", o->new_uuid);
	add_s(st, "subtask_of", "OpaqueRef:00000000-0000-4000-8000-000000000005");
	if (vdi) {
		add_s(st, "vdi_on_boot", "persist");
		add_s(st, "vdi_allow_caching", "false");
	}
done:
	if (xr_array_append(params, st) < 0)
		die("out of memory");
	return params;
}

static char *run_driver(const char *driver, const char *request)
{
	int pipefd[2], status;
	struct sm_buf out = SM_BUF_INIT;
	char buf[65536];
	pid_t pid;
	ssize_t n;

	if (pipe(pipefd) < 0)
		die("pipe failed");
	pid = fork();
	if (pid < 0)
		die("fork failed");
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execlp(driver, driver, request, (char *)NULL);
		fprintf(stderr, "smcall: cannot run %s: %s\n", driver, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		buf_append(&out, buf, (size_t)n);
	}
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "smcall: %s exited abnormally (status %d)\n", driver, status);
	return buf_steal(&out);
}

static void print_value(const struct xr_value *v, int indent)
{
	switch (v->type) {
	case XR_NIL: printf("(nil)\n"); break;
	case XR_STRING: printf("%s%s", v->u.str, indent ? "\n" : ""); break;
	case XR_INT: printf("%lld\n", (long long)v->u.i); break;
	case XR_BOOL: printf("%s\n", v->u.b ? "true" : "false"); break;
	case XR_DOUBLE: printf("%g\n", v->u.d); break;
	case XR_STRUCT:
		if (indent)
			printf("\n");
		for (size_t i = 0; i < v->u.st.count; i++) {
			printf("%*s%s: ", indent * 2, "", v->u.st.members[i].name);
			print_value(v->u.st.members[i].value, indent + 1);
		}
		break;
	case XR_ARRAY:
		if (indent)
			printf("\n");
		for (size_t i = 0; i < v->u.arr.count; i++) {
			printf("%*s- ", indent * 2, "");
			print_value(v->u.arr.items[i], indent + 1);
		}
		break;
	}
}

static int print_response(const char *doc)
{
	struct sm_error err = { 0 };
	struct xr_value *res = NULL;
	bool fault = false;
	int rc = 0;

	if (xr_parse_response(doc, strlen(doc), &res, &fault, &err) < 0) {
		fprintf(stderr, "smcall: unparsable response (%s):\n%s", err.detail, doc);
		return 1;
	}
	if (fault) {
		const struct xr_value *code = xr_struct_get(res, "faultCode");
		const char *fs = xr_struct_get_string(res, "faultString");
		int c = code && code->type == XR_INT ? (int)code->u.i : -1;
		const char *name = sm_error_name(c);

		printf("FAULT %d %s: %s\n", c, name ? name : "?", fs ? fs : "");
		rc = 1;
	} else {
		print_value(res, 0);
		if (res->type == XR_STRING && res->u.str[0] &&
		    res->u.str[strlen(res->u.str) - 1] != '\n')
			printf("\n");
	}
	xr_free(res);
	return rc;
}

static struct xr_value **kv_target(struct opts *o, int which)
{
	return which == 'd' ? &o->dconf_extra : which == 's' ? &o->sm_config : &o->driver_params;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sr", required_argument, NULL, 'S' },
		{ "vdi", required_argument, NULL, 'V' },
		{ "new-uuid", required_argument, NULL, 'N' },
		{ "location", required_argument, NULL, 'L' },
		{ "vdi-type", required_argument, NULL, 'T' },
		{ "dconf", required_argument, NULL, 'd' },
		{ "sm-config", required_argument, NULL, 's' },
		{ "driver-param", required_argument, NULL, 'p' },
		{ "slave", no_argument, NULL, 'l' },
		{ "python", no_argument, NULL, 'y' },
		{ "print-request", no_argument, NULL, 'P' },
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .master = "true", .sr_uuid = getenv("SR_UUID") };
	char *req, *resp;
	struct xr_value *params;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': o.sr_uuid = optarg; break;
		case 'V': o.vdi_uuid = optarg; break;
		case 'N': o.new_uuid = optarg; break;
		case 'L': o.location = optarg; break;
		case 'T': o.vdi_type = optarg; break;
		case 'l': o.master = "false"; break;
		case 'y': o.style = 1; break;
		case 'P': o.print_request = 1; break;
		case 'r': o.raw = 1; break;
		case 'd': case 's': case 'p': {
			struct xr_value **t = kv_target(&o, c);

			if (!*t)
				*t = xr_struct();
			if (!*t || put_kv(*t, optarg) < 0)
				die("expected key=value");
			break;
		}
		default: usage();
		}
	}
	if (argc - optind < 3)
		usage();
	o.driver = argv[optind];
	o.dconf_file = argv[optind + 1];
	o.command = argv[optind + 2];
	o.args = argv + optind + 3;
	o.nargs = argc - optind - 3;
	params = build_request(&o);
	req = xr_write_call(o.command, params, o.style ? XR_STYLE_PYTHON : XR_STYLE_XAPI);
	xr_free(params);
	xr_free(o.dconf_extra);
	xr_free(o.sm_config);
	xr_free(o.driver_params);
	if (!req)
		die("out of memory");
	if (o.print_request) {
		fputs(req, stdout);
		free(req);
		return 0;
	}
	resp = run_driver(o.driver, req);
	free(req);
	if (!resp)
		die("out of memory");
	if (o.raw) {
		fputs(resp, stdout);
		rc = 0;
	} else {
		rc = print_response(resp);
	}
	free(resp);
	return rc;
}
