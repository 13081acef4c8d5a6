// Conformance of dialect D (seed 003): the cloud's RPC API EkycVerify
// (2022-08-09) at `/`, called with the REAL Alibaba Cloud runtimes as the
// generated product SDK calls them (callApi: action EkycVerify, style RPC,
// POST, formData body, json answer; the business fields in the query, the
// base64 images in the body), with ACS3-HMAC-SHA256 and signature V1
// (signatureAlgorithm 'v2'), through @alicloud/openapi-core 1.0.8 and
// @alicloud/openapi-client 0.4.15, and with @alicloud/pop-core 1.8.0 (V1,
// GET and POST). Raw requests, signed by a small signer written here from
// the published rules (cross-checked by the server accepting it), cover
// what the SDKs never send: stale timestamps, reused nonces, broken
// signatures. Tencent requests still reach dialect A's upstream at `/`.
//
// The face pipeline (api/face.c) decides: pass, 204, resolution, no face,
// idempotency, quota.
//
// Every server is started here and stopped in after(), its exit status
// asserted 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

import { BIN, startReady } from './lib/server.mjs';
import { MODELS_DIR, SOURCE_ROOT } from './lib/images.mjs';
import { DEMO_ACCESS_KEY as DEMO, acs3Request as acs3, isoNow, rfc3986, splitEkyc as split, v1Request } from './lib/acs.mjs';

const require = createRequire(import.meta.url);
const Core = require('@alicloud/openapi-core');
const Legacy = require('@alicloud/openapi-client');
const LegacyUtil = require('@alicloud/openapi-util').default;
const TeaUtil = require('@alicloud/tea-util');
const $tea = require('@alicloud/tea-typescript');
const $dara = require('@darabonba/typescript');
const PopCore = require('@alicloud/pop-core');

const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;
const FACES = resolve(SOURCE_ROOT, '../shared/data/faces');

const root = mkdtempSync(join(tmpdir(), 'shiming-d-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function stopClean(s) {
  const r = await s.stop();
  assert.deepEqual(r, { code: 0, signal: null }, `exit status; stderr tail:\n${s.stderrText.slice(-3000)}`);
  assert.doesNotMatch(s.stderrText, SANITIZER);
}

// ------------------------------------------------------------- images

const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Run a small Pillow script; returns stdout. */
function py(script, ...args) {
  const r = spawnSync(PY, ['-c', script, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** A JPEG of `w`×`h`, flat grey (no face). */
function plainJpeg(w, h) {
  const out = join(root, `plain-${w}x${h}.jpg`);
  py('import sys\nfrom PIL import Image\nImage.new("RGB",(int(sys.argv[1]),int(sys.argv[2])),(128,128,120)).save(sys.argv[3],quality=90)', String(w), String(h), out);
  return readFileSync(out);
}

/** A selfie from ../shared/data/faces, scaled into 640×480 … 1920×1080. */
function selfie(file, maxLong = 0) {
  const out = join(root, `selfie-${file}-${maxLong}`);
  py(`import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
w, h = im.size
s = max(480 / min(w, h), 640 / max(w, h), 1.0)
if int(sys.argv[3]) > 0: s = int(sys.argv[3]) / max(w, h)
im = im.resize((max(1, round(w * s)), max(1, round(h * s))))
im.save(sys.argv[2], "JPEG", quality=90)`, join(FACES, file), out, String(maxLong));
  return readFileSync(out);
}

/** A clean card front (tools/cardgen) whose portrait is `faceFile`. */
function card(faceFile) {
  const dir = join(root, `card-${faceFile}`);
  mkdirSync(join(dir, 'faces'), { recursive: true });
  symlinkSync(join(FACES, faceFile), join(dir, 'faces', faceFile)); // read in place, never copied
  const demo = spawnSync(BIN, ['demo-data', '--count', '4', '--seed', '3', '--out', join(dir, 'demo')], { encoding: 'utf8' });
  assert.equal(demo.status, 0, demo.stderr);
  const gen = spawnSync(PY, [join(SOURCE_ROOT, 'tools/cardgen/cardgen.py'), '--registry', join(dir, 'demo/registry.csv'),
    '--out', join(dir, 'cards'), '--set', 'clean', '--count', '2', '--seed', '3', '--faces', join(dir, 'faces'), '--jobs', '1'], { encoding: 'utf8' });
  assert.equal(gen.status, 0, gen.stderr);
  const truth = readFileSync(join(dir, 'cards/truth.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const front = truth.find((x) => x.side === 'front');
  return { bytes: readFileSync(join(dir, 'cards', front.file)), truth: front };
}

// ------------------------------------------------- the generated SDK's call

// The response models of the generated package (every Result field a string).
const resultNames = { extFaceInfo: 'ExtFaceInfo', extIdInfo: 'ExtIdInfo', passed: 'Passed', subCode: 'SubCode', transactionId: 'TransactionId' };
const resultTypes = Object.fromEntries(Object.keys(resultNames).map((k) => [k, 'string']));
function models(Model) {
  class Result extends Model { static names() { return resultNames; } static types() { return resultTypes; } }
  class Body extends Model {
    static names() { return { code: 'Code', message: 'Message', requestId: 'RequestId', result: 'Result' }; }
    static types() { return { code: 'string', message: 'string', requestId: 'string', result: Result }; }
  }
  class Response extends Model {
    static names() { return { headers: 'headers', statusCode: 'statusCode', body: 'body' }; }
    static types() { return { headers: { type: 'map', keyType: 'string', valueType: 'any' }, statusCode: 'number', body: Body }; }
  }
  return Response;
}
const CoreResponse = models($dara.Model);
const LegacyResponse = models($tea.Model);

const PARAMS = { action: 'EkycVerify', version: '2022-08-09', protocol: 'HTTPS', pathname: '/', method: 'POST',
  authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json' };

/** ekycVerify() of the generated package, on runtime `kind` ('core' |
 * 'legacy'), signing `sig` ('v3' ACS3 | 'v1'). Returns the cast response. */
async function ekycVerify(s, fields, { kind = 'core', sig = 'v3', cred = DEMO } = {}) {
  const { query, body } = split(fields);
  const config = { accessKeyId: cred.id, accessKeySecret: cred.secret, endpoint: `127.0.0.1:${s.port}`, protocol: 'http',
    ...(sig === 'v1' ? { signatureAlgorithm: 'v2' } : {}) };
  if (kind === 'core') {
    const client = new Core.default(new Core.$OpenApiUtil.Config(config));
    const req = new Core.$OpenApiUtil.OpenApiRequest({ query: Core.OpenApiUtil.query(query), body: Core.OpenApiUtil.parseToMap(body) });
    const r = await client.callApi(new Core.$OpenApiUtil.Params(PARAMS), req, new $dara.RuntimeOptions({}));
    return $dara.cast(r, new CoreResponse({}));
  }
  const client = new Legacy.default(new Legacy.Config(config));
  const req = new Legacy.OpenApiRequest({ query: LegacyUtil.query(query), body: LegacyUtil.parseToMap(body) });
  const r = await client.callApi(new Legacy.Params(PARAMS), req, new TeaUtil.RuntimeOptions({}));
  return $tea.cast(r, new LegacyResponse({}));
}

/** pop-core RPCClient: GET (its default) or POST. */
function popCall(s, fields, { method = 'GET', cred = DEMO } = {}) {
  const client = new PopCore.RPCClient({ accessKeyId: cred.id, accessKeySecret: cred.secret,
    endpoint: `http://127.0.0.1:${s.port}`, apiVersion: '2022-08-09' });
  return client.request('EkycVerify', fields, { method, timeout: 60_000 });
}

async function thrown(promise) {
  try {
    const r = await promise;
    assert.fail(`expected an exception, got ${JSON.stringify(r)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return e;
  }
}

// ------------------------------------------------------ the raw signers

/** An ACS3 request to server `s` (lib/acs.mjs). */
const acs3Request = (s, fields, opts) => acs3(`127.0.0.1:${s.port}`, fields, opts);

async function send(s, { path, headers, body, method = 'POST' }) {
  const res = await fetch(s.url + path, { method, headers, body });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* asserted by the caller */ }
  return { status: res.status, headers: res.headers, text, json };
}

/** The cloud's error shape. */
function assertAcsError(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(Object.keys(r.json ?? {}), ['RequestId', 'Code', 'Message'], r.text);
  assert.equal(r.json.Code, code, r.text);
  assert.match(r.json.Message, /^[\x20-\x7e]+$/);
  assert.equal(r.json.RequestId, r.headers.get('x-request-id'));
}

// A small valid JPEG that passes the front's checks (magic, ≤ 1 MB).
const TINY_JPEG = () => plainJpeg(800, 600).toString('base64');
const base = (extra = {}) => ({ ProductCode: 'eKYC_MIN', MerchantBizId: randomBytes(8).toString('hex'), MerchantUserId: 'user123',
  DocType: '00000001', Crop: 'F', Authorize: 'F', IdOcrPictureBase64: TINY_JPEG(), FacePictureBase64: TINY_JPEG(), ...extra });

// ================================================================ tests

// Twenty failed authentications block an address: the tests that fail
// many on purpose each get a server of their own.
async function withServer(fn) {
  const s = await startReady(['--models-dir', join(root, 'no-models')]);
  try { await fn(s); } finally { await stopClean(s); }
}

describe('EkycVerify: signatures, routing and validation', () => {
  let s;
  before(async () => { s = await startReady(['--models-dir', join(root, 'no-models')]); });
  after(async () => { if (s) await stopClean(s); });

  test('every client reaches the dialect and is authenticated: both runtimes × ACS3 / V1, pop-core GET / POST', () => withServer(async (s) => {
    // Without models the pipeline answers 503 ServiceUnavailable: the
    // request got through routing, signature, window, nonce, validation.
    for (const kind of ['core', 'legacy']) {
      for (const sig of ['v3', 'v1']) {
        const e = await thrown(ekycVerify(s, base(), { kind, sig }));
        assert.equal(e.code, 'ServiceUnavailable', `${kind} ${sig}: ${e.message}`);
        assert.equal(e.statusCode ?? e.data?.statusCode, 503, `${kind} ${sig}`);
        const wrong = await thrown(ekycVerify(s, base(), { kind, sig, cred: { id: DEMO.id, secret: 'other' } }));
        assert.equal(wrong.code, 'SignatureDoesNotMatch', `${kind} ${sig}: ${wrong.message}`);
        const unknown = await thrown(ekycVerify(s, base(), { kind, sig, cred: { id: 'nobody', secret: 'x' } }));
        assert.equal(unknown.code, 'InvalidAccessKeyId.NotFound', `${kind} ${sig}`);
      }
    }
    for (const method of ['GET', 'POST']) {
      // pop-core GET puts the images in the URL: small ones here (the URL
      // limit is documented in docs/dialects.md).
      const fields = method === 'GET' ? { ...base(), IdOcrPictureBase64: undefined, FacePictureBase64: undefined,
        IdOcrPictureUrl: 'http://127.0.0.1:9/a.jpg', FacePictureUrl: 'http://127.0.0.1:9/b.jpg' } : base();
      for (const k of Object.keys(fields)) if (fields[k] === undefined) delete fields[k];
      const e = await thrown(popCall(s, fields, { method }));
      // GET: the URLs reach the fetcher, whose SSRF guard refuses loopback
      assert.equal(e.code, method === 'GET' ? 'InvalidParameter' : 'ServiceUnavailable', `pop-core ${method}: ${e.message}`);
      if (method === 'GET') assert.match(e.data.Message, /IdOcrPictureUrl/);
      const wrong = await thrown(popCall(s, fields, { method, cred: { id: DEMO.id, secret: 'other' } }));
      assert.equal(wrong.code, 'SignatureDoesNotMatch', `pop-core ${method}`);
    }
  }));

  test('the raw signer agrees with the server; stale timestamps and reused nonces are refused', () => withServer(async (s) => {
    let r = await send(s, acs3Request(s, base()));
    assertAcsError(r, 503, 'ServiceUnavailable');
    r = await send(s, v1Request(base()));
    assertAcsError(r, 503, 'ServiceUnavailable');
    // 16 minutes either way: outside the 15-minute window
    assertAcsError(await send(s, acs3Request(s, base(), { date: isoNow(-16 * 60) })), 400, 'InvalidTimeStamp.Expired');
    assertAcsError(await send(s, acs3Request(s, base(), { date: isoNow(16 * 60) })), 400, 'InvalidTimeStamp.Expired');
    assertAcsError(await send(s, v1Request(base(), { timestamp: isoNow(-16 * 60) })), 400, 'InvalidTimeStamp.Expired');
    // 14 minutes old: still inside
    assertAcsError(await send(s, acs3Request(s, base(), { date: isoNow(-14 * 60) })), 503, 'ServiceUnavailable');
    assertAcsError(await send(s, acs3Request(s, base(), { date: '22/11/2026 08:21' })), 400, 'InvalidTimeStamp.Format');
    // the same nonce twice, per scheme
    const nonce = randomBytes(32).toString('hex');
    assertAcsError(await send(s, acs3Request(s, base(), { nonce })), 503, 'ServiceUnavailable');
    assertAcsError(await send(s, acs3Request(s, base(), { nonce })), 400, 'SignatureNonceUsed');
    const n1 = randomBytes(16).toString('hex');
    assertAcsError(await send(s, v1Request(base(), { nonce: n1 })), 503, 'ServiceUnavailable');
    assertAcsError(await send(s, v1Request(base(), { nonce: n1 })), 400, 'SignatureNonceUsed');
    // a replay with a bad signature does not burn the nonce of a good one
    const n2 = randomBytes(16).toString('hex');
    assertAcsError(await send(s, v1Request(base(), { nonce: n2, secret: 'other' })), 400, 'SignatureDoesNotMatch');
    assertAcsError(await send(s, v1Request(base(), { nonce: n2 })), 503, 'ServiceUnavailable');
    // signatures: a changed body, another algorithm, a malformed header, none
    const good = acs3Request(s, base());
    assertAcsError(await send(s, { ...good, body: good.body.replace(/A/, 'B') }), 400, 'SignatureDoesNotMatch');
    const sm3 = { ...good, headers: { ...good.headers, authorization: good.headers.authorization.replace('HMAC-SHA256', 'HMAC-SM3') } };
    assertAcsError(await send(s, sm3), 400, 'InvalidSignatureMethod');
    assertAcsError(await send(s, v1Request(base(), { method: 'HMAC-SHA256' })), 400, 'InvalidSignatureMethod');
    const cut = { ...good, headers: { ...good.headers, authorization: 'ACS3-HMAC-SHA256 Credential=demo-access-key-id' } };
    assertAcsError(await send(s, cut), 400, 'IncompleteSignature');
    const none = { ...good, headers: { ...good.headers } };
    delete none.headers.authorization;
    assertAcsError(await send(s, none), 400, 'IncompleteSignature');
  }));

  test('Action, Version and the parameters, in the cloud\'s codes', async () => {
    assertAcsError(await send(s, acs3Request(s, base(), { action: 'DescribeVerifyResult' })), 404, 'InvalidAction.NotFound');
    assertAcsError(await send(s, acs3Request(s, base(), { version: '2019-03-07' })), 400, 'InvalidVersion');
    const rows = [
      [{ ProductCode: undefined }, 400, 'MissingParameter', /ProductCode/],
      [{ ProductCode: 'ID_PRO' }, 400, 'InvalidParameter', /ProductCode/],
      [{ MerchantBizId: undefined }, 400, 'MissingParameter', /MerchantBizId/],
      [{ MerchantBizId: 'a'.repeat(33) }, 400, 'InvalidParameter', /MerchantBizId/],
      [{ MerchantBizId: 'abc-123' }, 400, 'InvalidParameter', /MerchantBizId/],
      [{ MerchantUserId: undefined }, 400, 'MissingParameter', /MerchantUserId/],
      [{ DocType: undefined }, 400, 'MissingParameter', /DocType/],
      [{ DocType: '12345678' }, 400, 'InvalidParameter', /DocType/],
      [{ Crop: 'Y' }, 400, 'InvalidParameter', /Crop/],
      [{ Authorize: 'yes' }, 400, 'InvalidParameter', /Authorize/],
      [{ DocType: '01000000', Authorize: 'T' }, 400, 'InvalidParameter', /Authorize/],
      [{ DocNo: '110101199003074515' }, 400, 'InvalidParameter', /DocNo/],
      [{ IdOcrPictureBase64: undefined }, 400, 'MissingParameter', /IdOcrPicture/],
      [{ FacePictureBase64: undefined }, 400, 'MissingParameter', /FacePicture/],
      [{ FacePictureUrl: 'http://127.0.0.1:9/x.jpg' }, 401, 'DataDuplication', /FacePicture/],
      [{ IdOcrPictureUrl: 'http://127.0.0.1:9/x.jpg' }, 401, 'DataDuplication', /IdOcrPicture/],
      [{ FacePictureBase64: '@@not base64@@' }, 400, 'InvalidParameter', /FacePicture/],
      [{ FacePictureBase64: Buffer.from('GIF89a....').toString('base64') }, 401, 'UnqualifiedPhoto', /FacePicture/],
      [{ FacePictureBase64: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(1024 * 1024 + 10, 1)]).toString('base64') }, 401, 'ToolargeImage', /FacePicture/],
    ];
    for (const [change, status, code, msg] of rows) {
      const f = base(change);
      for (const k of Object.keys(f)) if (f[k] === undefined) delete f[k];
      // the current runtime, ACS3; the error is the SDK's exception
      const e = await thrown(ekycVerify(s, f));
      assert.equal(e.code, code, `${JSON.stringify(Object.keys(change))}: ${e.message}`);
      assert.equal(e.statusCode, status);
      assert.match(e.data.Message, msg);
    }
    // 200-style business errors never: every refusal has a 4xx/5xx status (pop-core keys on Code)
    const noUser = base();
    delete noUser.MerchantUserId;
    const e = await thrown(popCall(s, noUser, { method: 'POST' }));
    assert.equal(e.code, 'MissingParameter');
  });

  test('routing at /: Tencent requests still go to dialect A\'s upstream, unmarked ones too', async () => {
    const tc = await send(s, { path: '/', headers: { 'content-type': 'application/json', 'x-tc-action': 'IdCardVerification' }, body: '{}' });
    assert.equal(tc.status, 200);
    assert.equal(tc.json?.Response?.Error?.Code, 'AuthFailure.InvalidAuthorization', tc.text);
    const bare = await send(s, { path: '/', method: 'GET' });
    assert.equal(bare.json?.Response?.Error?.Code, 'MissingParameter', bare.text);
    // Alibaba marks: the cloud's format
    const ali = await send(s, { path: '/', headers: { 'x-acs-action': 'EkycVerify' }, method: 'POST' });
    assertAcsError(ali, 400, 'IncompleteSignature');
    const put = await send(s, { path: '/', headers: { 'x-acs-action': 'EkycVerify' }, method: 'PUT' });
    assertAcsError(put, 405, 'UnsupportedHTTPMethod');
  });

  test('the access log names the dialect', async () => {
    await send(s, acs3Request(s, base()));
    const lines = s.stderrText.trim().split('\n').map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
    assert.ok(lines.some((l) => l.dialect === 'ekyc_verify'), 'an access-log line with dialect ekyc_verify');
    assert.ok(lines.some((l) => l.dialect === 'tc3'), 'and tc3 for the Tencent requests');
  });
});

describe('EkycVerify decided by the face pipeline', () => {
  let s;
  let cardA; let selfieA; let selfieB;
  before(async () => {
    s = await startReady(['--models-dir', MODELS_DIR]);
    cardA = card('alex_lacamoire_01.jpg');
    selfieA = selfie('alex_lacamoire_02.jpg');
    selfieB = selfie('barack_obama_02.jpg');
  });
  after(async () => { if (s) await stopClean(s); });

  const fields = (doc, face, extra = {}) => base({ IdOcrPictureBase64: doc.toString('base64'), FacePictureBase64: face.toString('base64'), ...extra });

  test('pass (200) and another person (204) with every client; Ext* are JSON strings; openapi-core does not throw', async () => {
    for (const [kind, sig] of [['core', 'v3'], ['core', 'v1'], ['legacy', 'v3'], ['legacy', 'v1']]) {
      const r = await ekycVerify(s, fields(cardA.bytes, selfieA), { kind, sig });
      assert.equal(r.statusCode, 200);
      assert.equal(r.body.code, 'Success');
      assert.equal(r.body.result.subCode, '200', `${kind} ${sig}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.result.passed, 'Y');
      const face = JSON.parse(r.body.result.extFaceInfo);
      assert.ok(face.faceComparisonScore >= 0 && face.faceComparisonScore <= 100);
      assert.equal(face.facePassed, 'Y');
      const id = JSON.parse(r.body.result.extIdInfo);
      assert.equal(typeof id.idPassed, 'string');
      const other = await ekycVerify(s, fields(cardA.bytes, selfieB), { kind, sig });
      assert.equal(other.body.result.subCode, '204', JSON.stringify(other.body));
      assert.equal(other.body.result.passed, 'N');
    }
    const pop = await popCall(s, fields(cardA.bytes, selfieA), { method: 'POST' });
    assert.equal(pop.Result.SubCode, '200');
    assert.equal(typeof pop.Result.ExtFaceInfo, 'string');
  });

  test('image rules: UnqualifiedPhoto (too small), NoFaceDetected', async () => {
    let e = await thrown(ekycVerify(s, fields(cardA.bytes, selfie('alex_lacamoire_02.jpg', 320))));
    assert.equal(e.code, 'UnqualifiedPhoto', e.message);
    assert.equal(e.statusCode, 401);
    e = await thrown(ekycVerify(s, fields(cardA.bytes, plainJpeg(800, 600))));
    assert.equal(e.code, 'NoFaceDetected', e.message);
  });

  test('MerchantBizId: a repeat returns the first result and is not charged again; quota exhausted → 403', async () => {
    const biz = randomBytes(8).toString('hex');
    const usage = async () => {
      const token = readFileSync(join(s.dir, 'admin.token'), 'utf8').trim();
      const u = await (await fetch(`${s.url}/admin/v1/apps/demo/usage`, { headers: { authorization: `Bearer ${token}` } })).json();
      return u.packages.filter((x) => x.product === 'ekyc_verify').reduce((a, x) => a + x.used, 0);
    };
    const before0 = await usage();
    const first = await ekycVerify(s, fields(cardA.bytes, selfieA, { MerchantBizId: biz }));
    assert.equal(await usage(), before0 + 1);
    const again = await ekycVerify(s, fields(cardA.bytes, selfieB, { MerchantBizId: biz }));
    assert.deepEqual(again.body.result, first.body.result);
    assert.equal(await usage(), before0 + 1);
    // an app with one unit
    const token = readFileSync(join(s.dir, 'admin.token'), 'utf8').trim();
    const adm = (method, path, body) => fetch(`${s.url}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
    await adm('POST', '/apps', { name: 'ekyc-one' });
    const cred = await adm('POST', '/apps/ekyc-one/credentials', { kind: 'accesskey' });
    await adm('POST', '/apps/ekyc-one/packages', { product: 'ekyc_verify', total: 1 });
    const one = { id: cred.id, secret: cred.secret };
    await ekycVerify(s, fields(cardA.bytes, selfieA), { cred: one });
    const e = await thrown(ekycVerify(s, fields(cardA.bytes, selfieA), { cred: one }));
    assert.equal(e.code, 'Forbidden.AccountAccessDenied', e.message);
    assert.equal(e.statusCode, 403);
  });
});
