// Black-box tests of `shiming serve`: the native API over real HTTP(S), its
// errors, the access log, metrics, concurrency, configuration, and graceful
// shutdown. Every server started here is stopped with SIGTERM and must exit 0
// (under the ASan build that also means no leaks).
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';

import { DEMO_AUTH, startReady, startServer, runServe, postJson } from './lib/server.mjs';

const AT = '2026-06-01';
const GENERATED_ID = /^[0-9a-f]{12}-[0-9a-f]{12}$/;

// Every raw ID number and name sent in this file: none may reach stderr.
const RAW_IDS = [
  '11010519491231002X', '110103198001010013', '610104620927690', '610104196209276908',
  '810000199408230021', '110105189901010017', '11010519491231002Y', '110105194912310021',
];
const RAW_NAMES = ['张三', '欧阳娜娜', 'ZHANG SAN'];

function checkChar(d17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let s = 0;
  for (let i = 0; i < 17; i++) s += Number(d17[i]) * w[i];
  return '10X98765432'[s % 11];
}

/** Assert the error shape, and that its request_id is the X-Request-Id header. */
function assertError(r, status, code, fieldInMessage) {
  assert.equal(r.status, status, `status of ${r.text}`);
  assert.match(r.headers.get('content-type'), /^application\/json; charset=utf-8$/);
  assert.ok(r.json && r.json.error, `error object in ${r.text}`);
  assert.deepEqual(Object.keys(r.json).sort(), ['error']);
  assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'request_id']);
  assert.equal(r.json.error.code, code);
  assert.equal(typeof r.json.error.message, 'string');
  assert.ok(r.json.error.message.length > 0);
  assert.equal(r.json.error.request_id, r.headers.get('x-request-id'));
  if (fieldInMessage) assert.match(r.json.error.message, new RegExp(`'${fieldInMessage}'`));
}

const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;

/** SIGTERM, then: exit status 0, and no sanitizer report on stderr. */
async function stopClean(s, signal = 'SIGTERM') {
  const r = await s.stop(signal);
  assert.deepEqual(r, { code: 0, signal: null }, `exit status; stderr tail:\n${s.stderrText.slice(-3000)}`);
  assert.doesNotMatch(s.stderrText, SANITIZER);
  return r;
}

async function get(server, path, headers = {}) {
  const res = await fetch(server.url + path, { headers });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { res, status: res.status, headers: res.headers, text, json };
}

function parseMetrics(text) {
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

/** A raw HTTP/1.1 exchange over one TCP socket; resolves with the text read. */
function rawSocket(port) {
  const sock = net.connect(port, '127.0.0.1');
  let data = '';
  sock.setEncoding('utf8');
  sock.on('data', (c) => { data += c; });
  const closed = new Promise((resolve) => sock.on('close', () => resolve(data)));
  sock.on('error', () => {});
  const connected = new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return { sock, closed, connected, get data() { return data; } };
}

async function waitFor(pred, timeoutMs = 10_000, stepMs = 20) {
  const t0 = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

// ---------------------------------------------------------------- the API

describe('the native API on one server', () => {
  let s;
  before(async () => { s = await startReady(); });
  after(async () => {
    await stopClean(s);
    for (const raw of [...RAW_IDS, ...RAW_NAMES])
      assert.ok(!s.stderrText.includes(raw), `raw identity ${raw} leaked into stderr`);
  });

  test('the listening line has the real port', () => {
    const l = s.lines.find((x) => x.event === 'listening');
    assert.equal(l.bind, '127.0.0.1');
    assert.equal(l.tls, false);
    assert.ok(Number.isInteger(l.port) && l.port > 0 && l.port < 65536);
  });

  test('GET /healthz', async () => {
    const r = await get(s, '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.match(r.headers.get('x-request-id'), GENERATED_ID);
    assert.equal(r.json.status, 'ok');
    assert.match(r.json.version, /^\d+\.\d+\.\d+$/);
    assert.ok(Number.isInteger(r.json.uptime_s) && r.json.uptime_s >= 0);
    assert.ok(r.text.endsWith('}\n'), 'compact JSON and a newline');
    const r2 = await get(s, '/healthz');
    assert.notEqual(r2.headers.get('x-request-id'), r.headers.get('x-request-id'));
  });

  test('HEAD /healthz answers like GET, without a body', async () => {
    const res = await fetch(s.url + '/healthz', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
  });

  test('idcard: the examples', async () => {
    const parse = async (id, extra = {}) => {
      const r = await postJson(s, '/v1/idcard/parse', { id_number: id, at: AT, ...extra });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.request_id, r.headers.get('x-request-id'));
      assert.equal(r.json.input, id);
      return r.json;
    };
    let j = await parse('11010519491231002X');
    assert.equal(j.valid, true);
    assert.equal(j.reason, null);
    assert.equal(j.sex, 'F');
    assert.equal(j.birth, '19491231');
    assert.equal(j.age, 76);
    assert.equal(j.kind, 'resident');
    assert.equal(j.region.province, '北京市');
    assert.equal(j.region.county, '朝阳区');

    j = await parse('110103198001010013');
    assert.equal(j.valid, true);
    assert.equal(j.region.historical, true);
    assert.equal(j.region.county, '崇文区');
    assert.equal(j.region.first_year, 1980);
    assert.equal(j.region.last_year, 2009);

    j = await parse('610104620927690');
    assert.equal(j.valid, true);
    assert.equal(j.id_number, '610104196209276908');

    j = await parse('810000199408230021');
    assert.equal(j.valid, true);
    assert.equal(j.kind, 'hk_resident_permit');

    for (const [id, reason] of [['110105189901010017', 'birth_date'],
      ['11010519491231002Y', 'characters'], ['110105194912310021', 'checksum']]) {
      j = await parse(id);
      assert.equal(j.valid, false, id);
      assert.equal(j.reason, reason, id);
      assert.equal(typeof j.message, 'string');
      assert.equal(j.id_number, null);
      assert.equal(j.region, null);
    }
  });

  test('idcard: the response is UTF-8, not \\u escapes', async () => {
    const r = await postJson(s, '/v1/idcard/parse', { id_number: '11010519491231002X', at: AT });
    assert.ok(r.text.includes('北京市'));
    assert.ok(!r.text.includes('\\u'));
  });

  test('idcard: `at` moves the reference date', async () => {
    const age = async (at) => (await postJson(s, '/v1/idcard/parse',
      { id_number: '11010519491231002X', at })).json;
    assert.equal((await age('1999-12-31')).age, 50);
    assert.equal((await age('1999-12-30')).age, 49);
    const before = await age('1949-12-30');
    assert.equal(before.valid, false);
    assert.equal(before.reason, 'birth_date');
    // without `at`: today, whatever it is, still valid
    const r = await postJson(s, '/v1/idcard/parse', { id_number: '11010519491231002X' });
    assert.equal(r.json.valid, true);
    assert.ok(r.json.age >= 76);
  });

  test('idcard: `strict` rejects unpublished region codes', async () => {
    const d17 = '11019919800101001';
    const id = d17 + checkChar(d17);
    let r = await postJson(s, '/v1/idcard/parse', { id_number: id, at: AT });
    assert.equal(r.json.valid, true);
    assert.equal(r.json.region.known, false);
    r = await postJson(s, '/v1/idcard/parse', { id_number: id, at: AT, strict: true });
    assert.equal(r.json.valid, false);
    assert.equal(r.json.reason, 'region');
    r = await postJson(s, '/v1/idcard/parse', { id_number: id, at: AT, strict: false, extra: 1 });
    assert.equal(r.json.valid, true, 'unknown fields are ignored');
  });

  test('name: check and normalise', async () => {
    let r = await postJson(s, '/v1/name/check', { name: '张三' });
    assert.equal(r.status, 200);
    assert.equal(r.json.valid, true);
    assert.equal(r.json.name, '张三');
    assert.equal(r.json.kind, 'han');
    assert.equal(r.json.masked, '张*');
    assert.equal(r.json.request_id, r.headers.get('x-request-id'));

    r = await postJson(s, '/v1/name/check', { name: '  zhang   san ' });
    assert.equal(r.json.valid, true);
    assert.equal(r.json.kind, 'latin');
    assert.equal(r.json.name, 'ZHANG SAN');

    r = await postJson(s, '/v1/name/check', { name: '欧阳娜娜' });
    assert.equal(r.json.chars, 4);

    r = await postJson(s, '/v1/name/check', { name: '张a' });
    assert.equal(r.status, 200, 'a bad name is an answer, not a bad request');
    assert.equal(r.json.valid, false);
    assert.equal(r.json.reason, 'mixed_script');

    r = await postJson(s, '/v1/name/check', { name: '   ' });
    assert.equal(r.json.valid, false);
    assert.equal(r.json.reason, 'empty');
  });

  test('validity: periods, birth from a date or an ID number', async () => {
    let r = await postJson(s, '/v1/validity/check',
      { valid_from: '20100101', valid_to: '20200101', birth: '19900101', at: AT });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.valid, true);
    assert.equal(r.json.years, 10);
    assert.equal(r.json.age_at_issue, 20);
    assert.equal(r.json.expected_years, 10);
    assert.equal(r.json.consistent_with_age, true);
    assert.equal(r.json.expired, true);
    assert.equal(r.json.request_id, r.headers.get('x-request-id'));

    r = await postJson(s, '/v1/validity/check',
      { valid_from: '20000101', valid_to: '长期', id_number: '11010519491231002X', at: AT });
    assert.equal(r.json.valid, true, r.text);
    assert.equal(r.json.long_term, true);
    assert.equal(r.json.age_at_issue, 50);

    r = await postJson(s, '/v1/validity/check', { valid_from: '20200101', valid_to: '00000000', at: AT });
    assert.equal(r.json.valid, true);
    assert.equal(r.json.long_term, true);
    assert.equal(r.json.age_at_issue, null, 'no birth date, no age fields');

    r = await postJson(s, '/v1/validity/check', { valid_from: '20100101', valid_to: '20160101', at: AT });
    assert.equal(r.status, 200);
    assert.equal(r.json.valid, false);
    assert.equal(r.json.reason, 'duration');

    r = await postJson(s, '/v1/validity/check', { valid_from: '2010-01-01', valid_to: '20200101', at: AT });
    assert.equal(r.status, 200);
    assert.equal(r.json.reason, 'format');
  });

  test('validity: malformed requests', async () => {
    let r = await postJson(s, '/v1/validity/check',
      { valid_from: '20100101', valid_to: '20200101', id_number: '110105194912310021' });
    assertError(r, 400, 'invalid_field', 'id_number');
    r = await postJson(s, '/v1/validity/check', { valid_from: '20100101', valid_to: '20200101', birth: '1990-01-01' });
    assertError(r, 400, 'invalid_field', 'birth');
    r = await postJson(s, '/v1/validity/check',
      { valid_from: '20100101', valid_to: '20200101', birth: '19900101', id_number: '11010519491231002X' });
    assertError(r, 400, 'invalid_field', 'id_number');
    r = await postJson(s, '/v1/validity/check', { valid_from: '20100101' });
    assertError(r, 400, 'missing_field', 'valid_to');
    r = await postJson(s, '/v1/validity/check', { valid_from: 20100101, valid_to: '20200101' });
    assertError(r, 400, 'invalid_field', 'valid_from');
  });

  test('errors: bad JSON, non-object, duplicate keys', async () => {
    let r = await postJson(s, '/v1/idcard/parse', '{"id_number": ');
    assertError(r, 400, 'bad_json');
    assert.match(r.json.error.message, /line 1, column/);
    r = await postJson(s, '/v1/idcard/parse', '');
    assertError(r, 400, 'bad_json');
    r = await postJson(s, '/v1/idcard/parse', '["11010519491231002X"]');
    assertError(r, 400, 'bad_json');
    assert.match(r.json.error.message, /object/);
    r = await postJson(s, '/v1/idcard/parse', '"x"');
    assertError(r, 400, 'bad_json');
    r = await postJson(s, '/v1/idcard/parse', '{"id_number":"a","id_number":"b"}');
    assertError(r, 400, 'bad_json');
    assert.match(r.json.error.message, /duplicate/);
    r = await postJson(s, '/v1/idcard/parse', '{"id_number":"11010519491231002X"} trailing');
    assertError(r, 400, 'bad_json');
    r = await postJson(s, '/v1/name/check', Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]));
    assertError(r, 400, 'bad_json');
  });

  test('errors: wrong types and missing fields name the field', async () => {
    let r = await postJson(s, '/v1/idcard/parse', { id_number: 11010519491231 });
    assertError(r, 400, 'invalid_field', 'id_number');
    r = await postJson(s, '/v1/idcard/parse', { id_number: '11010519491231002X', strict: 'yes' });
    assertError(r, 400, 'invalid_field', 'strict');
    r = await postJson(s, '/v1/idcard/parse', { id_number: '11010519491231002X', at: '2020/01/01' });
    assertError(r, 400, 'invalid_field', 'at');
    r = await postJson(s, '/v1/idcard/parse', { id_number: '11010519491231002X', at: '2021-02-29' });
    assertError(r, 400, 'invalid_field', 'at');
    r = await postJson(s, '/v1/idcard/parse', {});
    assertError(r, 400, 'missing_field', 'id_number');
    r = await postJson(s, '/v1/idcard/parse', { id_number: null });
    assertError(r, 400, 'missing_field', 'id_number');
    r = await postJson(s, '/v1/name/check', { name: ['张三'] });
    assertError(r, 400, 'invalid_field', 'name');
    r = await postJson(s, '/v1/name/check', { nom: '张三' });
    assertError(r, 400, 'missing_field', 'name');
  });

  test('errors: content type', async () => {
    const body = JSON.stringify({ id_number: '11010519491231002X' });
    let r = await postJson(s, '/v1/idcard/parse', body, { 'content-type': 'text/plain' });
    assertError(r, 415, 'unsupported_media_type');
    r = await postJson(s, '/v1/idcard/parse', body, { 'content-type': 'application/x-www-form-urlencoded' });
    assertError(r, 415, 'unsupported_media_type');
    r = await postJson(s, '/v1/idcard/parse', body, { 'content-type': 'application/jsonx' });
    assertError(r, 415, 'unsupported_media_type');
    r = await postJson(s, '/v1/idcard/parse', body, { 'content-type': 'Application/JSON; charset=UTF-8' });
    assert.equal(r.status, 200, 'a charset parameter and any case are fine');
  });

  test('errors: an oversized body is refused with 413', async () => {
    const big = JSON.stringify({ name: 'a'.repeat(1024 * 1024 + 10) });
    let r = await postJson(s, '/v1/name/check', big);
    assertError(r, 413, 'body_too_large');

    // No Content-Length (chunked upload): refused without being kept.
    const chunks = 24;
    const stream = new ReadableStream({
      pull(c) { if (this.n === undefined) this.n = 0; if (this.n++ < chunks) c.enqueue(new Uint8Array(64 * 1024).fill(0x61)); else c.close(); },
    });
    const res = await fetch(s.url + '/v1/name/check', {
      method: 'POST', headers: { 'content-type': 'application/json', ...DEMO_AUTH }, body: stream, duplex: 'half',
    });
    const text = await res.text();
    r = { status: res.status, headers: res.headers, text, json: JSON.parse(text) };
    assertError(r, 413, 'body_too_large');

    // A Content-Length that announces too much is refused before the body is read.
    const raw = rawSocket(s.port);
    await raw.connected;
    raw.sock.write('POST /v1/name/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Authorization: Bearer demo-key\r\n' +
      'Content-Length: 99999999\r\n\r\n{"name":');
    const got = await raw.closed;
    assert.match(got, /^HTTP\/1\.1 413 /);
    assert.match(got, /"body_too_large"/);

    // With "Expect: 100-continue" the client is told before it sends anything.
    const raw2 = rawSocket(s.port);
    await raw2.connected;
    raw2.sock.write('POST /v1/name/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Authorization: Bearer demo-key\r\n' +
      'Expect: 100-continue\r\nContent-Length: 1500000\r\n\r\n');
    const got2 = await raw2.closed;
    assert.match(got2, /^HTTP\/1\.1 413 /, 'no 100 Continue first');

    // Just under the limit is fine (an answer, not 413).
    r = await postJson(s, '/v1/name/check', JSON.stringify({ name: '张三', pad: 'x'.repeat(1024 * 1024 - 40) }));
    assert.equal(r.status, 200);
  });

  test('errors: wrong method (405 + Allow) and unknown path (404)', async () => {
    let r = await get(s, '/v1/idcard/parse');
    assertError(r, 405, 'method_not_allowed');
    assert.equal(r.headers.get('allow'), 'POST');
    r = await postJson(s, '/healthz', '{}');
    assertError(r, 405, 'method_not_allowed');
    assert.equal(r.headers.get('allow'), 'GET, HEAD');
    const res = await fetch(s.url + '/metrics', { method: 'DELETE' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    await res.text();

    r = await get(s, '/nope');
    assertError(r, 404, 'not_found');
    r = await get(s, '/v1/idcard/parse/');
    assertError(r, 404, 'not_found');
    r = await postJson(s, '/v1/idcard/110105194912310021', { id_number: '110105194912310021' });
    assertError(r, 404, 'not_found');
    r = await get(s, '/healthz?x=1');
    assert.equal(r.status, 200, 'the query string is not part of the path');
  });

  test('X-Request-Id: a good client id is echoed, a bad one replaced', async () => {
    let r = await postJson(s, '/v1/idcard/parse', { id_number: '11010519491231002X', at: AT },
      { 'x-request-id': 'trace.01_A-z' });
    assert.equal(r.headers.get('x-request-id'), 'trace.01_A-z');
    assert.equal(r.json.request_id, 'trace.01_A-z');

    r = await postJson(s, '/v1/idcard/parse', '{', { 'x-request-id': 'err-7' });
    assertError(r, 400, 'bad_json');
    assert.equal(r.json.error.request_id, 'err-7');

    for (const bad of ['has space', 'a'.repeat(65), 'semi;colon', '中文']) {
      const h = bad === '中文' ? encodeURIComponent(bad) + '%' : bad;
      r = await get(s, '/healthz', { 'x-request-id': h });
      assert.match(r.headers.get('x-request-id'), GENERATED_ID, `replaced: ${bad}`);
    }
    r = await get(s, '/healthz', { 'x-request-id': 'a'.repeat(64) });
    assert.equal(r.headers.get('x-request-id'), 'a'.repeat(64));
  });

  test('access log: one JSON line per request, subjects masked', async () => {
    const id = 'log-check-1';
    await postJson(s, '/v1/idcard/parse', { id_number: '11010519491231002X', at: AT }, { 'x-request-id': id });
    const l = await s.waitForLine((x) => x.request_id === id && !x.event);
    assert.match(l.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(l.remote, '127.0.0.1');
    assert.equal(l.method, 'POST');
    assert.equal(l.path, '/v1/idcard/parse');
    assert.equal(l.route, 'idcard_parse');
    assert.equal(l.status, 200);
    assert.equal(typeof l.latency_ms, 'number');
    assert.ok(l.latency_ms >= 0);
    assert.ok(l.bytes_in > 0);
    assert.ok(l.bytes_out > 0);
    assert.equal(l.app, 'demo', 'the authenticated app');
    assert.equal(l.dialect, 'native');
    assert.equal(l.verdict, 'valid');
    assert.equal(l.subject.id_number, '110***********002X');

    await postJson(s, '/v1/idcard/parse', { id_number: '110105194912310021', at: AT }, { 'x-request-id': 'log-check-2' });
    const l2 = await s.waitForLine((x) => x.request_id === 'log-check-2');
    assert.equal(l2.verdict, 'invalid_id');
    assert.equal(l2.subject.id_number, '110***********0021');

    await postJson(s, '/v1/name/check', { name: '欧阳娜娜' }, { 'x-request-id': 'log-check-3' });
    const l3 = await s.waitForLine((x) => x.request_id === 'log-check-3');
    assert.equal(l3.verdict, 'valid');
    assert.equal(l3.subject.name, '欧***');

    // The normal form is what is masked: the look-alike dot becomes the middle dot.
    await postJson(s, '/v1/name/check', { name: '阿卜杜•热合曼' }, { 'x-request-id': 'log-check-3b' });
    const l3b = await s.waitForLine((x) => x.request_id === 'log-check-3b');
    assert.equal(l3b.subject.name, '阿**·***');

    await get(s, '/healthz', { 'x-request-id': 'log-check-4' });
    const l4 = await s.waitForLine((x) => x.request_id === 'log-check-4');
    assert.equal(l4.verdict, null);
    assert.equal(l4.app, null, 'a public route: no app');
    assert.equal(l4.subject, undefined);
    assert.equal(l4.bytes_in, 0);

    await get(s, '/x/610104196209276908/张三', { 'x-request-id': 'log-check-5' });
    const l5 = await s.waitForLine((x) => x.request_id === 'log-check-5');
    assert.equal(l5.route, 'unmatched');
    assert.equal(l5.status, 404);
    assert.ok(!l5.path.includes('6101041962'), `scrubbed path: ${l5.path}`);

    // every line on stderr is one JSON object
    for (const line of s.stderrText.split('\n').filter(Boolean)) JSON.parse(line);
  });

  test('/metrics: counters, histogram, gauges', async () => {
    const before = parseMetrics((await get(s, '/metrics', { 'x-request-id': 'metrics-before' })).text);
    const key = 'shiming_http_requests_total{route="healthz",method="GET",status="200"}';
    const ids = [];
    for (let i = 0; i < 5; i++) {
      ids.push(`metrics-${i}`);
      await get(s, '/healthz', { 'x-request-id': `metrics-${i}` });
    }
    await get(s, '/no/such/thing', { 'x-request-id': 'metrics-404' });
    // a request is counted when it completes; its log line is written just after
    for (const id of ['metrics-before', ...ids, 'metrics-404']) await s.waitForLine((x) => x.request_id === id);

    const res = await fetch(s.url + '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const m = parseMetrics(text);
    assert.equal(m.get(key) - (before.get(key) ?? 0), 5, text);
    const k404 = 'shiming_http_requests_total{route="unmatched",method="GET",status="404"}';
    assert.equal(m.get(k404) - (before.get(k404) ?? 0), 1);
    assert.ok(m.get('shiming_http_requests_total{route="idcard_parse",method="POST",status="200"}') > 0);
    assert.ok(m.get('shiming_http_requests_total{route="idcard_parse",method="POST",status="400"}') > 0);

    assert.match(text, /# TYPE shiming_http_request_duration_seconds histogram/);
    const count = m.get('shiming_http_request_duration_seconds_count{route="healthz"}');
    assert.equal(m.get('shiming_http_request_duration_seconds_bucket{route="healthz",le="+Inf"}'), count);
    assert.ok(m.has('shiming_http_request_duration_seconds_bucket{route="healthz",le="5e-05"}'));
    assert.ok(m.has('shiming_http_request_duration_seconds_bucket{route="healthz",le="10"}'));
    assert.ok(m.get('shiming_http_request_duration_seconds_sum{route="healthz"}') > 0);
    assert.ok(count >= 5);
    // buckets are cumulative
    let prev = 0;
    for (const le of ['5e-05', '0.0001', '0.001', '0.01', '0.1', '1', '10', '+Inf']) {
      const v = m.get(`shiming_http_request_duration_seconds_bucket{route="healthz",le="${le}"}`);
      assert.ok(v >= prev, `bucket ${le}`);
      prev = v;
    }
    assert.ok(m.has('shiming_http_request_duration_seconds_count{route="validity_check"}'), 'every route pre-registered');
    assert.equal(m.get('shiming_http_in_flight'), 1, 'this very request');
    assert.equal(m.get('shiming_build_info{version="0.1.0"}'), 1);
    const start = m.get('process_start_time_seconds');
    assert.ok(start > 1.5e9 && start <= Date.now() / 1000 + 1);
  });

  test('200 requests in parallel all succeed', async () => {
    const ids = ['11010519491231002X', '110103198001010013', '610104620927690', '110105194912310021'];
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      postJson(s, '/v1/idcard/parse', { id_number: ids[i % 4], at: AT }, { 'x-request-id': `par-${i}` })));
    results.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.equal(r.json.request_id, `par-${i}`);
      assert.equal(r.json.input, ids[i % 4]);
      assert.equal(r.json.valid, i % 4 !== 3);
    });
  });

  test('keep-alive: one connection serves several requests', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const reused = [];
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve, reject) => {
        const req = http.get(`${s.url}/healthz`, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        reused.push(req);
      });
    }
    assert.deepEqual(reused.map((r) => r.reusedSocket), [false, true, true]);
    agent.destroy();
  });
});

// ---------------------------------------------------------------- shutdown

describe('shutdown', () => {
  test('SIGTERM on an idle server exits 0 promptly', async () => {
    const s = await startReady();
    await get(s, '/healthz');
    const t0 = Date.now();
    await stopClean(s);
    assert.ok(Date.now() - t0 < 5000, 'prompt');
    const stopped = s.lines.find((l) => l.event === 'stopped');
    assert.equal(stopped.drained, true);
  });

  test('SIGINT too', async () => {
    const s = await startReady();
    await stopClean(s, 'SIGINT');
    assert.equal(s.lines.find((l) => l.event === 'shutdown').signal, 'SIGINT');
  });

  test('a request in flight during SIGTERM is finished, new connections are refused', async () => {
    const s = await startReady();
    let raw;
    try {
      raw = rawSocket(s.port);
      await raw.connected;
      const body = JSON.stringify({ id_number: '11010519491231002X', at: AT });
      raw.sock.write('POST /v1/idcard/parse HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Authorization: Bearer demo-key\r\n' +
        `Content-Length: ${body.length}\r\nX-Request-Id: slow-1\r\n\r\n` + body.slice(0, 10));
      // wait until the server counts it in flight (the metrics request is the other one)
      await waitFor(async () => parseMetrics((await get(s, '/metrics')).text).get('shiming_http_in_flight') >= 2);

      s.child.kill('SIGTERM');
      await s.waitForLine((l) => l.event === 'shutdown');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(s.exited, null, 'still draining');
      // no longer accepting new connections (fetch's pooled ones are still served)
      await assert.rejects(new Promise((resolve, reject) => {
        const c = net.connect(s.port, '127.0.0.1', () => { c.destroy(); resolve(); });
        c.on('error', reject);
      }), /ECONNREFUSED/);

      raw.sock.write(body.slice(10));
      const got = await raw.closed;
      assert.match(got, /^HTTP\/1\.1 200 /);
      assert.match(got, /Connection: close/i);
      assert.match(got, /"valid":true/);
      await stopClean(s);
      assert.equal(s.lines.find((l) => l.event === 'stopped').drained, true);
      assert.ok(s.accessLog.some((l) => l.request_id === 'slow-1' && l.status === 200));
    } finally {
      raw?.sock.destroy();
      await s.stop();
    }
  });

  test('a request that never finishes is cut off after drain_timeout; still exit 0', async () => {
    const s = await startReady(['--drain-timeout', '1']);
    let raw;
    try {
      raw = rawSocket(s.port);
      await raw.connected;
      raw.sock.write('POST /v1/name/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Authorization: Bearer demo-key\r\n' +
        'Content-Length: 100\r\n\r\n{"name":');
      await waitFor(async () => parseMetrics((await get(s, '/metrics')).text).get('shiming_http_in_flight') >= 2);
      const t0 = Date.now();
      await stopClean(s);
      const took = Date.now() - t0;
      assert.ok(took >= 900 && took < 8000, `drain took ${took} ms`);
      const stopped = s.lines.find((l) => l.event === 'stopped');
      assert.equal(stopped.drained, false);
      assert.equal(stopped.abandoned, 1);
    } finally {
      raw?.sock.destroy();
      await s.stop();
    }
  });

  test('a second signal cuts the drain short; still exit 0', async () => {
    const s = await startReady(['--drain-timeout', '60']);
    let raw;
    try {
      raw = rawSocket(s.port);
      await raw.connected;
      raw.sock.write('POST /v1/name/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Authorization: Bearer demo-key\r\n' +
        'Content-Length: 100\r\n\r\n{"name":');
      await waitFor(async () => parseMetrics((await get(s, '/metrics')).text).get('shiming_http_in_flight') >= 2);
      const t0 = Date.now();
      s.child.kill('SIGTERM');
      await s.waitForLine((l) => l.event === 'shutdown');
      await new Promise((r) => setTimeout(r, 100));
      await stopClean(s, 'SIGINT');
      assert.ok(Date.now() - t0 < 10_000, 'well before the 60 s drain timeout');
      const stopped = s.lines.find((l) => l.event === 'stopped');
      assert.equal(stopped.interrupted, true);
      assert.equal(stopped.abandoned, 1);
    } finally {
      raw?.sock.destroy();
      await s.stop();
    }
  });
});

// ------------------------------------------------------------------- HTTPS

function haveOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('HTTPS', { skip: !haveOpenssl() && 'no openssl CLI' }, () => {
  let dir;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shiming-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-nodes', '-keyout', join(dir, 'other-key.pem'), '-out', join(dir, 'other-cert.pem'), '-days', '2',
      '-subj', '/CN=other'], { stdio: 'ignore' });
    writeFileSync(join(dir, 'garbage.pem'), 'this is not a certificate\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('serves the API over TLS', async () => {
    const s = await startReady(['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')]);
    try {
      assert.equal(s.tls, true);
      assert.ok(s.url.startsWith('https://'));
      const ca = readFileSync(join(dir, 'cert.pem'));
      const body = JSON.stringify({ id_number: '11010519491231002X', at: AT });
      const got = await new Promise((resolve, reject) => {
        const req = https.request(`${s.url}/v1/idcard/parse`, {
          method: 'POST', ca, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...DEMO_AUTH },
        }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => { text += c; });
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
        });
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(got.status, 200);
      const j = JSON.parse(got.text);
      assert.equal(j.valid, true);
      assert.equal(j.request_id, got.headers['x-request-id']);

      // plain HTTP on the TLS port gets no HTTP answer
      await assert.rejects(fetch(`http://127.0.0.1:${s.port}/healthz`, { signal: AbortSignal.timeout(5000) }));
    } finally {
      await stopClean(s);
    }
  });

  test('unreadable or invalid TLS files: a clear message and exit 1', async () => {
    let r = await runServe(['--port', '0', '--tls-cert', join(dir, 'missing.pem'), '--tls-key', join(dir, 'key.pem')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tls_cert/);
    assert.match(r.stderr, /missing\.pem/);
    r = await runServe(['--port', '0', '--tls-cert', join(dir, 'garbage.pem'), '--tls-key', join(dir, 'key.pem')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /garbage\.pem/);
    // a key in place of the certificate: PEM, but not one GnuTLS accepts as a cert
    r = await runServe(['--port', '0', '--tls-cert', join(dir, 'key.pem'), '--tls-key', join(dir, 'key.pem')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot start HTTPS/);
    // a certificate with somebody else's key
    r = await runServe(['--port', '0', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'other-key.pem')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot start HTTPS.*other-key\.pem/);
    r = await runServe(['--port', '0', '--tls-cert', join(dir, 'cert.pem')]);
    assert.equal(r.code, 2, 'a certificate without its key is a usage error');
  });
});

// ----------------------------------------------------------- configuration

describe('configuration', () => {
  let dir;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'shiming-conf-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("a config file's values are used, and flags override them", async () => {
    const file = join(dir, 'shiming.ini');
    writeFileSync(file, [
      '; test configuration',
      '[server]',
      'bind = 127.0.0.1',
      'port = 1            ; overridden by --port 0',
      'max_body = 300',
      'log_requests = false',
      'threads = 2',
      '',
    ].join('\n'));
    const body = JSON.stringify({ name: '张三', pad: 'x'.repeat(400) });

    let s = await startReady(['--config', file]);
    try {
      assert.notEqual(s.port, 1, 'the flag --port 0 won over the file');
      const r = await postJson(s, '/v1/name/check', body);
      assertError(r, 413, 'body_too_large');
      const ok = await postJson(s, '/v1/name/check', { name: '张三' });
      assert.equal(ok.status, 200);
    } finally {
      await stopClean(s);
    }
    assert.equal(s.accessLog.length, 0, 'log_requests = false from the file');

    s = await startReady(['--config', file, '--max-body', '1KiB', '--log-requests']);
    try {
      const r = await postJson(s, '/v1/name/check', body, { 'x-request-id': 'conf-1' });
      assert.equal(r.status, 200);
      await s.waitForLine((l) => l.request_id === 'conf-1');
    } finally {
      await stopClean(s);
    }
  });

  test('bad flags and bad files: exit 2 with a message', async () => {
    const cases = [
      [['--port', '70000'], /--port.*70000/],
      [['--port', 'http'], /--port/],
      [['--bogus', '1'], /unknown option '--bogus'/],
      [['--bind', 'localhost'], /--bind/],
      [['--max-body', 'lots'], /--max-body/],
      [['--threads', '0'], /--threads/],
      [['--log-requests=perhaps'], /--log-requests/],
      [['--port'], /--port.*needs a value/],
      [['stray'], /unexpected argument 'stray'/],
      [['--config', join(dir, 'nope.ini')], /nope\.ini/],
    ];
    for (const [args, re] of cases) {
      const r = await runServe(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /--help/);
      assert.ok(!r.stderr.includes('"listening"'));
    }
    const file = join(dir, 'bad.ini');
    writeFileSync(file, '[server]\n# comment\nport = 8080\nprot = 80\n');
    let r = await runServe(['--config', file]);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes(`${file}:4:`), r.stderr);
    assert.match(r.stderr, /unknown key 'prot'/);
    writeFileSync(file, '[server]\nport = 70000\n');
    r = await runServe(['--config', file]);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes(`${file}:2:`), r.stderr);
  });

  test('serve --help lists every option', async () => {
    const r = await runServe(['--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--config', '--bind', '--port', '--threads', '--max-body', '--connection-timeout',
      '--drain-timeout', '--tls-cert', '--tls-key', '--log-requests'])
      assert.ok(r.stdout.includes(flag), `help lists ${flag}`);
    for (const key of ['bind', 'port', 'threads', 'max_body', 'connection_timeout', 'drain_timeout',
      'tls_cert', 'tls_key', 'log_requests'])
      assert.ok(r.stdout.includes(`[server] ${key}`), `help names the INI key ${key}`);
    assert.match(r.stdout, /default: 127\.0\.0\.1/);
    assert.match(r.stdout, /default: 8080/);
  });

  test('a port in use: a clear message and exit 1', async () => {
    const s = await startReady();
    try {
      const r = await runServe(['--bind', '127.0.0.1', '--port', String(s.port)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${s.port}`));
    } finally {
      await stopClean(s);
    }
  });

  const hasIPv6 = Object.values(networkInterfaces()).flat().some((i) => i && i.address === '::1');
  test('an IPv6 bind address', { skip: !hasIPv6 && 'no ::1 here' }, async () => {
    const s = startServer(['--bind', '::1']);
    try {
      const l = await s.waitForLine((x) => x.event === 'listening');
      assert.equal(l.bind, '::1');
      const res = await fetch(`http://[::1]:${l.port}/healthz`, { headers: { 'x-request-id': 'v6' } });
      assert.equal(res.status, 200);
      await res.text();
      const line = await s.waitForLine((x) => x.request_id === 'v6');
      assert.equal(line.remote, '::1');
    } finally {
      await stopClean(s);
    }
  });
});
