// Black-box conformance of dialect A (seed 000): POST /identity/idcard/check-2e
// against the real server (docs/dialects.md):
//  - every result code of the seed, "0" … "-7", produced by a real request
//    (-4 by a registry locked while open, -6 by a registry locked at start,
//    -7 by the app's daily limit and by the per-name cap), with what is
//    charged (admin API usage) and the audit rows (dialect, vendor code);
//  - every error: 401 invalid_token, 429 too_many_requests (rate limit and
//    the failed-authentication limiter), 400 token_mismatched (frozen app,
//    quota, keys that do not fit), 400 api_not_implemented (methods, content
//    types, JSON, duplicate keys, missing and mistyped fields, an image_url
//    that cannot be used), 500 api_error (the audit store locked), 413 for
//    oversized bodies;
//  - image_url: the face fetched from a loopback image server (allowed with
//    --fetch-allow-cidrs; refused by the SSRF guard without it) and compared
//    with the registry portrait imported by `shiming registry import` from
//    ../shared/data/faces (read in place): the same person "0", another
//    person "-1", no portrait on file "-5", an identity mismatch "-1"
//    without fetching, an image without a face or not an image 400; one
//    audit row and at most one unit per call;
//  - field encryption encrypted here by independent code: Node's crypto for
//    AES-256-CBC and RSA-OAEP-SHA256, `openssl pkeyutl` for SM2, and SM4-GCM
//    from Node's sm4-ecb/sm4-ctr plus a GHASH written below (checked with the
//    RFC 8998 vector): round trips, wrong keys, tampered tags and
//    ciphertexts, bad base64, missing fields;
//  - the public keys: GET /admin/v1/keys and `shiming keys show`.
//
// Must never: leave a server, a child process or a temporary directory behind.
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createServer } from 'node:http';
import { existsSync, mkdirSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { resolve } from 'node:path';

import { BIN, startReady } from './lib/server.mjs';
import { MODELS_DIR, SOURCE_ROOT, closeServer } from './lib/images.mjs';

const PATH = '/identity/idcard/check-2e';
const root = mkdtempSync(join(tmpdir(), 'shiming-dialect-a-'));
after(() => rmSync(root, { recursive: true, force: true }));

const haveSqlite3 = spawnSync('sqlite3', ['-version']).status === 0;

const TEXT = {
  '0': 'Name and ID card number are consistent',
  '-1': 'Name and ID card number are inconsistent',
  '-2': 'Illegal ID card number (length, check digit, etc. are incorrect)',
  '-3': 'Illegal name (length, format, etc. are incorrect)',
  '-4': 'Document database service exception',
  '-5': 'No record of this ID card in the document database',
  '-6': 'The authoritative comparison system is being upgraded, please try again later',
  '-7': 'The number of authentications has exceeded the daily limit.',
};

const LINA = { name: '李娜', id_card: '310104199208080025', validity_begin: '20180901', validity_end: '20380901' };

/** A valid 18-digit number from 17 digits (GB 11643 check digit). */
function idWithCheck(d17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...d17].reduce((a, c, i) => a + Number(c) * w[i], 0);
  return d17 + '10X98765432'[sum % 11];
}

function shiming(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined);
  assert.equal(r.status, 0, `shiming ${args.join(' ')}: ${r.stderr}`);
  return r;
}

async function stopClean(s) {
  const { code } = await s.stop();
  assert.equal(code, 0, 'the server exits 0');
}

/** POST to the dialect; `body` an object (serialised) or a string. */
async function c2e(s, body, headers = {}, method = 'POST') {
  const h = { 'content-type': 'application/json', authorization: 'Bearer demo-token', ...headers };
  for (const k of Object.keys(h)) if (h[k] === null) delete h[k];
  const res = await fetch(s.url + PATH, {
    method,
    headers: h,
    body: method === 'GET' || method === 'HEAD' ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* asserted by callers */ }
  return { status: res.status, headers: res.headers, text, json };
}

function assertResult(r, code) {
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.deepEqual(Object.keys(r.json), ['result', 'description'], r.text);
  assert.equal(r.json.result, code, r.text);
  assert.equal(r.json.description, TEXT[code]);
  assert.equal(r.text, JSON.stringify({ result: code, description: TEXT[code] }) + '\n');
}

function assertError(r, status, code, message) {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.json), ['error'], r.text);
  assert.deepEqual(Object.keys(r.json.error), ['code', 'message'], r.text);
  assert.equal(r.json.error.code, code, r.text);
  if (message) assert.match(r.json.error.message, message);
  assert.ok(r.headers.get('x-request-id'));
}

async function admin(s, method, path, body) {
  const token = readFileSync(join(s.dir, 'admin.token'), 'utf8').trim();
  const res = await fetch(s.url + '/admin/v1' + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function used(s, app) {
  const u = await admin(s, 'GET', `/apps/${app}/usage`);
  return u.packages.filter((p) => p.product === 'check2e').reduce((a, p) => a + p.used, 0);
}

/** A new app with a bearer token and `total` check2e units; returns the token. */
async function makeApp(s, name, settings = {}, total = 1000) {
  await admin(s, 'POST', '/apps', { name, ...settings });
  const cred = await admin(s, 'POST', `/apps/${name}/credentials`, { kind: 'bearer' });
  if (total > 0) await admin(s, 'POST', `/apps/${name}/packages`, { product: 'check2e', total });
  return cred.secret;
}

async function auditRow(s, requestId) {
  const a = await admin(s, 'GET', '/audit?limit=1000');
  return a.rows.find((row) => row.request_id === requestId);
}

/** sqlite3 holding an exclusive lock on `db` until stdin ends. */
function holdLock(db) {
  const child = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c) => { err += c; });
  child.stdin.write(".timeout 10000\nPRAGMA locking_mode=EXCLUSIVE;\nBEGIN EXCLUSIVE;\nSELECT 'lock' || 'ed';\n");
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      if (out.includes('locked')) { clearInterval(poll); resolve(child); }
      else if (err || Date.now() - t0 > 15_000) {
        clearInterval(poll);
        child.kill('SIGKILL');
        reject(new Error(`sqlite3 could not lock ${db}: ${err}`));
      }
    }, 20);
  });
}

const havePython3 = spawnSync('python3', ['-c', 'import fcntl']).status === 0;

/** Hold SQLite's WAL-index locks of `db` (bytes 120..127 of DB-shm) from
 * another process, as a stuck reader or recovery would: new read
 * transactions of the server fail after SQLite's own retries (~10 s). */
function holdShm(db) {
  const script = `import fcntl, sys
f = open(sys.argv[1], 'r+b')
fcntl.lockf(f, fcntl.LOCK_EX, 8, 120)
print('locked', flush=True)
sys.stdin.read()
`;
  const child = spawn('python3', ['-c', script, db + '-shm'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c) => { err += c; });
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      if (out.includes('locked')) { clearInterval(poll); resolve(child); }
      else if (err || Date.now() - t0 > 15_000) {
        clearInterval(poll);
        child.kill('SIGKILL');
        reject(new Error(`could not lock ${db}-shm: ${err}`));
      }
    }, 20);
  });
}

async function release(lock) {
  lock.stdin.end('COMMIT;\n.quit\n');
  await new Promise((resolve) => lock.on('exit', resolve));
}

// ------------------------------------------------------------ SM4-GCM in JS

const ghashMul = (x, y) => {
  const R = 0xe1n << 120n;
  let z = 0n;
  let v = y;
  for (let i = 127n; i >= 0n; i--) {
    if ((x >> i) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
  }
  return z;
};
const big = (b) => BigInt('0x' + (b.length ? b.toString('hex') : '0'));
const bytes16 = (n) => Buffer.from(n.toString(16).padStart(32, '0'), 'hex');

function ghash(h, aad, ct) {
  const H = big(h);
  let y = 0n;
  const blocks = (buf) => {
    for (let off = 0; off < buf.length; off += 16) {
      const b = Buffer.alloc(16);
      buf.copy(b, 0, off, Math.min(off + 16, buf.length));
      y = ghashMul(y ^ big(b), H);
    }
  };
  blocks(aad);
  blocks(ct);
  const lens = Buffer.alloc(16);
  lens.writeBigUInt64BE(BigInt(aad.length * 8), 0);
  lens.writeBigUInt64BE(BigInt(ct.length * 8), 8);
  y = ghashMul(y ^ big(lens), H);
  return bytes16(y);
}

function sm4Block(key, block) {
  const c = crypto.createCipheriv('sm4-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

/** SM4-GCM with a 12-byte IV: { ct, tag }. */
function sm4GcmEncrypt(key, iv, pt, aad = Buffer.alloc(0)) {
  const h = sm4Block(key, Buffer.alloc(16));
  const j0 = Buffer.concat([iv, Buffer.from([0, 0, 0, 1])]);
  const ctr0 = Buffer.from(j0);
  ctr0.writeUInt32BE((j0.readUInt32BE(12) + 1) >>> 0, 12);
  const c = crypto.createCipheriv('sm4-ctr', key, ctr0);
  const ct = Buffer.concat([c.update(pt), c.final()]);
  const s = ghash(h, aad, ct);
  const ek = sm4Block(key, j0);
  const tag = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) tag[i] = s[i] ^ ek[i];
  return { ct, tag };
}

/** Field i's nonce: the iv's last 32 bits (big-endian) plus i. */
function fieldNonce(iv, i) {
  const n = Buffer.from(iv);
  n.writeUInt32BE((iv.readUInt32BE(8) + i) >>> 0, 8);
  return n;
}

/** An envelope over `fields` of `body`: { body, key }. */
function envelope(keys, algorithm, body, fields, opts = {}) {
  const out = { ...body };
  const gcm = algorithm === 'SM4-GCM';
  const key = opts.key ?? crypto.randomBytes(gcm ? 16 : 32);
  const iv = opts.iv ?? crypto.randomBytes(gcm ? 12 : 16);
  const tags = [];
  fields.forEach((f, i) => {
    const pt = Buffer.from(body[f], 'utf8');
    if (gcm) {
      const { ct, tag } = sm4GcmEncrypt(key, fieldNonce(iv, i), pt);
      out[f] = ct.toString('base64');
      tags.push(tag.toString('base64'));
    } else {
      const c = crypto.createCipheriv('aes-256-cbc', key, iv);
      out[f] = Buffer.concat([c.update(pt), c.final()]).toString('base64');
    }
  });
  let blob;
  if (gcm) {
    const dir = mkdtempSync(join(root, 'sm2-'));
    writeFileSync(join(dir, 'pub.pem'), opts.pem ?? keys['SM4-GCM']);
    writeFileSync(join(dir, 'key.bin'), key);
    shell('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', join(dir, 'pub.pem'), '-in', join(dir, 'key.bin'), '-out', join(dir, 'key.enc')]);
    blob = readFileSync(join(dir, 'key.enc'));
    rmSync(dir, { recursive: true, force: true });
  } else {
    blob = crypto.publicEncrypt({ key: opts.pem ?? keys['AES-256-CBC'], padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: opts.oaepHash ?? 'sha256' }, key);
  }
  out.encryption = { algorithm, ciphertext_blob: blob.toString('base64'), iv: iv.toString('base64'), encrypt_list: fields };
  if (gcm) out.encryption.tag_list = tags;
  return out;
}

function shell(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('the SM4-GCM of this test matches RFC 8998 (A.1)', () => {
  const h = (x) => Buffer.from(x, 'hex');
  const { ct, tag } = sm4GcmEncrypt(h('0123456789ABCDEFFEDCBA9876543210'), h('00001234567800000000ABCD'),
    h('AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA'),
    h('FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2'));
  assert.equal(ct.toString('hex').toUpperCase(), '17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D');
  assert.equal(tag.toString('hex').toUpperCase(), '83DE3541E4C2B58177E065A9BF7B62EC');
});

// ---------------------------------------------------------------- one server

describe('check-2e on a --demo server', () => {
  let s;
  let keys;
  before(async () => {
    s = await startReady([]);
    const k = await admin(s, 'GET', '/keys');
    keys = Object.fromEntries(k.keys.map((x) => [x.algorithm, x.public_key_pem]));
  });
  after(async () => { if (s) await stopClean(s); });

  const notFound = idWithCheck('11010519900101123');
  const CASES = [
    { what: 'consistent', body: LINA, code: '0', charged: true, verdict: 'match' },
    { what: 'another name', body: { ...LINA, name: '张三' }, code: '-1', charged: true, verdict: 'mismatch' },
    { what: 'validity dates of no card', body: { ...LINA, validity_end: '20280901' }, code: '-1', charged: true, verdict: 'mismatch' },
    { what: 'an impossible period (end before begin)', body: { ...LINA, validity_end: '20170901' }, code: '-1', charged: false, verdict: 'invalid_period' },
    { what: 'a period not YYYYMMDD', body: { ...LINA, validity_begin: '2018-09-01' }, code: '-1', charged: false, verdict: 'invalid_period' },
    { what: 'long-term 00000000 of no card', body: { ...LINA, validity_begin: '20180901', validity_end: '00000000' }, code: '-1', charged: true, verdict: 'mismatch' },
    { what: 'a bad check digit', body: { ...LINA, id_card: '310104199208080026' }, code: '-2', charged: false, verdict: 'invalid_id' },
    { what: 'a short number', body: { ...LINA, id_card: '3101041992' }, code: '-2', charged: false, verdict: 'invalid_id' },
    { what: 'a name with digits', body: { ...LINA, name: '李1娜' }, code: '-3', charged: false, verdict: 'invalid_name' },
    { what: 'an empty name', body: { ...LINA, name: '' }, code: '-3', charged: false, verdict: 'invalid_name' },
    { what: 'no such number', body: { ...LINA, id_card: notFound }, code: '-5', charged: false, verdict: 'not_found' },
  ];
  for (const c of CASES) {
    test(`"${c.code}": ${c.what}; ${c.charged ? '' : 'not '}charged; audited`, async () => {
      const before = await used(s, 'demo');
      const r = await c2e(s, c.body);
      assertResult(r, c.code);
      assert.equal(await used(s, 'demo'), before + (c.charged ? 1 : 0));
      const row = await auditRow(s, r.headers.get('x-request-id'));
      assert.ok(row, 'an audit row');
      assert.equal(row.dialect, 'check2e');
      assert.equal(row.product, 'check2e');
      assert.equal(row.vendor_code, c.code);
      assert.equal(row.verdict, c.verdict);
      assert.equal(row.charged, c.charged);
      assert.doesNotMatch(JSON.stringify(row), /310104199208080025|李娜/, 'the audit row is masked');
    });
  }

  test('Accept: application/x-ndjson gets the same line as application/x-ndjson', async () => {
    const r = await c2e(s, LINA, { accept: 'application/x-ndjson' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/x-ndjson');
    assert.equal(r.text, JSON.stringify({ result: '0', description: TEXT['0'] }) + '\n');
    assertResult(await c2e(s, LINA, { accept: 'application/json, application/x-ndjson' }), '0');
  });

  test('"-7": the app\'s daily limit, not charged, with Retry-After', async () => {
    const token = await makeApp(s, 'daily2', { daily_limit: 2 });
    const auth = { authorization: `Bearer ${token}` };
    assertResult(await c2e(s, LINA, auth), '0');
    assertResult(await c2e(s, { ...LINA, name: '张三' }, auth), '-1');
    const r = await c2e(s, LINA, auth);
    assertResult(r, '-7');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.equal(await used(s, 'daily2'), 2);
  });

  test('"-7": the per-name cap (500 a day) stops the 501st call, before the registry', async () => {
    const name = '欧阳修远';
    const ids = Array.from({ length: 501 }, (_, i) => idWithCheck(`44010619900101${String(i + 1).padStart(3, '0')}`));
    assert.equal(new Set(ids).size, 501);
    const token = await makeApp(s, 'capped', {}, 10);
    const auth = { authorization: `Bearer ${token}` };
    let next = 0;
    const codes = [];
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < 500) {
        const i = next++;
        codes.push((await c2e(s, { name, id_card: ids[i], validity_begin: '20100101', validity_end: '20300101' }, auth)).json?.result);
      }
    }));
    assert.equal(codes.length, 500);
    assert.ok(codes.every((c) => c === '-5'), `all not found: ${[...new Set(codes)]}`);
    const r = await c2e(s, { name, id_card: ids[500], validity_begin: '20100101', validity_end: '20300101' }, auth);
    assertResult(r, '-7');
    assert.equal(r.headers.get('retry-after'), null);
    // another name goes on; nothing was charged
    assertResult(await c2e(s, LINA, auth), '0');
    assert.equal(await used(s, 'capped'), 1);
  });

  // ----------------------------------------------------------------- errors

  test('401 invalid_token: no token, a wrong one, another scheme, another kind of credential', async () => {
    for (const authorization of [null, 'Bearer nope', 'Basic ZGVtbzpkZW1v', 'Bearer demo-key', 'Bearer ', 'demo-token']) {
      const r = await c2e(s, LINA, { authorization });
      assertError(r, 401, 'invalid_token');
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    }
    assertResult(await c2e(s, LINA, { authorization: 'bearer   demo-token  ' }), '0');
  });

  test('400 token_mismatched: a frozen or disabled app, an app out of quota; nothing charged', async () => {
    const token = await makeApp(s, 'frosty');
    const auth = { authorization: `Bearer ${token}` };
    await admin(s, 'PATCH', '/apps/frosty', { status: 'frozen' });
    assertError(await c2e(s, LINA, auth), 400, 'token_mismatched', /frozen/);
    await admin(s, 'PATCH', '/apps/frosty', { status: 'disabled' });
    assertError(await c2e(s, LINA, auth), 400, 'token_mismatched', /disabled/);
    await admin(s, 'PATCH', '/apps/frosty', { status: 'active' });
    await admin(s, 'PATCH', '/apps/frosty', { ip_allow: '10.0.0.0/8' });
    assertError(await c2e(s, LINA, auth), 400, 'token_mismatched', /IP/);
    assert.equal(await used(s, 'frosty'), 0);

    const poor = { authorization: `Bearer ${await makeApp(s, 'poor', {}, 1)}` };
    assertResult(await c2e(s, LINA, poor), '0');
    assertError(await c2e(s, LINA, poor), 400, 'token_mismatched', /balance exhausted/);
    // what needs no registry is still answered, free
    assertResult(await c2e(s, { ...LINA, id_card: '310104199208080026' }, poor), '-2');
    assert.equal(await used(s, 'poor'), 1);
  });

  test('429 too_many_requests: the app\'s rate limit, with Retry-After', async () => {
    const auth = { authorization: `Bearer ${await makeApp(s, 'slow', { rate_per_s: 0.5, burst: 1 })}` };
    assertResult(await c2e(s, LINA, auth), '0');
    const r = await c2e(s, LINA, auth);
    assertError(r, 429, 'too_many_requests', /rate limit/);
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
  });

  test('image_url: refused by the SSRF guard without a fetch allowlist (loopback), never fetched, never a silent pass', async () => {
    let hits = 0;
    const img = createServer((req, res) => { hits++; res.writeHead(404).end(); });
    await new Promise((done) => img.listen(0, '127.0.0.1', done));
    try {
      const url = `http://127.0.0.1:${img.address().port}/face.jpg`;
      const before = await used(s, 'demo');
      const r = await c2e(s, { ...LINA, image_url: url });
      assertError(r, 400, 'api_not_implemented', /image_url/);
      assert.equal(hits, 0, 'the guard refused before connecting');
      assert.equal(await used(s, 'demo'), before, 'not charged');
      // The identity is decided first: a mismatch is "-1" as without image_url.
      assertResult(await c2e(s, { ...LINA, name: '张三', image_url: url }), '-1');
      assert.equal(hits, 0);
      assertResult(await c2e(s, { ...LINA, image_url: '' }), '0');
      assertResult(await c2e(s, { ...LINA, image_url: null }), '0');
      assertError(await c2e(s, { ...LINA, image_url: 5 }), 400, 'api_not_implemented', /image_url/);
      assertError(await c2e(s, { ...LINA, image_url: 'ftp://127.0.0.1/x.jpg' }), 400, 'api_not_implemented', /image_url/);
    } finally {
      await closeServer(img);
    }
  });

  const MALFORMED = [
    ['bad JSON', '{"name": "李娜", ', /invalid JSON/],
    ['duplicated keys', '{"name":"李娜","name":"张三","id_card":"310104199208080025","validity_begin":"20180901","validity_end":"20380901"}', /duplicate/],
    ['an array', '[1, 2]', /JSON object/],
    ['an empty body', '', /invalid JSON/],
    ['no name', { ...LINA, name: undefined }, /'name' is required/],
    ['no id_card', { ...LINA, id_card: undefined }, /'id_card' is required/],
    ['no validity_begin', { ...LINA, validity_begin: undefined }, /'validity_begin' is required/],
    ['validity_end null', { ...LINA, validity_end: null }, /'validity_end' is required/],
    ['a numeric id_card', { ...LINA, id_card: 310104199208080025 }, /'id_card' must be a string/],
    ['a numeric date', { ...LINA, validity_begin: 20180901 }, /'validity_begin' must be a string/],
    ['encryption not an object', { ...LINA, encryption: 'AES' }, /'encryption' must be an object/],
  ];
  for (const [what, body, message] of MALFORMED) {
    test(`400 api_not_implemented: ${what}`, async () => {
      assertError(await c2e(s, body), 400, 'api_not_implemented', message);
    });
  }

  test('400 api_not_implemented: wrong methods (Allow: POST) and content types', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const r = await c2e(s, LINA, {}, method);
      assertError(r, 400, 'api_not_implemented', /POST/);
      assert.equal(r.headers.get('allow'), 'POST');
    }
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', null, 'application/jsonp']) {
      assertError(await c2e(s, LINA, { 'content-type': ct }), 400, 'api_not_implemented', /Content-Type/);
    }
    assertResult(await c2e(s, LINA, { 'content-type': 'application/json; charset=utf-8' }), '0');
  });

  test('an oversized body: 400 api_not_implemented, in the vendor\'s error shape', async () => {
    const r = await c2e(s, { ...LINA, pad: 'x'.repeat(1_100_000) });
    assertError(r, 400, 'api_not_implemented', /larger than 1048576 bytes/);
  });

  // ------------------------------------------------------------- encryption

  test('the public keys: GET /admin/v1/keys and `shiming keys show` agree; fingerprints are SHA-256 of the SPKI', async () => {
    const k = await admin(s, 'GET', '/keys');
    assert.deepEqual(k.keys.map((x) => [x.algorithm, x.wrap]), [['AES-256-CBC', 'RSA-OAEP-SHA256'], ['SM4-GCM', 'SM2']]);
    for (const x of k.keys) {
      const der = crypto.createPublicKey(x.public_key_pem).export({ type: 'spki', format: 'der' });
      assert.equal(x.fingerprint_sha256, crypto.createHash('sha256').update(der).digest('hex'));
    }
    assert.equal(crypto.createPublicKey(k.keys[0].public_key_pem).asymmetricKeyType, 'rsa');
    const cli = JSON.parse(shiming(['keys', 'show', '--json', '--key-file', join(s.dir, 'server.key')]).stdout);
    assert.deepEqual(cli.keys, k.keys);
    const text = shiming(['keys', 'show', '--key-file', join(s.dir, 'server.key')]).stdout;
    for (const x of k.keys) {
      assert.ok(text.includes(x.public_key_pem));
      assert.ok(text.includes(x.fingerprint_sha256));
    }
    assert.doesNotMatch(text + JSON.stringify(k), /PRIVATE/);
  });

  for (const alg of ['AES-256-CBC', 'SM4-GCM']) {
    test(`${alg}: encrypted fields decide exactly as plain ones`, async () => {
      assertResult(await c2e(s, envelope(keys, alg, LINA, ['name', 'id_card'])), '0');
      assertResult(await c2e(s, envelope(keys, alg, LINA, ['name', 'id_card', 'validity_begin', 'validity_end'])), '0');
      assertResult(await c2e(s, envelope(keys, alg, { ...LINA, name: '张三' }, ['name'])), '-1');
      assertResult(await c2e(s, envelope(keys, alg, { ...LINA, id_card: '310104199208080026' }, ['id_card'])), '-2');
    });

    test(`${alg}: another server's key, tampered ciphertext → 400 token_mismatched`, async () => {
      const other = alg === 'SM4-GCM'
        ? (() => {
          const d = mkdtempSync(join(root, 'other-'));
          shell('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:SM2', '-out', join(d, 'k.pem')]);
          return shell('openssl', ['pkey', '-in', join(d, 'k.pem'), '-pubout']);
        })()
        : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' });
      assertError(await c2e(s, envelope(keys, alg, LINA, ['name'], { pem: other })), 400, 'token_mismatched', /ciphertext_blob/);

      const body = envelope(keys, alg, LINA, ['name', 'id_card']);
      const ct = Buffer.from(body.id_card, 'base64');
      ct[ct.length - 1] ^= 1;
      assertError(await c2e(s, { ...body, id_card: ct.toString('base64') }), 400, 'token_mismatched', /'id_card' cannot be decrypted/);
      // a tampered blob
      const blob = Buffer.from(body.encryption.ciphertext_blob, 'base64');
      blob[blob.length - 5] ^= 0x40;
      assertError(await c2e(s, { ...body, encryption: { ...body.encryption, ciphertext_blob: blob.toString('base64') } }), 400, 'token_mismatched');
      // a wrong iv
      const iv = Buffer.from(body.encryption.iv, 'base64');
      iv[0] ^= 1;
      const r = await c2e(s, { ...body, encryption: { ...body.encryption, iv: iv.toString('base64') } });
      if (alg === 'SM4-GCM') assertError(r, 400, 'token_mismatched');
      else assert.notEqual(r.json?.result, '0', 'a wrong iv never decides as the right one');
    });
  }

  test('AES-256-CBC: a key wrapped with OAEP SHA-1 (Node\'s default) is refused, naming SHA-256', async () => {
    const r = await c2e(s, envelope(keys, 'AES-256-CBC', LINA, ['name'], { oaepHash: 'sha1' }));
    assertError(r, 400, 'token_mismatched', /SHA-256/);
  });

  test('SM4-GCM: tampered tags, tags of swapped fields, missing or short tags', async () => {
    const body = envelope(keys, 'SM4-GCM', LINA, ['name', 'id_card']);
    const tag = Buffer.from(body.encryption.tag_list[0], 'base64');
    tag[0] ^= 0x80;
    const enc = body.encryption;
    assertError(await c2e(s, { ...body, encryption: { ...enc, tag_list: [tag.toString('base64'), enc.tag_list[1]] } }), 400, 'token_mismatched', /'name'/);
    assertError(await c2e(s, { ...body, encryption: { ...enc, tag_list: [enc.tag_list[1], enc.tag_list[0]] } }), 400, 'token_mismatched');
    // the same iv for both fields (no per-field nonce) does not open field 1
    const key = crypto.randomBytes(16);
    const iv = crypto.randomBytes(12);
    const same = envelope(keys, 'SM4-GCM', LINA, ['name'], { key, iv });
    const { ct, tag: t2 } = sm4GcmEncrypt(key, iv, Buffer.from(LINA.id_card));
    same.id_card = ct.toString('base64');
    same.encryption.encrypt_list = ['name', 'id_card'];
    same.encryption.tag_list.push(t2.toString('base64'));
    assertError(await c2e(s, same), 400, 'token_mismatched', /'id_card'/);
    assertError(await c2e(s, { ...body, encryption: { ...enc, tag_list: undefined } }), 400, 'api_not_implemented', /tag_list/);
    assertError(await c2e(s, { ...body, encryption: { ...enc, tag_list: [enc.tag_list[0]] } }), 400, 'api_not_implemented', /tag_list/);
    assertError(await c2e(s, { ...body, encryption: { ...enc, tag_list: ['AAAA', enc.tag_list[1]] } }), 400, 'api_not_implemented', /16-byte/);
  });

  test('malformed envelopes: 400 api_not_implemented naming the field', async () => {
    const body = envelope(keys, 'AES-256-CBC', LINA, ['name', 'id_card']);
    const enc = body.encryption;
    const cases = [
      [{ ...enc, algorithm: 'AES-128-GCM' }, /algorithm/],
      [{ ...enc, algorithm: undefined }, /'encryption.algorithm' is required/],
      [{ ...enc, iv: undefined }, /'encryption.iv' is required/],
      [{ ...enc, iv: 'not base64!' }, /'encryption.iv' is not valid base64/],
      [{ ...enc, iv: Buffer.alloc(12).toString('base64') }, /16 bytes/],
      [{ ...enc, ciphertext_blob: undefined }, /'encryption.ciphertext_blob' is required/],
      [{ ...enc, ciphertext_blob: 'QUJD=' }, /'encryption.ciphertext_blob' is not valid base64/],
      [{ ...enc, ciphertext_blob: 7 }, /base64 string/],
      [{ ...enc, encrypt_list: undefined }, /encrypt_list' is required/],
      [{ ...enc, encrypt_list: [] }, /encrypt_list/],
      [{ ...enc, encrypt_list: ['name', 'name'] }, /distinct/],
      [{ ...enc, encrypt_list: ['name', 'image_url'] }, /distinct fields/],
      [{ ...enc, encrypt_list: 'name' }, /encrypt_list/],
      [{ ...enc, tag_list: ['AAAAAAAAAAAAAAAAAAAAAA=='] }, /SM4-GCM only/],
    ];
    for (const [e, message] of cases)
      assertError(await c2e(s, { ...body, encryption: e }), 400, 'api_not_implemented', message);
    assertError(await c2e(s, { ...body, name: 'not*base64' }), 400, 'api_not_implemented', /'name' is not valid base64/);
    assertError(await c2e(s, { ...body, name: undefined }), 400, 'api_not_implemented', /'name' is required/);
    assertError(await c2e(s, { ...body, name: 12 }), 400, 'api_not_implemented', /'name' must be a base64 string/);
    // not whole AES blocks
    assertError(await c2e(s, { ...body, name: Buffer.from(body.name, 'base64').subarray(1).toString('base64') }), 400, 'token_mismatched');
    // still served after all that
    assertResult(await c2e(s, body), '0');
  });
});

// ------------------------------------------------ limiter, registry, store

describe('check-2e when things fail', () => {
  test('429 too_many_requests after 20 failed authentications from one address', async () => {
    const s = await startReady([]);
    try {
      for (let i = 0; i < 20; i++) assertError(await c2e(s, LINA, { authorization: 'Bearer wrong' }), 401, 'invalid_token');
      const r = await c2e(s, LINA);
      assertError(r, 429, 'too_many_requests', /failed authentications/);
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
    } finally {
      await stopClean(s);
    }
  });

  test('"-4": the open registry cannot be read (its WAL index held by another process); recovers once released',
    { skip: !havePython3 && 'no python3', timeout: 60_000 }, async () => {
      const s = await startReady(['--busy-timeout-ms', '200']);
      let lock = null;
      try {
        assertResult(await c2e(s, LINA), '0');
        const before = await used(s, 'demo');
        lock = await holdShm(join(s.dir, 'registry.db'));
        const r = await c2e(s, LINA);
        assertResult(r, '-4');
        assert.equal(await used(s, 'demo'), before);
        const row = await auditRow(s, r.headers.get('x-request-id'));
        assert.equal(row.vendor_code, '-4');
        assert.equal(row.charged, false);
        assertResult(await c2e(s, { ...LINA, id_card: '310104199208080026' }), '-2');
        await release(lock);
        lock = null;
        assertResult(await c2e(s, LINA), '0');
      } finally {
        if (lock) await release(lock);
        await stopClean(s);
      }
    });

  test('"-6": the registry was locked when the server started (an import running)',
    { skip: !haveSqlite3 && 'no sqlite3 CLI' }, async () => {
      const dir = mkdtempSync(join(root, 'maint-'));
      const store = ['--tenancy-db', join(dir, 'tenancy.db'), '--key-file', join(dir, 'server.key')];
      const first = await startReady(['--db', join(dir, 'registry.db'), '--key-file', join(dir, 'server.key')]);
      first.dir = dir;
      await stopClean(first);
      shiming(['app', 'create', 'ops', ...store]);
      const token = shiming(['cred', 'add', 'ops', 'bearer', ...store]).stdout.match(/secret:\s+(\S+)/)[1];
      shiming(['package', 'add', 'ops', 'check2e', '--total', '10', ...store]);
      const lock = await holdLock(join(dir, 'registry.db'));
      let s = null;
      let locked = lock;
      try {
        s = await startReady(['--db', join(dir, 'registry.db'), '--key-file', join(dir, 'server.key'), '--busy-timeout-ms', '200'], { demo: false });
        s.dir = dir; // its tenancy store and admin token are next to --db
        await s.waitForLine((l) => l.event === 'registry_unavailable');
        const auth = { authorization: `Bearer ${token}` };
        const r = await c2e(s, LINA, auth);
        assertResult(r, '-6');
        const row = await auditRow(s, r.headers.get('x-request-id'));
        assert.equal(row.vendor_code, '-6');
        assert.equal(row.dialect, 'check2e');
        await release(lock);
        locked = null;
        // once it can be opened, the next calls find it (opened on demand)
        let res;
        for (let i = 0; i < 20; i++) {
          res = await c2e(s, LINA, auth);
          if (res.json?.result !== '-6') break;
          await new Promise((ok) => setTimeout(ok, 300));
        }
        assertResult(res, '0');
      } finally {
        if (locked) await release(locked);
        if (s) await stopClean(s);
      }
    });

  test('500 api_error: the tenancy store cannot be read (its WAL index held); nothing charged',
    { skip: !havePython3 && 'no python3', timeout: 60_000 }, async () => {
      const s = await startReady([]);
      let lock = null;
      try {
        assertResult(await c2e(s, LINA), '0');
        const before = await used(s, 'demo');
        lock = await holdShm(join(s.dir, 'tenancy.db'));
        const r = await c2e(s, LINA);
        assertError(r, 500, 'api_error', /retry later/);
        assert.equal(r.headers.get('retry-after'), '1');
        await release(lock);
        lock = null;
        assertResult(await c2e(s, LINA), '0');
        assert.equal(await used(s, 'demo'), before + 1);
      } finally {
        if (lock) await release(lock);
        await stopClean(s);
      }
    });
});

// ----------------------------------------------------------- image_url

const FACES = resolve(SOURCE_ROOT, '..', 'shared', 'data', 'faces');

describe('check-2e image_url: the face vs the registry portrait', { skip: !existsSync(FACES) && 'no ../shared/data/faces here' }, () => {
  let s;
  let img;
  let base;
  const hits = [];
  const dir = join(root, 'faces');
  const WITH = { name: '王伟', id_card: idWithCheck('11010519850315003'), validity_begin: '20150101', validity_end: '20350101' };
  const WITHOUT = { name: '刘洋', id_card: idWithCheck('11010519700101001'), validity_begin: '20150101', validity_end: '20350101' };
  before(async () => {
    assert.ok(existsSync(join(MODELS_DIR, 'fr_feature.onnx')), 'the face models (scripts/setup) are needed');
    mkdirSync(dir, { recursive: true });
    const csv = join(dir, 'people.csv');
    writeFileSync(csv, 'id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status,portrait\n' +
      `${WITH.id_card},${WITH.name},20150101,20350101,北京市公安局朝阳分局,0,0,${join(FACES, 'jackie_chan_01.jpg')}\n` +
      `${WITHOUT.id_card},${WITHOUT.name},20150101,20350101,北京市公安局朝阳分局,0,0,\n`);
    const db = join(dir, 'registry.db');
    const key = join(dir, 'server.key');
    shiming(['registry', 'import', '--db', db, '--key-file', key, '--models-dir', MODELS_DIR, csv]);
    img = createServer((req, res) => {
      hits.push(req.url);
      const m = /^\/face\/([a-z_]+_\d\d\.(?:jpg|png))$/.exec(req.url);
      if (m && existsSync(join(FACES, m[1]))) {
        res.writeHead(200, { 'content-type': m[1].endsWith('.png') ? 'image/png' : 'image/jpeg' }).end(readFileSync(join(FACES, m[1])));
      } else if (req.url === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('not an image at all');
      } else if (req.url === '/gradient.png') {
        res.writeHead(200, { 'content-type': 'image/png' }).end(gradientPng());
      } else {
        res.writeHead(404).end('no');
      }
    });
    await new Promise((done) => img.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${img.address().port}`;
    s = await startReady(['--db', db, '--key-file', key, '--models-dir', MODELS_DIR, '--fetch-allow-cidrs', '127.0.0.1/32']);
    s.dir = dir; // the tenancy store and admin token sit next to --db
  });
  after(async () => {
    if (s) await stopClean(s);
    if (img) await closeServer(img);
  });

  /** One call: the answer, the units it used and its audit rows. */
  async function call(body) {
    const before = await used(s, 'demo');
    const r = await c2e(s, body);
    const rid = r.headers.get('x-request-id');
    const a = await admin(s, 'GET', '/audit?limit=1000');
    return { r, charged: (await used(s, 'demo')) - before, rows: a.rows.filter((row) => row.request_id === rid) };
  }

  const CASES = [
    ['the same person', () => ({ ...WITH, image_url: `${base}/face/jackie_chan_02.jpg` }), '0', 1],
    ['another person', () => ({ ...WITH, image_url: `${base}/face/barack_obama_01.jpg` }), '-1', 1],
    ['no portrait on file', () => ({ ...WITHOUT, image_url: `${base}/face/jackie_chan_02.jpg` }), '-5', 0],
  ];
  for (const [what, body, code, units] of CASES) {
    test(`"${code}": ${what}; ${units ? '' : 'not '}charged; one audit row`, async () => {
      const { r, charged, rows } = await call(body());
      assertResult(r, code);
      assert.equal(charged, units);
      assert.equal(rows.length, 1, 'one audit row');
      assert.equal(rows[0].dialect, 'check2e');
      assert.equal(rows[0].product, 'check2e');
      assert.equal(rows[0].vendor_code, code);
      assert.equal(rows[0].charged, units === 1);
      assert.doesNotMatch(JSON.stringify(rows[0]), new RegExp(`${WITH.id_card}|${WITH.name}|face/`), 'masked, no URL');
    });
  }

  test('an identity mismatch is "-1" as without image_url; the image is not fetched', async () => {
    const n = hits.length;
    const { r, charged, rows } = await call({ ...WITH, name: '张三', image_url: `${base}/face/jackie_chan_02.jpg` });
    assertResult(r, '-1');
    assert.equal(charged, 1);
    assert.equal(rows.length, 1);
    assert.equal(hits.length, n, 'no fetch');
    assertResult((await call({ ...WITH, validity_end: '20250101', image_url: `${base}/face/jackie_chan_02.jpg` })).r, '-1');
    assertResult((await call({ ...WITH, id_card: idWithCheck('11010519900101123'), image_url: `${base}/face/jackie_chan_02.jpg` })).r, '-5');
    assert.equal(hits.length, n, 'no fetch');
  });

  const BAD = [
    ['an image without a face', '/gradient.png', /no face/],
    ['not an image', '/text', /image_url/],
    ['a 404', '/missing.jpg', /image_url.*download/],
  ];
  for (const [what, path, message] of BAD) {
    test(`400 api_not_implemented: ${what}; not charged`, async () => {
      const { r, charged } = await call({ ...WITH, image_url: base + path });
      assertError(r, 400, 'api_not_implemented', message);
      assert.equal(charged, 0);
    });
  }
});

/** A 200×200 PNG of smooth gradients (no face), written here with zlib. */
function gradientPng() {
  const w = 200, h = 200;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = x; raw[o + 1] = y; raw[o + 2] = (x + y) >> 1;
    }
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
