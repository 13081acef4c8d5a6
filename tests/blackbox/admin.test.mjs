// Black-box tests of the admin API (/admin/v1) against a real server, used as
// an operator would: the token from the admin token file the server created
// on its first start, curl-like JSON calls, and the app's own key on /v1.
//
// Covers: the token file (created once, mode 0600, never logged); 401 for
// every documented admin operation without a token, with a wrong one, or
// with another scheme, and 429 once an address failed too often; every
// route with the token (apps list / create / get / patch, credentials of
// every kind shown once, packages, usage as "used/total", audit rows with
// masked subjects only, audit verify) and its error answers (404, 405,
// 409, 400, 415); every answer fits the OpenAPI document's schemas; a
// package alert reaches a loopback webhook, signed with the app's webhook
// secret.
//
// Must never: leave a server or a listening socket behind, listen anywhere
// but on loopback, or depend on today's date for a verdict.
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';

import { startReady } from './lib/server.mjs';

const SOURCE = process.env.SHIMING_SOURCE ?? '.';
const DOC = JSON.parse(readFileSync(join(SOURCE, 'src/api/openapi.json'), 'utf8'));
const WANG = { name: '王伟', id_number: '110105198503150035', at: '2026-01-01' }; // match
const LI = { name: '李娜', id_number: '310104199208080025', at: '2026-01-01' };   // match
const KINDS = ['native', 'bearer', 'appcode', 'apikey', 'accesskey', 'appsecret'];
const WITH_ID = new Set(['apikey', 'accesskey', 'appsecret']);

/** Follow a local $ref of the document. */
function resolve(node) {
  for (let hops = 0; node && node.$ref && hops < 8; hops++)
    node = node.$ref.slice(2).split('/').reduce((o, k) => o?.[k], DOC);
  return node;
}

/** The subset of OpenAPI 3.0 schemas the document uses; a list of errors. */
function validate(schema, value, at = '$', errors = []) {
  schema = resolve(schema);
  if (value === null) {
    if (!schema.nullable) errors.push(`${at}: null is not allowed`);
    return errors;
  }
  const actual = Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  const type = schema.type;
  if (type && !(type === actual || (type === 'number' && actual === 'integer'))) {
    errors.push(`${at}: ${JSON.stringify(value)} is not of type ${type}`);
    return errors;
  }
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${at}: ${value} not in enum`);
  if (schema.pattern && typeof value === 'string' && !new RegExp(schema.pattern, 'u').test(value))
    errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  if (schema.minimum !== undefined && typeof value === 'number' && value < schema.minimum)
    errors.push(`${at}: ${value} < ${schema.minimum}`);
  if (actual === 'object') {
    for (const k of schema.required ?? []) if (!(k in value)) errors.push(`${at}: ${k} missing`);
    for (const [k, v] of Object.entries(value)) {
      if (schema.properties && k in schema.properties) validate(schema.properties[k], v, `${at}.${k}`, errors);
      else if (schema.additionalProperties === false) errors.push(`${at}: undocumented key ${k}`);
    }
  }
  if (actual === 'array' && schema.items) value.forEach((v, i) => validate(schema.items, v, `${at}[${i}]`, errors));
  return errors;
}

/** The documented admin operations: [{ method, path, op }]. */
function adminOperations() {
  const out = [];
  for (const [path, item] of Object.entries(DOC.paths))
    if (path.startsWith('/admin/'))
      for (const method of ['get', 'post', 'patch', 'put', 'delete'])
        if (item[method]) out.push({ method, path, op: item[method] });
  return out;
}

/** Assert that an answer fits the schema documented for its status. */
function assertDocumented(method, path, r) {
  const op = DOC.paths[path]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${path} is documented`);
  const resp = resolve(op.responses[String(r.status)]);
  assert.ok(resp, `${method} ${path} documents a ${r.status} answer: ${r.text}`);
  const schema = resp.content?.['application/json']?.schema;
  assert.ok(schema, `${method} ${path} ${r.status}: a JSON schema`);
  assert.deepEqual(validate(schema, r.json), [], `${method} ${path} ${r.status}: ${r.text}`);
}

function tokenOf(s) {
  return readFileSync(join(s.dir, 'admin.token'), 'utf8').trim();
}

/** One admin call. `auth`: the Authorization value (undefined: the server's
 * token; null: none). `body`: a value (sent as JSON) or a string. `from`: the
 * loopback address to call from (failed attempts count per address). */
function call(s, method, path, body, { auth, contentType = 'application/json', from } = {}) {
  const headers = {};
  const a = auth === undefined ? `Bearer ${tokenOf(s)}` : auth;
  if (a !== null) headers.authorization = a;
  const payload = body === undefined ? undefined
    : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  if (payload !== undefined) {
    headers['content-type'] = contentType;
    headers['content-length'] = String(payload.length);
  }
  return new Promise((resolveCall, rejectCall) => {
    const req = http.request({
      host: '127.0.0.1', port: s.port, method, path, headers, localAddress: from, agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON: the caller asserts */ }
        resolveCall({ status: res.statusCode, headers: new Headers(res.headers), text, json });
      });
    });
    req.on('error', rejectCall);
    req.end(payload);
  });
}

/** A concrete path for a documented one ({name} → an app's name). */
const concrete = (path, name) => path.replace('{name}', name);

describe('the admin API', () => {
  let s;
  before(async () => {
    s = await startReady();
  });
  after(async () => {
    const r = await s.stop();
    assert.deepEqual(r, { code: 0, signal: null }, s.stderrText.slice(-2000));
  });

  test('the token file: created on first start, mode 0600, 64 hex characters, never logged', () => {
    const file = join(s.dir, 'admin.token');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const token = tokenOf(s);
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.ok(!s.stderrText.includes(token), 'the token is not in the log');
    assert.ok(s.lines.some((l) => l.event === 'admin_token_created'));
  });

  test('documents exactly the admin operations it serves', () => {
    const ops = adminOperations().map((o) => `${o.method.toUpperCase()} ${o.path}`).sort();
    assert.deepEqual(ops, [
      'GET /admin/v1/apps', 'GET /admin/v1/apps/{name}', 'GET /admin/v1/apps/{name}/usage',
      'GET /admin/v1/audit', 'GET /admin/v1/keys', 'PATCH /admin/v1/apps/{name}', 'POST /admin/v1/apps',
      'POST /admin/v1/apps/{name}/credentials', 'POST /admin/v1/apps/{name}/packages',
      'POST /admin/v1/audit/verify',
    ]);
    for (const { op } of adminOperations())
      assert.deepEqual(op.security, [{ adminToken: [] }]);
  });

  test('every admin operation answers 401 without the token, with a wrong one, or another scheme', async () => {
    const wrong = 'f'.repeat(64);
    let n = 0;
    for (const { method, path, op } of adminOperations()) {
      // each operation from its own loopback address: 5 failures stay under
      // the limit of failed attempts per address
      const from = `127.0.0.${100 + n++}`;
      const p = concrete(path, 'demo');
      const body = op.requestBody ? resolve(op.requestBody.content['application/json'].schema).example : undefined;
      for (const auth of [null, `Bearer ${wrong}`, `Basic ${Buffer.from('admin:' + tokenOf(s)).toString('base64')}`,
        'Bearer demo-key', `Bearer ${tokenOf(s).slice(0, 63)}`]) {
        const r = await call(s, method.toUpperCase(), p, body, { auth, from });
        assert.equal(r.status, 401, `${method} ${p} with ${auth === null ? 'no token' : auth.slice(0, 12)}: ${r.text}`);
        assert.equal(r.json.error.code, 'unauthorized');
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
        assert.ok(!r.text.includes(tokenOf(s)));
        assertDocumented(method, path, r);
      }
    }
    // nothing was created by the refused calls
    const apps = await call(s, 'GET', '/admin/v1/apps');
    assert.deepEqual(apps.json.apps.map((a) => a.name), ['demo']);
  });

  test('apps: create, list, get, patch; errors 409, 404, 400, 405, 415', async () => {
    let r = await call(s, 'POST', '/admin/v1/apps', { name: 'shop', daily_limit: 1000, rate_per_s: 20, burst: 40 });
    assert.equal(r.status, 201, r.text);
    assertDocumented('POST', '/admin/v1/apps', r);
    assert.equal(r.json.name, 'shop');
    assert.equal(r.json.status, 'active');
    assert.equal(r.json.daily_limit, 1000);
    assert.equal(r.json.rate_per_s, 20);
    assert.equal(r.json.burst, 40);
    assert.equal(r.json.webhook_secret, undefined, 'the list and create answers carry no webhook secret');

    r = await call(s, 'POST', '/admin/v1/apps', { name: 'shop' });
    assert.equal(r.status, 409);
    assert.equal(r.json.error.code, 'conflict');
    assertDocumented('POST', '/admin/v1/apps', r);

    // a refused setting creates nothing
    r = await call(s, 'POST', '/admin/v1/apps', { name: 'walled', ip_allow: '10.0.0.0/33' });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'invalid_field');
    r = await call(s, 'GET', '/admin/v1/apps/walled');
    assert.equal(r.status, 404);
    r = await call(s, 'POST', '/admin/v1/apps', { name: 'bad name!' });
    assert.equal(r.status, 400);
    r = await call(s, 'POST', '/admin/v1/apps', { name: 'x', dialy_limit: 5 });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /dialy_limit/);
    r = await call(s, 'POST', '/admin/v1/apps', { daily_limit: 5 });
    assert.equal(r.json.error.code, 'missing_field');
    r = await call(s, 'POST', '/admin/v1/apps', { name: 'y', daily_limit: -1 });
    assert.equal(r.json.error.code, 'invalid_field');
    r = await call(s, 'POST', '/admin/v1/apps', '{"name":', {});
    assert.equal(r.json.error.code, 'bad_json');
    r = await call(s, 'POST', '/admin/v1/apps', '{"name":"z"}', { contentType: 'text/plain' });
    assert.equal(r.status, 415);

    r = await call(s, 'GET', '/admin/v1/apps');
    assert.equal(r.status, 200);
    assertDocumented('GET', '/admin/v1/apps', r);
    assert.deepEqual(r.json.apps.map((a) => a.name), ['demo', 'shop']);

    r = await call(s, 'GET', '/admin/v1/apps/shop');
    assert.equal(r.status, 200);
    assertDocumented('GET', '/admin/v1/apps/{name}', r);
    assert.match(r.json.webhook_secret, /^[0-9a-f]{64}$/);

    r = await call(s, 'PATCH', '/admin/v1/apps/shop', { status: 'frozen', ip_allow: '127.0.0.1/32, ::1/128', webhook_url: '' });
    assert.equal(r.status, 200, r.text);
    assertDocumented('PATCH', '/admin/v1/apps/{name}', r);
    assert.equal(r.json.status, 'frozen');
    assert.equal(r.json.daily_limit, 1000, 'fields not given stay');
    r = await call(s, 'PATCH', '/admin/v1/apps/shop', { status: 'active' });
    assert.equal(r.json.status, 'active');
    assert.match(r.json.ip_allow, /127\.0\.0\.1\/32/);
    r = await call(s, 'PATCH', '/admin/v1/apps/shop', {});
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'missing_field');
    r = await call(s, 'PATCH', '/admin/v1/apps/shop', { status: 'paused' });
    assert.equal(r.json.error.code, 'invalid_field');
    r = await call(s, 'PATCH', '/admin/v1/apps/shop', { webhook_url: 'ftp://example.com/' });
    assert.equal(r.status, 400);
    r = await call(s, 'PATCH', '/admin/v1/apps/shop', { rate_per_s: 5, burst: 0 });
    assert.equal(r.status, 400, 'a rate needs a burst');

    r = await call(s, 'GET', '/admin/v1/apps/nosuch');
    assert.equal(r.status, 404);
    assertDocumented('GET', '/admin/v1/apps/{name}', r);
    r = await call(s, 'PATCH', '/admin/v1/apps/nosuch', { status: 'frozen' });
    assert.equal(r.status, 404);
    r = await call(s, 'GET', '/admin/v1/apps/shop/nothing');
    assert.equal(r.status, 404);
    r = await call(s, 'GET', '/admin/v1/apps/');
    assert.equal(r.status, 404);
    r = await call(s, 'DELETE', '/admin/v1/apps/shop');
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, HEAD, PATCH');
    r = await call(s, 'GET', '/admin/v1/audit/verify');
    assert.equal(r.status, 405);
  });

  test('credentials of every kind: the secret is shown once, and works', async () => {
    await call(s, 'POST', '/admin/v1/apps', { name: 'creds' });
    const secrets = [];
    for (const kind of KINDS) {
      const r = await call(s, 'POST', '/admin/v1/apps/creds/credentials', { kind });
      assert.equal(r.status, 201, `${kind}: ${r.text}`);
      assertDocumented('POST', '/admin/v1/apps/{name}/credentials', r);
      assert.equal(r.json.kind, kind);
      assert.equal(r.json.app, 'creds');
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.ok(r.json.secret.length >= 16, kind);
      assert.match(r.json.warning, /once/);
      if (WITH_ID.has(kind)) assert.ok(r.json.id.length > 0, `${kind} has an id`);
      else assert.equal(r.json.id, null, `${kind} has no id`);
      secrets.push(r.json.secret);
      if (kind === 'native') {
        // the new key opens /v1
        const v = await fetch(s.url + '/v1/idcard/parse', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${r.json.secret}` },
          body: JSON.stringify({ id_number: '11010519491231002X' }),
        });
        assert.equal(v.status, 200);
      }
    }
    assert.equal(new Set(secrets).size, KINDS.length, 'every secret is new');
    // never shown again: not by the app, the list, the usage, nor the log
    const again = [await call(s, 'GET', '/admin/v1/apps/creds'), await call(s, 'GET', '/admin/v1/apps'),
      await call(s, 'GET', '/admin/v1/apps/creds/usage')];
    for (const secret of secrets) {
      for (const r of again) assert.ok(!r.text.includes(secret));
      assert.ok(!s.stderrText.includes(secret), 'no secret in the log');
    }
    let r = await call(s, 'POST', '/admin/v1/apps/creds/credentials', { kind: 'password' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'invalid_field');
    r = await call(s, 'POST', '/admin/v1/apps/creds/credentials', {});
    assert.equal(r.json.error.code, 'missing_field');
    r = await call(s, 'POST', '/admin/v1/apps/nosuch/credentials', { kind: 'native' });
    assert.equal(r.status, 404);
  });

  test('packages and usage ("used/total"), audit rows with masked subjects, audit verify', async () => {
    await call(s, 'POST', '/admin/v1/apps', { name: 'meter' });
    const key = (await call(s, 'POST', '/admin/v1/apps/meter/credentials', { kind: 'native' })).json.secret;
    let r = await call(s, 'POST', '/admin/v1/apps/meter/packages', { product: 'id2', total: 9115, expires: '2099-12-31' });
    assert.equal(r.status, 201, r.text);
    assertDocumented('POST', '/admin/v1/apps/{name}/packages', r);
    assert.deepEqual(r.json.added, { product: 'id2', total: 9115, expires: '2099-12-31' });
    r = await call(s, 'POST', '/admin/v1/apps/meter/packages', { product: 'id2', total: 100 });
    assert.equal(r.status, 201);
    r = await call(s, 'POST', '/admin/v1/apps/meter/packages', { product: 'nosuch', total: 100 });
    assert.equal(r.status, 400);
    r = await call(s, 'POST', '/admin/v1/apps/meter/packages', { product: 'id2', total: 0 });
    assert.equal(r.status, 400);
    r = await call(s, 'POST', '/admin/v1/apps/meter/packages', { product: 'id2', total: 5, expires: '2099-02-30' });
    assert.equal(r.status, 400);
    r = await call(s, 'POST', '/admin/v1/apps/meter/packages', { product: 'id2' });
    assert.equal(r.json.error.code, 'missing_field');

    const verify = (body) => fetch(s.url + '/v1/verify/id2', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    }).then(async (res) => ({ status: res.status, json: await res.json() }));
    for (const body of [WANG, LI, { ...WANG, name: '王芳' }]) {
      const v = await verify(body);
      assert.equal(v.status, 200);
    }

    r = await call(s, 'GET', '/admin/v1/apps/meter/usage');
    assert.equal(r.status, 200);
    assertDocumented('GET', '/admin/v1/apps/{name}/usage', r);
    const texts = r.json.packages.map((p) => `${p.product} ${p.text} ${p.expires}`);
    // the package that expires first is used first
    assert.deepEqual(texts.sort(), ['id2 0/100 null', 'id2 3/9115 2099-12-31']);
    const big = r.json.packages.find((p) => p.total === 9115);
    assert.equal(big.remaining, 9112);
    assert.equal(big.remaining_percent, 99.9);
    assert.equal(big.expired, false);

    r = await call(s, 'GET', '/admin/v1/audit?app=meter');
    assert.equal(r.status, 200, r.text);
    assertDocumented('GET', '/admin/v1/audit', r);
    assert.equal(r.json.count, 3);
    assert.equal(r.json.truncated, false);
    const text = JSON.stringify(r.json);
    for (const raw of ['110105198503150035', '310104199208080025', '王伟', '李娜', '王芳'])
      assert.ok(!text.includes(raw), `no raw ${raw} in audit rows`);
    assert.ok(text.includes('110***********0035'), 'masked ID numbers');
    assert.ok(text.includes('王*'), 'masked names');

    r = await call(s, 'GET', '/admin/v1/audit?app=meter&limit=2');
    assert.equal(r.json.count, 2);
    assert.equal(r.json.truncated, true);
    r = await call(s, 'GET', '/admin/v1/audit?app=meter&from=2000-01-01&to=2000-12-31');
    assert.equal(r.json.count, 0);
    r = await call(s, 'GET', '/admin/v1/audit?app=nosuch');
    assert.equal(r.status, 404);
    for (const q of ['limit=0', 'limit=abc', 'limit=1001', 'from=2020-13-01', 'from=2021-01-02&to=2021-01-01']) {
      r = await call(s, 'GET', `/admin/v1/audit?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.error.code, 'invalid_field', q);
    }

    r = await call(s, 'POST', '/admin/v1/audit/verify');
    assert.equal(r.status, 200);
    assertDocumented('POST', '/admin/v1/audit/verify', r);
    assert.equal(r.json.intact, true);
    assert.ok(r.json.rows >= 3);
    assert.equal(r.json.first_broken, null);
  });
});

describe('the admin API under attack', () => {
  let s;
  before(async () => {
    s = await startReady([], { demo: false });
  });
  after(async () => {
    const r = await s.stop();
    assert.deepEqual(r, { code: 0, signal: null }, s.stderrText.slice(-2000));
  });

  test('an address that fails too often is refused for a while, even with the right token', async () => {
    let r = await call(s, 'GET', '/admin/v1/apps');
    assert.equal(r.status, 200);
    let blocked = null;
    for (let i = 0; i < 40 && !blocked; i++) {
      r = await call(s, 'GET', '/admin/v1/apps', undefined, { auth: `Bearer ${'0'.repeat(64)}` });
      if (r.status === 429) blocked = r;
      else assert.equal(r.status, 401);
    }
    assert.ok(blocked, 'blocked after repeated failures');
    assert.equal(blocked.json.error.code, 'too_many_requests');
    assert.ok(Number(blocked.headers.get('retry-after')) >= 1);
    assertDocumented('GET', '/admin/v1/apps', blocked);
    r = await call(s, 'GET', '/admin/v1/apps');
    assert.equal(r.status, 429, 'the right token is refused too while blocked');
  });
});

describe('package alerts reach the app webhook, signed', () => {
  let s;
  let hook;
  const got = [];
  before(async () => {
    hook = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        got.push({ headers: req.headers, url: req.url, body: Buffer.concat(chunks) });
        // the first delivery fails: the alert must come again
        res.writeHead(got.length === 1 ? 500 : 204).end();
      });
    });
    await new Promise((resolveListen) => hook.listen(0, '127.0.0.1', resolveListen));
    s = await startReady();
  });
  after(async () => {
    const r = await s.stop();
    await new Promise((resolveClose) => hook.close(resolveClose));
    assert.deepEqual(r, { code: 0, signal: null }, s.stderrText.slice(-2000));
  });

  test('a package used down to 20 % raises package_low, delivered after a retry', async () => {
    const url = `http://127.0.0.1:${hook.address().port}/shiming`;
    let r = await call(s, 'POST', '/admin/v1/apps', { name: 'hooked', webhook_url: url });
    assert.equal(r.status, 201, r.text);
    const secret = (await call(s, 'GET', '/admin/v1/apps/hooked')).json.webhook_secret;
    const key = (await call(s, 'POST', '/admin/v1/apps/hooked/credentials', { kind: 'native' })).json.secret;
    await call(s, 'POST', '/admin/v1/apps/hooked/packages', { product: 'id2', total: 5 });
    for (let i = 0; i < 4; i++) {
      const res = await fetch(s.url + '/v1/verify/id2', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify(WANG),
      });
      assert.equal(res.status, 200);
      await res.text();
    }
    const deadline = Date.now() + 10_000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 50));
    assert.equal(got.length, 2, 'one failed delivery, then one that succeeded');
    for (const g of got) {
      assert.equal(g.url, '/shiming');
      assert.equal(g.headers['content-type'], 'application/json');
      const mac = createHmac('sha256', secret).update(g.body).digest('hex');
      assert.equal(g.headers['x-shiming-signature'], `sha256=${mac}`);
      const event = JSON.parse(g.body.toString('utf8'));
      assert.equal(event.type, 'package_low');
      assert.equal(event.app, 'hooked');
      assert.ok(Number.isInteger(event.id));
      assert.ok(!Number.isNaN(Date.parse(event.time)));
      assert.equal(event.data.product, 'id2');
      assert.equal(event.data.total, 5);
      assert.equal(event.data.remaining, 1);
    }
    assert.deepEqual(got[0].body, got[1].body, 'the retry carries the same event');
    // the signature is the app's: another app's secret does not make it
    const other = (await call(s, 'GET', '/admin/v1/apps/demo')).json.webhook_secret;
    assert.notEqual(other, secret);
    assert.notEqual(`sha256=${createHmac('sha256', other).update(got[0].body).digest('hex')}`,
      got[0].headers['x-shiming-signature']);
    assert.ok(!s.stderrText.includes(secret), 'the webhook secret is not logged');
  });
});
