// Black-box tests of the native API behind tenancy: every /v1 call needs an
// app's key, and apps are refused, limited, metered and audited as an
// operator configured them. Apps are set up as an operator does, through
// the admin API (token from the admin token file) and the `shiming` CLI;
// the audit log is checked with `shiming audit verify`, then tampered with
// through the sqlite3 CLI.
//
// Covers: 401 without / with a wrong key; the failed-authentication limiter
// per client address (429, another address unaffected); frozen and disabled
// apps (403); the IP allowlist (IPv4, and IPv6 on ::1 when there is one);
// quota (a package of 3 units: 3 charged answers, then 403
// quota_exhausted; invalid input stays free and answered); the daily
// limit; the rate limit (Retry-After); idempotent repeats (same body,
// Idempotent-Replay, charged once); `serve --demo` only on loopback, its
// credentials only under --demo; `[tenancy] enabled = false`.
//
// Must never: leave a server, a child process or a temporary directory
// behind, listen anywhere but on loopback, or depend on today's date for a
// verdict (requests carry their own `at` where it matters).
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { networkInterfaces, tmpdir } from 'node:os';
import http from 'node:http';

import { BIN, DEMO_KEY, startReady, startServer, runServe, postJson } from './lib/server.mjs';

const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;
const WANG = { name: '王伟', id_number: '110105198503150035' };   // a showcase identity: match
const WANG_WRONG = { name: '王芳', id_number: '110105198503150035' }; // mismatch
const BAD_ID = { name: '王伟', id_number: '110105198503150036' };  // checksum: invalid_id
const NOBODY = { name: '王伟', id_number: '11010519491231002X' };   // valid, not in the demo registry
const haveSqlite3 = spawnSync('sqlite3', ['-version']).status === 0;

const root = mkdtempSync(join(tmpdir(), 'shiming-tenancy-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A directory of the test's own for a server's files, which outlive it. */
function ownFiles(name) {
  const dir = join(root, name);
  mkdirSync(dir);
  return { dir, args: ['--db', join(dir, 'registry.db'), '--key-file', join(dir, 'server.key')] };
}

function sqlite(db, sql) {
  const r = spawnSync('sqlite3', [db, sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

async function stopClean(s) {
  const r = await s.stop();
  assert.deepEqual(r, { code: 0, signal: null }, `exit status; stderr tail:\n${s.stderrText.slice(-3000)}`);
  assert.doesNotMatch(s.stderrText, SANITIZER);
}

/** The flags that name a server's tenancy store and key for the CLI. */
function storeFlags(s) {
  return ['--tenancy-db', join(s.dir, 'tenancy.db'), '--key-file', join(s.dir, 'server.key')];
}

function shiming(args, timeout = 60_000) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout });
  assert.equal(r.error, undefined, `spawn ${args.join(' ')}: ${r.error}`);
  return r;
}

/** A call of the admin API with the server's admin token. */
async function admin(s, method, path, body) {
  const token = readFileSync(join(s.dir, 'admin.token'), 'utf8').trim();
  const res = await fetch(s.url + '/admin/v1' + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* leave null */ }
  assert.ok(res.status < 300, `${method} /admin/v1${path}: ${res.status} ${text}`);
  return json;
}

/** A new app with the given settings, a native key and packages; returns its key. */
async function makeApp(s, name, settings = {}, packages = { id2: 1_000_000, id4: 1_000_000 }) {
  await admin(s, 'POST', '/apps', { name, ...settings });
  const cred = await admin(s, 'POST', `/apps/${name}/credentials`, { kind: 'native' });
  assert.equal(typeof cred.secret, 'string');
  assert.ok(cred.secret.length >= 16, 'a generated key');
  for (const [product, total] of Object.entries(packages))
    await admin(s, 'POST', `/apps/${name}/packages`, { product, total });
  return cred.secret;
}

const auth = (key) => ({ authorization: `Bearer ${key}` });

/** used/total of an app's package of `product`, from the admin API. */
async function usage(s, app, product) {
  const u = await admin(s, 'GET', `/apps/${app}/usage`);
  const p = u.packages.filter((x) => x.product === product);
  return { used: p.reduce((a, x) => a + x.used, 0), total: p.reduce((a, x) => a + x.total, 0) };
}

function assertError(r, status, code) {
  assert.equal(r.status, status, `${code}: ${r.text}`);
  assert.equal(r.json?.error?.code, code, r.text);
  assert.equal(r.json.error.request_id, r.headers.get('x-request-id'));
}

function assertRetryAfter(r, max = 86_400) {
  const v = r.headers.get('retry-after');
  assert.match(v ?? '', /^\d+$/, `Retry-After is whole seconds: ${v}`);
  assert.ok(Number(v) >= 1 && Number(v) <= max, `Retry-After ${v}`);
  return Number(v);
}

// ------------------------------------------------------------ one server

describe('apps, keys and limits on one demo server', () => {
  let s;
  before(async () => { s = await startReady(); });
  after(async () => { await stopClean(s); });

  test('no key, a wrong key, another scheme: 401 unauthorized; the demo key and X-Api-Key work', async () => {
    for (const path of ['/v1/verify/id2', '/v1/idcard/parse']) {
      let r = await postJson(s, path, { ...WANG }, { authorization: null });
      assertError(r, 401, 'unauthorized');
      assert.match(r.headers.get('www-authenticate'), /^Bearer/);
      r = await postJson(s, path, { ...WANG }, auth('not-a-key'));
      assertError(r, 401, 'unauthorized');
      r = await postJson(s, path, { ...WANG }, { authorization: `Basic ${Buffer.from('demo:demo-key').toString('base64')}` });
      assertError(r, 401, 'unauthorized');
    }
    // the message names neither the key sent nor a valid one
    const r = await postJson(s, '/v1/verify/id2', WANG, auth('secret-typed-by-mistake'));
    assert.ok(!r.text.includes('secret-typed-by-mistake'));
    assert.ok(!s.stderrText.includes('secret-typed-by-mistake'), 'a presented key never reaches the log');

    const ok = await postJson(s, '/v1/verify/id2', WANG);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.verdict, 'match');
    assert.equal(ok.json.charged, true);
    const viaHeader = await postJson(s, '/v1/verify/id2', WANG, { authorization: null, 'x-api-key': DEMO_KEY });
    assert.equal(viaHeader.status, 200, viaHeader.text);
    const lower = await postJson(s, '/v1/name/check', { name: '张三' }, { authorization: `bearer   ${DEMO_KEY}` });
    assert.equal(lower.status, 200, 'the scheme is case-insensitive');

    // public routes need no key
    for (const path of ['/healthz', '/metrics', '/openapi.json']) {
      const res = await fetch(s.url + path);
      assert.equal(res.status, 200, path);
      await res.arrayBuffer();
    }
    // the access log names the app of authenticated calls only
    const line = await s.waitForLine((l) => l.request_id === ok.headers.get('x-request-id'));
    assert.equal(line.app, 'demo');
    const refused = s.accessLog.find((l) => l.status === 401);
    assert.equal(refused.app, null);
  });

  test('a frozen app gets 403 app_frozen, a disabled one 403 app_disabled; both reversible', async () => {
    const key = await makeApp(s, 'frosty');
    assert.equal((await postJson(s, '/v1/verify/id2', WANG, auth(key))).status, 200);

    await admin(s, 'PATCH', '/apps/frosty', { status: 'frozen' });
    assertError(await postJson(s, '/v1/verify/id2', WANG, auth(key)), 403, 'app_frozen');
    assertError(await postJson(s, '/v1/idcard/parse', { id_number: WANG.id_number }, auth(key)), 403, 'app_frozen');

    await admin(s, 'PATCH', '/apps/frosty', { status: 'disabled' });
    assertError(await postJson(s, '/v1/verify/id2', WANG, auth(key)), 403, 'app_disabled');

    await admin(s, 'PATCH', '/apps/frosty', { status: 'active' });
    const r = await postJson(s, '/v1/verify/id2', WANG, auth(key));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.verdict, 'match');
  });

  // Another process's write is seen by the server within its read-snapshot
  // time (100 ms, docs/tenancy.md): poll for up to 1 s.
  const pollPost = async (path, body, headers, want) => {
    const until = Date.now() + 1000;
    for (;;) {
      const r = await postJson(s, path, body, headers);
      if (r.status === want || Date.now() >= until) return r;
      await new Promise((res) => setTimeout(res, 20));
    }
  };

  test('an app made with the CLI while the server runs: its key works; `app disable` takes effect within 100 ms', async () => {
    const flags = storeFlags(s);
    let r = shiming(['app', 'create', 'cli-made', '--rate', '50', '--burst', '50', ...flags]);
    assert.equal(r.status, 0, r.stderr);
    r = shiming(['cred', 'add', 'cli-made', 'native', ...flags]);
    assert.equal(r.status, 0, r.stderr);
    const secret = r.stdout.match(/^secret:\s*(\S+)$/m)?.[1];
    assert.ok(secret, `a secret in: ${r.stdout}`);
    r = shiming(['package', 'add', 'cli-made', 'id2', '--total', '5', ...flags]);
    assert.equal(r.status, 0, r.stderr);

    const ok = await pollPost('/v1/verify/id2', WANG, auth(secret), 200);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.charged, true);
    r = shiming(['usage', 'cli-made', ...flags]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\b1\/5\b/);

    r = shiming(['app', 'disable', 'cli-made', ...flags]);
    assert.equal(r.status, 0, r.stderr);
    assertError(await pollPost('/v1/verify/id2', WANG, auth(secret), 403), 403, 'app_disabled');
  });

  test('the IP allowlist: 10.0.0.0/8 only refuses 127.0.0.1 (403 ip_not_allowed); 127.0.0.1/32 admits it', async () => {
    const key = await makeApp(s, 'walled', { ip_allow: '10.0.0.0/8' });
    assertError(await postJson(s, '/v1/verify/id2', WANG, auth(key)), 403, 'ip_not_allowed');
    assertError(await postJson(s, '/v1/name/check', { name: '张三' }, auth(key)), 403, 'ip_not_allowed');
    await admin(s, 'PATCH', '/apps/walled', { ip_allow: '10.0.0.0/8, 127.0.0.1/32' });
    const r = await postJson(s, '/v1/verify/id2', WANG, auth(key));
    assert.equal(r.status, 200, r.text);
    await admin(s, 'PATCH', '/apps/walled', { ip_allow: '127.0.0.1/32' });
    assert.equal((await postJson(s, '/v1/verify/id2', WANG, auth(key))).status, 200);
  });

  test('quota: 3 units give 3 charged answers, then 403 quota_exhausted; invalid input stays free and answered', async () => {
    const key = await makeApp(s, 'three', {}, { id2: 3 });
    const call = (body) => postJson(s, '/v1/verify/id2', body, auth(key));

    let r = await call(BAD_ID);
    assert.equal(r.status, 200);
    assert.deepEqual([r.json.verdict, r.json.charged], ['invalid_id', false]);
    r = await call(NOBODY);
    assert.deepEqual([r.json.verdict, r.json.charged], ['not_found', false], 'not_found is free');
    r = await call(WANG);
    assert.deepEqual([r.json.verdict, r.json.charged], ['match', true]);
    r = await call(WANG_WRONG);
    assert.deepEqual([r.json.verdict, r.json.charged], ['mismatch', true]);
    r = await call({ name: 'A1', id_number: WANG.id_number });
    assert.deepEqual([r.json.verdict, r.json.charged], ['invalid_name', false]);
    r = await call(WANG);
    assert.deepEqual([r.json.verdict, r.json.charged], ['match', true]);
    assert.deepEqual(await usage(s, 'three', 'id2'), { used: 3, total: 3 });

    // the fourth charged call: balance exhausted
    r = await call(WANG);
    assertError(r, 403, 'quota_exhausted');
    assert.match(r.json.error.message, /balance exhausted/);
    // an answer that needs the registry needs a unit, whatever the verdict
    // would be (else "403 or not_found" would tell who is registered)
    assertError(await call(NOBODY), 403, 'quota_exhausted');
    // invalid input is decided without the registry: still answered, free
    r = await call(BAD_ID);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.verdict, r.json.charged], ['invalid_id', false]);
    assert.deepEqual(await usage(s, 'three', 'id2'), { used: 3, total: 3 });
    // no package of id4 at all
    assertError(await postJson(s, '/v1/verify/id4',
      { ...WANG, valid_from: '20150320', valid_to: '20350320' }, auth(key)), 403, 'quota_exhausted');
    // unmetered routes are not limited by quota
    assert.equal((await postJson(s, '/v1/idcard/parse', { id_number: WANG.id_number }, auth(key))).status, 200);

    // topping up lets it go on
    await admin(s, 'POST', '/apps/three/packages', { product: 'id2', total: 2 });
    r = await call(WANG);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.charged, true);
  });

  test('racing for the last unit: one wins, the others get 403 quota_exhausted, and their retries no free answer', async () => {
    // Calls admitted together may find the last unit gone when they are
    // recorded; a few rounds make that race likely.
    for (let round = 0; round < 4; round++) {
      const app = `lastunit-${round}`;
      const key = await makeApp(s, app, {}, { id2: 1 });
      const keys = Array.from({ length: 16 }, (_, i) => `race-${i}`);
      const call = (k) => postJson(s, '/v1/verify/id2', WANG, { ...auth(key), 'idempotency-key': k });
      const rs = await Promise.all(keys.map(call));
      const won = rs.filter((r) => r.status === 200);
      assert.equal(won.length, 1, rs.map((r) => r.status).join(','));
      assert.equal(won[0].json.charged, true);
      for (const r of rs.filter((x) => x.status !== 200)) assertError(r, 403, 'quota_exhausted');
      // the retries: the winner's answer again; the losers are still refused
      const again = await Promise.all(keys.map(call));
      again.forEach((r, i) => {
        if (rs[i].status === 200) {
          assert.equal(r.text, rs[i].text);
          assert.equal(r.headers.get('idempotent-replay'), 'true');
        } else {
          assertError(r, 403, 'quota_exhausted');
        }
      });
      assert.deepEqual(await usage(s, app, 'id2'), { used: 1, total: 1 });
    }
  });

  test('the daily limit: the third metered call of a 2-a-day app is 429 daily_limit_exceeded', async () => {
    const key = await makeApp(s, 'daily', { daily_limit: 2 });
    // Admitted but malformed calls are never recorded: they must not use up the day.
    for (let i = 0; i < 5; i++) {
      const bad = await postJson(s, '/v1/verify/id2', { name: '王伟' }, auth(key));
      assert.equal(bad.status, 400, bad.text);
    }
    for (let i = 0; i < 2; i++) {
      const r = await postJson(s, '/v1/verify/id2', WANG, auth(key));
      assert.equal(r.status, 200, r.text);
    }
    const r = await postJson(s, '/v1/verify/id2', WANG, auth(key));
    assertError(r, 429, 'daily_limit_exceeded');
    assertRetryAfter(r, 86_400); // until midnight, China time
    assertError(await postJson(s, '/v1/verify/id4',
      { ...WANG, valid_from: '20150320', valid_to: '20350320' }, auth(key)), 429, 'daily_limit_exceeded');
    // unmetered calls do not count against it
    assert.equal((await postJson(s, '/v1/name/check', { name: '张三' }, auth(key))).status, 200);
    assert.equal((await usage(s, 'daily', 'id2')).used, 2);
  });

  test('the rate limit: 2/s with a burst of 2, the third immediate call is 429 rate_limited with Retry-After', async () => {
    const key = await makeApp(s, 'slow', { rate_per_s: 2, burst: 2 });
    const body = { id_number: WANG.id_number };
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await postJson(s, '/v1/idcard/parse', body, auth(key)));
    assert.deepEqual(results.slice(0, 2).map((r) => r.status), [200, 200]);
    assertError(results[2], 429, 'rate_limited');
    const wait = assertRetryAfter(results[2], 2);
    // after Retry-After seconds it answers again
    await new Promise((res) => setTimeout(res, wait * 1000));
    const r = await postJson(s, '/v1/verify/id2', WANG, auth(key));
    assert.equal(r.status, 200, r.text);
  });

  test('Idempotency-Key: the same key twice gives the same body, Idempotent-Replay, one charge', async () => {
    const key = await makeApp(s, 'retrier');
    const h = { ...auth(key), 'idempotency-key': 'order-2025-0001' };
    const first = await postJson(s, '/v1/verify/id2', WANG, h);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers.get('idempotent-replay'), null);
    assert.equal(first.json.charged, true);
    const again = await postJson(s, '/v1/verify/id2', WANG, h);
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('idempotent-replay'), 'true');
    assert.equal(again.text, first.text, 'the stored answer, byte for byte');
    assert.notEqual(again.headers.get('x-request-id'), first.headers.get('x-request-id'));
    // even with another body: the key names the call
    const third = await postJson(s, '/v1/verify/id2', WANG_WRONG, h);
    assert.equal(third.text, first.text);
    assert.deepEqual(await usage(s, 'retrier', 'id2'), { used: 1, total: 1_000_000 });

    // another key, another product, another app: new calls
    const other = await postJson(s, '/v1/verify/id2', WANG, { ...auth(key), 'idempotency-key': 'order-2025-0002' });
    assert.equal(other.headers.get('idempotent-replay'), null);
    const id4 = await postJson(s, '/v1/verify/id4', { ...WANG, valid_from: '20150320', valid_to: '20350320' }, h);
    assert.equal(id4.headers.get('idempotent-replay'), null);
    assert.equal(id4.json.verdict, 'match');
    const demo = await postJson(s, '/v1/verify/id2', WANG, { 'idempotency-key': 'order-2025-0001' });
    assert.equal(demo.headers.get('idempotent-replay'), null);
    assert.deepEqual(await usage(s, 'retrier', 'id2'), { used: 2, total: 1_000_000 });

    // 1–128 printable ASCII characters
    for (const bad of ['x'.repeat(129), 'tab\there']) {
      const r = await postJson(s, '/v1/verify/id2', WANG, { ...auth(key), 'idempotency-key': bad });
      assertError(r, 400, 'invalid_field');
      assert.match(r.json.error.message, /Idempotency-Key/);
    }
    const longest = await postJson(s, '/v1/verify/id2', WANG, { ...auth(key), 'idempotency-key': 'k'.repeat(128) });
    assert.equal(longest.status, 200);
  });

  test('concurrent calls with one Idempotency-Key: one runs and is charged, the others get its answer', async () => {
    const key = await makeApp(s, 'racer');
    const h = { ...auth(key), 'idempotency-key': 'same-for-all' };
    const rs = await Promise.all(Array.from({ length: 8 }, () => postJson(s, '/v1/verify/id2', WANG, h)));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    assert.equal(rs.filter((r) => r.headers.get('idempotent-replay') === null).length, 1, 'one call ran');
    assert.equal(new Set(rs.map((r) => r.text)).size, 1, 'all got the same answer');
    assert.deepEqual(await usage(s, 'racer', 'id2'), { used: 1, total: 1_000_000 });
  });
});

// ------------------------------------------------------------ audit log

describe('the audit log', { skip: !haveSqlite3 && 'no sqlite3 CLI' }, () => {
  test('`shiming audit verify` passes, then names the row an UPDATE tampered with', async () => {
    const { dir, args } = ownFiles('audit');
    const s = await startReady(args);
    s.dir = dir; // the test's own directory (the helper made none)
    const ids = [];
    try {
      for (const body of [WANG, WANG_WRONG, BAD_ID, NOBODY, WANG]) {
        const r = await postJson(s, '/v1/verify/id2', body);
        assert.equal(r.status, 200, r.text);
        ids.push(r.headers.get('x-request-id'));
      }
    } finally {
      await stopClean(s);
    }
    const flags = storeFlags(s);

    // every call is in the log, masked
    const exp = shiming(['audit', 'export', '--format', 'jsonl', ...flags]);
    assert.equal(exp.status, 0, exp.stderr);
    const rows = exp.stdout.trim().split('\n').map((l) => JSON.parse(l));
    for (const id of ids) assert.ok(rows.some((row) => row.request_id === id), `audit row of ${id}`);
    assert.ok(!exp.stdout.includes(WANG.id_number) && !exp.stdout.includes(WANG.name), 'masked');

    let r = shiming(['audit', 'verify', ...flags]);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);

    // tamper: the invalid_id call becomes a match
    const db = join(dir, 'tenancy.db');
    const rowId = sqlite(db, `SELECT id FROM audit WHERE request_id = '${ids[2]}'`);
    assert.match(rowId, /^\d+$/);
    sqlite(db, `UPDATE audit SET verdict = 'match' WHERE id = ${rowId}`);
    r = shiming(['audit', 'verify', ...flags]);
    assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(`${r.stdout}\n${r.stderr}`, new RegExp(`\\b${rowId}\\b`), 'names the tampered row');
  });
});

// ------------------------------------------------ the failed-auth limiter

describe('failed authentications per client address', () => {
  test('after many wrong keys an address gets 429 too_many_requests, even with the right key; another address does not', async () => {
    const s = await startReady();
    try {
      let r;
      let failures = 0;
      for (; failures < 100; failures++) {
        r = await postJson(s, '/v1/name/check', { name: '张三' }, auth(`wrong-${failures}`));
        if (r.status !== 401) break;
      }
      assertError(r, 429, 'too_many_requests');
      assert.ok(failures >= 3, `blocked after ${failures} failures`);
      assertRetryAfter(r, 3600);
      // blocked before the key is looked at
      assertError(await postJson(s, '/v1/name/check', { name: '张三' }), 429, 'too_many_requests');

      // another loopback address is not blocked
      const other = await new Promise((resolve, reject) => {
        const body = JSON.stringify({ name: '张三' });
        const req = http.request(`${s.url}/v1/name/check`, {
          method: 'POST', localAddress: '127.0.0.2',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${DEMO_KEY}`, 'content-length': Buffer.byteLength(body) },
        }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c) => { text += c; }).on('end', () => resolve({ status: res.statusCode, text }));
        });
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(other.status, 200, other.text);
    } finally {
      await stopClean(s);
    }
  });
});

// ------------------------------------------------------------ IPv6

const hasIPv6 = Object.values(networkInterfaces()).flat().some((i) => i && i.address === '::1');
test('the IP allowlist on IPv6: ::1/128 admits ::1, 127.0.0.1/32 refuses it', { skip: !hasIPv6 && 'no ::1 here' }, async () => {
  const s = startServer(['--bind', '::1']);
  try {
    const l = await s.waitForLine((x) => x.event === 'listening');
    s.url = `http://[::1]:${l.port}`;
    const key = await makeApp(s, 'six', { ip_allow: '::1/128' });
    let r = await postJson(s, '/v1/verify/id2', WANG, auth(key));
    assert.equal(r.status, 200, r.text);
    await admin(s, 'PATCH', '/apps/six', { ip_allow: '127.0.0.1/32' });
    assertError(await postJson(s, '/v1/verify/id2', WANG, auth(key)), 403, 'ip_not_allowed');
    await admin(s, 'PATCH', '/apps/six', { ip_allow: '::/0' });
    r = await postJson(s, '/v1/verify/id2', WANG, auth(key));
    assert.equal(r.status, 200, r.text);
  } finally {
    await stopClean(s);
  }
});

// ------------------------------------------------------------ demo, off

describe('serve --demo and [tenancy] enabled', () => {
  test('--demo refuses a non-loopback address (exit 2) unless --demo-allow-remote', async () => {
    for (const bind of ['0.0.0.0', '::', '192.0.2.1']) {
      const r = await runServe(['--demo', '--bind', bind, '--port', '0']);
      assert.equal(r.code, 2, `${bind}: ${r.stderr}`);
      assert.match(r.stderr, /--demo/);
      assert.match(r.stderr, /loopback/);
      assert.match(r.stderr, /--demo-allow-remote/);
      assert.ok(!r.stderr.includes('"listening"'));
    }
  });

  test('the demo credentials exist only under --demo; the demo app holds every kind and a package per product', { skip: !haveSqlite3 && 'no sqlite3 CLI' }, async () => {
    const plain = await startReady([], { demo: false });
    try {
      assertError(await postJson(plain, '/v1/verify/id2', WANG), 401, 'unauthorized');
    } finally {
      await stopClean(plain);
    }
    const s = await startReady();
    try {
      const ev = await s.waitForLine((l) => l.event === 'demo_app');
      assert.equal(ev.app, 'demo');
      assert.equal(ev.created, true);
      assert.ok(!s.stderrText.includes('demo-apikey') && !s.stderrText.includes('demo-access-key-secret'),
        'no secret in the log');
      const q = (sql) => sqlite(join(s.dir, 'tenancy.db'), sql);
      assert.equal(q("SELECT group_concat(kind, ',') FROM (SELECT c.kind FROM credentials c JOIN apps a ON a.id = c.app_id WHERE a.name = 'demo' ORDER BY c.kind)"),
        'accesskey,apikey,appcode,appkey,appsecret,bearer,native,secretid');
      assert.equal(q("SELECT group_concat(cred_id, ',') FROM (SELECT cred_id FROM credentials WHERE cred_id IS NOT NULL ORDER BY cred_id)"),
        '10001,demo,demo-access-key-id,demo-app-key,demo-secret-id');
      assert.ok(!readFileSync(join(s.dir, 'tenancy.db')).includes('demo-key'), 'secrets are hashed or encrypted');
      const pk = q("SELECT group_concat(product || '=' || total, ',') FROM (SELECT product, total FROM packages p JOIN apps a ON a.id = p.app_id WHERE a.name = 'demo' ORDER BY product)");
      assert.match(pk, /(^|,)id2=1000000000(,|$)/);
      assert.match(pk, /(^|,)id4=1000000000(,|$)/);
    } finally {
      await stopClean(s);
    }
  });

  test('a second --demo start on the same files adds nothing and keeps the usage', async () => {
    const { dir, args } = ownFiles('restart');
    let s = await startReady(args);
    s.dir = dir;
    try {
      const ev = await s.waitForLine((l) => l.event === 'demo_app');
      assert.equal(ev.created, true);
      const r = await postJson(s, '/v1/verify/id2', WANG);
      assert.equal(r.json.charged, true);
    } finally {
      await stopClean(s);
    }
    s = await startReady(args);
    s.dir = dir;
    try {
      const ev = await s.waitForLine((l) => l.event === 'demo_app');
      assert.equal(ev.created, false);
      assert.deepEqual(ev.credentials_added, []);
      assert.deepEqual(ev.packages_added, []);
      assert.deepEqual(await usage(s, 'demo', 'id2'), { used: 1, total: 1_000_000_000 });
      assert.equal((await postJson(s, '/v1/verify/id2', WANG)).status, 200);
    } finally {
      await stopClean(s);
    }
  });

  test('[tenancy] enabled = false: /v1 open without a key, nothing charged, a loud warning, no admin API', async () => {
    const s = await startReady(['--no-tenancy-enabled']);
    try {
      const warn = await s.waitForLine((l) => l.event === 'warning' && l.warning === 'tenancy_disabled');
      assert.match(warn.message, /open/);
      const r = await postJson(s, '/v1/verify/id2', WANG, { authorization: null });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual([r.json.verdict, r.json.charged], ['match', false]);
      const res = await fetch(s.url + '/admin/v1/apps');
      assert.equal(res.status, 404);
      await res.arrayBuffer();
    } finally {
      await stopClean(s);
    }
  });
});
