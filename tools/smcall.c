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
 *
 *   smcall --help | help [<command>]     on stdout, exit 0 (xe help <cmd>)
 *   smcall --version                     the git revision it was built from
 *   smcall --output=json ...             the answer as JSON: a struct as an
 *                                        object, a fault as {"fault": {...}},
 *                                        sr_scan's document as an object
 *   smcall --request-file FILE <driver>  replay a saved request, byte for byte
 *   smcall --from-log LINE <driver>      replay the request a driver's log line
 *                                        records (secrets stay "******")
 * A usage error goes to stderr with exit status 2.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "csm/buf.h"
#include "csm/driver.h"
#include "csm/json.h"
#include "csm/log.h"
#include "csm/util.h"
#include "csm/xmlrpc.h"
#include "csm_version.h"

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
	int print_request, raw, check_only, json;
	int verbatim;                   /* --verbatim: size arguments unparsed */
	int verbose;                    /* --verbose: say which driver runs */
	const char *request_file;       /* --request-file: replay these bytes */
	const char *log_line;           /* --from-log: rebuild the request of this line */
};

/*
 * The SMAPIv1 commands and their positional arguments, in the order xapi
 * sends them (sm.ml); the rest of a request comes from the options.
 */
struct command_help {
	const char *name, *args, *what;
};

static const struct command_help commands[] = {
	{ "sr_get_driver_info", "", "the driver's name, version, capabilities and dconf keys" },
	{ "sr_probe", "", "what SRs the dconf's storage holds (--sm-config K=V for hints)" },
	{ "sr_create", "<physical_size>", "make a new SR on the dconf's storage (size: 0 for the whole)" },
	{ "sr_delete", "", "destroy an empty SR" },
	{ "sr_attach", "", "make the SR usable on this host" },
	{ "sr_detach", "", "stop using the SR on this host" },
	{ "sr_scan", "", "list the SR's VDIs (an XML document)" },
	{ "sr_update", "", "refresh the SR's sizes" },
	{ "sr_content_type", "", "what the SR holds" },
	{ "vdi_create", "<size> [<name_label> [<name_description> [<metadata_of_pool> "
	  "[<is_a_snapshot> [<snapshot_time> [<snapshot_of> [<read_only>]]]]]]]",
	  "a new VDI; size as 4096, 512M, 10G, 1.5GiB (--vdi UUID to choose the uuid, "
	  "--vdi-type, --sm-config K=V)" },
	{ "vdi_introduce", "", "adopt an existing image (--new-uuid, --location, --sm-config)" },
	{ "vdi_delete", "", "destroy the VDI (--vdi UUID)" },
	{ "vdi_update", "", "refresh the VDI's record (--vdi UUID)" },
	{ "vdi_attach", "<writable: true|false>", "prepare the VDI for a VM; answers its params" },
	{ "vdi_detach", "", "undo vdi_attach" },
	{ "vdi_activate", "<writable: true|false>", "open the VDI for I/O on this host" },
	{ "vdi_deactivate", "", "undo vdi_activate" },
	{ "vdi_snapshot", "", "a read-only copy (--driver-param K=V)" },
	{ "vdi_clone", "", "a writable copy (--driver-param K=V)" },
	{ "vdi_resize", "<new_size>", "grow the VDI; size as 4096, 512M, 10G, 1.5GiB" },
	{ "vdi_resize_online", "<new_size>", "grow an attached VDI; size as for vdi_resize" },
	{ "vdi_generate_config", "", "the request that attaches the VDI without xapi" },
	{ "vdi_attach_from_config", "", "attach from what vdi_generate_config gave" },
	{ "vdi_lock", "<force: true|false> <user>",
	  "mark the VDI as used by <user>; force=true breaks another user's lock" },
	{ "vdi_unlock", "<user>", "release <user>'s lock" },
	{ "vdi_epoch_begin", "", "start of a VM's use of the VDI" },
	{ "vdi_epoch_end", "", "end of a VM's use of the VDI" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command_help *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* smcall help <command>: its arguments, like xe help <command>. */
static int help_command(const char *name)
{
	const struct command_help *c = find_command(name);

	if (!c) {
		fprintf(stderr, "smcall: no command '%s'; 'smcall help' lists them\n", name);
		return 2;
	}
	printf("command: %s\narguments: %s\ndescription: %s\n"
	       "usage: smcall [options] <driver> <dconf-file> %s%s%s\n",
	       c->name, c->args[0] ? c->args : "(none)", c->what, c->name,
	       c->args[0] ? " " : "", c->args);
	if (strncmp(c->name, "vdi_", 4) == 0 && strcmp(c->name, "vdi_create") != 0 &&
	    strcmp(c->name, "vdi_introduce") != 0)
		printf("needs: --sr UUID (or $SR_UUID) and --vdi UUID\n");
	else if (strcmp(c->name, "sr_get_driver_info") != 0)
		printf("needs: --sr UUID (or $SR_UUID)\n");
	return 0;
}

static void print_usage(FILE *f)
{
	fprintf(f,
		"usage: smcall [options] <driver> <dconf-file> <command> [args...]\n"
		"       smcall [--raw|--output=json|--print-request] --request-file FILE <driver>\n"
		"       smcall [--raw|--output=json|--print-request] --from-log LINE <driver>\n"
		"       smcall help [<command>] | --help | --version\n"
		"  <dconf-file>: key=value lines; '-' or 'none' for an empty dconf\n"
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
		"  --verbatim           send size arguments as typed (to test a driver's checks)\n"
		"  --output=json        print the answer as JSON (a fault as {\"fault\": ...})\n"
		"  --request-file FILE  send FILE's bytes as the request ('-': stdin), e.g. a\n"
		"                       saved --print-request; no dconf, command or arguments\n"
		"  --from-log LINE      send the request a driver's log line records ('SM: [pid]\n"
		"                       <command> {...}'; '-': the first such line on stdin);\n"
		"                       masked secrets stay '******': the log does not hold them\n"
		"  --verbose            say which driver file runs\n"
		"  --help, --version\n"
		"  <driver>: a path, or a bare name (FileSR) looked for beside smcall, in\n"
		"            ../libexec/csm from there, in /opt/xensource/sm, then on $PATH\n"
		"Exit status: 0 an answer, 1 a fault, 2 a usage error.\n");
}

/* smcall help: the options and every command with its arguments. */
static int help(void)
{
	print_usage(stdout);
	printf("\ncommands ('smcall help <command>' for one):\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		printf(commands[i].args[0] ? "  %-22s %s\n" : "  %s%s\n", commands[i].name,
		       commands[i].args);
	printf("See also smcall(1), csm-drivers(7).\n");
	return 0;
}

static void usage(void)
{
	print_usage(stderr);
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

/* A size argument in bytes for the wire; a usage error (exit 2) if it is not one. */
static void parse_size(const char *cmd, const char *s, char out[32])
{
	const char *why = NULL;
	uint64_t v;

	if (sm_parse_size(s, &v, &why) < 0) {
		fprintf(stderr, "smcall: %s: bad size '%s': %s\n", cmd, s, why);
		exit(2);
	}
	snprintf(out, 32, "%llu", (unsigned long long)v);
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
		if (o->verbatim)
			snprintf(size, sizeof(size), "%.31s", o->args[0]);
		else
			parse_size(o->command, o->args[0], size);
		xr_array_append(a, xr_string(size));
		for (int i = 1; i < 8; i++)
			xr_array_append(a, xr_string(i < n ? o->args[i] : create_defaults[i]));
		return a;
	}
	for (int i = 0; i < n; i++) {
		const char *v = o->args[i];

		if ((strcmp(o->command, "vdi_resize") == 0 || strcmp(o->command, "vdi_resize_online") == 0 ||
		     strcmp(o->command, "vdi_create") == 0 || strcmp(o->command, "sr_create") == 0) &&
		    i == 0 && !o->verbatim) {
			parse_size(o->command, v, size);
			v = size;
		}
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

/* Is dir/name an executable file?  Its path in out if so. */
static bool executable_in(const char *dir, const char *name, char *out, size_t cap)
{
	struct stat st;

	if (snprintf(out, cap, "%s/%s", dir, name) >= (int)cap)
		return false;
	return stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0;
}

/*
 * The driver to run.  A path (a '/' in it) is run as given.  A bare name
 * (FileSR), as operators type it, is looked for beside smcall itself (the
 * build directory), in ../libexec/csm from smcall's directory (where make
 * install puts the drivers for any PREFIX), in /opt/xensource/sm (where
 * xapi runs them), and last on $PATH.  --verbose says which it picked.
 */
static const char *resolve_driver(const char *name, bool verbose, char *out, size_t cap)
{
	char self[PATH_MAX], dir[PATH_MAX + 32];
	const char *where = NULL;

	if (strchr(name, '/')) {
		where = "as given";
		snprintf(out, cap, "%s", name);
	} else if (sm_exe_dir(self) == 0) {
		snprintf(dir, sizeof(dir), "%s/../libexec/csm", self);
		if (executable_in(self, name, out, cap))
			where = "beside smcall";
		else if (executable_in(dir, name, out, cap))
			where = "the installed drivers";
	}
	if (!where && executable_in("/opt/xensource/sm", name, out, cap))
		where = "xapi's driver directory";
	if (!where) {
		where = "$PATH";
		snprintf(out, cap, "%s", name);
	}
	if (verbose)
		fprintf(stderr, "smcall: driver %s: %s (%s)\n", name, out, where);
	return out;
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
	case XR_STRING:
	case XR_DATETIME:
		printf("%s%s", v->u.str, indent ? "\n" : "");
		break;
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

/*
 * The sr_scan document (docs/scan-xml.md) as JSON: its values as the XML
 * has them, typed by element: sizes and lock_since numbers, flags
 * booleans, the rest strings (a label "123" stays a string); the <vdi>
 * elements an array "vdis"; an element with attributes (<chain_error>)
 * an object of them with its text as "message".
 */
static const char *const scan_numbers[] = {
	"physical_size", "physical_utilisation", "virtual_allocation", "size", "utilisation",
	"lock_since", NULL,
};
static const char *const scan_booleans[] = {
	"default_vdi_visibility", "hidden", "managed", "read_only", "locked", NULL,
};

static bool listed(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (!strcmp(*list, name))
			return true;
	return false;
}

static void scan_field_json(struct json_writer *w, xmlNode *n)
{
	xmlChar *content = xmlNodeGetContent(n);
	const char *text = content ? (const char *)content : "";
	const char *name = (const char *)n->name;

	json_key(w, name);
	if (n->properties) {
		json_begin_object(w);
		for (xmlAttr *a = n->properties; a; a = a->next) {
			xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);

			json_kv_string(w, (const char *)a->name, v ? (const char *)v : "");
			xmlFree(v);
		}
		json_kv_string(w, "message", text);
		json_end_object(w);
	} else if (listed(scan_numbers, name) && json_is_number(text)) {
		json_number_or_string(w, text);
	} else if (listed(scan_booleans, name) && (!strcmp(text, "true") || !strcmp(text, "false"))) {
		json_bool(w, text[0] == 't');
	} else {
		json_string(w, text);
	}
	xmlFree(content);
}

/* An element's child elements as one object; with_vdis: its <vdi>s as "vdis". */
static void scan_object_json(struct json_writer *w, xmlNode *el, bool with_vdis)
{
	json_begin_object(w);
	for (xmlNode *n = el->children; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && (!with_vdis || strcmp((const char *)n->name, "vdi")))
			scan_field_json(w, n);
	if (with_vdis) {
		json_key(w, "vdis");
		json_begin_array(w);
		for (xmlNode *n = el->children; n; n = n->next)
			if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, "vdi"))
				scan_object_json(w, n, false);
		json_end_array(w);
	}
	json_end_object(w);
}

/* s as a scan object if it is an sr_scan document; false (nothing written) if not. */
static bool scan_json(struct json_writer *w, const char *s)
{
	xmlDoc *doc;
	xmlNode *root;

	if (strncmp(s, "<?xml", 5) != 0 && strncmp(s, "<sr>", 4) != 0)
		return false;
	doc = xmlReadMemory(s, (int)strlen(s), "sr_scan", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	root = doc ? xmlDocGetRootElement(doc) : NULL;
	if (root && !strcmp((const char *)root->name, "sr"))
		scan_object_json(w, root, true);
	else
		root = NULL;
	xmlFreeDoc(doc);
	return root != NULL;
}

/* An XML-RPC value as JSON: a struct is an object, an array an array. */
static void json_value(struct json_writer *w, const struct xr_value *v)
{
	switch (v->type) {
	case XR_NIL: json_null(w); break;
	case XR_STRING:
		if (!scan_json(w, v->u.str))
			json_string(w, v->u.str);
		break;
	case XR_DATETIME:
		json_string(w, v->u.str);
		break;
	case XR_INT: json_i64(w, (int64_t)v->u.i); break;
	case XR_BOOL: json_bool(w, v->u.b); break;
	case XR_DOUBLE: json_double(w, v->u.d); break;
	case XR_STRUCT:
		json_begin_object(w);
		for (size_t i = 0; i < v->u.st.count; i++) {
			json_key(w, v->u.st.members[i].name);
			json_value(w, v->u.st.members[i].value);
		}
		json_end_object(w);
		break;
	case XR_ARRAY:
		json_begin_array(w);
		for (size_t i = 0; i < v->u.arr.count; i++)
			json_value(w, v->u.arr.items[i]);
		json_end_array(w);
		break;
	}
}

/* The answer as one JSON document; a fault as {"fault": {"code", "name", "string"}}. */
static int print_json(const struct xr_value *res, bool fault)
{
	struct sm_buf b = SM_BUF_INIT;
	struct json_writer w;
	int rc;

	json_init(&w, &b, true);
	if (fault) {
		const struct xr_value *code = xr_struct_get(res, "faultCode");
		const char *fs = xr_struct_get_string(res, "faultString");
		int c = code && code->type == XR_INT ? (int)code->u.i : -1;

		json_begin_object(&w);
		json_key(&w, "fault");
		json_begin_object(&w);
		json_key(&w, "code");
		json_i64(&w, c);
		json_kv_string(&w, "name", sm_error_name(c));
		json_kv_string(&w, "string", fs ? fs : "");
		json_end_object(&w);
		json_end_object(&w);
	} else {
		json_value(&w, res);
	}
	rc = json_finish(&w);
	if (rc == 0)
		fputs(b.data, stdout);
	else
		fprintf(stderr, "smcall: cannot write the answer as JSON\n");
	buf_free(&b);
	return rc;
}

static bool is_scan_document(const char *s)
{
	return !strncmp(s, "<?xml", 5) && strstr(s, "\n<sr>");
}

/*
 * The sr_scan document for people: as the driver wrote it (scripts and
 * the docs read it as XML), each <lock_since> (epoch seconds) followed by
 * a comment giving it in local time, ISO 8601.
 */
static void print_scan(const char *s)
{
	static const char tag[] = "<lock_since>";

	for (const char *line = s; *line; ) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *t = memmem(line, len, tag, sizeof(tag) - 1);
		char when[40] = "";

		if (t) {
			time_t epoch = (time_t)strtoll(t + sizeof(tag) - 1, NULL, 10);
			struct tm tm;

			if (epoch > 0 && localtime_r(&epoch, &tm))
				strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", &tm);
		}
		fwrite(line, 1, len, stdout);
		if (when[0])
			printf(" <!-- %s -->", when);
		if (!nl)
			break;
		putchar('\n');
		line = nl + 1;
	}
}

static int print_response(const char *doc, bool json)
{
	struct sm_error err = { 0 };
	struct xr_value *res = NULL;
	bool fault = false;
	int rc = 0;

	if (xr_parse_response(doc, strlen(doc), &res, &fault, &err) < 0) {
		fprintf(stderr, "smcall: unparsable response (%s):\n%s", err.detail, doc);
		return 1;
	}
	if (json) {
		rc = print_json(res, fault) < 0 || fault ? 1 : 0;
	} else if (fault) {
		const struct xr_value *code = xr_struct_get(res, "faultCode");
		const char *fs = xr_struct_get_string(res, "faultString");
		int c = code && code->type == XR_INT ? (int)code->u.i : -1;
		const char *name = sm_error_name(c);

		printf("FAULT %d %s: %s\n", c, name ? name : "?", fs ? fs : "");
		rc = 1;
	} else {
		if (res->type == XR_STRING && is_scan_document(res->u.str))
			print_scan(res->u.str);
		else
			print_value(res, 0);
		if (res->type == XR_STRING && res->u.str[0] &&
		    res->u.str[strlen(res->u.str) - 1] != '\n')
			printf("\n");
	}
	xr_free(res);
	return rc;
}

/* All of a stream, for --request-file -. */
static char *read_stream(FILE *f)
{
	struct sm_buf b = SM_BUF_INIT;
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	buf_puts(&b, "");
	return buf_steal(&b);
}

/* --request-file: the bytes as they are, the way the driver got them. */
static char *request_from_file(const char *path)
{
	char *text = NULL;
	int rc;

	if (strcmp(path, "-") == 0)
		text = read_stream(stdin);
	else if ((rc = sm_read_file(path, 16u << 20, &text)) < 0) {
		fprintf(stderr, "smcall: %s: %s\n", path, strerror(-rc));
		exit(2);
	}
	if (!text)
		die("out of memory");
	return text;
}

/* The first line of stdin that holds a request ("<command> {"). */
static char *log_line_from_stdin(void)
{
	char *line = NULL;
	size_t cap = 0;

	while (getline(&line, &cap, stdin) > 0)
		if (strstr(line, " {"))
			return line;
	free(line);
	die("--from-log -: no request line ('<command> {...}') on stdin");
	return NULL;
}

/*
 * --from-log: the request a driver logged (sm_log_request), written as
 * xapi writes it.  Secrets were masked in the log: they stay masked, and
 * stderr says which, rather than sending something made up.
 */
static char *request_from_log(const char *arg, int style)
{
	struct sm_error err = { 0 };
	struct xr_value *req = NULL, *params;
	char *line = strcmp(arg, "-") == 0 ? log_line_from_stdin() : strdup(arg);
	char *method = NULL, *masked = NULL, *out;

	if (!line)
		die("out of memory");
	if (sm_log_parse_request(line, &method, &req, &masked, &err) < 0) {
		fprintf(stderr, "smcall: --from-log: %s\n", err.detail);
		exit(2);
	}
	free(line);
	if (masked[0])
		fprintf(stderr, "smcall: the log masks %s: the request carries '******' there "
			"(the log does not hold the values; smcall does not make them up)\n", masked);
	params = xr_array();
	if (!params || xr_array_append(params, req) < 0)
		die("out of memory");
	out = xr_write_call(method, params, style ? XR_STYLE_PYTHON : XR_STYLE_XAPI);
	xr_free(params);
	free(method);
	free(masked);
	if (!out)
		die("out of memory");
	return out;
}

/* The request: replayed (--request-file, --from-log) or built from the arguments. */
static char *make_request(struct opts *o, int argc, char **argv)
{
	struct xr_value *params;
	char *req;

	if (o->request_file || o->log_line) {
		if (o->request_file && o->log_line)
			die("--request-file and --from-log: one or the other");
		if (argc - optind != 1 && !(o->print_request && argc == optind))
			usage();
		o->driver = argc > optind ? argv[optind] : NULL;
		return o->request_file ? request_from_file(o->request_file)
				       : request_from_log(o->log_line, o->style);
	}
	if (argc - optind < 3)
		usage();
	o->driver = argv[optind];
	o->dconf_file = argv[optind + 1];
	o->command = argv[optind + 2];
	o->args = argv + optind + 3;
	o->nargs = argc - optind - 3;
	params = build_request(o);
	req = xr_write_call(o->command, params, o->style ? XR_STYLE_PYTHON : XR_STYLE_XAPI);
	xr_free(params);
	if (!req)
		die("out of memory");
	return req;
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
		{ "version", no_argument, NULL, 'v' },
		{ "output", required_argument, NULL, 'o' },
		{ "verbatim", no_argument, NULL, 'b' },
		{ "request-file", required_argument, NULL, 'F' },
		{ "from-log", required_argument, NULL, 'G' },
		{ "verbose", no_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .master = "true", .sr_uuid = getenv("SR_UUID") };
	char *req, *resp, driver[PATH_MAX];
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
		case 'b': o.verbatim = 1; break;
		case 'F': o.request_file = optarg; break;
		case 'G': o.log_line = optarg; break;
		case 'W': o.verbose = 1; break;
		case 'h': return help();
		case 'v':
			printf("smcall %s\n", CSM_VERSION);
			return 0;
		case 'o':
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "human") != 0) {
				fprintf(stderr, "smcall: --output wants json or human, not '%s'\n", optarg);
				usage();
			}
			o.json = optarg[0] == 'j';
			break;
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
	if (argc - optind >= 1 && strcmp(argv[optind], "help") == 0) {
		if (argc - optind > 2)
			usage();
		return argc - optind == 2 ? help_command(argv[optind + 1]) : help();
	}
	req = make_request(&o, argc, argv);
	xr_free(o.dconf_extra);
	xr_free(o.sm_config);
	xr_free(o.driver_params);
	if (o.print_request) {
		fputs(req, stdout);
		free(req);
		return 0;
	}
	resp = run_driver(resolve_driver(o.driver, o.verbose, driver, sizeof(driver)), req);
	free(req);
	if (!resp)
		die("out of memory");
	if (o.raw) {
		fputs(resp, stdout);
		rc = 0;
	} else {
		rc = print_response(resp, o.json);
	}
	free(resp);
	return rc;
}
