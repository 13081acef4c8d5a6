// Black-box tests of POST /v1/ocr/idcard against the real server.
//
// Covered now (no OCR engine needed): authentication and admission (the
// tenancy guard: 401, quota_exhausted), every input error (wrong method,
// content types, bad JSON, missing / both / wrongly typed fields, bad
// base64, bad side, multipart without image, with two images, malformed
// multipart, oversized bodies), image URLs (SSRF-forbidden addresses and
// a redirect to the metadata address, not http(s), unreachable, 404,
// timeout, too large), images that are not images, [vision] enabled =
// false (503 ocr_disabled), the queue full (503 ocr_busy with
// Retry-After, workers = 1, queue_max = 1 and slow downloads), the
// Idempotency-Key header's format, the audit rows (native, vendor code,
// not charged) and a clean shutdown with jobs in flight.
// With the OCR engine (required: a probe — a blank PNG answers 200 only
// where OCR runs — fails the suite when scripts/setup's models are
// missing): the 200 answer's
// shape and charge, multipart and URL reads, idempotent replays, and the
// synthetic cards (tools/cardgen's tests set, generated at run time, or
// SHIMING_IDCARD_FIXTURES: a folder with its truth.jsonl).
//
// Must never: reach outside 127.0.0.1, or leave a server running.
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DEMO_AUTH, postJson, startReady } from './lib/server.mjs';
import { BLANK_PNG, MODELS_DIR, closeServer, imageServer, syntheticCards } from './lib/images.mjs';

const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;
const PATH = '/v1/ocr/idcard';
const NEEDS_OCR = 'the OCR engine does not read here: scripts/setup installs ONNX Runtime and the models (deps/)';
const FIELDS = ['name', 'sex', 'ethnicity', 'birth', 'address', 'id_number', 'authority', 'valid_from', 'valid_to'];

async function stopClean(s) {
  const r = await s.stop();
  assert.deepEqual(r, { code: 0, signal: null }, `exit status; stderr tail:\n${s.stderrText.slice(-3000)}`);
  assert.doesNotMatch(s.stderrText, SANITIZER);
}

/** A multipart/form-data POST built by fetch's FormData. parts: [[name, value, filename?]]. */
async function postMultipart(s, parts, headers = DEMO_AUTH) {
  const fd = new FormData();
  for (const [name, value, filename] of parts)
    if (filename !== undefined) fd.append(name, new Blob([value]), filename);
    else fd.append(name, value);
  const res = await fetch(s.url + PATH, { method: 'POST', headers, body: fd });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* asserted by the caller */ }
  return { status: res.status, headers: res.headers, text, json };
}

/** A raw POST with our own Content-Type. */
async function postRaw(s, body, contentType, headers = DEMO_AUTH) {
  const res = await fetch(s.url + PATH, { method: 'POST', headers: { ...headers, 'content-type': contentType }, body });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* asserted by the caller */ }
  return { status: res.status, headers: res.headers, text, json };
}

function assertError(r, status, code, message) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json?.error, r.text);
  assert.equal(r.json.error.code, code, r.text);
  assert.equal(typeof r.json.error.message, 'string');
  assert.equal(r.json.error.request_id, r.headers.get('x-request-id'));
  if (message) assert.match(r.json.error.message, message);
}

/** The errors that mean "no OCR engine here" for a valid image. */
function notReadable(r) {
  return (r.status === 503 && r.json?.error?.code === 'ocr_unavailable') ||
    (r.status === 415 && r.json?.error?.code === 'unsupported_image');
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

describe('POST /v1/ocr/idcard', () => {
  let s;
  let img;
  let imgUrl;
  let ready = false;
  before(async () => {
    img = await imageServer();
    imgUrl = `http://127.0.0.1:${img.address().port}`;
    s = await startReady(['--models-dir', MODELS_DIR, '--max-body', '64KiB', '--vision-max-upload', '256KiB', '--fetch-allow-cidrs', '127.0.0.1/32',
      '--fetch-max-bytes', '64KiB', '--fetch-timeout-ms', '1500']);
    const probe = await postJson(s, PATH, { image_base64: BLANK_PNG });
    ready = probe.status === 200;
    if (!ready) assert.ok(notReadable(probe), `the probe: ${probe.text}`);
  });
  after(async () => {
    if (s) await stopClean(s);
    if (img) await closeServer(img);
  });

  test('needs an app key; other methods are 405', async () => {
    assertError(await postJson(s, PATH, { image_base64: BLANK_PNG }, { authorization: null }), 401, 'unauthorized');
    assertError(await postJson(s, PATH, { image_base64: BLANK_PNG }, { authorization: 'Bearer nope' }), 401, 'unauthorized');
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await fetch(s.url + PATH, { method, headers: DEMO_AUTH });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'POST');
      await res.arrayBuffer();
    }
  });

  test('JSON input errors', async () => {
    assertError(await postJson(s, PATH, '{"image_base64":'), 400, 'bad_json');
    assertError(await postJson(s, PATH, '[]'), 400, 'bad_json');
    assertError(await postJson(s, PATH, '{"image_base64":"a","image_base64":"b"}'), 400, 'bad_json');
    assertError(await postJson(s, PATH, {}), 400, 'missing_field', /'image_base64' or 'image_url'/);
    assertError(await postJson(s, PATH, { image_base64: null }), 400, 'missing_field');
    assertError(await postJson(s, PATH, { image_base64: BLANK_PNG, image_url: `${imgUrl}/png` }), 400, 'invalid_field', /not both/);
    assertError(await postJson(s, PATH, { image_base64: 42 }), 400, 'invalid_field', /'image_base64'/);
    assertError(await postJson(s, PATH, { image_url: ['x'] }), 400, 'invalid_field', /'image_url'/);
    assertError(await postJson(s, PATH, { image_base64: BLANK_PNG, side: 'left' }), 400, 'invalid_field', /'side'/);
    assertError(await postJson(s, PATH, { image_base64: BLANK_PNG, side: 1 }), 400, 'invalid_field', /'side'/);
    for (const b64 of ['', '!!!', 'aGVsbG8=x', 'a', 'aGVsbA='])
      assertError(await postJson(s, PATH, { image_base64: b64 }), 400, 'invalid_field', /base64/);
    for (const url of ['', 'card.jpg', 'ftp://127.0.0.1/x.jpg', 'file:///etc/passwd', 'http://' + 'a'.repeat(1100)])
      assert.ok(['invalid_url'].includes((await postJson(s, PATH, { image_url: url })).json.error.code), url);
  });

  test('content types, multipart errors, oversized bodies', async () => {
    assertError(await postRaw(s, 'x', 'text/plain'), 415, 'unsupported_media_type');
    assertError(await postRaw(s, 'image_base64=x', 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type');
    assertError(await postMultipart(s, [['other', 'x']]), 400, 'missing_field', /'image'/);
    // an empty part is as good as none (libmicrohttpd reports no bytes for it)
    assertError(await postMultipart(s, [['image', '', 'a.png']]), 400, 'missing_field', /'image'/);
    assertError(await postMultipart(s, [['image', 'a', 'a.png'], ['image', 'b', 'b.png']]), 400, 'invalid_field', /more than once/);
    assertError(await postMultipart(s, [['image', 'a', 'a.png'], ['side', 'up']]), 400, 'invalid_field', /'side'/);
    assertError(await postMultipart(s, [['image', 'a', 'a.png'], ['side', 'front'], ['side', 'back']]), 400, 'invalid_field', /more than once/);
    assertError(await postRaw(s, 'garbage', 'multipart/form-data'), 400, 'bad_multipart');
    const big = await postJson(s, PATH, { image_base64: 'A'.repeat(300 * 1024) });
    assertError(big, 413, 'body_too_large');
    const bigUpload = await postMultipart(s, [['image', Buffer.alloc(300 * 1024, 1), 'big.png']]);
    assertError(bigUpload, 413, 'body_too_large');
    // the image routes' own limit ([vision] max_upload, 256 KiB here) is above
    // the server's (max_body, 64 KiB): a 100 KiB upload reaches the reader,
    // while the same size is too large for any other route
    const mid = await postMultipart(s, [['image', Buffer.alloc(100 * 1024, 1), 'mid.png']]);
    assert.notEqual(mid.status, 413, mid.text);
    const other = await postJson(s, '/v1/verify/id2', { name: '王伟', id_number: '110105198503150035', pad: 'x'.repeat(100 * 1024) });
    assertError(other, 413, 'body_too_large');
  });

  test('what is not an image is refused, by value, upload or URL', async () => {
    const text = Buffer.from('hello, not an image');
    assertError(await postJson(s, PATH, { image_base64: text.toString('base64') }), 415, 'unsupported_image');
    assertError(await postMultipart(s, [['image', text, 'x.png']]), 415, 'unsupported_image');
    assertError(await postJson(s, PATH, { image_url: `${imgUrl}/text` }), 415, 'unsupported_image');
  });

  test('image URLs: the SSRF guard and download failures', async () => {
    const cases = [
      ['http://169.254.169.254/latest/meta-data/', 422, 'fetch_forbidden'],
      [`http://127.0.0.2:${img.address().port}/png`, 422, 'fetch_forbidden'],
      ['http://192.168.1.1/card.jpg', 422, 'fetch_forbidden'],
      ['http://100.64.0.1/card.jpg', 422, 'fetch_forbidden'],
      ['http://[fd00::1]/card.jpg', 422, 'fetch_forbidden'],
      ['http://[::ffff:169.254.169.254]/', 422, 'fetch_forbidden'],
      [`${imgUrl}/redirect?to=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`, 422, 'fetch_forbidden'],
      [`${imgUrl}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`, 422, 'fetch_forbidden'],
      [`${imgUrl}/nothing`, 502, 'fetch_failed'],
      ['http://127.0.0.1:1/card.jpg', 502, 'fetch_failed'],
      [`${imgUrl}/big`, 413, 'image_too_large'],
      [`${imgUrl}/slow?ms=4000`, 504, 'fetch_timeout'],
    ];
    for (const [url, status, code] of cases) {
      const r = await postJson(s, PATH, { image_url: url });
      assertError(r, status, code);
      assert.doesNotMatch(r.text, /169\.254|127\.0\.0\.2|nothing/, 'the URL is not echoed');
    }
  });

  test('Idempotency-Key must be printable ASCII of 1 to 128 characters', async () => {
    assertError(await postJson(s, PATH, { image_base64: BLANK_PNG }, { 'idempotency-key': 'x'.repeat(129) }), 400, 'invalid_field', /Idempotency-Key/);
  });

  test('audit rows: native, the error code, not charged', async () => {
    const r = await postJson(s, PATH, { image_url: 'http://169.254.169.254/' });
    const id = r.headers.get('x-request-id');
    const audit = await admin(s, 'GET', '/audit?app=demo&limit=1000');
    const row = audit.rows.find((x) => x.request_id === id);
    assert.ok(row, `audit row of ${id}`);
    assert.equal(row.product, 'ocr_idcard');
    assert.equal(row.dialect, 'native');
    assert.equal(row.vendor_code, 'fetch_forbidden');
    assert.equal(row.charged, false);
    // refused before the workers (bad base64): no row
    const bad = await postJson(s, PATH, { image_base64: '!!!' });
    const audit2 = await admin(s, 'GET', '/audit?app=demo&limit=1000');
    assert.ok(!audit2.rows.some((x) => x.request_id === bad.headers.get('x-request-id')));
  });

  test('an app without units: 403 quota_exhausted, nothing run', async () => {
    await admin(s, 'POST', '/apps', { name: 'ocr-poor' });
    const cred = await admin(s, 'POST', '/apps/ocr-poor/credentials', { kind: 'native' });
    const auth = { authorization: `Bearer ${cred.secret}` };
    assertError(await postJson(s, PATH, { image_url: 'http://169.254.169.254/' }, auth), 403, 'quota_exhausted');
  });

  test('a read: the answer and its charge (needs the OCR engine)', async () => {
    assert.ok(ready, NEEDS_OCR);
    const used = async () => (await admin(s, 'GET', '/apps/demo/usage')).packages
      .filter((p) => p.product === 'ocr_idcard').reduce((a, p) => a + p.used, 0);
    const before0 = await used();
    const answers = [
      await postJson(s, PATH, { image_base64: BLANK_PNG, side: 'front' }),
      await postMultipart(s, [['image', Buffer.from(BLANK_PNG, 'base64'), 'blank.png'], ['side', 'back']]),
      await postJson(s, PATH, { image_url: `${imgUrl}/png` }),
    ];
    for (const r of answers) {
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(Object.keys(r.json), ['side', 'fields', 'idcard_number_type', 'image_status', 'checks', 'charged', 'request_id', 'timing_ms']);
      assert.deepEqual(Object.keys(r.json.fields), FIELDS);
      assert.equal(r.json.image_status, 'non_idcard');
      assert.equal(r.json.charged, true);
      assert.equal(r.json.request_id, r.headers.get('x-request-id'));
      assert.ok(r.json.timing_ms > 0);
    }
    assert.equal(await used() - before0, 3);
    // an idempotent repeat: the same bytes, no new charge
    const h = { 'idempotency-key': 'ocr-test-1' };
    const first = await postJson(s, PATH, { image_base64: BLANK_PNG }, h);
    const again = await postJson(s, PATH, { image_base64: BLANK_PNG }, h);
    assert.equal(again.headers.get('idempotent-replay'), 'true');
    assert.equal(again.text, first.text);
    assert.equal(await used() - before0, 4);
  });

  test('synthetic cards: the fields read (needs the OCR engine)', async () => {
    assert.ok(ready, NEEDS_OCR);
    const cards = syntheticCards();
    assert.ok(cards !== null, 'tools/cardgen cannot run: scripts/setup installs python3-pil and python3-numpy');
    try {
      let n = 0;
      for (const c of cards.list) {
        const r = await postMultipart(s, [['image', readFileSync(c.path), c.file.split('/').pop()], ['side', c.side]]);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.side, c.side, c.file);
        assert.equal(r.json.image_status, 'normal', c.file);
        for (const f of FIELDS)
          if (f in c.fields) assert.equal(r.json.fields[f]?.text, c.fields[f], `${c.file} ${f}`);
          else assert.equal(r.json.fields[f], null, `${c.file} ${f}`);
        if (c.side === 'front') {
          assert.equal(r.json.idcard_number_type, 1, c.file);
          assert.deepEqual(r.json.checks, { id_number: 'ok', period: null }, c.file);
        } else {
          assert.deepEqual(r.json.checks, { id_number: null, period: 'ok' }, c.file);
        }
        n++;
      }
      assert.ok(n >= 4, 'cards read');
      // the other side asked for
      const front = cards.list.find((c) => c.side === 'front');
      const r = await postJson(s, PATH, { image_base64: readFileSync(front.path).toString('base64'), side: 'back' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.image_status, 'reversed_side');
    } finally {
      cards.cleanup();
    }
  });
});

describe('POST /v1/ocr/idcard: configuration', () => {
  test('503 ocr_disabled when [vision] enabled = false', async () => {
    const s = await startReady(['--no-vision-enabled']);
    try {
      assertError(await postJson(s, PATH, { image_base64: BLANK_PNG }), 503, 'ocr_disabled', /ocr disabled/);
      // input errors are still told first
      assertError(await postJson(s, PATH, {}), 400, 'missing_field');
    } finally {
      await stopClean(s);
    }
  });

  test('models that cannot be loaded: the server starts, logs why, and OCR answers 503', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'shiming-no-models-'));
    const s = await startReady(['--models-dir', empty]);
    try {
      const ev = s.lines.find((l) => l.event === 'ocr_unavailable' || l.event === 'ocr_ready');
      assert.ok(ev, 'an ocr_ready or ocr_unavailable event');
      assert.equal(ev.event, 'ocr_unavailable');
      assert.equal(typeof ev.message, 'string');
      const r = await postJson(s, PATH, { image_base64: BLANK_PNG });
      assert.ok(notReadable(r), r.text);
    } finally {
      await stopClean(s);
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('503 ocr_busy with Retry-After when the worker is busy and the queue full; clean shutdown', async () => {
    const img = await imageServer();
    const url = `http://127.0.0.1:${img.address().port}/slow?ms=2500`;
    const s = await startReady(['--models-dir', MODELS_DIR, '--vision-workers', '1', '--vision-queue-max', '1', '--fetch-allow-cidrs', '127.0.0.1']);
    try {
      const first = postJson(s, PATH, { image_url: url });
      await new Promise((r) => setTimeout(r, 300));
      const second = postJson(s, PATH, { image_url: url });
      await new Promise((r) => setTimeout(r, 300));
      const third = await postJson(s, PATH, { image_url: url });
      assertError(third, 503, 'ocr_busy');
      assert.match(third.headers.get('retry-after'), /^\d+$/);
      for (const r of await Promise.all([first, second]))
        assert.notEqual(r.json?.error?.code, 'ocr_busy', r.text);
      // jobs in flight at shutdown are finished, and the server exits 0
      postJson(s, PATH, { image_url: url }).catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await stopClean(s);
      await closeServer(img);
    }
  });

  test('a bad [fetch] allow_cidrs is a usage error', async () => {
    const { runServe } = await import('./lib/server.mjs');
    for (const bad of ['localhost', '10.0.0.0/33', '1.2.3.4/x'])
      assert.equal((await runServe(['--fetch-allow-cidrs', bad])).code, 2, bad);
    for (const bad of [['--vision-workers', '0'], ['--vision-queue-max', '0'], ['--fetch-timeout-ms', '5']])
      assert.equal((await runServe(bad)).code, 2, bad.join(' '));
  });
});
