#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-only
# Self-test of xapi_check: feed it what Python's xmlrpc.client writes (and
# broken variants) and check it accepts exactly what xapi accepts.
# Usage: tests/tools/test_xapi_check.py build/tests/xapi_check [-v]
import xmlrpc.client as x, subprocess, sys
XC=sys.argv[1]
def d(v, **kw): return x.dumps((v,), methodresponse=True, allow_none=True) + "\n"
vi={'uuid':'u','location':'l'}
di={'name':'n','description':'d','vendor':'v','copyright':'c','driver_version':'1.0','required_api_version':'1.0','capabilities':['SR_PROBE','VDI_CREATE'],'configuration':[{'key':'location','description':'path'}]}
at={'params':'/dev/sm/x','params_nbd':'nbd:unix:/x','o_direct':True,'o_direct_reason':'','xenstore_data':{'a':'b'}}
fault=x.dumps(x.Fault(94,'The request is missing the location parameter'),methodresponse=True)+"\n"
cases=[
 ('unit', d(None), 0), ('unit', d(''), 1), ('unit', d({}), 1), ('unit', fault, 1),
 ('string', d('abc'), 0), ('string', d(''), 0), ('string', '<methodResponse><params><param><value>t</value></param></params></methodResponse>', 0),
 ('string', '<methodResponse><params><param><value/></param></params></methodResponse>', 0),
 ('string', '<methodResponse><params><param><value><string/></value></param></params></methodResponse>', 0),
 ('string', d(1), 1), ('string', d(None), 1),
 ('vdi_info', d(vi), 0), ('vdi_info', d({'uuid':'u'}), 1), ('vdi_info', d({'uuid':'u','location':'l','x':1}), 1),
 ('attach', d(at), 0), ('attach', d({'params_nbd':'n'}), 0), ('attach', d({'params':'p'}), 1),
 ('attach', d({'params_nbd':'n','o_direct':'true'}), 1), ('attach', d({'params_nbd':'n','xenstore_data':{'a':1}}), 1),
 ('driver_info', d(di), 0), ('driver_info', d({k:v for k,v in di.items() if k!='vendor'}), 1),
 ('driver_info', d(dict(di, capabilities=['A',1])), 1), ('driver_info', d(dict(di, configuration=[{'key':'k'}])), 1),
 ('fault', fault, 0), ('fault 94', fault, 0), ('fault 95', fault, 1), ('fault', d(None), 1),
 ('fault', fault.replace('<int>94</int>','<i4>94</i4>'), 0), ('fault', fault.replace('<int>94</int>','<string>94</string>'), 1),
 ('unit', d(None) + d(None), 1), ('unit', d(None) + 'junk', 1), ('unit', 'not xml', 1), ('unit', '', 1),
 ('unit', d(None).replace('<param>\n', '<param>\n&#13;'), 1),
 ('unit', d(None).replace('<param>\n', '<param>\n \t'), 0),
 ('unit', '<methodResponse><params><param><value><nil/></value><value><nil/></value></param></params></methodResponse>', 1),
 ('unit', '<!DOCTYPE x><methodResponse/>', 1),
 ('bogus', d(None), 2), ('unit 5', d(None), 2),
]
bad=0
for kind, out, want in cases:
    r=subprocess.run([XC]+kind.split(), input=out.encode(), capture_output=True)
    ok = r.returncode==want
    if not ok or '-v' in sys.argv: print('OK ' if ok else 'BAD', kind, want, r.returncode, r.stderr.decode().strip()[:150])
    bad += not ok
print('xapi_check self-test: %d failure(s)' % bad)
sys.exit(1 if bad else 0)
