// Black-box tests of POST /v1/face/compare and /v1/face/verify against the
// real server and the real face models (deps/models, scripts/setup).
//
// Covered: authentication, every input error the fronts answer (missing,
// duplicated and wrongly typed fields, bad base64, invalid URLs, invalid
// ID numbers), same and different faces of ../shared/data/faces (read in
// place) with their charge, multipart and URL inputs (a loopback server,
// allowlisted with --fetch-allow-cidrs), no face (a generated gradient),
// too large / unsupported / corrupt images, a forbidden URL, idempotent
// replays, audit rows of errors (not charged), [vision] enabled = false,
// models missing (face_unavailable), and a full queue (face_busy with
// Retry-After). /v1/face/verify against a registry portrait is in
// ekyc-api.test.mjs (it needs a registry imported with portraits).
//
// Must never: reach outside 127.0.0.1, copy a face image, or leave a
// server running.
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DEMO_AUTH, postJson, startReady } from './lib/server.mjs';
import { BLANK_PNG, MODELS_DIR, closeServer } from './lib/images.mjs';
import {
  admin, assertError, faceBytes, faceLabels, faceServer, gradientBmp, otherIdentity,
  postMultipart, sameIdentity, used,
} from './lib/faces.mjs';

const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;
const COMPARE = '/v1/face/compare';
const VERIFY = '/v1/face/verify';

async function stopClean(s) {
  const r = await s.stop();
  assert.deepEqual(r, { code: 0, signal: null }, `exit status; stderr tail:\n${s.stderrText.slice(-3000)}`);
  assert.doesNotMatch(s.stderrText, SANITIZER);
}

const b64 = (buf) => buf.toString('base64');

function assertFace(f) {
  assert.deepEqual(Object.keys(f), ['box', 'quality', 'liveness', 'live', 'face_count']);
  assert.ok(f.box.x2 > f.box.x1 && f.box.y2 > f.box.y1, JSON.stringify(f.box));
  assert.ok(f.quality >= 0 && f.quality <= 1);
  assert.ok(f.liveness >= 0 && f.liveness <= 1);
  assert.equal(typeof f.live, 'boolean');
  assert.ok(f.face_count >= 1);
}

describe('POST /v1/face/compare and /v1/face/verify', () => {
  let s;
  let img;
  let imgUrl;
  const labels = faceLabels();
  const A = 'barack_obama_01.jpg';
  const A2 = sameIdentity(labels, A);
  const B = otherIdentity(labels, A, 3);
  before(async () => {
    img = await faceServer();
    imgUrl = `http://127.0.0.1:${img.address().port}`;
    s = await startReady(['--models-dir', MODELS_DIR, '--vision-max-upload', '2MiB', '--fetch-allow-cidrs', '127.0.0.1/32',
      '--fetch-max-bytes', '512KiB', '--fetch-timeout-ms', '1500']);
    const lines = s.lines.filter((l) => l.event === 'face_ready' || l.event === 'face_unavailable');
    assert.equal(lines.length, 1, s.stderrText.slice(-2000));
    assert.equal(lines[0].event, 'face_ready', `the face models must load (scripts/setup): ${JSON.stringify(lines[0])}`);
  });
  after(async () => {
    if (s) await stopClean(s);
    if (img) await closeServer(img);
  });

  test('needs an app key; other methods are 405', async () => {
    for (const path of [COMPARE, VERIFY, '/v1/ekyc']) {
      assertError(assert, await postJson(s, path, {}, { authorization: null }), 401, 'unauthorized');
      const res = await fetch(s.url + path, { method: 'GET', headers: DEMO_AUTH });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'POST');
      await res.arrayBuffer();
    }
  });

  test('input errors are answered by the front, uncharged', async () => {
    const before0 = await used(s, 'face_compare');
    assertError(assert, await postJson(s, COMPARE, {}), 400, 'missing_field', /'image_a_base64' or 'image_a_url'/);
    assertError(assert, await postJson(s, COMPARE, { image_a_base64: BLANK_PNG }), 400, 'missing_field', /'image_b_base64'/);
    assertError(assert, await postJson(s, COMPARE, { image_a_base64: BLANK_PNG, image_a_url: 'http://127.0.0.1/x', image_b: BLANK_PNG }), 400, 'invalid_field', /not several/);
    assertError(assert, await postJson(s, COMPARE, { image_a_base64: 42, image_b: BLANK_PNG }), 400, 'invalid_field', /'image_a_base64'/);
    assertError(assert, await postJson(s, COMPARE, { image_a_base64: '!!!', image_b: BLANK_PNG }), 400, 'invalid_field', /base64/);
    for (const url of ['ftp://127.0.0.1/x.jpg', 'http://' + 'a'.repeat(1100)])
      assertError(assert, await postJson(s, COMPARE, { image_a_url: url, image_b: BLANK_PNG }), 400, 'invalid_url');
    assertError(assert, await postJson(s, COMPARE, '{"image_a":'), 400, 'bad_json');
    assertError(assert, await postMultipart(s, COMPARE, [['image_a', faceBytes(A), 'a.jpg']], DEMO_AUTH), 400, 'missing_field', /'image_b'/);
    assertError(assert, await postMultipart(s, COMPARE, [['image_a', faceBytes(A), 'a.jpg'], ['image_a', faceBytes(A), 'a.jpg'], ['image_b', faceBytes(A), 'b.jpg']], DEMO_AUTH), 400, 'invalid_field', /more than once/);
    // verify: the number first
    assertError(assert, await postJson(s, VERIFY, { image_base64: BLANK_PNG }), 400, 'missing_field', /'id_number'/);
    assertError(assert, await postJson(s, VERIFY, { id_number: '110105198503150036', image_base64: BLANK_PNG }), 400, 'invalid_id', /checksum/);
    assertError(assert, await postJson(s, VERIFY, { id_number: '110105198503150035' }), 400, 'missing_field', /'image_base64'/);
    assert.equal(await used(s, 'face_compare'), before0);
  });

  test('the same person and another person: scores, boxes, one unit each', async () => {
    const before0 = await used(s, 'face_compare');
    const same = await postJson(s, COMPARE, { image_a_base64: b64(faceBytes(A)), image_b_base64: b64(faceBytes(A2)) });
    assert.equal(same.status, 200, same.text);
    assert.deepEqual(Object.keys(same.json), ['score', 'same_person', 'threshold', 'faces', 'charged', 'request_id', 'timing_ms']);
    assert.equal(same.json.same_person, true, same.text);
    assert.ok(same.json.score >= same.json.threshold, same.text);
    assert.equal(same.json.charged, true);
    assert.equal(same.json.request_id, same.headers.get('x-request-id'));
    same.json.faces.forEach(assertFace);
    const other = await postJson(s, COMPARE, { image_a: b64(faceBytes(A)), image_b: b64(faceBytes(B)) });
    assert.equal(other.status, 200, other.text);
    assert.equal(other.json.same_person, false, other.text);
    assert.ok(other.json.score < other.json.threshold && other.json.score < same.json.score);
    assert.equal(other.json.charged, true);
    // one image twice: the top of the scale
    const self = await postJson(s, COMPARE, { image_a_base64: b64(faceBytes(A)), image_b_base64: b64(faceBytes(A)) });
    assert.ok(self.json.score > 95, self.text);
    assert.equal(await used(s, 'face_compare') - before0, 3);
  });

  test('multipart files and URLs (loopback allowlisted) give the same scores', async () => {
    const ref = await postJson(s, COMPARE, { image_a_base64: b64(faceBytes(A)), image_b_base64: b64(faceBytes(A2)) });
    const mp = await postMultipart(s, COMPARE, [['image_a', faceBytes(A), 'a.jpg'], ['image_b', faceBytes(A2), 'b.jpg']], DEMO_AUTH);
    assert.equal(mp.status, 200, mp.text);
    const url = await postJson(s, COMPARE, { image_a_url: `${imgUrl}/face/${A}`, image_b: `${imgUrl}/face/${A2}` });
    assert.equal(url.status, 200, url.text);
    assert.equal(mp.json.score, ref.json.score);
    assert.equal(url.json.score, ref.json.score);
    assertError(assert, await postJson(s, COMPARE, { image_a_url: `${imgUrl}/missing`, image_b_base64: b64(faceBytes(A)) }), 502, 'fetch_failed');
    const forbidden = await postJson(s, COMPARE, { image_a_base64: b64(faceBytes(A)), image_b_url: 'http://169.254.169.254/latest/meta-data/' });
    assertError(assert, forbidden, 422, 'fetch_forbidden');
    assert.equal(forbidden.json.error.image, 'image_b');
  });

  test('no face, and images that are too large, unsupported or corrupt: errors naming the image, free', async () => {
    const before0 = await used(s, 'face_compare');
    const noFace = await postJson(s, COMPARE, { image_a_base64: b64(faceBytes(A)), image_b_base64: b64(gradientBmp()) });
    assertError(assert, noFace, 422, 'no_face');
    assert.equal(noFace.json.error.image, 'image_b');
    const blank = await postJson(s, COMPARE, { image_a_base64: BLANK_PNG, image_b_base64: b64(faceBytes(A)) });
    assertError(assert, blank, 422, 'no_face');
    assert.equal(blank.json.error.image, 'image_a');
    const text = await postJson(s, COMPARE, { image_a_base64: b64(Buffer.from('not an image at all, just text')), image_b_base64: b64(faceBytes(A)) });
    assertError(assert, text, 415, 'unsupported_image');
    const jpg = faceBytes(A);
    const cut = await postJson(s, COMPARE, { image_a_base64: b64(faceBytes(A)), image_b_base64: b64(jpg.subarray(0, 600)) });
    assertError(assert, cut, 422, 'corrupt_image');
    assert.equal(cut.json.error.image, 'image_b');
    const tiny = await postJson(s, COMPARE, { image_a_base64: b64(gradientBmp(12, 40)), image_b_base64: b64(faceBytes(A)) });
    assertError(assert, tiny, 422, 'image_resolution');
    // a download over [fetch] max_bytes (512 KiB here): 413
    const big = await postJson(s, COMPARE, { image_a_base64: b64(faceBytes(A)), image_b_url: `${imgUrl}/big` });
    assertError(assert, big, 413, 'image_too_large');
    assert.equal(big.json.error.image, 'image_b');
    assert.equal(await used(s, 'face_compare'), before0);
    const audit = await admin(s, 'GET', '/audit?app=demo&limit=1000');
    const row = audit.rows.find((x) => x.request_id === noFace.headers.get('x-request-id'));
    assert.ok(row, 'an audit row for the no-face call');
    assert.equal(row.product, 'face_compare');
    assert.equal(row.dialect, 'native');
    assert.equal(row.vendor_code, 'no_face');
    assert.equal(row.charged, false);
  });

  test('an upload over [vision] max_upload is refused before the workers', async () => {
    const r = await postJson(s, COMPARE, { image_a_base64: 'A'.repeat(3 * 1024 * 1024), image_b_base64: BLANK_PNG });
    assertError(assert, r, 413, 'body_too_large');
  });

  test('Idempotency-Key: a repeat replays the answer without a new charge', async () => {
    const h = { 'idempotency-key': 'face-compare-1' };
    const body = { image_a_base64: b64(faceBytes(A)), image_b_base64: b64(faceBytes(B)) };
    const before0 = await used(s, 'face_compare');
    const first = await postJson(s, COMPARE, body, h);
    const again = await postJson(s, COMPARE, body, h);
    assert.equal(first.status, 200, first.text);
    assert.equal(again.headers.get('idempotent-replay'), 'true');
    assert.equal(again.text, first.text);
    assert.equal(await used(s, 'face_compare') - before0, 1);
    assertError(assert, await postJson(s, COMPARE, body, { 'idempotency-key': 'x'.repeat(129) }), 400, 'invalid_field', /Idempotency-Key/);
  });

  test('verify: a number that is not in the registry answers found false, uncharged', async () => {
    const before0 = await used(s, 'face_verify');
    const r = await postJson(s, VERIFY, { id_number: '11010519491231002X', image_base64: b64(faceBytes(A)) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.registry, { found: false, portrait: false });
    assert.equal(r.json.score, null);
    assert.equal(r.json.same_person, false);
    assert.equal(r.json.charged, false);
    assertFace(r.json.face);
    assert.equal(await used(s, 'face_verify'), before0);
    const nf = await postJson(s, VERIFY, { id_number: '11010519491231002X', image_base64: b64(gradientBmp()) });
    assertError(assert, nf, 422, 'no_face');
    assert.equal(nf.json.error.image, 'image');
  });

  test('an app without units: 403 quota_exhausted, nothing run', async () => {
    await admin(s, 'POST', '/apps', { name: 'face-poor' });
    const cred = await admin(s, 'POST', '/apps/face-poor/credentials', { kind: 'native' });
    const auth = { authorization: `Bearer ${cred.secret}` };
    assertError(assert, await postJson(s, COMPARE, { image_a_base64: BLANK_PNG, image_b_base64: BLANK_PNG }, auth), 403, 'quota_exhausted');
  });
});

describe('face routes: disabled, models missing, a full queue', () => {
  test('503 face_disabled when [vision] enabled = false', async () => {
    const s = await startReady(['--no-vision-enabled']);
    try {
      assertError(assert, await postJson(s, COMPARE, { image_a_base64: BLANK_PNG, image_b_base64: BLANK_PNG }), 503, 'face_disabled');
    } finally {
      await stopClean(s);
    }
  });

  test('models missing: face_unavailable logged, 503 face_unavailable', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'shiming-nomodels-'));
    const s = await startReady(['--models-dir', empty]);
    try {
      const ev = s.lines.find((l) => l.event === 'face_unavailable');
      assert.ok(ev, s.stderrText.slice(-2000));
      assert.equal(typeof ev.message, 'string');
      const r = await postJson(s, COMPARE, { image_a_base64: b64(faceBytes('barack_obama_01.jpg')), image_b_base64: b64(faceBytes('barack_obama_02.jpg')) });
      assertError(assert, r, 503, 'face_unavailable');
    } finally {
      await stopClean(s);
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('503 face_busy with Retry-After when the worker is busy and the queue full; clean shutdown', async () => {
    const img = await faceServer();
    const url = `http://127.0.0.1:${img.address().port}/slow/barack_obama_01.jpg?ms=2500`;
    const s = await startReady(['--models-dir', MODELS_DIR, '--vision-workers', '1', '--vision-queue-max', '1', '--fetch-allow-cidrs', '127.0.0.1']);
    try {
      const body = { image_a_url: url, image_b_base64: BLANK_PNG };
      const first = postJson(s, COMPARE, body);
      await new Promise((r) => setTimeout(r, 300));
      const second = postJson(s, COMPARE, body);
      await new Promise((r) => setTimeout(r, 300));
      const third = await postJson(s, COMPARE, body);
      assertError(assert, third, 503, 'face_busy');
      assert.match(third.headers.get('retry-after'), /^\d+$/);
      for (const r of await Promise.all([first, second]))
        assert.notEqual(r.json?.error?.code, 'face_busy', r.text);
    } finally {
      await stopClean(s);
      await closeServer(img);
    }
  });
});
