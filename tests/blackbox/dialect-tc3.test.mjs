// Conformance of the Tencent Cloud FaceID dialect (API 3.0, 2018-03-01) at
// `/`: the official SDK (tencentcloud-sdk-nodejs, faceid.v20180301.Client)
// pointed at the server with only its endpoint changed, for both actions
// and every Result code, with TC3-HMAC-SHA256 (POST and GET) and the v1
// HmacSHA256 / HmacSHA1 form signature; its exceptions for every refusal;
// and raw requests (signed by a small TC3 signer written here from the
// published rules, cross-checked by the server accepting it) for what the
// SDK cannot send: bad, stale, mis-scoped or missing signatures, wrong
// methods, content types, JSON, missing / duplicated / unknown fields,
// unknown actions and versions, oversized bodies. Charges are read from the
// admin API (usage) and the audit rows must carry dialect "tc3" and the
// vendor code.
//
// Every server is started here with its own registry (persons made for
// these cases, ID numbers with real check digits) and stopped in after(),
// its exit status asserted 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import tencentcloud from 'tencentcloud-sdk-nodejs';

import { BIN, startReady } from './lib/server.mjs';

const FaceidClient = tencentcloud.faceid.v20180301.Client;
const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;
const DEMO = { secretId: 'demo-secret-id', secretKey: 'demo-secret-key' };

const root = mkdtempSync(join(tmpdir(), 'shiming-tc3-'));
after(() => rmSync(root, { recursive: true, force: true }));

// ------------------------------------------------------------ identities

/** An 18-digit ID number with its check digit. */
function idNumber(first17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * w[i];
  return first17 + '10X98765432'[sum % 11];
}
const badCheck = (id) => id.slice(0, 17) + (id[17] === '0' ? '1' : '0');

// hukou 0; card 20150101–20350101 (issued at 34: twenty years)
const ZHANG = { name: '张三', id: idNumber('11010519800307451'), from: '20150101', to: '20350101' };
// hukou 2 (deceased, emigrated…): CheckIdNameDate -5
const LI = { name: '李四', id: idNumber('31010419750612002'), from: '20160101', to: '20360101' };
// hukou 1 (moved out): still valid
const WANG = { name: '王五', id: idNumber('44030519700101123'), from: '20120101', to: '20320101' };
// not in the registry
const NOBODY = { name: '赵六', id: idNumber('11010519850101999'), from: '20150101', to: '20350101' };

function shiming(args, timeout = 60_000) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout });
  assert.equal(r.error, undefined, `spawn ${args.join(' ')}: ${r.error}`);
  assert.equal(r.status, 0, `shiming ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r;
}

const regFlags = (dir) => ['--db', join(dir, 'registry.db'), '--key-file', join(dir, 'server.key')];

/** A registry of ZHANG, LI, WANG in root/NAME; returns the directory. */
function makeRegistry(name) {
  const dir = join(root, name);
  spawnSync('mkdir', ['-p', dir]);
  const csv = join(dir, 'registry.csv');
  writeFileSync(csv, [
    'id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status',
    `${ZHANG.id},${ZHANG.name},${ZHANG.from},${ZHANG.to},北京市公安局朝阳分局,0,0`,
    `${LI.id},${LI.name},${LI.from},${LI.to},上海市公安局徐汇分局,0,2`,
    `${WANG.id},${WANG.name},${WANG.from},${WANG.to},深圳市公安局南山分局,0,1`,
  ].join('\n') + '\n');
  shiming(['registry', 'import', ...regFlags(dir), csv]);
  return dir;
}

/** A --demo server on a registry of its own (admin token next to it). */
async function start(name) {
  const dir = makeRegistry(name);
  const s = await startReady(regFlags(dir));
  s.regDir = dir;
  return s;
}

async function stopClean(s) {
  const r = await s.stop();
  assert.deepEqual(r, { code: 0, signal: null }, `exit status; stderr tail:\n${s.stderrText.slice(-3000)}`);
  assert.doesNotMatch(s.stderrText, SANITIZER);
}

// ------------------------------------------------------------ clients

/** The official SDK client for `s`. */
function client(s, cred = DEMO, profile = {}) {
  return new FaceidClient({
    credential: cred,
    region: 'ap-guangzhou',
    profile: {
      ...profile,
      httpProfile: { protocol: 'http://', endpoint: `127.0.0.1:${s.port}`, reqMethod: 'POST',
        ...(profile.httpProfile ?? {}) },
    },
  });
}

const id2Req = (p, name = p.name) => ({ IdCard: p.id, Name: name });
const id4Req = (p, from = p.from, to = p.to) =>
  ({ Name: p.name, IdCard: p.id, ValidityBegin: from, ValidityEnd: to });

/** The SDK's exception for a call that must fail. */
async function sdkError(promise) {
  try {
    const r = await promise;
    assert.fail(`expected an exception, got ${JSON.stringify(r)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return e;
  }
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

/** TC3-HMAC-SHA256 headers for a request, from the published rules:
 * overrides let a test break one piece at a time. */
function tc3Headers({ secretId = DEMO.secretId, secretKey = DEMO.secretKey, action = 'IdCardVerification',
  version = '2018-03-01', timestamp = Math.floor(Date.now() / 1000), date, service = 'faceid',
  host = '127.0.0.1', contentType = 'application/json', body = '', method = 'POST', query = '',
  signedHeaders = 'content-type;host', extraHeaders = {} } = {}) {
  date ??= new Date(timestamp * 1000).toISOString().slice(0, 10);
  const values = { 'content-type': contentType, host, ...Object.fromEntries(
    Object.entries(extraHeaders).map(([k, v]) => [k.toLowerCase(), v])) };
  const names = signedHeaders.split(';');
  const canonicalHeaders = names.map((n) => `${n}:${String(values[n] ?? '').trim().toLowerCase()}\n`).join('');
  const canonical = `${method}\n/\n${query}\n${canonicalHeaders}\n${signedHeaders}\n${sha256(body)}`;
  const scope = `${date}/${service}/tc3_request`;
  const sts = `TC3-HMAC-SHA256\n${timestamp}\n${scope}\n${sha256(canonical)}`;
  const kDate = hmac('TC3' + secretKey, date);
  const sig = createHmac('sha256', hmac(hmac(kDate, service), 'tc3_request')).update(sts).digest('hex');
  return {
    'content-type': contentType,
    'x-tc-action': action,
    'x-tc-version': version,
    'x-tc-timestamp': String(timestamp),
    authorization: `TC3-HMAC-SHA256 Credential=${secretId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${sig}`,
    ...Object.fromEntries(Object.entries(extraHeaders).map(([k, v]) => [k.toLowerCase(), v])),
  };
}

/** A raw request; the answer parsed. */
async function raw(s, { method = 'POST', headers = {}, body, path = '/' } = {}) {
  const res = await fetch(s.url + path, { method, headers, body });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* the caller asserts */ }
  return { status: res.status, headers: res.headers, text, json };
}

/** A signed TC3 POST of `params` (an object, or a body string as is). */
function tc3Post(s, params, opts = {}) {
  const body = typeof params === 'string' ? params : JSON.stringify(params);
  return raw(s, { headers: tc3Headers({ body, ...opts }), body });
}

/** Tencent's error shape, HTTP 200. */
function assertTcError(r, code) {
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.json?.Response?.Error?.Code, code, r.text);
  assert.equal(typeof r.json.Response.Error.Message, 'string');
  assert.ok(r.json.Response.Error.Message.length > 0);
  assert.equal(r.json.Response.RequestId, r.headers.get('x-request-id'));
  assert.deepEqual(Object.keys(r.json.Response), ['Error', 'RequestId']);
}

/** The v1 form of the SDK (formatSignString), signed here. */
function v1Form({ method = 'POST', host, params, secretKey = DEMO.secretKey, signMethod = 'HmacSHA256' }) {
  const all = { Action: 'IdCardVerification', Nonce: 4242, Timestamp: Math.floor(Date.now() / 1000),
    Version: '2018-03-01', SecretId: DEMO.secretId, SignatureMethod: signMethod, ...params };
  for (const k of Object.keys(all)) if (all[k] === undefined) delete all[k];
  const sts = method + host + '/?' + Object.keys(all).sort().map((k) => `${k}=${all[k]}`).join('&');
  const algo = signMethod === 'HmacSHA1' ? 'sha1' : 'sha256';
  all.Signature = createHmac(algo, secretKey).update(sts).digest('base64');
  return all;
}

// ---------------------------------------------------- admin API, audit

async function admin(s, method, path, body) {
  const token = readFileSync(join(s.dir ?? s.regDir, 'admin.token'), 'utf8').trim();
  const res = await fetch(s.url + '/admin/v1' + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} /admin/v1${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** A new app with a secretid credential and packages; returns {secretId, secretKey}. */
async function makeApp(s, name, settings = {}, total = 1_000_000) {
  await admin(s, 'POST', '/apps', { name, ...settings });
  const cred = await admin(s, 'POST', `/apps/${name}/credentials`, { kind: 'secretid' });
  assert.equal(cred.kind, 'secretid');
  for (const product of ['tc_idcard_verification', 'tc_check_id_name_date'])
    await admin(s, 'POST', `/apps/${name}/packages`, { product, total });
  return { secretId: cred.id, secretKey: cred.secret };
}

async function used(s, app, product) {
  const u = await admin(s, 'GET', `/apps/${app}/usage`);
  return u.packages.filter((x) => x.product === product).reduce((a, x) => a + x.used, 0);
}

async function auditRow(s, requestId) {
  const a = await admin(s, 'GET', '/audit?limit=1000');
  return a.rows.find((r) => r.request_id === requestId);
}

// ===================================================== the Result codes

describe('IdCardVerification and CheckIdNameDate through the official SDK', () => {
  let s;
  before(async () => { s = await start('main'); });
  after(async () => { if (s) await stopClean(s); });

  // [action, request, Result, Description, charged]
  const cases = () => [
    ['IdCardVerification', id2Req(ZHANG), '0', '姓名和身份证号一致', true],
    ['IdCardVerification', id2Req(WANG), '0', '姓名和身份证号一致', true],
    ['IdCardVerification', id2Req(ZHANG, '张四'), '-1', '姓名和身份证号不一致', true],
    ['IdCardVerification', id2Req({ ...ZHANG, id: badCheck(ZHANG.id) }), '-2', '非法身份证号（长度、校验位等不正确）', false],
    ['IdCardVerification', id2Req({ ...ZHANG, id: ZHANG.id.slice(0, 17) }), '-2', '非法身份证号（长度、校验位等不正确）', false],
    ['IdCardVerification', id2Req(ZHANG, '张3'), '-3', '非法姓名（长度、格式等不正确）', false],
    ['IdCardVerification', id2Req(ZHANG, ''), '-3', '非法姓名（长度、格式等不正确）', false],
    ['IdCardVerification', id2Req(NOBODY), '-5', '证件库中无此身份证记录', false],
    ['CheckIdNameDate', id4Req(ZHANG), '0', '一致', true],
    ['CheckIdNameDate', id4Req(WANG), '0', '一致', true],
    ['CheckIdNameDate', { ...id4Req(ZHANG), Name: '张四' }, '-1', '不一致', true],
    ['CheckIdNameDate', id4Req(ZHANG, '20050101', '20150101'), '-1', '不一致', true],
    ['CheckIdNameDate', id4Req({ ...ZHANG, id: badCheck(ZHANG.id) }), '-2', '非法身份证号（长度、校验位等不正确）', false],
    ['CheckIdNameDate', { ...id4Req(ZHANG), Name: 'Zhang3!' }, '-3', '非法姓名（长度、格式等不正确）', false],
    ['CheckIdNameDate', id4Req(ZHANG, '20151301', '20351301'), '-4', '非法有效期（长度、格式等不正确）', false],
    ['CheckIdNameDate', id4Req(ZHANG, '20150101', '2035'), '-4', '非法有效期（长度、格式等不正确）', false],
    ['CheckIdNameDate', id4Req(LI), '-5', '身份信息无效', false],
    ['CheckIdNameDate', id4Req(NOBODY), '-7', '证件库中无此身份证记录', false],
  ];

  for (const signMethod of ['TC3-HMAC-SHA256', 'HmacSHA256', 'HmacSHA1']) {
    for (const reqMethod of ['POST', 'GET']) {
      test(`every Result code, ${signMethod} ${reqMethod}: the answer, the charge, the audit row`, async () => {
        const c = client(s, DEMO, { signMethod, httpProfile: { reqMethod } });
        for (const [action, req, result, description, charged] of cases()) {
          const product = action === 'IdCardVerification' ? 'tc_idcard_verification' : 'tc_check_id_name_date';
          const before = await used(s, 'demo', product);
          const r = await c[action](req);
          const label = `${action} ${JSON.stringify(req)}`;
          assert.deepEqual(Object.keys(r), ['Result', 'Description', 'RequestId'], label);
          assert.equal(r.Result, result, label);
          assert.equal(r.Description, description, label);
          assert.equal(await used(s, 'demo', product), before + (charged ? 1 : 0), `charge of ${label}`);
          const row = await auditRow(s, r.RequestId);
          assert.ok(row, `audit row of ${label}`);
          assert.equal(row.dialect, 'tc3');
          assert.equal(row.product, product);
          assert.equal(row.vendor_code, result);
          assert.equal(row.charged, charged);
          assert.doesNotMatch(JSON.stringify(row), new RegExp(req.IdCard || 'x^'));
        }
      });
    }
  }

  test('the body is byte for byte the documented shape', async () => {
    const r = await tc3Post(s, id2Req(ZHANG));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    const id = r.headers.get('x-request-id');
    assert.equal(r.text, `{"Response":{"Result":"0","Description":"姓名和身份证号一致","RequestId":"${id}"}}\n`);
  });

  test('the captured request shapes: service "faceid" with a Host carrying the port, no region, other services', async () => {
    const body = JSON.stringify(id2Req(ZHANG));
    // the svchost capture: Host faceid.tencentcloudapi.com:PORT, signed without the port
    const headers = tc3Headers({ body, host: 'faceid.tencentcloudapi.com' });
    const r = await new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/',
        headers: { ...headers, host: `faceid.tencentcloudapi.com:${s.port}`, 'content-length': Buffer.byteLength(body) } },
      (res) => { let t = ''; res.setEncoding('utf8'); res.on('data', (c) => { t += c; }); res.on('end', () => resolve(JSON.parse(t))); });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(r.Response.Result, '0');
    // a host signed with its port is accepted too; any service label; extra signed headers
    for (const opts of [{ host: `127.0.0.1:${s.port}` }, { service: 'cvm' }, { service: '127' },
      { signedHeaders: 'content-type;host;x-tc-action', extraHeaders: { 'X-TC-Action': 'IdCardVerification' } },
      { contentType: 'application/json; charset=utf-8' }]) {
      const x = await tc3Post(s, id2Req(ZHANG), opts);
      assert.equal(x.json?.Response?.Result, '0', `${JSON.stringify(opts)}: ${x.text}`);
    }
  });

  test('errors seen by the SDK: wrong key, unknown SecretId, unknown action', async () => {
    let e = await sdkError(client(s, { ...DEMO, secretKey: 'wrong' }).IdCardVerification(id2Req(ZHANG)));
    assert.equal(e.code, 'AuthFailure.SignatureFailure');
    assert.ok(e.requestId);
    e = await sdkError(client(s, { secretId: 'no-such-id', secretKey: 'x' }).IdCardVerification(id2Req(ZHANG)));
    assert.equal(e.code, 'AuthFailure.SecretIdNotFound');
    e = await sdkError(client(s, { ...DEMO, secretKey: 'wrong' }, { signMethod: 'HmacSHA1' }).CheckIdNameDate(id4Req(ZHANG)));
    assert.equal(e.code, 'AuthFailure.SignatureFailure');
    e = await sdkError(client(s).request('LivenessCompare', {}));
    assert.equal(e.code, 'InvalidAction');
    e = await sdkError(client(s).request('IdCardVerification', { IdCard: ZHANG.id }));
    assert.equal(e.code, 'MissingParameter');
    assert.match(e.message, /`Name`/);
    e = await sdkError(client(s).request('IdCardVerification', { ...id2Req(ZHANG), Extra: '1' }));
    assert.equal(e.code, 'UnknownParameter');
    e = await sdkError(client(s).request('IdCardVerification',
      { ...id2Req(ZHANG), Encryption: { CiphertextBlob: 'x', EncryptList: ['Name'], Iv: 'y' } }));
    assert.equal(e.code, 'UnsupportedOperation');
    const v = new tencentcloud.faceid.v20180301.Client({ credential: DEMO,
      profile: { httpProfile: { protocol: 'http://', endpoint: `127.0.0.1:${s.port}` } } });
    v.apiVersion = '2017-01-01';
    e = await sdkError(v.IdCardVerification(id2Req(ZHANG)));
    assert.equal(e.code, 'NoSuchVersion');
  });

  test('malformed requests, answered in Tencent\'s format with HTTP 200', async () => {
    const good = JSON.stringify(id2Req(ZHANG));
    const rows = [
      ['PUT', { method: 'PUT', headers: tc3Headers({ body: good, method: 'PUT' }), body: good }, 'UnsupportedProtocol'],
      ['DELETE', { method: 'DELETE' }, 'UnsupportedProtocol'],
      ['PATCH', { method: 'PATCH', body: good }, 'UnsupportedProtocol'],
      ['a GET without the GET form', { method: 'GET' }, 'MissingParameter'],
      ['a JSON POST without Authorization', { headers: { 'content-type': 'application/json', 'x-tc-action': 'IdCardVerification' }, body: good }, 'AuthFailure.InvalidAuthorization'],
      ['text/plain', { headers: { ...tc3Headers({ body: good, contentType: 'text/plain' }) }, body: good }, 'InvalidParameter'],
      ['a form without Authorization and no signature', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=IdCardVerification' }, 'MissingParameter'],
      ['no content type', { headers: {}, body: good }, 'InvalidParameter'],
    ];
    for (const [label, opts, code] of rows) {
      const r = await raw(s, opts);
      assert.doesNotThrow(() => assertTcError(r, code), `${label}: ${r.text}`);
    }
    const bodies = [
      ['not JSON', '{"IdCard":', 'InvalidParameter'],
      ['a JSON array', '[]', 'InvalidParameter'],
      ['a duplicated key', `{"IdCard":"${ZHANG.id}","Name":"张三","Name":"张三"}`, 'InvalidParameter'],
      ['IdCard missing', '{"Name":"张三"}', 'MissingParameter'],
      ['Name null', `{"IdCard":"${ZHANG.id}","Name":null}`, 'MissingParameter'],
      ['IdCard a number', `{"IdCard":110105198003074510,"Name":"张三"}`, 'InvalidParameter'],
      ['an unknown field', `{"IdCard":"${ZHANG.id}","Name":"张三","Foo":1}`, 'UnknownParameter'],
      ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x4e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), 'InvalidParameter'],
    ];
    for (const [label, body, code] of bodies) {
      const r = await raw(s, { headers: tc3Headers({ body }), body });
      assert.doesNotThrow(() => assertTcError(r, code), `${label}: ${r.text}`);
    }
    const heads = [
      ['X-TC-Action missing', { 'x-tc-action': undefined }, 'MissingParameter'],
      ['X-TC-Version missing', { 'x-tc-version': undefined }, 'MissingParameter'],
      ['X-TC-Timestamp missing', { 'x-tc-timestamp': undefined }, 'MissingParameter'],
      ['an unknown action', { 'x-tc-action': 'DetectAuth' }, 'InvalidAction'],
      ['another version', { 'x-tc-version': '2017-01-01' }, 'NoSuchVersion'],
    ];
    for (const [label, change, code] of heads) {
      const headers = { ...tc3Headers({ body: good }), ...change };
      for (const k of Object.keys(headers)) if (headers[k] === undefined) delete headers[k];
      const r = await raw(s, { headers, body: good });
      assert.doesNotThrow(() => assertTcError(r, code), `${label}: ${r.text}`);
    }
    // CheckIdNameDate's own fields
    const r = await tc3Post(s, { Name: ZHANG.name, IdCard: ZHANG.id, ValidityBegin: ZHANG.from }, { action: 'CheckIdNameDate' });
    assertTcError(r, 'MissingParameter');
    assert.match(r.json.Response.Error.Message, /`ValidityEnd`/);
    // an oversized body (over the server's limit, 1 MiB): Tencent's own
    // error, with HTTP 200 like every Tencent error
    const big = { IdCard: ZHANG.id, Name: 'x'.repeat(1_200_000) };
    const bigText = JSON.stringify(big);
    assertTcError(await raw(s, { headers: tc3Headers({ body: bigText }), body: bigText }),
      'RequestSizeLimitExceeded');
    const tooBig = await sdkError(client(s).IdCardVerification(big));
    assert.equal(tooBig.code, 'RequestSizeLimitExceeded');
    // the v1 form: duplicated and badly encoded parameters, a bad method name, a stale timestamp
    const host = `127.0.0.1:${s.port}`;
    const form = (p) => new URLSearchParams(p).toString();
    const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };
    let x = await raw(s, { headers: formHeaders, body: form(v1Form({ host, params: id2Req(ZHANG) })) + `&Name=${encodeURIComponent('张三')}` });
    assertTcError(x, 'InvalidParameter');
    x = await raw(s, { headers: formHeaders, body: 'Action=%ZZ' });
    assertTcError(x, 'InvalidParameter');
    x = await raw(s, { headers: formHeaders, body: form(v1Form({ host, params: { ...id2Req(ZHANG), SignatureMethod: 'HmacMD5' } })) });
    assertTcError(x, 'InvalidParameterValue');
    x = await raw(s, { headers: formHeaders, body: form(v1Form({ host, params: { ...id2Req(ZHANG), Timestamp: Math.floor(Date.now() / 1000) - 600 } })) });
    assertTcError(x, 'AuthFailure.SignatureExpire');
    x = await raw(s, { headers: formHeaders, body: form(v1Form({ host, params: { ...id2Req(ZHANG), Nonce: 'abc' } })) });
    assertTcError(x, 'InvalidParameter');
    x = await raw(s, { headers: formHeaders, body: form(v1Form({ host, params: id2Req(ZHANG) })) });
    assert.equal(x.json?.Response?.Result, '0', x.text); // the signer here agrees with the server
  });
});

// ============================================== signatures and limiter

describe('signature checks (raw requests) and the failed-authentication limiter', () => {
  let s;
  before(async () => { s = await start('sig'); });
  after(async () => { if (s) await stopClean(s); });

  test('bad, stale, mis-scoped and missing signatures', async () => {
    const body = JSON.stringify(id2Req(ZHANG));
    const now = Math.floor(Date.now() / 1000);
    const ok = await tc3Post(s, id2Req(ZHANG));
    assert.equal(ok.json?.Response?.Result, '0', `the signer here is right: ${ok.text}`);
    const flip = (h) => ({ ...h, authorization: h.authorization.replace(/Signature=(.)/, (m, c) => `Signature=${c === '0' ? '1' : '0'}`) });
    const rows = [
      ['one hex digit changed', flip(tc3Headers({ body })), 'AuthFailure.SignatureFailure'],
      ['another secret key', tc3Headers({ body, secretKey: 'other' }), 'AuthFailure.SignatureFailure'],
      ['six minutes old', tc3Headers({ body, timestamp: now - 360 }), 'AuthFailure.SignatureExpire'],
      ['six minutes ahead', tc3Headers({ body, timestamp: now + 360 }), 'AuthFailure.SignatureExpire'],
      ['a scope date that is not the timestamp\'s', tc3Headers({ body, date: '2020-01-01' }), 'AuthFailure.SignatureFailure'],
      ['signed for another host', tc3Headers({ body, host: 'faceid.tencentcloudapi.com' }), 'AuthFailure.SignatureFailure'],
      ['signed for another body', tc3Headers({ body: body.replace('张三', '张四') }), 'AuthFailure.SignatureFailure'],
      ['an unknown SecretId', tc3Headers({ body, secretId: 'nobody' }), 'AuthFailure.SecretIdNotFound'],
      ['SignedHeaders without content-type', tc3Headers({ body, signedHeaders: 'host' }), 'AuthFailure.InvalidAuthorization'],
      ['SignedHeaders unsorted', tc3Headers({ body, signedHeaders: 'host;content-type' }), 'AuthFailure.InvalidAuthorization'],
      ['a signed header that is not sent', tc3Headers({ body, signedHeaders: 'content-type;host;x-tc-region' }), 'AuthFailure.SignatureFailure'],
      ['another scheme', { ...tc3Headers({ body }), authorization: 'Bearer demo-key' }, 'AuthFailure.InvalidAuthorization'],
      ['a truncated header', { ...tc3Headers({ body }), authorization: 'TC3-HMAC-SHA256 Credential=demo-secret-id' }, 'AuthFailure.InvalidAuthorization'],
      ['a timestamp that is not a number', { ...tc3Headers({ body }), 'x-tc-timestamp': 'soon' }, 'InvalidParameter'],
    ];
    for (const [label, headers, code] of rows) {
      const r = await raw(s, { headers, body });
      assert.doesNotThrow(() => assertTcError(r, code), `${label}: ${r.text}`);
    }
    // the v1 form: a wrong signature, SHA1 and SHA256 alike
    const host = `127.0.0.1:${s.port}`;
    for (const signMethod of ['HmacSHA1', 'HmacSHA256']) {
      const p = v1Form({ host, params: id2Req(ZHANG), signMethod, secretKey: 'other' });
      const r = await raw(s, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(p).toString() });
      assertTcError(r, 'AuthFailure.SignatureFailure');
    }
  });

  test('twenty failures from one address: RequestLimitExceeded.IPLimitExceeded, even for good requests', async () => {
    const body = JSON.stringify(id2Req(ZHANG));
    let blocked = null;
    for (let i = 0; i < 40 && !blocked; i++) {
      const r = await raw(s, { headers: tc3Headers({ body, secretKey: 'wrong' }), body });
      if (r.json?.Response?.Error?.Code === 'RequestLimitExceeded.IPLimitExceeded') blocked = r;
      else assertTcError(r, 'AuthFailure.SignatureFailure');
    }
    assert.ok(blocked, 'the limiter engaged');
    assertTcError(await tc3Post(s, id2Req(ZHANG)), 'RequestLimitExceeded.IPLimitExceeded');
    const e = await sdkError(client(s).IdCardVerification(id2Req(ZHANG)));
    assert.equal(e.code, 'RequestLimitExceeded.IPLimitExceeded');
  });
});

// ============================================ apps refused and limited

describe('apps: daily limits (-7 / -8), quota, frozen, disabled, IP allowlist, rate limit', () => {
  let s;
  before(async () => { s = await start('apps'); });
  after(async () => { if (s) await stopClean(s); });

  test('the daily limit answers -7 (IdCardVerification) and -8 (CheckIdNameDate), free', async () => {
    const cred = await makeApp(s, 'daily', { daily_limit: 1 });
    const c = client(s, cred);
    assert.equal((await c.IdCardVerification(id2Req(ZHANG))).Result, '0');
    const r2 = await c.IdCardVerification(id2Req(ZHANG));
    assert.deepEqual([r2.Result, r2.Description], ['-7', '认证次数超过当日限制']);
    const r4 = await c.CheckIdNameDate(id4Req(ZHANG));
    assert.deepEqual([r4.Result, r4.Description], ['-8', '认证次数超过当日限制，请次日重试']);
    const v1 = await client(s, cred, { signMethod: 'HmacSHA1' }).CheckIdNameDate(id4Req(ZHANG));
    assert.equal(v1.Result, '-8');
    assert.equal(await used(s, 'daily', 'tc_idcard_verification'), 1);
    assert.equal(await used(s, 'daily', 'tc_check_id_name_date'), 0);
  });

  test('quota used up: UnauthorizedOperation.Arrears; invalid input still answered, free', async () => {
    const cred = await makeApp(s, 'small', {}, 1);
    const c = client(s, cred);
    assert.equal((await c.IdCardVerification(id2Req(ZHANG))).Result, '0');
    const e = await sdkError(c.IdCardVerification(id2Req(ZHANG)));
    assert.equal(e.code, 'UnauthorizedOperation.Arrears');
    assert.equal((await c.IdCardVerification(id2Req({ ...ZHANG, id: badCheck(ZHANG.id) }))).Result, '-2');
    assert.equal(await used(s, 'small', 'tc_idcard_verification'), 1);
  });

  test('frozen, disabled, outside the allowlist, over the rate', async () => {
    const cred = await makeApp(s, 'moody');
    const c = client(s, cred);
    assert.equal((await c.CheckIdNameDate(id4Req(ZHANG))).Result, '0');
    const steps = [
      [{ status: 'frozen' }, 'UnauthorizedOperation.ChargeStatusException'],
      [{ status: 'disabled' }, 'UnauthorizedOperation.Nonactivated'],
      [{ status: 'active', ip_allow: '10.0.0.0/8' }, 'IpNotInWhitelist'],
    ];
    for (const [patch, code] of steps) {
      await admin(s, 'PATCH', '/apps/moody', patch);
      const e = await sdkError(c.CheckIdNameDate(id4Req(ZHANG)));
      assert.equal(e.code, code, JSON.stringify(patch));
      const v = await sdkError(client(s, cred, { signMethod: 'HmacSHA256' }).IdCardVerification(id2Req(ZHANG)));
      assert.equal(v.code, code);
    }
    await admin(s, 'PATCH', '/apps/moody', { ip_allow: '', rate_per_s: 0.01, burst: 1 });
    assert.equal((await c.IdCardVerification(id2Req(ZHANG))).Result, '0');
    const e = await sdkError(c.IdCardVerification(id2Req(ZHANG)));
    assert.equal(e.code, 'RequestLimitExceeded');
  });
});

// ==================================== the registry unavailable: -6 / -6

describe('a registry that cannot be opened', () => {
  let s;
  let lock;
  let regDir;
  const haveSqlite3 = spawnSync('sqlite3', ['-version']).status === 0;
  before(async () => {
    regDir = makeRegistry('locked');
    // one --demo start leaves the demo app and its SecretId in the tenancy store
    await stopClean(await startReady(regFlags(regDir)));
  });
  after(async () => {
    lock?.kill('SIGKILL');
    if (s) await stopClean(s);
  });

  // The sqlite3 CLI holds an exclusive lock taken before the server starts:
  // the server then runs without its registry (see verify.test.mjs).
  function holdLock(db) {
    const child = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c) => { out += c; });
    child.stdin.write("PRAGMA locking_mode=EXCLUSIVE;\nBEGIN EXCLUSIVE;\nSELECT 'lock' || 'ed';\n");
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      const poll = setInterval(() => {
        if (out.includes('locked')) { clearInterval(poll); resolve(child); }
        else if (Date.now() - t0 > 10_000) { clearInterval(poll); child.kill('SIGKILL'); reject(new Error('no lock')); }
      }, 20);
    });
  }

  test('IdCardVerification -6 (system being upgraded), CheckIdNameDate -6 (registry service error), free',
    { skip: !haveSqlite3 && 'no sqlite3 CLI' }, async () => {
      lock = await holdLock(join(regDir, 'registry.db'));
      s = await startReady(regFlags(regDir), { demo: false });
      s.regDir = regDir;
      await s.waitForLine((l) => l.event === 'registry_unavailable');
      const c = client(s);
      const r2 = await c.IdCardVerification(id2Req(ZHANG));
      assert.deepEqual([r2.Result, r2.Description], ['-6', '权威比对系统升级中，请稍后再试']);
      const r4 = await c.CheckIdNameDate(id4Req(ZHANG));
      assert.deepEqual([r4.Result, r4.Description], ['-6', '证件库服务异常']);
      // the core's own checks still answer
      assert.equal((await c.IdCardVerification(id2Req({ ...ZHANG, id: badCheck(ZHANG.id) }))).Result, '-2');
      for (const [id, code] of [[r2.RequestId, '-6'], [r4.RequestId, '-6']]) {
        const row = await auditRow(s, id);
        assert.equal(row.dialect, 'tc3');
        assert.equal(row.vendor_code, code);
        assert.equal(row.verdict, 'registry_unavailable');
        assert.equal(row.charged, false);
      }
      lock.stdin.end('COMMIT;\n.quit\n');
      await new Promise((resolve) => lock.on('exit', resolve));
      lock = null;
      const t0 = Date.now();
      for (;;) {
        const r = await c.IdCardVerification(id2Req(ZHANG));
        if (r.Result === '0') break;
        assert.equal(r.Result, '-6');
        assert.ok(Date.now() - t0 < 5000, 'recovered within 5 s');
        await new Promise((res) => setTimeout(res, 50));
      }
    });
});
