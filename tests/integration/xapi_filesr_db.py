#!/usr/bin/env python3
"""The XenAPI test server's database against a file SR's directory.

  xapi_filesr_db.py <socket> login                    -> a session ref
  xapi_filesr_db.py <socket> ref <class> <uuid>       -> its ref, or OpaqueRef:NULL
  xapi_filesr_db.py <socket> first <class>            -> the first record's ref
  xapi_filesr_db.py <socket> call <method> <json args...>   (with a fresh session)
  xapi_filesr_db.py <socket> get <class> <uuid> <field>     -> the field, as JSON
  xapi_filesr_db.py <socket> plugin-calls             -> JSON list
  xapi_filesr_db.py <socket> ncalls                   -> how many calls the server took
  xapi_filesr_db.py <socket> check <sr-dir> <sr-uuid> <vhdtool> [--vdis-only]

check derives what the database must say from the files alone (vhdtool
query, stat, the .meta records), independently of the driver's scan code:
the VDIs are the visible images and the hidden ones a visible one needs;
location = uuid, virtual_size, physical_utilisation = the file's size,
managed = not hidden, read_only (hidden, a parent, or the record says so),
sm_config vhd-parent, name_label; the SR's physical_size (statvfs) and
virtual_allocation (the visible VDIs' virtual sizes).  It prints each
difference and exits 1 when there is one.
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import xmlrpc.client

SOCK = sys.argv[1]


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=20)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class UnixTransport(xmlrpc.client.Transport):
    def make_connection(self, host):
        return UnixConnection(SOCK)


X = xmlrpc.client.ServerProxy("http://localhost/", transport=UnixTransport(),
                              allow_none=False)


def value(r):
    if r.get("Status") != "Success":
        sys.exit("xapi failure: %s" % r.get("ErrorDescription"))
    return r["Value"]


def login():
    return value(X.session.login_with_password("root", "", "1.0", "test"))


def dump():
    return json.loads(value(X.debug.dump()))


def ref_of(db, cls, uuid):
    for ref, rec in db["tables"][cls].items():
        if rec["uuid"] == uuid:
            return ref
    return "OpaqueRef:NULL"


def meta_of(path):
    """The .meta record's keys (vdimeta format: key=value, \\ escapes)."""
    out = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f.read().splitlines():
                k, _, v = line.partition("=")
                out[k] = v.replace("\\n", "\n").replace("\\\\", "\\")
    except FileNotFoundError:
        return None
    return out


def images(sr_dir, vhdtool):
    imgs = {}
    for name in sorted(os.listdir(sr_dir)):
        stem, dot, ext = name.partition(".")
        if ext not in ("vhd", "raw") or len(stem) != 36:
            continue
        path = os.path.join(sr_dir, name)
        size = os.stat(path).st_size
        if ext == "raw":
            imgs[stem] = {"virtual": size, "phys": size, "hidden": False, "parent": ""}
            continue
        q = json.loads(subprocess.check_output([vhdtool, "query", "--output=json", path]))
        parent = (q["parent_name"] or "")
        parent = parent[:-4] if parent.endswith(".vhd") else parent
        imgs[stem] = {"virtual": q["virtual_size"], "phys": size, "hidden": q["hidden"],
                      "parent": parent}
    return imgs


def expected(sr_dir, vhdtool):
    imgs = images(sr_dir, vhdtool)
    live = set()
    for u, i in imgs.items():
        if i["hidden"]:
            continue
        while u and u not in live and u in imgs:
            live.add(u)
            u = imgs[u]["parent"]
    parents = {imgs[u]["parent"] for u in live if imgs[u]["parent"]}
    want = {}
    for u in live:
        i = imgs[u]
        meta = meta_of(os.path.join(sr_dir, u + ".meta"))
        label = meta.get("label", "") if meta else ("base copy" if i["hidden"] else "")
        ro = i["hidden"] or u in parents or bool(meta and meta.get("read_only") == "true")
        want[u] = {"location": u, "virtual_size": str(i["virtual"]),
                   "physical_utilisation": str(i["phys"]), "managed": not i["hidden"],
                   "read_only": ro, "vhd-parent": i["parent"] or None,
                   "name_label": label}
    return want, sum(int(want[u]["virtual_size"]) for u in live if not imgs[u]["hidden"])


def check(sr_dir, sr_uuid, vhdtool, opt=""):
    db = dump()
    sr_ref = ref_of(db, "SR", sr_uuid)
    bad = []
    if sr_ref == "OpaqueRef:NULL":
        print("no SR %s in the database" % sr_uuid)
        return 1
    have = {rec["uuid"]: rec for rec in db["tables"]["VDI"].values() if rec["SR"] == sr_ref}
    want, virt = expected(sr_dir, vhdtool)
    for u in sorted(set(want) - set(have)):
        bad.append("VDI %s is in the SR but not in the database" % u)
    for u in sorted(set(have) - set(want)):
        bad.append("VDI %s is in the database but not in the SR" % u)
    for u in sorted(set(want) & set(have)):
        rec, w = have[u], want[u]
        for f in ("location", "virtual_size", "physical_utilisation", "managed", "read_only",
                  "name_label"):
            if rec[f] != w[f]:
                bad.append("VDI %s %s: database %r, files %r" % (u, f, rec[f], w[f]))
        if rec["sm_config"].get("vhd-parent") != w["vhd-parent"]:
            bad.append("VDI %s sm_config vhd-parent: database %r, files %r"
                       % (u, rec["sm_config"].get("vhd-parent"), w["vhd-parent"]))
    sr = db["tables"]["SR"][sr_ref]
    st = os.statvfs(sr_dir)
    if opt == "--vdis-only":
        # sr_create and sr_attach set no sizes (the Python SM's neither).
        sr = dict(sr, physical_size=str(st.f_blocks * st.f_frsize),
                  virtual_allocation=str(virt),
                  physical_utilisation=str((st.f_blocks - st.f_bfree) * st.f_frsize))
    if sr["physical_size"] != str(st.f_blocks * st.f_frsize):
        bad.append("SR physical_size: database %s, statvfs %d"
                   % (sr["physical_size"], st.f_blocks * st.f_frsize))
    if sr["virtual_allocation"] != str(virt):
        bad.append("SR virtual_allocation: database %s, files %d" % (sr["virtual_allocation"], virt))
    # Other processes write to the same file system: utilisation moves a little.
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    if abs(int(sr["physical_utilisation"]) - used) > (256 << 20):
        bad.append("SR physical_utilisation: database %s, statvfs %d"
                   % (sr["physical_utilisation"], used))
    for b in bad:
        print(b)
    return 1 if bad else 0


def main():
    cmd, args = sys.argv[2], sys.argv[3:]
    if cmd == "login":
        print(login())
    elif cmd == "ref":
        print(ref_of(dump(), args[0], args[1]))
    elif cmd == "first":
        print(sorted(dump()["tables"][args[0]])[0])
    elif cmd == "get":
        db = dump()
        rec = db["tables"][args[0]].get(ref_of(db, args[0], args[1]))
        print(json.dumps(rec[args[2]] if rec else None))
    elif cmd == "call":
        s = login()
        params = [json.loads(a) for a in args[1:]]
        print(json.dumps(value(getattr(X, args[0])(s, *params))))
    elif cmd == "debug":
        # debug.* without a login: they are answered even while the server is silent
        params = [json.loads(a) for a in args[1:]]
        print(json.dumps(value(getattr(X.debug, args[0])(*params))))
    elif cmd == "ncalls":
        print(len(json.loads(value(X.debug.calls()))))
    elif cmd == "plugin-calls":
        print(json.dumps(dump()["plugin_calls"]))
    elif cmd == "check":
        sys.exit(check(*args))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
