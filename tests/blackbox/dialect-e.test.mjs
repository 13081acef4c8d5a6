// Conformance tests of dialect E (seed 004, ID-card OCR at /pyi/76/194 or
// the operator's [dialect_e] path) against the real server, with the seed's
// own signing algorithm re-implemented here (its PHP example: ksort, skip
// empty values, name + value, then the secret, md5).
//
// Covered now (no OCR engine needed): every error code the model lets a
// request produce — 10001, 10002, 10003, 10004, 10005, 10006, 10007, 10008,
// 10011, 10012, 10013, 10015, 10017, 10019 (format, side, url_image
// missing / bad base64 / not http(s) / SSRF-forbidden / unreachable / 404
// / timeout / too large / redirect to the metadata address, rate and daily
// limits, too many failed authentications), 10021 (the queue full) —
// wrong methods, content types, bad escapes, oversized bodies, duplicated
// parameters, GET and POST, JSON and XML (well-formed, checked with
// xmllint), the configurable path, the audit rows (dialect pyi_ocr, vendor
// code, nothing charged).
// With the OCR engine (required: a probe — a signed request with a blank
// PNG answers 10000 only where OCR runs — fails the suite when
// scripts/setup's models are missing): 10000 and its charge, 10018, and the
// synthetic cards (tools/cardgen's tests set, generated at run time).
//
// Must never: reach outside 127.0.0.1 (the metadata address is refused by
// the guard before any connection), or leave a server running.
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { startReady, runServe } from './lib/server.mjs';
import { BLANK_PNG, MODELS_DIR, closeServer, imageServer, syntheticCards } from './lib/images.mjs';

const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;
const PATH = '/pyi/76/194';
const APPID = '10001';
const SECRET = 'demo-secret';
// A blank 16 x 16 PNG (no card in it).
const NEEDS_OCR = 'the OCR engine does not read here: scripts/setup installs ONNX Runtime and the models (deps/)';

const MSG = {
  10001: 'appid必须指定,可以我的应用里面查看',
  10002: 'sign值必须指定,加密规则请前往帮助中心查看',
  10003: 'sign值验证不通过,加密规则请前往帮助中心查看',
  10004: '时差不能超过10分钟,可以不传递这个参数,注意时间戳单位是秒',
  10005: 'appid错误,请检查appid值,前往会员中心->我的应用查看或添加',
  10007: '应用被禁用,请联系客服处理',
  10008: '应用内没有该接口,请到我的应用里面添加这个接口',
  10011: 'api已经到期',
  10012: '没有订购任何api,请前往购买后再操作',
  10013: '该接口已经暂停使用',
  10015: '参数个数错误',
  10017: 'time必须是整型',
  10018: '次数不足',
  10021: '服务器发生错误',
};

const unixNow = () => Math.floor(Date.now() / 1000);


/** The seed's sign: ksort, skip empty values, name + value, + secret, md5. */
function sign(params, secret) {
  const keys = Object.keys(params).filter((k) => k !== 'sign').sort();
  let s = '';
  for (const k of keys) if (String(params[k]).length > 0) s += k + params[k];
  return createHash('md5').update(s + secret, 'utf8').digest('hex');
}

/** Signed parameters: appid, format, time, url_image, id_card_side, with
 * `over` applied (undefined removes one), signed unless over.sign is given. */
function signed(over = {}, secret = SECRET) {
  const p = { appid: APPID, format: 'json', id_card_side: '', time: String(unixNow()), url_image: BLANK_PNG, ...over };
  for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
  if (!('sign' in over)) p.sign = sign(p, secret);
  else if (p.sign === undefined) delete p.sign;
  return p;
}

const form = (p) => new URLSearchParams(p).toString();

/**
 * One request. opts: method ('POST'), body (raw), query (raw string),
 * contentType, path.
 */
async function call(s, params, opts = {}) {
  const method = opts.method ?? 'POST';
  const path = opts.path ?? PATH;
  let url = s.url + path;
  let body;
  const headers = {};
  if (method === 'GET' || opts.query !== undefined) url += '?' + (opts.query ?? form(params));
  if (method !== 'GET' && method !== 'HEAD') {
    body = opts.body ?? (opts.query === undefined ? form(params) : undefined);
    if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/x-www-form-urlencoded;charset=utf-8';
  }
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, a: parse(text, res.headers.get('content-type')) };
}

/** A JSON or XML answer as an object (XML: the root's children, retdata's too). */
function parse(text, ct) {
  if (ct?.startsWith('application/json')) return JSON.parse(text);
  if (ct?.startsWith('text/xml')) {
    const r = spawnSync('xmllint', ['--noout', '-'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `xmllint: ${r.stderr}\n${text}`);
    assert.ok(text.startsWith('<?xml version="1.0" encoding="utf-8"?><root>'), text);
    const out = {};
    const inner = text.replace(/^.*?<root>/s, '').replace(/<\/root>$/, '');
    const ret = inner.match(/<retdata\/>|<retdata>(.*?)<\/retdata>/s);
    for (const m of inner.replace(/<retdata\/>|<retdata>.*?<\/retdata>/s, '').matchAll(/<([^>/]+)>([^<]*)<\/\1>/g)) out[m[1]] = m[2];
    out.codeid = Number(out.codeid);
    if (out.idcard_number_type !== undefined) out.idcard_number_type = Number(out.idcard_number_type);
    out.retdata = {};
    if (ret && ret[1]) for (const m of ret[1].matchAll(/<([^>/]+)>([^<]*)<\/\1>/g)) out.retdata[m[1]] = m[2];
    return out;
  }
  return null;
}

function assertCode(r, code, { status = 200, message } = {}) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.a, `a vendor answer: ${r.text}`);
  assert.equal(r.a.codeid, code, r.text);
  if (message !== undefined) assert.equal(r.a.message, message, r.text);
  else if (MSG[code]) assert.equal(r.a.message, MSG[code], r.text);
  assert.match(String(r.a.time), /^\d{10}$/);
  if (code !== 10000) {
    // an error: an empty retdata, no statuses
    assert.deepEqual(Array.isArray(r.a.retdata) ? r.a.retdata : Object.keys(r.a.retdata), []);
    assert.equal(r.a.image_status, undefined);
  }
}

async function stopClean(s) {
  const r = await s.stop();
  assert.deepEqual(r, { code: 0, signal: null }, `exit status; stderr tail:\n${s.stderrText.slice(-3000)}`);
  assert.doesNotMatch(s.stderrText, SANITIZER);
}

async function admin(s, method, path, body) {
  const token = readFileSync(join(s.dir, 'admin.token'), 'utf8').trim();
  const res = await fetch(s.url + '/admin/v1' + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} /admin/v1${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** A new app with an appsecret credential and packages: { appid, secret }. */
async function makeApp(s, name, settings = {}, packages = { pyi_ocr: 1000 }) {
  await admin(s, 'POST', '/apps', { name, ...settings });
  const cred = await admin(s, 'POST', `/apps/${name}/credentials`, { kind: 'appsecret' });
  for (const [product, p] of Object.entries(packages))
    await admin(s, 'POST', `/apps/${name}/packages`, { product, ...(typeof p === 'number' ? { total: p } : p) });
  return { appid: cred.id, secret: cred.secret };
}

/** Does this build read cards? A signed blank PNG answers 10000 only then. */
async function ocrReady(s) {
  const r = await call(s, signed());
  return r.a?.codeid === 10000;
}

// ------------------------------------------------------------ the main server

describe('dialect E on a demo server', () => {
  let s;
  let img;
  let imgUrl;
  let ready = false;
  before(async () => {
    img = await imageServer();
    imgUrl = `http://127.0.0.1:${img.address().port}`;
    s = await startReady(['--models-dir', MODELS_DIR, '--max-body', '64KiB', '--vision-max-upload', '256KiB', '--fetch-allow-cidrs', '127.0.0.1/32',
      '--fetch-max-bytes', '64KiB', '--fetch-timeout-ms', '1500']);
    ready = await ocrReady(s);
  });
  after(async () => {
    if (s) await stopClean(s);
    if (img) await closeServer(img);
  });

  test('a signed request passes authentication, GET and POST, JSON and XML', async () => {
    for (const method of ['GET', 'POST']) {
      for (const format of ['json', 'xml', '']) {
        const r = await call(s, signed({ format }), { method });
        assert.ok(r.a, r.text);
        assert.equal(r.headers.get('content-type'), format === 'xml' ? 'text/xml; charset=utf-8' : 'application/json; charset=utf-8');
        // past the signature: a read (10000) where OCR runs; else the image's fate
        assert.ok([10000, 10019, 10021].includes(r.a.codeid), r.text);
      }
    }
    // the parameters may be split between the query and the body
    const p = signed();
    const { url_image: image, ...rest } = p;
    const r = await call(s, null, { query: form(rest), body: form({ url_image: image }) });
    assert.ok([10000, 10019, 10021].includes(r.a.codeid), r.text);
    // an upper-case hex sign is the same sign
    const up = signed();
    up.sign = up.sign.toUpperCase();
    assert.notEqual((await call(s, up)).a.codeid, 10003);
    // time is optional
    assert.notEqual((await call(s, signed({ time: undefined }))).a.codeid, 10003);
  });

  test('10001, 10002, 10003: appid and sign', async () => {
    assertCode(await call(s, signed({ appid: '' })), 10001);
    assertCode(await call(s, signed({ appid: undefined })), 10001);
    assertCode(await call(s, signed({ sign: '' })), 10002);
    assertCode(await call(s, signed({ sign: undefined })), 10002);
    assertCode(await call(s, signed({}, 'another-secret')), 10003);
    const p = signed();
    p.sign = 'f'.repeat(32);
    assertCode(await call(s, p), 10003);
    p.sign = 'short';
    assertCode(await call(s, p), 10003);
    // a value changed after signing
    const q = signed({ id_card_side: 'front' });
    q.id_card_side = 'back';
    assertCode(await call(s, q), 10003);
    // empty values are not signed: adding an empty parameter keeps the sign
    const e = signed();
    e.extra = '';
    assert.notEqual((await call(s, e)).a.codeid, 10003);
    // an unknown non-empty parameter is signed like the others
    const u = signed();
    u.extra = 'x';
    assertCode(await call(s, u), 10003);
  });

  test('10004 and 10017: time', async () => {
    const now = unixNow();
    assertCode(await call(s, signed({ time: String(now - 700) })), 10004);
    assertCode(await call(s, signed({ time: String(now + 700) })), 10004);
    assert.notEqual((await call(s, signed({ time: String(now - 500) }))).a.codeid, 10004);
    for (const t of ['abc', '12.5', '-5', '1e9', ' 1', '99999999999999'])
      assertCode(await call(s, signed({ time: t })), 10017, {});
  });

  test('10005: an unknown appid', async () => {
    assertCode(await call(s, signed({ appid: '99999' })), 10005);
    assertCode(await call(s, signed({ appid: 'x'.repeat(200) })), 10005);
  });

  test('10015: a parameter given twice (query, body, or both)', async () => {
    const p = signed();
    assertCode(await call(s, null, { body: form(p) + '&appid=10001' }), 10015);
    assertCode(await call(s, null, { query: 'format=xml', body: form(p) }), 10015);
    assertCode(await call(s, null, { method: 'GET', query: form(p) + '&url_image=x' }), 10015);
  });

  test('10019: format, id_card_side, url_image', async () => {
    const info = (r, re) => { assertCode(r, 10019, { message: r.a.message }); assert.match(r.a.message, re); };
    info(await call(s, signed({ format: 'yaml' })), /format只支持json,xml/);
    info(await call(s, signed({ id_card_side: 'left' })), /id_card_side/);
    info(await call(s, signed({ url_image: '' })), /url_image不能为空/);
    info(await call(s, signed({ url_image: undefined })), /url_image不能为空/);
    info(await call(s, signed({ url_image: '!!!not base64!!!' })), /base64/);
    info(await call(s, signed({ url_image: 'aGVsbG8=x' })), /base64/);
    info(await call(s, signed({ url_image: 'ftp://127.0.0.1/card.jpg' })), /不是有效的图片URL/);
    info(await call(s, signed({ url_image: 'http://' + 'a'.repeat(1100) })), /不是有效的图片URL/);
    // not an image: a text file, by value and by URL
    info(await call(s, signed({ url_image: Buffer.from('hello, not an image').toString('base64') })), /图片/);
    info(await call(s, signed({ url_image: `${imgUrl}/text` })), /图片/);
    // the XML answer says the same
    const x = await call(s, signed({ format: 'xml', id_card_side: 'left' }));
    assertCode(x, 10019, { message: x.a.message });
  });

  test('10019: image URLs behind the SSRF guard, and download failures', async () => {
    const info = async (url, re, detail) => {
      const r = await call(s, signed({ url_image: url }));
      assertCode(r, 10019, { message: r.a.message });
      assert.match(r.a.message, re, url);
      if (detail) assert.match(r.headers.get('x-error-detail') ?? '', detail);
    };
    await info('http://169.254.169.254/latest/meta-data/', /不允许访问/, /address this server may not fetch/);
    await info(`http://127.0.0.2:${img.address().port}/png`, /不允许访问/);   // loopback, not the allowlisted /32
    await info('http://10.0.0.1/card.jpg', /不允许访问/);
    await info('http://[::1]/card.jpg', /不允许访问/);
    await info(`${imgUrl}/redirect?to=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`, /不允许访问/);
    await info(`${imgUrl}/nothing`, /下载失败/);                                   // 404
    await info('http://127.0.0.1:1/card.jpg', /下载失败/);                         // nobody listens
    await info(`${imgUrl}/big`, /图片过大/);                                       // over --fetch-max-bytes
    await info(`${imgUrl}/slow?ms=4000`, /下载超时/);                              // over --fetch-timeout-ms
  });

  test('wrong methods, content types, escapes and oversized bodies, in the vendor format', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const r = await call(s, signed(), { method });
      assertCode(r, 10019, { status: 405, message: '只支持GET和POST请求' });
      assert.equal(r.headers.get('allow'), 'GET, POST');
    }
    // the answer is in the format the query asks for, even then
    const x = await call(s, null, { method: 'PUT', query: 'format=xml' });
    assert.equal(x.status, 405);
    assert.equal(x.a.codeid, 10019);
    assert.equal(x.headers.get('content-type'), 'text/xml; charset=utf-8');
    for (const ct of ['application/json', 'text/plain', 'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded; charset=gbk']) {
      const r = await call(s, null, { body: form(signed()), contentType: ct });
      assertCode(r, 10019, { status: 415, message: r.a.message });
    }
    const bad = await call(s, null, { body: 'appid=10001&sign=%zz' });
    assertCode(bad, 10019, { message: '参数格式错误' });
    const big = await call(s, null, { body: form(signed({ url_image: 'A'.repeat(300 * 1024) })) });
    assertCode(big, 10019, { status: 413, message: '请求体过大' });
  });

  test('admission: 10006, 10007, 10008, 10011, 10012, rate and daily limits', async () => {
    const walled = await makeApp(s, 'e-walled', { ip_allow: '10.0.0.0/8' });
    const w = await call(s, signed({ appid: walled.appid }, walled.secret));
    assertCode(w, 10006, { message: '当前IP地址未授权,请前往用户中心->我的应用添加ip127.0.0.1' });

    const frosty = await makeApp(s, 'e-frosty');
    await admin(s, 'PATCH', '/apps/e-frosty', { status: 'frozen' });
    assertCode(await call(s, signed({ appid: frosty.appid }, frosty.secret)), 10007);
    await admin(s, 'PATCH', '/apps/e-frosty', { status: 'disabled' });
    assertCode(await call(s, signed({ appid: frosty.appid }, frosty.secret)), 10007);

    const other = await makeApp(s, 'e-other', {}, { id2: 10 });
    assertCode(await call(s, signed({ appid: other.appid }, other.secret)), 10008);
    const none = await makeApp(s, 'e-none', {}, {});
    assertCode(await call(s, signed({ appid: none.appid }, none.secret)), 10012);
    const old = await makeApp(s, 'e-old', {}, { pyi_ocr: { total: 10, expires: '2020-01-01' } });
    assertCode(await call(s, signed({ appid: old.appid }, old.secret)), 10011);

    const hasty = await makeApp(s, 'e-hasty', { rate_per_s: 0.01, burst: 1 });
    await call(s, signed({ appid: hasty.appid, url_image: 'http://169.254.169.254/' }, hasty.secret));
    const r = await call(s, signed({ appid: hasty.appid }, hasty.secret));
    assertCode(r, 10019, { message: '请求过于频繁,请稍后再试' });
    assert.match(r.headers.get('retry-after'), /^\d+$/);

    const daily = await makeApp(s, 'e-daily', { daily_limit: 1 });
    const first = await call(s, signed({ appid: daily.appid, url_image: 'http://169.254.169.254/' }, daily.secret));
    assert.equal(first.a.codeid, 10019, first.text);
    const d = await call(s, signed({ appid: daily.appid }, daily.secret));
    assertCode(d, 10019, { message: '已达到每日调用上限' });
  });

  test('audit rows: dialect pyi_ocr, the vendor code, nothing charged for an error', async () => {
    const r = await call(s, signed({ url_image: 'http://169.254.169.254/x' }));
    assert.equal(r.a.codeid, 10019);
    const id = r.headers.get('x-request-id');
    const audit = await admin(s, 'GET', '/audit?app=demo&limit=1000');
    const row = audit.rows.find((x) => x.request_id === id);
    assert.ok(row, `audit row of ${id}`);
    assert.equal(row.dialect, 'pyi_ocr');
    assert.equal(row.product, 'pyi_ocr');
    assert.equal(row.vendor_code, '10019');
    assert.equal(row.verdict, 'invalid_image');
    assert.equal(row.charged, false);
    // refused before the read (signature): no row
    const bad = await call(s, signed({}, 'nope'));
    assert.equal(bad.a.codeid, 10003);
    const audit2 = await admin(s, 'GET', '/audit?app=demo&limit=1000');
    assert.ok(!audit2.rows.some((x) => x.request_id === bad.headers.get('x-request-id')));
  });

  test('10000: a read, charged (needs the OCR engine)', async () => {
    assert.ok(ready, NEEDS_OCR);
    const before0 = await admin(s, 'GET', '/apps/demo/usage');
    const used = (u) => u.packages.filter((p) => p.product === 'pyi_ocr').reduce((a, p) => a + p.used, 0);
    for (const format of ['json', 'xml']) {
      const r = await call(s, signed({ format, id_card_side: 'front' }));
      assertCode(r, 10000, { message: '识别成功' });
      assert.equal(r.a.image_status, 'non_idcard');
      assert.equal(r.a.idcard_number_type, -1);
      assert.deepEqual(Object.keys(r.a.retdata), ['姓名', '性别', '民族', '出生', '住址', '公民身份号码']);
    }
    const r = await call(s, signed({ url_image: `${imgUrl}/png`, id_card_side: 'back' }));
    assertCode(r, 10000, { message: '识别成功' });
    assert.deepEqual(Object.keys(r.a.retdata), ['签发机关', '签发日期', '失效日期']);
    const after0 = await admin(s, 'GET', '/apps/demo/usage');
    assert.equal(used(after0) - used(before0), 3);
  });

  test('10018: units used up (needs the OCR engine)', async () => {
    assert.ok(ready, NEEDS_OCR);
    const one = await makeApp(s, 'e-one', {}, { pyi_ocr: 1 });
    assertCode(await call(s, signed({ appid: one.appid }, one.secret)), 10000, { message: '识别成功' });
    assertCode(await call(s, signed({ appid: one.appid }, one.secret)), 10018);
  });

  test('synthetic cards: the fields read (needs the OCR engine)', async () => {
    assert.ok(ready, NEEDS_OCR);
    const cards = syntheticCards();
    assert.ok(cards !== null, 'tools/cardgen cannot run: scripts/setup installs python3-pil and python3-numpy');
    const keys = { name: '姓名', sex: '性别', ethnicity: '民族', birth: '出生', address: '住址', id_number: '公民身份号码',
      authority: '签发机关', valid_from: '签发日期', valid_to: '失效日期' };
    try {
      let n = 0;
      // base64 in a form under this server's --max-body 256KiB: the scans
      for (const c of cards.list.filter((x) => statSync(x.path).size < 180_000)) {
        const r = await call(s, signed({ url_image: readFileSync(c.path).toString('base64'), id_card_side: c.side }));
        assertCode(r, 10000, { message: '识别成功' });
        assert.equal(r.a.image_status, 'normal', c.file);
        for (const [k, v] of Object.entries(c.fields)) {
          assert.ok(keys[k] in r.a.retdata, `${c.file} ${k}`);
          assert.equal(r.a.retdata[keys[k]], v, `${c.file} ${k}`);
        }
        if (c.side === 'front') assert.equal(r.a.idcard_number_type, 1, c.file);
        n++;
      }
      assert.ok(n >= 3, 'cards read');
    } finally {
      cards.cleanup();
    }
  });
});

// --------------------------------------------------------- other servers

describe('dialect E: configuration', () => {
  test('10013 when [vision] enabled = false', async () => {
    const s = await startReady(['--no-vision-enabled']);
    try {
      assertCode(await call(s, signed()), 10013);
      assert.ok(s.lines.some((l) => l.event === 'ocr_disabled'));
    } finally {
      await stopClean(s);
    }
  });

  test('the path is the operator\'s: --dialect-e-path', async () => {
    const s = await startReady(['--dialect-e-path', '/ocr/e/v1']);
    try {
      const r = await call(s, signed({ appid: '' }), { path: '/ocr/e/v1' });
      assertCode(r, 10001);
      const old = await fetch(s.url + PATH, { method: 'POST' });
      assert.equal(old.status, 404);
      await old.arrayBuffer();
    } finally {
      await stopClean(s);
    }
    for (const bad of ['/healthz', '/v1/verify/id2', 'pyi/76/194', '/', '/a b', '/a//b', '/x?y'])
      assert.equal((await runServe(['--dialect-e-path', bad])).code, 2, bad);
  });

  test('10021 with Retry-After when every worker is busy and the queue is full', async () => {
    const img = await imageServer();
    // generous gaps: on a loaded machine the worker may take a while to pick up the first job
    const url = `http://127.0.0.1:${img.address().port}/slow?ms=4000`;
    const s = await startReady(['--models-dir', MODELS_DIR, '--vision-workers', '1', '--vision-queue-max', '1', '--fetch-allow-cidrs', '127.0.0.1']);
    try {
      // one job holds the worker (a slow download), one waits, the third is refused
      const first = call(s, signed({ url_image: url }));
      await new Promise((r) => setTimeout(r, 1000));
      const second = call(s, signed({ url_image: url }));
      await new Promise((r) => setTimeout(r, 1000));
      const third = await call(s, signed({ url_image: url }));
      assertCode(third, 10021);
      assert.match(third.headers.get('retry-after'), /^\d+$/);
      for (const r of await Promise.all([first, second]))
        assert.notEqual(r.a.codeid, 10021, `${r.text} ${r.headers.get('x-error-detail')}`);
    } finally {
      await stopClean(s);
      await closeServer(img);
    }
  });

  test('too many failed authentications: 10019 with Retry-After, even for a good sign', async () => {
    const s = await startReady([]);
    try {
      let last;
      for (let i = 0; i < 25; i++) last = await call(s, signed({}, 'wrong'));
      assertCode(last, 10019, { message: '认证失败次数过多,请稍后再试' });
      assert.match(last.headers.get('retry-after'), /^\d+$/);
      assertCode(await call(s, signed()), 10019, { message: '认证失败次数过多,请稍后再试' });
    } finally {
      await stopClean(s);
    }
  });
});
