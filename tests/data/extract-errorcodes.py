#!/usr/bin/env python3
# Regenerate tests/data/errorcodes-reference.txt from xapi-project/sm's
# XE_SR_ERRORCODES.xml, keeping only the codes include/csm/error.h names.
#   tests/data/extract-errorcodes.py XE_SR_ERRORCODES.xml > tests/data/errorcodes-reference.txt
# Descriptions are kept byte for byte (SRScan's trailing space included).
import re
import sys
import xml.dom.minidom

def text(node, tag):
    els = node.getElementsByTagName(tag)
    return "".join(c.data for c in els[0].childNodes if c.nodeType == c.TEXT_NODE)

def main():
    header = open("include/csm/error.h").read()
    wanted = {int(v) for v in re.findall(r"\bSME_\w+\s*=\s*(\d+)", header)}
    doc = xml.dom.minidom.parse(sys.argv[1])
    rows = {}
    for code in doc.getElementsByTagName("code"):
        value = int(text(code, "value").strip())
        if value in wanted:
            rows[value] = (text(code, "name").strip(), text(code, "description"))
    missing = wanted - set(rows)
    if missing:
        sys.exit("codes not in the reference: %s" % sorted(missing))
    sys.stdout.write("# Extracted from xapi-project/sm's XE_SR_ERRORCODES.xml by\n"
                     "# tests/data/extract-errorcodes.py: the codes lib/error.c's table holds.\n"
                     "# <value>\\t<name>\\t<description>, description byte for byte.\n")
    for value in sorted(rows):
        name, desc = rows[value]
        if "\t" in desc or "\n" in desc:
            sys.exit("description of %d has a tab or newline" % value)
        sys.stdout.write("%d\t%s\t%s\n" % (value, name, desc))

main()
