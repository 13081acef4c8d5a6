// Conformance of dialect B (seed 001): `POST /idenAuthentication`, the API
// marketplace's two-element check behind its API gateway, with the official
// client `aliyun-api-gateway` 1.1.6 in both of its modes (SimpleClient:
// APPCODE; Client: AppKey/AppSecret signature) against the real server.
//
// Covers: the seed's two examples field for field (a registry holding the
// seed's person; the seed's own number fails the checksum, so its corrected
// check digit is used); every respCode from a real request; gateway-level
// failures in headers (X-Ca-Error-Message / -Code / -Request-Id) as the SDK
// throws them; signature tampering, stale timestamps, reused nonces,
// missing headers, HmacSHA1; admission (frozen, disabled, IP, rate, daily
// limit, quota, failed-auth limiter); usage used/total and the 20 % mark;
// audit rows (dialect iden_auth, the respCode); raw requests with wrong
// methods, content types, encodings, sizes, missing and duplicated fields.
//
// Must never: leave a server or a temporary directory behind, listen
// anywhere but on loopback, or hard-code an answer the server computes
// (ages are computed here from today's date in China).
import test, { after, before, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BIN, startReady } from './lib/server.mjs';

const require = createRequire(import.meta.url);
const { Client, SimpleClient } = require('aliyun-api-gateway');

const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;
const PATH = '/idenAuthentication';
const FORM = 'application/x-www-form-urlencoded; charset=UTF-8';
const KEYS = ['name', 'idNo', 'respMessage', 'respCode', 'province', 'city', 'county', 'birthday', 'sex', 'age'];

// The seed's examples. Its number 340421190710145412 fails the checksum
// (shiming answers 0004 for it); ...5418 is the same person with the right
// check character, and the registry below holds 张三 under it.
const SEED_ID = '340421190710145418';
const SEED_OK = {
  name: '张三', idNo: SEED_ID, respMessage: '身份证信息匹配', respCode: '0000',
  province: '安徽省', city: '淮南市', county: '凤台县', birthday: '19071014', sex: 'M', age: '111',
};
const SEED_BAD = { ...SEED_OK, name: '李四', respMessage: '身份证信息不匹配', respCode: '0008' };
const NOBODY = '11010519491231002X'; // well-formed, not in the registry
const ZHAO = { id: '110105200001010024', name: '赵敏' }; // a woman in the registry

/** Whole years from YYYYMMDD to today in China (UTC+8), as a string. */
function ageToday(birthday) {
  const now = new Date(Date.now() + 8 * 3600_000);
  const y = now.getUTCFullYear(), m = now.getUTCMonth() + 1, d = now.getUTCDate();
  const by = +birthday.slice(0, 4), bm = +birthday.slice(4, 6), bd = +birthday.slice(6, 8);
  return String(y - by - (m < bm || (m === bm && d < bd) ? 1 : 0));
}
const seedNow = (o) => ({ ...o, age: ageToday(o.birthday) });

const root = mkdtempSync(join(tmpdir(), 'shiming-dialect-b-'));
after(() => rmSync(root, { recursive: true, force: true }));

function shiming(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined, `spawn ${args.join(' ')}: ${r.error}`);
  return r;
}

/** A registry (and key) holding the seed's person and 赵敏. */
function makeRegistry(name) {
  const dir = join(root, name);
  mkdirSync(dir);
  const csv = join(dir, 'people.csv');
  writeFileSync(csv, 'id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status\n' +
    `${SEED_ID},张三,20100101,00000000,凤台县公安局,0,0\n` +
    `${ZHAO.id},赵敏,20160101,20260101,北京市公安局朝阳分局,0,0\n`);
  const flags = ['--db', join(dir, 'registry.db'), '--key-file', join(dir, 'server.key')];
  const r = shiming(['registry', 'import', ...flags, csv]);
  assert.equal(r.status, 0, r.stderr);
  return { dir, flags };
}

async function stopClean(s) {
  const r = await s.stop();
  assert.deepEqual(r, { code: 0, signal: null }, `exit status; stderr tail:\n${s.stderrText.slice(-3000)}`);
  assert.doesNotMatch(s.stderrText, SANITIZER);
}

async function admin(s, method, path, body) {
  const token = readFileSync(join(s.dir ?? s.ownDir, 'admin.token'), 'utf8').trim();
  const res = await fetch(s.url + '/admin/v1' + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** A new app with an APPCODE and an AppKey/AppSecret, and packages. */
async function makeApp(s, name, settings = {}, total = 1_000_000) {
  await admin(s, 'POST', '/apps', { name, ...settings });
  const code = (await admin(s, 'POST', `/apps/${name}/credentials`, { kind: 'appcode' })).secret;
  const ak = await admin(s, 'POST', `/apps/${name}/credentials`, { kind: 'appkey' });
  if (total > 0) await admin(s, 'POST', `/apps/${name}/packages`, { product: 'iden_auth', total });
  return { code, key: ak.id, secret: ak.secret };
}

const sdkOpts = (data, headers = {}) => ({ data, headers: { 'content-type': FORM, accept: 'application/json', ...headers } });

/** The SDK's call; a thrown error becomes { error }. */
async function sdk(client, s, data, headers = {}, query) {
  try {
    const opts = sdkOpts(data, headers);
    if (query) opts.query = query;
    return { result: await client.post(s.url + PATH, opts) };
  } catch (error) {
    return { error };
  }
}

// Raw requests come from a loopback address of their own per test
// (127.0.0.N): the failed-authentication limiter counts per address, and
// these tests fail on purpose many times.
let rawFrom = '127.0.0.1';
let rawNext = 10;
const newRawAddress = () => { rawFrom = `127.0.0.${rawNext++}`; };

/** A raw request: { status, headers, text, json }; `headers` as fetch's. */
function raw(s, { method = 'POST', headers = {}, body, query = '' } = {}) {
  const data = body === undefined ? null : Buffer.from(body);
  const h = { ...headers };
  if (data && typeof body === 'string' && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type'))
    h['content-type'] = 'text/plain;charset=UTF-8'; // what fetch would add to a string
  if (data) h['content-length'] = String(data.length);
  return new Promise((resolve, reject) => {
    const req = http.request(s.url + PATH + query, { method, headers: h, localAddress: rawFrom }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)])), text, json });
      });
    });
    req.on('error', reject);
    req.end(data ?? undefined);
  });
}

const form = (o) => new URLSearchParams(o).toString();
const appcode = (code, body, extra = {}) => ({
  headers: { authorization: `APPCODE ${code}`, 'content-type': FORM, ...extra }, body,
});

/** A gateway-level failure: no body, the X-Ca-* headers, ASCII only. */
function assertGateway(r, status, code, message) {
  assert.equal(r.status, status, `${code}: ${r.status} ${r.headers.get('x-ca-error-message')}`);
  assert.equal(r.headers.get('x-ca-error-code'), code);
  const msg = r.headers.get('x-ca-error-message');
  if (message instanceof RegExp) assert.match(msg, message);
  else assert.equal(msg, message);
  assert.match(msg, /^[\x20-\x7e]*$/, 'ASCII only');
  assert.equal(r.headers.get('x-ca-request-id'), r.headers.get('x-request-id'));
  assert.equal(r.text, '');
}

/** What the SDK threw for a gateway-level failure. */
function assertSdkError(out, status, message) {
  assert.ok(out.error, `expected the SDK to throw; it returned ${JSON.stringify(out.result)}`);
  assert.equal(out.error.code, status, out.error.message);
  const m = out.error.message.match(/request id: (\S+), error message: (.*)$/s);
  assert.ok(m, out.error.message);
  assert.notEqual(m[1], 'undefined');
  if (message instanceof RegExp) assert.match(m[2], message);
  else assert.equal(m[2], message);
}

// --------------------------------------------- the SDK's signed requests

/**
 * What the SDK's Client sends: run it against a local recorder and return
 * { headers, body } (lower-case header names), to replay (or tamper with).
 */
async function recordSigned(key, secret, data, headers = {}, query) {
  let got;
  const rec = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got = { url: req.url, headers: { ...req.headers }, body: Buffer.concat(chunks).toString('utf8') };
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise((ok) => rec.listen(0, '127.0.0.1', ok));
  try {
    const opts = sdkOpts(data, headers);
    if (query) opts.query = query;
    await new Client(key, secret).post(`http://127.0.0.1:${rec.address().port}${PATH}`, opts);
  } finally {
    await new Promise((ok) => rec.close(ok));
  }
  for (const h of ['host', 'connection', 'content-length']) delete got.headers[h];
  return got;
}

/** The string to sign, written here from the published rules (not the SDK). */
function stringToSign(method, headers, path, params) {
  const names = (headers['x-ca-signature-headers'] ?? '').split(',').filter(Boolean).sort();
  let s = [method, headers.accept ?? '', headers['content-md5'] ?? '', headers['content-type'] ?? '', headers.date ?? ''].join('\n') + '\n';
  for (const n of names) s += `${n}:${headers[n]}\n`;
  const keys = Object.keys(params).sort();
  return s + path + (keys.length ? '?' + keys.map((k) => (params[k] === '' ? k : `${k}=${params[k]}`)).join('&') : '');
}
const sign = (alg, secret, sts) => createHmac(alg, secret).update(sts, 'utf8').digest('base64');

// ================================================================= tests

describe('dialect B on a demo server with the seed\'s person', () => {
  let s;
  let reg;
  before(async () => {
    reg = makeRegistry('main');
    s = await startReady(reg.flags);
    s.ownDir = reg.dir;
  });
  after(async () => { await stopClean(s); });

  const appcodeClient = () => new SimpleClient('demo-appcode');
  const signedClient = () => new Client('demo-app-key', 'demo-app-secret');

  beforeEach(() => newRawAddress());
  test('the seed\'s two examples, field for field, in both SDK modes', async () => {
    for (const client of [appcodeClient(), signedClient()]) {
      for (const want of [SEED_OK, SEED_BAD]) {
        const out = await sdk(client, s, { idNo: want.idNo, name: want.name });
        assert.equal(out.error, undefined, out.error?.message);
        assert.deepEqual(Object.keys(out.result), KEYS, 'the seed\'s key order');
        for (const k of KEYS) assert.equal(typeof out.result[k], 'string', `${k} is a string`);
        assert.deepEqual(out.result, seedNow(want));
      }
    }
    // the reply itself: JSON as the gateway sends it, with its request id
    const r = await raw(s, appcode('demo-appcode', form({ idNo: SEED_ID, name: '张三' })));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json;charset=utf-8');
    assert.equal(r.headers.get('x-ca-request-id'), r.headers.get('x-request-id'));
    assert.ok(r.text.startsWith('{"name":"张三","idNo":"340421190710145418","respMessage":"身份证信息匹配","respCode":"0000",'), r.text);
  });

  test('every respCode from a real request', async () => {
    const derived = { province: '安徽省', city: '淮南市', county: '凤台县', birthday: '19071014', sex: 'M', age: ageToday('19071014') };
    const none = { province: '', city: '', county: '', birthday: '', sex: '', age: '' };
    const cases = [
      [{ idNo: SEED_ID, name: '张三' }, '0000', '身份证信息匹配', derived],
      [{ idNo: SEED_ID, name: '张三 ' }, '0000', '身份证信息匹配', derived],
      [{ idNo: ZHAO.id, name: ZHAO.name }, '0000', '身份证信息匹配',
        { province: '北京市', city: '北京市', county: '朝阳区', birthday: '20000101', sex: 'F', age: ageToday('20000101') }],
      [{ idNo: SEED_ID, name: '' }, '0001', '开户名不能为空', derived],
      [{ idNo: SEED_ID }, '0001', '开户名不能为空', derived],
      [{ idNo: SEED_ID, name: '张@三' }, '0002', '开户名不能包含特殊字符', derived],
      [{ idNo: SEED_ID, name: '张' }, '0002', '开户名不能包含特殊字符', derived],
      [{ idNo: '', name: '张三' }, '0003', '身份证号不能为空', none],
      [{ idNo: '   ', name: '张三' }, '0003', '身份证号不能为空', none],
      [{ name: '张三' }, '0003', '身份证号不能为空', none],
      [{}, '0003', '身份证号不能为空', none],
      [{ idNo: '340421190710145412', name: '张三' }, '0004', '身份证号格式错误', none], // the seed's own number
      [{ idNo: '3404211907101454', name: '张三' }, '0004', '身份证号格式错误', none],
      [{ idNo: 'abcdefghijklmnopqr', name: '' }, '0004', '身份证号格式错误', none],
      [{ idNo: NOBODY, name: '张三' }, '0007', '无此身份证号码',
        { province: '北京市', city: '北京市', county: '朝阳区', birthday: '19491231', sex: 'F', age: ageToday('19491231') }],
      [{ idNo: SEED_ID, name: '李四' }, '0008', '身份证信息不匹配', derived],
    ];
    for (const [data, code, message, fields] of cases) {
      const out = await sdk(appcodeClient(), s, data);
      assert.equal(out.error, undefined, out.error?.message);
      assert.deepEqual(out.result, {
        name: data.name ?? '', idNo: data.idNo ?? '', respMessage: message, respCode: code, ...fields,
      }, JSON.stringify(data));
    }
  });

  test('bad, missing or malformed AppCode: the SDK throws with the gateway\'s status and message', async () => {
    assertSdkError(await sdk(new SimpleClient('not-a-code'), s, { idNo: SEED_ID, name: '张三' }),
      403, 'Invalid AppCode `not exists`');
    const body = form({ idNo: SEED_ID, name: '张三' });
    assertGateway(await raw(s, { headers: { 'content-type': FORM }, body }), 401, 'A401AC', 'Empty AppCode');
    assertGateway(await raw(s, { body: Buffer.from(body) }), 401, 'A401AC', 'Empty AppCode');
    for (const auth of ['APPCODE  demo-appcode', 'APPCODE ', 'appcode demo-appcode', 'Bearer demo-appcode', 'APPCODEdemo-appcode'])
      assertGateway(await raw(s, { headers: { authorization: auth, 'content-type': FORM }, body }),
        401, 'A401AC', 'Invalid AppCode `malformed`');
    const r = await raw(s, appcode('secret-typed-by-mistake', body));
    assertGateway(r, 403, 'A403IA', 'Invalid AppCode `not exists`');
    assert.ok(!s.stderrText.includes('secret-typed-by-mistake'), 'a presented code never reaches the log');
  });

  test('signed mode: wrong secret, unknown AppKey, tampering, replays, stale timestamps, missing headers', async () => {
    const data = { idNo: SEED_ID, name: '张三' };
    let out = await sdk(new Client('demo-app-key', 'wrong-secret'), s, data);
    assertSdkError(out, 400, /^Invalid Signature, Server StringToSign:`POST#application\/json##application\/x-www-form-urlencoded; charset=UTF-8##x-ca-key:demo-app-key#x-ca-nonce:[0-9a-f-]{36}#x-ca-stage:RELEASE#x-ca-timestamp:\d{13}#\/idenAuthentication\?idNo=340\*+5418&name=\(name\)`$/);
    // (the SDK itself prints the signed form fields in its URL; the header does not)
    assert.ok(!out.error.data.headers['x-ca-error-message'].includes(SEED_ID), 'no raw ID number in the error');
    out = await sdk(new Client('no-such-key', 'x'), s, data);
    assertSdkError(out, 400, 'Invalid AppKey');

    // stale and future timestamps (signed as sent), a reused nonce: the SDK
    // lets the caller set its own x-ca-* headers
    const old = String(Date.now() - 16 * 60_000);
    assertSdkError(await sdk(signedClient(), s, data, { 'x-ca-timestamp': old }), 400, 'Timestamp Expired');
    const ahead = String(Date.now() + 16 * 60_000);
    assertSdkError(await sdk(signedClient(), s, data, { 'x-ca-timestamp': ahead }), 400, 'Timestamp Expired');
    const recent = String(Date.now() - 14 * 60_000);
    assert.equal((await sdk(signedClient(), s, data, { 'x-ca-timestamp': recent })).error, undefined);
    assertSdkError(await sdk(signedClient(), s, data, { 'x-ca-timestamp': 'yesterday' }), 400, 'Invalid Timestamp');
    const nonce = `fixed-${process.pid}-${Date.now()}`;
    assert.equal((await sdk(signedClient(), s, data, { 'x-ca-nonce': nonce })).result.respCode, '0000');
    assertSdkError(await sdk(signedClient(), s, data, { 'x-ca-nonce': nonce }), 400, 'Nonce Used');

    // query parameters are signed too (and merged with the form)
    out = await sdk(signedClient(), s, { name: '张三' }, {}, { idNo: SEED_ID });
    assert.equal(out.error, undefined, out.error?.message);
    assert.equal(out.result.respCode, '0000');

    // a recorded request: replayed once fine, then every tampering refused
    const rec = await recordSigned('demo-app-key', 'demo-app-secret', data);
    assert.equal(rec.headers['x-ca-signature-headers'], 'x-ca-key,x-ca-nonce,x-ca-stage,x-ca-timestamp');
    const fresh = () => ({ ...rec.headers, 'x-ca-nonce': randomUUID() });
    const resign = (h, params = data, alg = 'sha256') => ({
      ...h, 'x-ca-signature': sign(alg, 'demo-app-secret', stringToSign('POST', h, PATH, params)),
    });
    // this file's own signer agrees with the SDK's
    assert.equal(resign(rec.headers)['x-ca-signature'], rec.headers['x-ca-signature']);

    let r = await raw(s, { headers: rec.headers, body: rec.body });
    assert.equal(r.status, 200, r.headers.get('x-ca-error-message'));
    assert.equal(r.json.respCode, '0000');
    assertGateway(await raw(s, { headers: rec.headers, body: rec.body }), 400, 'A400IN', 'Nonce Used');

    // the body changed after signing
    assertGateway(await raw(s, { headers: resign(fresh()), body: form({ idNo: SEED_ID, name: '李四' }) }),
      400, 'A400IS', /^Invalid Signature, Server StringToSign:/);
    // a parameter added in the query
    assertGateway(await raw(s, { headers: resign(fresh()), body: rec.body, query: '?extra=1' }),
      400, 'A400IS', /\?extra=1&idNo=340\*+5418&name=\(name\)`$/);
    // a header changed after signing
    assertGateway(await raw(s, { headers: { ...resign(fresh()), 'x-ca-stage': 'TEST' }, body: rec.body }),
      400, 'A400IS', /x-ca-stage:TEST#/);
    assertGateway(await raw(s, { headers: { ...resign(fresh()), accept: '*/*' }, body: rec.body }),
      400, 'A400IS', /^Invalid Signature, Server StringToSign:`POST#\*\/\*#/);
    // a signature of the right length, one byte off
    const h0 = resign(fresh());
    const flipped = (h0['x-ca-signature'][0] === 'A' ? 'B' : 'A') + h0['x-ca-signature'].slice(1);
    assertGateway(await raw(s, { headers: { ...h0, 'x-ca-signature': flipped }, body: rec.body }), 400, 'A400IS', /^Invalid Signature/);

    // missing headers
    const without = (h, name) => { const o = { ...h }; delete o[name]; return o; };
    assertGateway(await raw(s, { headers: without(resign(fresh()), 'x-ca-signature'), body: rec.body }), 401, 'A401ES', 'Empty Signature');
    assertGateway(await raw(s, { headers: without(fresh(), 'x-ca-timestamp'), body: rec.body }), 400, 'I400MH', 'Header `X-Ca-Timestamp` is Required');
    assertGateway(await raw(s, { headers: without(fresh(), 'x-ca-nonce'), body: rec.body }), 400, 'I400MH', 'Header `X-Ca-Nonce` is Required');
    // the timestamp and the nonce must be signed, or a replay could change them
    for (const list of ['x-ca-key,x-ca-stage,x-ca-timestamp', 'x-ca-key,x-ca-nonce,x-ca-stage', ''])
      assertGateway(await raw(s, { headers: resign({ ...fresh(), 'x-ca-signature-headers': list }), body: rec.body }),
        400, 'I400HD', /^Invalid Header `X-Ca-Signature-Headers`/);
    assertGateway(await raw(s, { headers: resign({ ...fresh(), 'x-ca-signature-headers': 'x-ca-key,x-ca-nonce,x-ca-timestamp,x-ca-missing' }), body: rec.body }),
      400, 'I400MH', 'Header `x-ca-missing` is Required');
    assertGateway(await raw(s, { headers: resign({ ...fresh(), 'x-ca-signature-headers': 'x-ca-key,x-ca-nonce,x-ca-nonce,x-ca-timestamp' }), body: rec.body }),
      400, 'I400HD', /duplicated/);
    // a signed body must say it is a form (its fields are signed only then)
    assertGateway(await raw(s, { headers: without(resign(fresh()), 'content-type'), body: Buffer.from(rec.body) }), 400, 'I400CT', /^Invalid Content-Type/);
    // Content-MD5, when sent, must be the body's
    assertGateway(await raw(s, { headers: resign({ ...fresh(), 'content-md5': 'AAAAAAAAAAAAAAAAAAAAAA==' }), body: rec.body }),
      400, 'A400IM', 'Invalid Content-MD5');
    const md5 = require('node:crypto').createHash('md5').update(rec.body).digest('base64');
    r = await raw(s, { headers: resign({ ...fresh(), 'content-md5': md5 }), body: rec.body });
    assert.equal(r.status, 200, r.headers.get('x-ca-error-message'));

    // HmacSHA1 when X-Ca-Signature-Method says so; nothing else
    const sha1 = { ...fresh(), 'x-ca-signature-method': 'HmacSHA1', 'x-ca-signature-headers': 'x-ca-key,x-ca-nonce,x-ca-signature-method,x-ca-stage,x-ca-timestamp' };
    r = await raw(s, { headers: resign(sha1, data, 'sha1'), body: rec.body });
    assert.equal(r.status, 200, r.headers.get('x-ca-error-message'));
    assert.equal(r.json.respCode, '0000');
    assertGateway(await raw(s, { headers: resign({ ...sha1, 'x-ca-nonce': randomUUID() }, data, 'sha256'), body: rec.body }),
      400, 'A400IS', /^Invalid Signature/);
    assertGateway(await raw(s, { headers: resign({ ...fresh(), 'x-ca-signature-method': 'HmacMD5' }), body: rec.body }),
      400, 'A400US', 'Invalid Signature Method');
    assert.ok(!s.stderrText.includes('demo-app-secret'), 'the secret is never logged');
  });

  test('wrong methods, content types, encodings, sizes, missing and duplicated fields', async () => {
    const body = form({ idNo: SEED_ID, name: '张三' });
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await raw(s, { method, headers: { authorization: 'APPCODE demo-appcode' }, body: method === 'GET' ? undefined : body });
      assertGateway(r, 405, 'I405UM', `Unsupported Method \`${method}\``);
      assert.equal(r.headers.get('allow'), 'POST');
    }
    const head = await fetch(s.url + PATH, { method: 'HEAD' });
    assert.equal(head.status, 405);

    // a form with no Content-Type (the SDK's AppCode client) is a form
    // (bytes, not a string: fetch would add text/plain to a string body)
    let r = await raw(s, { headers: { authorization: 'APPCODE demo-appcode' }, body: Buffer.from(body) });
    assert.equal(r.status, 200);
    assert.equal(r.json.respCode, '0000');
    for (const ct of ['application/x-www-form-urlencoded', 'Application/X-WWW-Form-URLencoded ; charset="utf-8"', 'application/x-www-form-urlencoded;charset=utf8']) {
      r = await raw(s, appcode('demo-appcode', body, { 'content-type': ct }));
      assert.equal(r.status, 200, ct);
      assert.equal(r.json.respCode, '0000', ct);
    }
    for (const ct of ['application/json', 'multipart/form-data; boundary=x', 'text/plain', 'application/x-www-form-urlencodedx']) {
      assertGateway(await raw(s, appcode('demo-appcode', body, { 'content-type': ct })), 400, 'I400CT', /^Invalid Content-Type: `/);
    }
    assertGateway(await raw(s, appcode('demo-appcode', body, { 'content-type': 'application/x-www-form-urlencoded; charset=GBK' })),
      400, 'I400CT', 'Invalid Content-Type: `charset must be UTF-8`');

    // bad %-escapes, an empty name; bytes that decode but are not UTF-8
    for (const bad of ['idNo=%ZZ&name=x', 'idNo=1&name=%E5%B', 'name=%', '=x&idNo=1'])
      assertGateway(await raw(s, appcode('demo-appcode', bad)), 400, 'I400BD', 'Invalid Body: malformed urlencoded form');
    r = await raw(s, appcode('demo-appcode', `idNo=${SEED_ID}&name=%E5%BC`));
    assert.equal(r.status, 200);
    assert.equal(r.json.respCode, '0002');
    assert.ok(r.text.includes('\\ufffd') || r.json.name.includes('\ufffd'), 'invalid UTF-8 is replaced in the echo');
    // '+' is a space; the query alone carries the fields too
    r = await raw(s, appcode('demo-appcode', `idNo=+${SEED_ID}+&name=张三`));
    assert.equal(r.json.respCode, '0000');
    r = await raw(s, { headers: { authorization: 'APPCODE demo-appcode' }, query: `?idNo=${SEED_ID}&name=${encodeURIComponent('张三')}` });
    assert.equal(r.status, 200);
    assert.equal(r.json.respCode, '0000');
    r = await raw(s, { headers: { authorization: 'APPCODE demo-appcode', 'content-type': 'application/json' }, query: `?idNo=${SEED_ID}&name=${encodeURIComponent('张三')}` });
    assert.equal(r.json.respCode, '0000', 'no body: its content type does not matter');

    // duplicated fields: in the body, or in the query and the body
    for (const [b, q] of [[`${body}&idNo=${NOBODY}`, ''], [`${body}&name=李四`, ''], [body, `?idNo=${NOBODY}`], [body, '?name=x'], [`${body}&x=1&x=2`, '']]) {
      assertGateway(await raw(s, { ...appcode('demo-appcode', b), query: q }), 400, 'I400BD', /^Invalid Body: duplicated parameter `(idNo|name|x)`$/);
    }
    // unknown extra fields are ignored
    r = await raw(s, appcode('demo-appcode', `${body}&extra=1`));
    assert.equal(r.json.respCode, '0000');

    // oversized: the server's body limit (1 MiB)
    const big = `idNo=${SEED_ID}&name=张三&pad=${'x'.repeat(1_100_000)}`;
    r = await raw(s, appcode('demo-appcode', big));
    assert.equal(r.status, 413);
    assert.equal(r.headers.get('x-ca-error-message'), 'Request body too Large');
    assert.equal(r.headers.get('x-ca-request-id'), r.headers.get('x-request-id'));
  });

  test('usage used/total of the iden_auth package, the 20 % mark, and audit rows with the respCode', async () => {
    const app = await makeApp(s, 'b-meter', {}, 500);
    const flags = ['--tenancy-db', join(reg.dir, 'tenancy.db'), '--key-file', join(reg.dir, 'server.key')];
    const usageLine = () => {
      const r = shiming(['usage', 'b-meter', ...flags]);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    assert.match(usageLine(), /iden_auth\s+0\/500\b/);
    const client = new SimpleClient(app.code);
    assert.equal((await sdk(client, s, { idNo: SEED_ID, name: '张三' })).result.respCode, '0000');
    assert.equal((await sdk(new Client(app.key, app.secret), s, { idNo: SEED_ID, name: '李四' })).result.respCode, '0008');
    assert.equal((await sdk(client, s, { idNo: '340421190710145412', name: '张三' })).result.respCode, '0004');
    assert.equal((await sdk(client, s, { idNo: NOBODY, name: '张三' })).result.respCode, '0007');
    assert.match(usageLine(), /iden_auth\s+2\/500\b/, 'match and mismatch charged; 0004 and 0007 free');

    const audit = await admin(s, 'GET', '/audit?app=b-meter');
    assert.equal(audit.count, 4);
    const rows = audit.rows.map((r) => [r.dialect, r.product, r.vendor_code, r.verdict, r.charged]);
    assert.deepEqual(rows.sort(), [
      ['iden_auth', 'iden_auth', '0000', 'match', true],
      ['iden_auth', 'iden_auth', '0004', 'invalid_id', false],
      ['iden_auth', 'iden_auth', '0007', 'not_found', false],
      ['iden_auth', 'iden_auth', '0008', 'mismatch', true],
    ].sort());
    assert.ok(!JSON.stringify(audit).includes(SEED_ID) && !JSON.stringify(audit).includes('张三'), 'masked subjects');

    // a package of 5 used down to 1 (20 %): the alert's threshold
    const small = await makeApp(s, 'b-small', {}, 5);
    for (let i = 0; i < 4; i++)
      assert.equal((await sdk(new SimpleClient(small.code), s, { idNo: SEED_ID, name: '张三' })).result.respCode, '0000');
    const u = await admin(s, 'GET', '/apps/b-small/usage');
    const p = u.packages.find((x) => x.product === 'iden_auth');
    assert.equal(p.text, '4/5');
    assert.equal(p.remaining_percent, 20);
  });

  test('admission: frozen, disabled, IP allowlist, rate limit, daily limit, quota', async () => {
    const data = { idNo: SEED_ID, name: '张三' };
    const a = await makeApp(s, 'b-admit');
    const call = (app = a) => sdk(new SimpleClient(app.code), s, data);
    assert.equal((await call()).result.respCode, '0000');
    await admin(s, 'PATCH', '/apps/b-admit', { status: 'frozen' });
    assertSdkError(await call(), 403, 'User Arrears');
    assertSdkError(await sdk(new Client(a.key, a.secret), s, data), 403, 'User Arrears');
    await admin(s, 'PATCH', '/apps/b-admit', { status: 'disabled' });
    assertSdkError(await call(), 403, 'Unauthorized');
    await admin(s, 'PATCH', '/apps/b-admit', { status: 'active', ip_allow: '10.0.0.0/8' });
    assertSdkError(await call(), 403, 'Access Denied by IP Control Policy');
    await admin(s, 'PATCH', '/apps/b-admit', { ip_allow: '127.0.0.0/8' });
    assert.equal((await call()).result.respCode, '0000');

    const slow = await makeApp(s, 'b-slow', { rate_per_s: 0.01, burst: 1 });
    assert.equal((await call(slow)).result.respCode, '0000');
    let r = await raw(s, appcode(slow.code, form(data)));
    assertGateway(r, 429, 'A429AF', 'Throttled by APP Flow Control');
    assert.match(r.headers.get('retry-after'), /^\d+$/);
    assertSdkError(await call(slow), 429, 'Throttled by APP Flow Control');

    const daily = await makeApp(s, 'b-daily', { daily_limit: 1 });
    assert.equal((await call(daily)).result.respCode, '0000');
    r = await raw(s, appcode(daily.code, form(data)));
    assertGateway(r, 429, 'A429AD', 'Throttled by APP Flow Control, daily limit reached');
    assert.match(r.headers.get('retry-after'), /^\d+$/);

    const two = await makeApp(s, 'b-two', {}, 2);
    assert.equal((await call(two)).result.respCode, '0000');
    assert.equal((await sdk(new SimpleClient(two.code), s, { ...data, name: '李四' })).result.respCode, '0008');
    assertSdkError(await call(two), 403, 'Quota Exhausted');
    assertSdkError(await sdk(new SimpleClient(two.code), s, { idNo: NOBODY, name: '张三' }), 403, 'Quota Exhausted');
    // what needs no registry is still answered, free
    const free = await sdk(new SimpleClient(two.code), s, { idNo: '340421190710145412', name: '张三' });
    assert.equal(free.result.respCode, '0004');
    const none = await makeApp(s, 'b-none', {}, 0);
    assertSdkError(await call(none), 403, 'Quota Exhausted');
  });
});

describe('dialect B: the failed-authentication limiter and system maintenance', () => {
  test('many bad AppCodes from one address: 429 until the window ends', async () => {
    const reg = makeRegistry('limiter');
    const s = await startReady(reg.flags);
    try {
      const body = form({ idNo: SEED_ID, name: '张三' });
      let blocked = null;
      for (let i = 0; i < 40 && !blocked; i++) {
        const r = await raw(s, appcode(`wrong-${i}`, body));
        if (r.status === 429) blocked = r;
        else assertGateway(r, 403, 'A403IA', 'Invalid AppCode `not exists`');
      }
      assert.ok(blocked, 'blocked after repeated failures');
      assertGateway(blocked, 429, 'A429AB', 'Throttled by IP Flow Control, too many failed authentications');
      assert.ok(Number(blocked.headers.get('retry-after')) >= 1);
      // the right code is refused too while blocked
      assertGateway(await raw(s, appcode('demo-appcode', body)), 429, 'A429AB', /^Throttled/);
    } finally {
      await stopClean(s);
    }
  });

  const haveSqlite3 = spawnSync('sqlite3', ['-version']).status === 0;
  test('registry unavailable: 0010 system maintenance, free', { skip: !haveSqlite3 && 'no sqlite3 CLI' }, async () => {
    const reg = makeRegistry('maintenance');
    const lock = spawn('sqlite3', [join(reg.dir, 'registry.db')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    lock.stdout.setEncoding('utf8').on('data', (c) => { out += c; });
    lock.stdin.write("PRAGMA locking_mode=EXCLUSIVE;\nBEGIN EXCLUSIVE;\nSELECT 'lock' || 'ed';\n");
    for (let i = 0; i < 500 && !out.includes('locked'); i++) await new Promise((ok) => setTimeout(ok, 20));
    assert.ok(out.includes('locked'), 'sqlite3 holds the lock');
    // --demo would write its people into the locked registry: an app of
    // the test's own instead, made with the CLI
    const flags = ['--tenancy-db', join(reg.dir, 'tenancy.db'), '--key-file', join(reg.dir, 'server.key')];
    assert.equal(shiming(['app', 'create', 'b-maint', ...flags]).status, 0);
    const cred = shiming(['cred', 'add', 'b-maint', 'appcode', ...flags]);
    assert.equal(cred.status, 0, cred.stderr);
    const code = cred.stdout.match(/^secret:\s*(\S+)$/m)?.[1];
    assert.ok(code, cred.stdout);
    assert.equal(shiming(['package', 'add', 'b-maint', 'iden_auth', '--total', '10', ...flags]).status, 0);
    let s;
    try {
      s = await startReady(reg.flags, { demo: false });
      await s.waitForLine((l) => l.event === 'registry_unavailable');
      const out2 = await sdk(new SimpleClient(code), s, { idNo: SEED_ID, name: '张三' });
      assert.equal(out2.error, undefined, out2.error?.message);
      assert.deepEqual(out2.result, {
        name: '张三', idNo: SEED_ID, respMessage: '系统维护，请稍后再试', respCode: '0010',
        province: '安徽省', city: '淮南市', county: '凤台县', birthday: '19071014', sex: 'M', age: ageToday('19071014'),
      });
      const u = shiming(['usage', 'b-maint', ...flags]);
      assert.match(u.stdout, /iden_auth\s+0\/10\b/, '0010 is free');
      // input that needs no registry is still answered
      const bad = await sdk(new SimpleClient(code), s, { idNo: '340421190710145412', name: '张三' });
      assert.equal(bad.result.respCode, '0004');
    } finally {
      lock.kill('SIGKILL');
      if (s) await stopClean(s);
    }
  });
});
