#!/usr/bin/env python3
"""bench/lib/dialect_requests.py — writes a wrk Lua script that rotates over
real demo identities in one API's wire format (the native API or a vendor
dialect), for bench/http-dialects.

    dialect_requests.py CASES.jsonl N DIALECT PORT > script.lua

DIALECT: native-id2, native-id4, check2e, tc3, iden_auth, idcardstatus.
Signed requests (tc3) are signed here with the demo SecretKey (Python's
hmac/hashlib: an implementation independent of the server's), valid for the
scheme's time window from now: generate the script just before the run.
Must never: send anything but the demo app's published credentials.
"""
import hashlib
import hmac
import json
import sys
import time
import urllib.parse

cases_path, n_max, dialect, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
want_id4 = dialect in ('native-id4', 'check2e', 'idcardstatus')

people = []
for line in open(cases_path, encoding='utf-8'):
    c = json.loads(line)
    if c['endpoint'] != ('id4' if want_id4 else 'id2'):
        continue
    if c['expect']['verdict'] not in ('match', 'mismatch', 'not_found'):
        continue
    people.append(c['request'])
    if len(people) >= n_max:
        break


def tc3_headers(body, action='IdCardVerification'):
    sid, skey = 'demo-secret-id', 'demo-secret-key'
    ts = int(time.time())
    date = time.strftime('%Y-%m-%d', time.gmtime(ts))
    service = '127'  # an SDK pointed at 127.0.0.1:PORT signs the first label
    hashed = hashlib.sha256(body.encode()).hexdigest()
    canonical = 'POST\n/\n\ncontent-type:application/json\nhost:127.0.0.1\n\ncontent-type;host\n' + hashed
    scope = f'{date}/{service}/tc3_request'
    to_sign = f'TC3-HMAC-SHA256\n{ts}\n{scope}\n' + hashlib.sha256(canonical.encode()).hexdigest()
    k = hmac.new(('TC3' + skey).encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    k = hmac.new(k, b'tc3_request', hashlib.sha256).digest()
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        'Content-Type': 'application/json',
        'X-TC-Action': action,
        'X-TC-Version': '2018-03-01',
        'X-TC-Timestamp': str(ts),
        'Authorization': f'TC3-HMAC-SHA256 Credential={sid}/{scope}, SignedHeaders=content-type;host, Signature={sig}',
    }


def compact(o):
    return json.dumps(o, ensure_ascii=False, separators=(',', ':'))


reqs = []  # (path, headers, body)
for p in people:
    name, idn = p['name'], p['id_number']
    if dialect == 'native-id2':
        reqs.append(('/v1/verify/id2', {'Content-Type': 'application/json', 'Authorization': 'Bearer demo-key'},
                     compact({'name': name, 'id_number': idn})))
    elif dialect == 'native-id4':
        reqs.append(('/v1/verify/id4', {'Content-Type': 'application/json', 'Authorization': 'Bearer demo-key'},
                     compact({'name': name, 'id_number': idn, 'valid_from': p['valid_from'], 'valid_to': p['valid_to']})))
    elif dialect == 'check2e':
        reqs.append(('/identity/idcard/check-2e', {'Content-Type': 'application/json', 'Authorization': 'Bearer demo-token'},
                     compact({'name': name, 'id_card': idn, 'validity_begin': p['valid_from'], 'validity_end': p['valid_to']})))
    elif dialect == 'tc3':
        body = compact({'IdCard': idn, 'Name': name})
        reqs.append(('/', tc3_headers(body), body))
    elif dialect == 'iden_auth':
        reqs.append(('/idenAuthentication', {'Content-Type': 'application/x-www-form-urlencoded', 'Authorization': 'APPCODE demo-appcode'},
                     urllib.parse.urlencode({'idNo': idn, 'name': name})))
    elif dialect == 'idcardstatus':
        reqs.append(('/idcard/idcardstatus/Submit.json', {'Content-Type': 'application/x-www-form-urlencoded'},
                     urllib.parse.urlencode({'account': 'demo', 'password': 'demo-apikey', 'name': name, 'id_card_no': idn,
                                             'begin_date': p['valid_from'], 'end_date': p['valid_to']})))
    else:
        sys.exit(f'unknown dialect {dialect}')


def lua(s):
    return '"' + ''.join('\\%03d' % b if b < 32 or b in (34, 92) or b >= 127 else chr(b)
                         for b in s.encode('utf-8')) + '"'


print('local reqs = {')
for path, headers, body in reqs:
    h = ', '.join(f'[{lua(k)}] = {lua(v)}' for k, v in headers.items())
    print(f'  {{{lua(path)}, {{{h}}}, {lua(body)}}},')
print('}')
print('''local i = 0
request = function()
  i = i % #reqs + 1
  local r = reqs[i]
  return wrk.format("POST", r[1], r[2], r[3])
end''')
