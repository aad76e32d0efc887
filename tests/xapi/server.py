#!/usr/bin/env python3
"""A XenAPI test server: XML-RPC over HTTP/1.1 on a Unix socket (Python 3 stdlib only).

It stands in for xapi's /var/lib/xcp/xapi for the tests: the subset of xapi's
data model that the SM drivers' callbacks touch (research/protocol.md 2.6-2.7),
with xapi's field names and XML-RPC types, xapi's result convention and xapi's
failures for bad calls.

  server.py --socket PATH [--db FILE.json] [--delay SECONDS] [--silent]
            [--dump-file FILE] [--pid-file FILE]

Result convention (every call):
  {"Status": "Success", "Value": v} or
  {"Status": "Failure", "ErrorDescription": [CODE, param, ...]}

Data model: classes SR, VDI, host, PBD, SM, secret, records keyed by
"OpaqueRef:<uuid>".  int64 fields travel as decimal strings (as xapi sends
them; strings and <int> are both accepted as input), snapshot_time is a
DateTime, refs are strings, maps are structs of strings.

The initial database (--db) is JSON: {"SR": [{...fields...}], "host": [...],
"PBD": [...], "SM": [...], "secret": [...], "VDI": [...], "session": [refs]};
every record may name its "ref" and gets defaults for the fields it leaves
out; "session" lists session refs already logged in (a driver is handed
xapi's session_ref, it never logs in itself; --session REF does the same).  A PBD or SR
may name its SR/host by uuid ("SR": "uuid:<uuid>").  Without --db the server
holds one host, one SR (uuid from $SR_UUID or fixed) of type "ext", one PBD.

Calls (each takes the session ref first, except session.login_with_password
and the debug.* calls):
  session.login_with_password(user, password[, version[, originator]]),
  session.logout
  <class>.get_by_uuid, get_record, get_all, get_all_records,
  get_all_records_where(expr: field "F" = "V" [and ...]),
  <class>.get_<field> for every field, set_<field> for the writable ones,
  add_to_<map>/remove_from_<map> for writable map fields
  VDI.db_introduce (19 arguments, VDI.py:474-489), VDI.db_forget
  host.call_plugin(host, plugin, fn, args)  (recorded in debug.dump's
      "plugin_calls", returns "True"; "tapdisk-pause" as sm's plugin:
      fn pause|unpause|refresh, args must name sr_uuid and vdi_uuid of a
      VDI that exists, else XENAPI_PLUGIN_FAILURE as xapi wraps a plugin's
      exception)
  session.get_this_host(self)  (the first host record)
  secret.get_value (generic getter)
  message.create(name, priority, cls, obj_uuid, body)  (recorded)
Test control (no session):
  debug.dump() -> the database as a JSON string (also SIGUSR1 -> --dump-file)
  debug.set_delay(seconds as string) -> every later call sleeps first
  debug.set_silent(bool) -> later calls are read and never answered
  debug.set_silent_after(n as string) -> the next n calls are answered, the
      ones after are not (as set_silent true): an endpoint that fails mid-command
  debug.calls() -> JSON list of [method, params-without-session] received
      (types kept: an int64 sent as a string stays a JSON string)
  debug.reset_calls() -> forget the calls and plugin calls received so far
  debug.seed(json) -> add records as --db does (the same JSON); returns a
      JSON object {class: [refs added]}
  debug.add_session(ref) -> ref is a logged-in session from now on
  debug.logins() -> JSON list of the argument lists of every
      session.login_with_password so far (csm-gc logs in itself)

Failures, with the parameters xapi's datamodel gives them (xen-api
ocaml/idl/datamodel_errors.ml):
  MESSAGE_METHOD_UNKNOWN [method]
  MESSAGE_PARAMETER_COUNT_MISMATCH [method; expected; received]
      (counts include the session argument, as xapi's dispatcher counts)
  SESSION_INVALID [handle]
  SESSION_AUTHENTICATION_FAILED [] (empty user name)
  UUID_INVALID [type; uuid]           (get_by_uuid of an unknown uuid)
  HANDLE_INVALID [class; handle]      (a ref to a missing record)
  FIELD_TYPE_ERROR [param]            (an argument of the wrong XML-RPC type,
      named by its parameter name as in the datamodel; xen-api's OCaml
      backend generator, ty_of_xmlrpc, wraps every unmarshaller this way.
      int64 arguments: a decimal string; <int> is accepted too, as the
      newer rpclib-based unmarshalling (Rpc.int64_of_rpc) does)
  Order of checks, as that generated dispatcher: the argument count, then
  the types of all arguments, then the session.
  MAP_DUPLICATE_KEY [type; param_name; uuid; key]  (add_to_<map>, key present)
  DB_UNIQUENESS_CONSTRAINT_VIOLATION [table; field; value]  (db_introduce of
      a uuid already present)
  XENAPI_PLUGIN_FAILURE [fn; type; message]  (host.call_plugin whose plugin
      raised, as xapi reports it); XENAPI_MISSING_PLUGIN [name] (no such fn)
"""

import argparse
import datetime
import json
import os
import re
import signal
import socketserver
import sys
import threading
import time
import uuid as uuidlib
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

# Field types: "string", "bool", "int" (int64), "float", "datetime",
# "map" (string -> string), "ref:<class>", "refs:<class>", "strings".
SCHEMA = {
    "SR": {
        "uuid": "string", "name_label": "string", "name_description": "string",
        "allowed_operations": "strings", "current_operations": "map",
        "VDIs": "refs:VDI", "PBDs": "refs:PBD",
        "virtual_allocation": "int", "physical_utilisation": "int",
        "physical_size": "int", "type": "string", "content_type": "string",
        "shared": "bool", "other_config": "map", "tags": "strings",
        "default_vdi_visibility": "bool", "sm_config": "map", "blobs": "map",
        "local_cache_enabled": "bool", "introduced_by": "string",
        "clustered": "bool", "is_tools_sr": "bool",
    },
    "VDI": {
        "uuid": "string", "name_label": "string", "name_description": "string",
        "allowed_operations": "strings", "current_operations": "map",
        "SR": "ref:SR", "VBDs": "strings", "crash_dumps": "strings",
        "virtual_size": "int", "physical_utilisation": "int",
        "type": "string", "sharable": "bool", "read_only": "bool",
        "other_config": "map", "storage_lock": "bool", "location": "string",
        "managed": "bool", "missing": "bool", "parent": "ref:VDI",
        "xenstore_data": "map", "sm_config": "map", "is_a_snapshot": "bool",
        "snapshot_of": "ref:VDI", "snapshots": "refs:VDI",
        "snapshot_time": "datetime", "tags": "strings",
        "allow_caching": "bool", "on_boot": "string",
        "metadata_of_pool": "ref:pool", "metadata_latest": "bool",
        "is_tools_iso": "bool", "cbt_enabled": "bool",
    },
    "host": {
        "uuid": "string", "name_label": "string", "name_description": "string",
        "hostname": "string", "address": "string", "other_config": "map",
        "PBDs": "refs:PBD", "software_version": "map", "enabled": "bool",
    },
    "PBD": {
        "uuid": "string", "host": "ref:host", "SR": "ref:SR",
        "device_config": "map", "currently_attached": "bool",
        "other_config": "map",
    },
    "SM": {
        "uuid": "string", "name_label": "string", "name_description": "string",
        "type": "string", "vendor": "string", "copyright": "string",
        "version": "string", "required_api_version": "string",
        "configuration": "map", "capabilities": "strings",
        "features": "map_int", "other_config": "map",
        "driver_filename": "string", "required_cluster_stack": "strings",
    },
    "secret": {"uuid": "string", "value": "string", "other_config": "map"},
}

# Fields a client may set (set_<f>; maps also add_to_/remove_from_).  The
# VDI/SR size setters are internal calls in xapi that the SM may use.
WRITABLE = {
    "SR": {"name_label", "name_description", "virtual_allocation",
           "physical_size", "physical_utilisation", "other_config",
           "sm_config", "tags", "shared"},
    "VDI": {"name_label", "name_description", "virtual_size",
            "physical_utilisation", "read_only", "cbt_enabled", "managed",
            "missing", "other_config", "xenstore_data", "sm_config",
            "is_a_snapshot", "snapshot_of", "snapshot_time", "tags",
            "metadata_of_pool", "on_boot", "allow_caching", "sharable"},
    "host": {"name_label", "name_description", "other_config"},
    "PBD": {"device_config", "other_config"},
    "SM": {"other_config"},
    "secret": {"value", "other_config"},
}

NULL_REF = "OpaqueRef:NULL"
EPOCH = "19700101T00:00:00Z"

# VDI.db_introduce, in order (sm:libs/sm/VDI.py:474-489).
DB_INTRODUCE = [
    ("uuid", "string"), ("name_label", "string"),
    ("name_description", "string"), ("SR", "ref:SR"), ("type", "string"),
    ("sharable", "bool"), ("read_only", "bool"), ("other_config", "map"),
    ("location", "string"), ("xenstore_data", "map"), ("sm_config", "map"),
    ("managed", "bool"), ("virtual_size", "int"),
    ("physical_utilisation", "int"), ("metadata_of_pool", "ref:pool"),
    ("is_a_snapshot", "bool"), ("snapshot_time", "datetime"),
    ("snapshot_of", "ref:VDI"), ("cbt_enabled", "bool"),
]


class Failure(Exception):
    def __init__(self, *desc):
        super().__init__(desc)
        self.desc = [str(d) for d in desc]


def new_ref():
    return "OpaqueRef:" + str(uuidlib.uuid4())


def default_of(ftype):
    if ftype in ("map", "map_int"):
        return {}
    if ftype in ("strings",) or ftype.startswith("refs:"):
        return []
    if ftype == "bool":
        return False
    if ftype == "int":
        return 0
    if ftype == "float":
        return 0.0
    if ftype == "datetime":
        return EPOCH
    if ftype.startswith("ref:"):
        return NULL_REF
    return ""


def check_arg(name, ftype, v):
    """The value of argument <name> as stored; FIELD_TYPE_ERROR if wrong."""
    bad = Failure("FIELD_TYPE_ERROR", name)
    if ftype == "string" or ftype.startswith("ref:"):
        if not isinstance(v, str):
            raise bad
        return v
    if ftype == "bool":
        if not isinstance(v, bool):
            raise bad
        return v
    if ftype == "int":
        # xapi's int64 is a decimal string on the wire; <int> is accepted.
        if isinstance(v, bool):
            raise bad
        if isinstance(v, int):
            return v
        if isinstance(v, str) and re.fullmatch(r"-?[0-9]+", v):
            return int(v)
        raise bad
    if ftype == "float":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        raise bad
    if ftype == "datetime":
        if isinstance(v, xmlrpc.client.DateTime):
            return v.value
        raise bad
    if ftype == "map":
        if not isinstance(v, dict) or not all(
                isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
            raise bad
        return dict(v)
    if ftype == "map_int":
        if not isinstance(v, dict):
            raise bad
        return {k: check_arg(name, "int", x) for k, x in v.items()}
    if ftype == "strings" or ftype.startswith("refs:"):
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise bad
        return list(v)
    raise bad


def to_wire(ftype, v):
    """A stored value as xapi puts it on the wire."""
    if ftype == "int":
        return str(v)
    if ftype == "map_int":
        return {k: str(x) for k, x in v.items()}
    if ftype == "datetime":
        return xmlrpc.client.DateTime(v)
    if isinstance(v, (dict, list)):
        return type(v)(v)
    return v


class Database:
    def __init__(self):
        self.lock = threading.RLock()
        self.tables = {cls: {} for cls in SCHEMA}
        self.sessions = set()
        self.calls = []
        self.plugin_calls = []
        self.messages = []
        self.logins = []

    # --- records -------------------------------------------------------
    def add(self, cls, fields, ref=None):
        rec = {f: default_of(t) for f, t in SCHEMA[cls].items()}
        for f, v in fields.items():
            if f not in SCHEMA[cls]:
                raise ValueError("%s has no field %s" % (cls, f))
            rec[f] = v
        if not rec["uuid"]:
            rec["uuid"] = str(uuidlib.uuid4())
        ref = ref or new_ref()
        self.tables[cls][ref] = rec
        return ref

    def record(self, cls, ref):
        rec = self.tables[cls].get(ref)
        if rec is None:
            raise Failure("HANDLE_INVALID", cls, ref)
        return rec

    def by_uuid(self, cls, u):
        for ref, rec in self.tables[cls].items():
            if rec["uuid"] == u:
                return ref
        raise Failure("UUID_INVALID", cls, u)

    def wire_record(self, cls, ref):
        rec = self.record(cls, ref)
        out = {f: to_wire(SCHEMA[cls][f], v) for f, v in rec.items()}
        # Back-references are computed, as xapi's database does.
        if cls == "SR":
            out["VDIs"] = [r for r, v in self.tables["VDI"].items() if v["SR"] == ref]
            out["PBDs"] = [r for r, v in self.tables["PBD"].items() if v["SR"] == ref]
        elif cls == "host":
            out["PBDs"] = [r for r, v in self.tables["PBD"].items() if v["host"] == ref]
        elif cls == "VDI":
            out["snapshots"] = [r for r, v in self.tables["VDI"].items()
                                if v["snapshot_of"] == ref]
        return out

    def dump(self):
        with self.lock:
            tables = {cls: {ref: self.wire_record(cls, ref) for ref in t}
                      for cls, t in self.tables.items()}

        def plain(v):
            if isinstance(v, xmlrpc.client.DateTime):
                return v.value
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, list):
                return [plain(x) for x in v]
            return v
        return json.dumps({"tables": plain(tables),
                           "plugin_calls": self.plugin_calls,
                           "messages": self.messages},
                          indent=1, sort_keys=True)


def resolve(db, cls, value):
    """'uuid:<u>' in the initial JSON names a record by uuid."""
    if isinstance(value, str) and value.startswith("uuid:"):
        return db.by_uuid(cls, value[5:])
    return value


def load_initial(db, path):
    if path is None:
        host = db.add("host", {"name_label": "localhost", "hostname": "localhost",
                               "address": "127.0.0.1"})
        sr_uuid = os.environ.get("SR_UUID", "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10")
        sr = db.add("SR", {"uuid": sr_uuid, "name_label": "test SR", "type": "ext",
                           "content_type": "user"})
        db.add("PBD", {"host": host, "SR": sr, "currently_attached": True})
        return
    with open(path) as f:
        spec = json.load(f)
    seed(db, spec)


def seed(db, spec):
    """Add the records of spec (the --db JSON format); {class: [refs]}."""
    if not isinstance(spec, dict):
        raise ValueError("the database is a JSON object of classes")
    for name in spec:
        if name not in SCHEMA and name != "session":
            raise ValueError("no class %s" % name)
    added = {}
    for ref in spec.get("session", []):
        db.sessions.add(check_arg("session", "string", ref))
    for cls in ("host", "SR", "SM", "secret", "PBD", "VDI"):
        for rec in spec.get(cls, []):
            rec = dict(rec)
            ref = rec.pop("ref", None)
            fields = {}
            for fname, v in rec.items():
                if fname not in SCHEMA[cls]:
                    raise ValueError("%s has no field %s" % (cls, fname))
                ftype = SCHEMA[cls][fname]
                if ftype.startswith("ref:"):
                    v = resolve(db, ftype[4:], v)
                if ftype == "datetime":
                    v = xmlrpc.client.DateTime(v)
                fields[fname] = check_arg(fname, ftype, v)
            if ref is not None and ref in db.tables[cls]:
                raise ValueError("%s %s exists already" % (cls, ref))
            added.setdefault(cls, []).append(db.add(cls, fields, ref))
    return added


# --- the calls --------------------------------------------------------------

def parse_where(expr):
    """field "F" = "V" [and field "G" = "W" ...]; 'true' for everything."""
    expr = expr.strip()
    if expr.lower() == "true":
        return []
    terms = []
    for part in re.split(r"\s+and\s+", expr):
        m = re.fullmatch(r'\s*field\s+"([^"]+)"\s*=\s*"([^"]*)"\s*', part)
        if not m:
            raise Failure("INTERNAL_ERROR", "cannot parse expression: " + expr)
        terms.append(m.groups())
    return terms


def wire_str(ftype, v):
    """A stored value as the database's string form (for where-expressions)."""
    if ftype == "bool":
        return "true" if v else "false"
    return str(v)


class Api:
    def __init__(self, db, delay, silent):
        self.db = db
        self.delay = delay
        self.silent = silent

    # Every method: (arity without session, handler); handler gets checked args.
    def lookup(self, method):
        if method.startswith("debug."):
            fn = {"debug.dump": (0, lambda: self.db.dump()),
                  "debug.set_delay": (1, self.set_delay),
                  "debug.set_silent": (1, self.set_silent),
                  "debug.calls": (0, lambda: json.dumps(self.db.calls)),
                  "debug.reset_calls": (0, self.reset_calls),
                  "debug.seed": (1, self.seed),
                  "debug.add_session": (1, self.add_session),
                  "debug.logins": (0, self.logins),
                  "debug.set_silent_after": (1, self.set_silent_after)}.get(method)
            return fn, False
        special = {
            "VDI.db_introduce": (DB_INTRODUCE, self.db_introduce),
            "VDI.db_forget": ([("vdi", "ref:VDI")], self.db_forget),
            "host.call_plugin": ([("host", "ref:host"), ("plugin", "string"),
                                  ("fn", "string"), ("args", "map")],
                                 self.call_plugin),
            "message.create": ([("name", "string"), ("priority", "int"),
                                ("cls", "string"), ("obj_uuid", "string"),
                                ("body", "string")], self.message_create),
            "session.logout": ([], None),
            "session.get_this_host": ([("self", "string")], self.this_host),
        }
        if method in special:
            return special[method], True
        cls, _, op = method.partition(".")
        if cls not in SCHEMA:
            return None, True
        fields = SCHEMA[cls]
        self_arg = ("self", "ref:" + cls)
        if op == "get_by_uuid":
            return ([("uuid", "string")], lambda u: self.db.by_uuid(cls, u)), True
        if op == "get_record":
            return ([self_arg], lambda r: self.db.wire_record(cls, r)), True
        if op == "get_all":
            return ([], lambda: list(self.db.tables[cls])), True
        if op == "get_all_records":
            return ([], lambda: {r: self.db.wire_record(cls, r)
                                 for r in self.db.tables[cls]}), True
        if op == "get_all_records_where":
            return ([("expr", "string")], lambda e: self.where(cls, e)), True
        if op.startswith("get_") and op[4:] in fields:
            f = op[4:]
            return ([self_arg], lambda r: self.db.wire_record(cls, r)[f]), True
        writable = WRITABLE[cls]
        if op.startswith("set_") and op[4:] in writable:
            f = op[4:]
            return ([self_arg, ("value", fields[f])],
                    lambda r, v: self.set_field(cls, r, f, v)), True
        for prefix, key_only in (("add_to_", False), ("remove_from_", True)):
            if op.startswith(prefix) and op[len(prefix):] in writable \
                    and fields[op[len(prefix):]] == "map":
                f = op[len(prefix):]
                if key_only:
                    return ([self_arg, ("key", "string")],
                            lambda r, k: self.map_remove(cls, r, f, k)), True
                return ([self_arg, ("key", "string"), ("value", "string")],
                        lambda r, k, v: self.map_add(cls, r, f, k, v)), True
        return None, True

    def call(self, method, params):
        if method == "session.login_with_password":
            return self.login(params)
        entry, needs_session = self.lookup(method)
        if entry is None:
            raise Failure("MESSAGE_METHOD_UNKNOWN", method)
        spec, handler = entry
        if not needs_session:
            if len(params) != spec:
                raise Failure("MESSAGE_PARAMETER_COUNT_MISMATCH", method, spec, len(params))
            return handler(*params)
        if len(params) != len(spec) + 1:
            raise Failure("MESSAGE_PARAMETER_COUNT_MISMATCH", method,
                          len(spec) + 1, len(params))
        # As xapi's generated dispatcher: arity, then every argument
        # unmarshalled (FIELD_TYPE_ERROR), then the session checked.
        session = check_arg("session_id", "string", params[0])
        args = [check_arg(n, t, v) for (n, t), v in zip(spec, params[1:])]
        with self.db.lock:
            if session not in self.db.sessions:
                raise Failure("SESSION_INVALID", session)
            self.db.calls.append([method, [to_json(a) for a in params[1:]]])
            if method == "session.logout":
                self.db.sessions.discard(session)
                return ""
            return handler(*args)

    def login(self, params):
        if not 2 <= len(params) <= 4:
            raise Failure("MESSAGE_PARAMETER_COUNT_MISMATCH",
                          "session.login_with_password", 4, len(params))
        names = ("uname", "pwd", "version", "originator")
        for n, v in zip(names, params):
            check_arg(n, "string", v)
        if params[0] == "":
            raise Failure("SESSION_AUTHENTICATION_FAILED")
        ref = new_ref()
        with self.db.lock:
            self.db.sessions.add(ref)
            self.db.logins.append(list(params))
        return ref

    def logins(self):
        """The arguments of every login so far (debug.logins), as a JSON list."""
        with self.db.lock:
            return json.dumps(self.db.logins)

    def reset_calls(self):
        with self.db.lock:
            del self.db.calls[:]
            del self.db.plugin_calls[:]
        return ""

    def seed(self, spec):
        spec = json.loads(check_arg("json", "string", spec))
        with self.db.lock:
            try:
                return json.dumps(seed(self.db, spec))
            except ValueError as e:
                raise Failure("INTERNAL_ERROR", "debug.seed: %s" % e)

    def add_session(self, ref):
        with self.db.lock:
            self.db.sessions.add(check_arg("session", "string", ref))
        return ""

    def this_host(self, session):
        if session not in self.db.sessions:
            raise Failure("SESSION_INVALID", session)
        for ref in self.db.tables["host"]:
            return ref
        raise Failure("INTERNAL_ERROR", "no host record")

    def set_delay(self, seconds):
        self.delay = float(check_arg("seconds", "string", seconds))
        return ""

    # An endpoint that fails mid-command: answer n more calls, then go silent.
    silent_after = None

    def set_silent_after(self, n):
        self.silent_after = int(n)
        return ""

    def count_towards_silence(self):
        if self.silent_after is None:
            return
        if self.silent_after <= 0:
            self.silent, self.silent_after = True, None
        else:
            self.silent_after -= 1

    def set_silent(self, on):
        self.silent = check_arg("silent", "bool", on)
        return ""

    def where(self, cls, expr):
        terms = parse_where(expr)
        out = {}
        for ref, rec in self.db.tables[cls].items():
            if all(f in rec and wire_str(SCHEMA[cls][f], rec[f]) == v for f, v in terms):
                out[ref] = self.db.wire_record(cls, ref)
        return out

    def set_field(self, cls, ref, field, value):
        self.db.record(cls, ref)[field] = value
        return ""

    def map_add(self, cls, ref, field, key, value):
        rec = self.db.record(cls, ref)
        if key in rec[field]:
            raise Failure("MAP_DUPLICATE_KEY", cls, field, ref, key)
        rec[field][key] = value
        return ""

    def map_remove(self, cls, ref, field, key):
        self.db.record(cls, ref)[field].pop(key, None)
        return ""

    def db_introduce(self, *args):
        fields = {n: v for (n, _), v in zip(DB_INTRODUCE, args)}
        self.db.record("SR", fields["SR"])
        try:
            self.db.by_uuid("VDI", fields["uuid"])
        except Failure:
            pass
        else:
            raise Failure("DB_UNIQUENESS_CONSTRAINT_VIOLATION", "VDI", "uuid", fields["uuid"])
        return self.db.add("VDI", fields)

    def db_forget(self, ref):
        self.db.record("VDI", ref)
        del self.db.tables["VDI"][ref]
        return ""

    def call_plugin(self, host, plugin, fn, args):
        self.db.record("host", host)
        self.db.plugin_calls.append([host, plugin, fn, args])
        if plugin == "tapdisk-pause":
            # sm's plugin looks the VDI up by uuid (VDI.get_by_uuid) and
            # raises when it cannot; xapi wraps that as a plugin failure.
            if fn not in ("pause", "unpause", "refresh"):
                raise Failure("XENAPI_MISSING_PLUGIN", plugin + "." + fn)
            for key in ("sr_uuid", "vdi_uuid"):
                if key not in args:
                    raise Failure("XENAPI_PLUGIN_FAILURE", fn, "KeyError", repr(key))
            try:
                self.db.by_uuid("VDI", args["vdi_uuid"])
            except Failure as e:
                raise Failure("XENAPI_PLUGIN_FAILURE", fn, "XenAPI.Failure", repr(e.desc))
        return "True"

    def message_create(self, name, priority, cls, obj_uuid, body):
        ref = new_ref()
        self.db.messages.append([ref, name, priority, cls, obj_uuid, body])
        return ref


def to_json(v):
    """A received argument for debug.calls: a DateTime as {"DateTime": value},
    so a checker can tell it from a string; other types as JSON keeps them."""
    if isinstance(v, xmlrpc.client.DateTime):
        return {"DateTime": v.value}
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_json(x) for x in v]
    return v


# --- transport --------------------------------------------------------------

class Handler(SimpleXMLRPCRequestHandler):
    protocol_version = "HTTP/1.1"
    rpc_paths = ()  # any path: XenAPI.py posts to "/"
    disable_nagle_algorithm = False  # TCP_NODELAY fails on a Unix socket

    def address_string(self):
        return "unix"

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer,
             SimpleXMLRPCDispatcher):
    daemon_threads = True
    logRequests = False

    def __init__(self, path, api):
        self.api = api
        SimpleXMLRPCDispatcher.__init__(self, allow_none=False, encoding=None)
        socketserver.UnixStreamServer.__init__(self, path, Handler)

    def _dispatch(self, method, params):
        api = self.api
        if not method.startswith("debug."):
            api.count_towards_silence()
        if api.silent and not method.startswith("debug."):
            while api.silent:
                time.sleep(0.1)
        if api.delay > 0 and not method.startswith("debug."):
            time.sleep(api.delay)
        try:
            return {"Status": "Success", "Value": api.call(method, list(params))}
        except Failure as e:
            return {"Status": "Failure", "ErrorDescription": e.desc}
        except Exception as e:  # a bug here must still answer like xapi does
            return {"Status": "Failure", "ErrorDescription": ["INTERNAL_ERROR", repr(e)]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--db", help="initial database (JSON)")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    ap.add_argument("--silent", action="store_true", help="never answer (until debug.set_silent false)")
    ap.add_argument("--dump-file", help="SIGUSR1 writes the database here as JSON")
    ap.add_argument("--pid-file")
    ap.add_argument("--session", action="append", default=[],
                    help="a session ref already logged in (repeatable)")
    opts = ap.parse_args()

    db = Database()
    try:
        load_initial(db, opts.db)
        for ref in opts.session:
            db.sessions.add(ref)
    except (OSError, ValueError, Failure) as e:
        sys.exit("server.py: bad initial database %s: %s" % (opts.db, e))
    api = Api(db, opts.delay, opts.silent)
    if os.path.exists(opts.socket):
        os.unlink(opts.socket)
    server = Server(opts.socket, api)

    def on_usr1(_sig, _frame):
        if opts.dump_file:
            tmp = opts.dump_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(db.dump())
            os.rename(tmp, opts.dump_file)

    def on_term(_sig, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if opts.pid_file:
        with open(opts.pid_file, "w") as f:
            f.write("%d\n" % os.getpid())
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        os.unlink(opts.socket)


if __name__ == "__main__":
    main()
