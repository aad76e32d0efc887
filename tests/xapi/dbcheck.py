#!/usr/bin/env python3
"""Does the XenAPI test server's database agree with what the SR holds?

  dbcheck.py --dump DUMP.json --scan SCAN.xml --sr SR_UUID
             [--storage UUIDS.txt] [--calls CALLS.json] [--sr-sizes]

DUMP.json   debug.dump of tests/xapi/server.py
SCAN.xml    the SR's scan document (the driver's sr_scan in API mode: what
            the files, LVs or LUNs hold, read by the VHD and LVM code)
UUIDS.txt   the VDI uuids the storage holds by a count that does not go
            through the driver (ls of the SR directory, lvs, the LUN list),
            one a line; must equal the scan's set
CALLS.json  debug.calls: the XenAPI calls received, with the types they
            came in; every int64 must have been sent as a decimal string
            and every snapshot_time as a DateTime (as the Python SM sends)
--managed-in-db
            managed is xapi's own (the LUN-per-VDI drivers keep it only in
            the records in xapi mode, as LUNperVDI.py): not compared
--sr-sizes  the SR record's physical_size and virtual_allocation equal the
            scan's, physical_utilisation within 1% of physical_size (the
            host's file system moves under a file SR)

Per VDI of the SR (the records whose "SR" is the SR's ref, as the
drivers' VDI.get_all_records_where('field "SR" = ...') finds them): the
same uuid set as the scan; location, virtual_size, physical_utilisation,
read_only, managed as the scan says (managed = not hidden); sm_config
vhd-parent the scan's parent (absent without one); missing false; no
"activating" or "paused" key left after a call.  A VDI the scan reports
with an <error> (an image the driver cannot read) is left out: it must be
neither introduced nor forgotten, which the caller checks.

Prints one line per disagreement and exits 1, or "ok: N VDIs" and exit 0.
"""
import argparse
import json
import sys
import xml.etree.ElementTree as ET

INT_ARGS = {
    "VDI.db_introduce": (12, 13),
    "VDI.set_virtual_size": (1,), "VDI.set_physical_utilisation": (1,),
    "SR.set_physical_size": (1,), "SR.set_physical_utilisation": (1,),
    "SR.set_virtual_allocation": (1,),
}


def scan_vdis(path):
    root = ET.parse(path).getroot()
    out = {}
    for v in root.findall("vdi"):
        u = v.findtext("uuid")
        out[u] = {k: (v.findtext(k) or "") for k in
                  ("location", "size", "utilisation", "parent", "hidden", "managed",
                   "read_only", "type", "error")}
    sr = {k: root.findtext(k) or "" for k in
          ("physical_size", "physical_utilisation", "virtual_allocation")}
    return sr, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--scan", required=True)
    ap.add_argument("--sr", required=True)
    ap.add_argument("--storage")
    ap.add_argument("--calls")
    ap.add_argument("--sr-sizes", action="store_true")
    ap.add_argument("--managed-in-db", action="store_true")
    o = ap.parse_args()
    bad = []

    with open(o.dump) as f:
        tables = json.load(f)["tables"]
    sr_scan, truth = scan_vdis(o.scan)
    srs = [(r, v) for r, v in tables["SR"].items() if v["uuid"] == o.sr]
    if len(srs) != 1:
        print("no SR record of uuid %s" % o.sr)
        return 1
    sr_ref, sr = srs[0]
    db = {}
    for ref, v in tables["VDI"].items():
        if v["SR"] != sr_ref:
            continue
        if v["uuid"] in db:
            bad.append("two VDI records of uuid %s" % v["uuid"])
        db[v["uuid"]] = v

    if o.storage:
        with open(o.storage) as f:
            stored = {line.strip() for line in f if line.strip()}
        if stored != set(truth):
            bad.append("the scan document and the storage disagree: scan only %s, storage only %s"
                       % (sorted(set(truth) - stored), sorted(stored - set(truth))))
    # An image the driver could not read (the scan's <error>) is neither
    # introduced nor forgotten nor changed: the toolstack must not lose it.
    unreadable = {u for u, t in truth.items() if t["error"]}
    truth = {u: t for u, t in truth.items() if u not in unreadable}
    for u in sorted(set(truth) - set(db)):
        bad.append("%s: on the storage, not in the database" % u)
    for u in sorted(set(db) - set(truth) - unreadable):
        bad.append("%s: in the database, not on the storage" % u)

    for u in sorted(set(truth) & set(db)):
        t, d = truth[u], db[u]

        def differ(field, want, got):
            if want != got:
                bad.append("%s: %s is %r in the database, %r on the storage" % (u, field, got, want))
        differ("location", t["location"], d["location"])
        differ("virtual_size", t["size"], d["virtual_size"])
        differ("physical_utilisation", t["utilisation"], d["physical_utilisation"])
        differ("read_only", t["read_only"] == "true", d["read_only"])
        if not o.managed_in_db:
            differ("managed", t["managed"] == "true", d["managed"])
        differ("sm_config vhd-parent", t["parent"] or None, d["sm_config"].get("vhd-parent"))
        differ("missing", False, d["missing"])
        for key in ("activating", "paused"):
            if key in d["sm_config"]:
                bad.append("%s: sm_config still has %r after the call" % (u, key))

    if o.sr_sizes:
        for f in ("physical_size", "virtual_allocation"):
            if sr[f] != sr_scan[f]:
                bad.append("SR %s is %r in the database, %r on the storage" % (f, sr[f], sr_scan[f]))
        try:
            if abs(int(sr["physical_utilisation"]) - int(sr_scan["physical_utilisation"])) \
                    > int(sr_scan["physical_size"]) // 100:
                bad.append("SR physical_utilisation is %r in the database, %r on the storage"
                           % (sr["physical_utilisation"], sr_scan["physical_utilisation"]))
        except ValueError:
            bad.append("SR sizes not numbers: %r / %r" % (sr, sr_scan))

    if o.calls:
        with open(o.calls) as f:
            calls = json.load(f)
        for method, params in calls:
            for i in INT_ARGS.get(method, ()):
                if i < len(params) and not isinstance(params[i], str):
                    bad.append("%s sent argument %d as %r, not a decimal string"
                               % (method, i + 1, params[i]))
            if method == "VDI.db_introduce" and len(params) > 16 \
                    and not isinstance(params[16], dict):
                bad.append("VDI.db_introduce sent snapshot_time as %r, not a DateTime"
                           % (params[16],))

    for b in bad:
        print(b)
    if bad:
        return 1
    print("ok: %d VDIs" % len(db))
    return 0


if __name__ == "__main__":
    sys.exit(main())
