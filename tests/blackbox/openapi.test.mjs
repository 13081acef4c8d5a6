// Black-box tests of GET /openapi.json against a real server: the document
// served is the checked-in src/api/openapi.json; every documented path and
// method answers (never 404/405); its example request gets a 200 whose body
// fits the documented schema; every documented required field is required
// (400 missing_field naming it) and every documented field's type is
// enforced (400 invalid_field); the document's own examples fit its schemas.
// tests/unit/test_openapi.c checks the other direction (every route is
// documented). POST /v1/ocr/idcard answers its example with 200 only where
// the OCR engine is loaded (probed once); elsewhere with a documented
// error (503 ocr_unavailable, or 415 unsupported_image where images cannot
// be decoded), checked against the document all the same.
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { startReady, postJson } from './lib/server.mjs';

const SOURCE = process.env.SHIMING_SOURCE ?? '.';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Follow a local $ref. */
function resolve(doc, node) {
  for (let hops = 0; node && node.$ref && hops < 8; hops++) {
    assert.ok(node.$ref.startsWith('#/'), `local $ref: ${node.$ref}`);
    node = node.$ref.slice(2).split('/').reduce((o, k) => o?.[k], doc);
    assert.ok(node, 'a $ref that resolves');
  }
  return node;
}

/**
 * Validate `value` against an OpenAPI 3.0 schema (the subset the document
 * uses: $ref, allOf, nullable, type, enum, pattern, minimum, required,
 * properties, additionalProperties: false, items, oneOf). Returns a list of errors.
 */
function validate(doc, schema, value, at = '$', errors = []) {
  schema = resolve(doc, schema);
  if (value === null) {
    if (!schema.nullable && !(schema.enum && schema.enum.includes(null)))
      errors.push(`${at}: null is not allowed`);
    return errors;
  }
  for (const sub of schema.allOf ?? []) validate(doc, sub, value, at, errors);
  if (schema.oneOf) {
    const fits = schema.oneOf.filter((sub) => validate(doc, sub, value, at, []).length === 0).length;
    if (fits !== 1) errors.push(`${at}: fits ${fits} of the oneOf schemas, not exactly one`);
  }
  const type = schema.type;
  const actual = Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (type && !(type === actual || (type === 'number' && actual === 'integer') ||
                (type === 'object' && actual === 'object'))) {
    errors.push(`${at}: ${JSON.stringify(value)} is not of type ${type}`);
    return errors;
  }
  if (schema.enum && !schema.enum.includes(value))
    errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (schema.pattern && typeof value === 'string' && !new RegExp(schema.pattern, 'u').test(value))
    errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  if (schema.minimum !== undefined && typeof value === 'number' && value < schema.minimum)
    errors.push(`${at}: ${value} < ${schema.minimum}`);
  if (actual === 'object') {
    for (const k of schema.required ?? [])
      if (!(k in value)) errors.push(`${at}: required key ${k} is missing`);
    for (const [k, v] of Object.entries(value)) {
      if (schema.properties && k in schema.properties)
        validate(doc, schema.properties[k], v, `${at}.${k}`, errors);
      else if (schema.additionalProperties === false)
        errors.push(`${at}: undocumented key ${k}`);
    }
  }
  if (actual === 'array' && schema.items)
    value.forEach((v, i) => validate(doc, schema.items, v, `${at}[${i}]`, errors));
  return errors;
}

/** [{ path, method, op }] of the document. */
function operations(doc) {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths))
    for (const method of METHODS)
      if (item[method]) out.push({ path, method, op: item[method] });
  return out;
}

/** The operations of the public and native API: the admin API (/admin/v1,
 * behind its own token) has its own checks in admin.test.mjs. */
function nativeOperations(doc) {
  return operations(doc).filter((o) => !o.path.startsWith('/admin/'));
}

/** The operations whose 200 needs the OCR engine. */
const NEEDS_OCR = new Set(['/v1/ocr/idcard']);
/** The operations whose example (blank images) has no face to decide on. */
const FACE_EXAMPLES = new Set(['/v1/face/compare', '/v1/face/verify', '/v1/ekyc']);

/** The status an example request gets: 200, or for an OCR operation on a
 * server without the OCR engine the documented error it answers. */
function expectedStatus(path, ocrReady, got) {
  // The face and eKYC examples send blank images: no face (422), or 503
  // where the face models are not loaded.
  if (FACE_EXAMPLES.has(path)) return [422, 503].includes(got) ? got : 422;
  if (!NEEDS_OCR.has(path) || ocrReady) return 200;
  return [415, 503].includes(got) ? got : 200;
}

/** The required fields of a request schema (of its first oneOf alternative
 * when it has alternatives: image_base64 or image_url). */
function requiredFields(schema) {
  return schema.required ?? schema.oneOf?.[0]?.required ?? [];
}

function bodySchema(doc, op) {
  return resolve(doc, op.requestBody?.content?.['application/json']?.schema);
}

function responseSchema(doc, op, status, contentType = 'application/json') {
  const r = resolve(doc, op.responses[String(status)]);
  return r?.content?.[contentType]?.schema;
}

describe('the OpenAPI description', () => {
  let s;
  let doc;
  let ocrReady = false;
  before(async () => {
    s = await startReady();
    const res = await fetch(s.url + '/openapi.json');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.ok(res.headers.get('x-request-id'));
    const text = await res.text();
    assert.equal(text, readFileSync(join(SOURCE, 'src/api/openapi.json'), 'utf8'),
      'the served document is the checked-in file');
    doc = JSON.parse(text);
    const probe = await postJson(s, '/v1/ocr/idcard', bodySchema(doc, doc.paths['/v1/ocr/idcard'].post).example);
    ocrReady = probe.status === 200;
  });
  after(async () => {
    const r = await s.stop();
    assert.deepEqual(r, { code: 0, signal: null }, s.stderrText.slice(-2000));
  });

  test('is OpenAPI 3.0.3 for this version, covering the whole native API', () => {
    assert.equal(doc.openapi, '3.0.3');
    assert.match(doc.info.version, /^\d+\.\d+\.\d+$/);
    const ops = nativeOperations(doc).map((o) => `${o.method.toUpperCase()} ${o.path}`).sort();
    assert.deepEqual(ops, [
      'GET /healthz', 'GET /metrics', 'GET /openapi.json',
      'POST /v1/ekyc', 'POST /v1/face/compare', 'POST /v1/face/verify',
      'POST /v1/idcard/parse', 'POST /v1/name/check', 'POST /v1/ocr/idcard',
      'POST /v1/validity/check', 'POST /v1/verify/id2', 'POST /v1/verify/id4',
    ]);
  });

  test('every documented path and method answers, and fits its schema', async () => {
    for (const { path, method, op } of nativeOperations(doc)) {
      let r;
      if (method === 'post') {
        const example = bodySchema(doc, op).example;
        assert.ok(example, `${path}: an example request`);
        r = await postJson(s, path, example);
      } else {
        const res = await fetch(s.url + path, { method: method.toUpperCase() });
        const text = await res.text();
        let json = null;
        try { json = JSON.parse(text); } catch { /* text/plain */ }
        r = { status: res.status, headers: res.headers, text, json };
      }
      assert.notEqual(r.status, 404, `${method} ${path}`);
      assert.notEqual(r.status, 405, `${method} ${path}`);
      const want = expectedStatus(path, ocrReady, r.status);
      assert.equal(r.status, want, `${method} ${path}: ${r.text.slice(0, 300)}`);
      assert.ok(op.responses[String(want)], `${method} ${path} documents its ${want}`);
      const ct = r.headers.get('content-type');
      const media = resolve(doc, op.responses[String(want)]).content;
      assert.ok(media[ct] || media[ct.split(';')[0]], `${method} ${path}: documented content type ${ct}`);
      const schema = responseSchema(doc, op, want, media[ct] ? ct : ct.split(';')[0]);
      if (r.json !== null && schema) {
        const errors = validate(doc, schema, r.json);
        assert.deepEqual(errors, [], `${method} ${path}: ${r.text.slice(0, 500)}`);
      }
    }
  });

  test('documented required fields are required', async () => {
    let checked = 0;
    for (const { path, method, op } of nativeOperations(doc)) {
      if (method !== 'post') continue;
      const schema = bodySchema(doc, op);
      const required = requiredFields(schema);
      assert.ok(required.length > 0, path);
      for (const field of required) {
        const body = { ...schema.example };
        delete body[field];
        const r = await postJson(s, path, body);
        assert.equal(r.status, 400, `${path} without ${field}: ${r.text}`);
        assert.equal(r.json.error.code, 'missing_field', `${path} without ${field}`);
        assert.match(r.json.error.message, new RegExp(`'${field}'`));
        assert.deepEqual(validate(doc, responseSchema(doc, op, 400), r.json), []);
        // null counts as missing
        const r2 = await postJson(s, path, { ...schema.example, [field]: null });
        assert.equal(r2.json?.error?.code, 'missing_field', `${path} with ${field}: null`);
        checked++;
      }
      // and nothing else is: the example without its optional fields is fine
      const minimal = Object.fromEntries(required.map((f) => [f, schema.example[f]]));
      const ok = await postJson(s, path, minimal);
      assert.equal(ok.status, expectedStatus(path, ocrReady, ok.status), `${path} with only the required fields: ${ok.text}`);
    }
    assert.ok(checked >= 8);
  });

  test('documented field types are enforced', async () => {
    for (const { path, method, op } of nativeOperations(doc)) {
      if (method !== 'post') continue;
      const schema = bodySchema(doc, op);
      for (const [field, prop] of Object.entries(schema.properties)) {
        const wrong = resolve(doc, prop).type === 'string' ? 12345 : 'yes';
        const r = await postJson(s, path, { ...schema.example, [field]: wrong });
        assert.equal(r.status, 400, `${path} with ${field}: ${JSON.stringify(wrong)}: ${r.text}`);
        assert.equal(r.json.error.code, 'invalid_field');
        assert.match(r.json.error.message, new RegExp(`'${field}'`));
      }
    }
  });

  test('documented error answers: bad JSON, media type, method, unknown path', async () => {
    const errorSchema = { $ref: '#/components/schemas/Error' };
    for (const { path, method } of nativeOperations(doc)) {
      if (method === 'post') {
        let r = await postJson(s, path, '{"x":');
        assert.equal(r.json.error.code, 'bad_json');
        assert.deepEqual(validate(doc, errorSchema, r.json), []);
        r = await postJson(s, path, '{}', { 'content-type': 'text/plain' });
        assert.equal(r.status, 415);
        assert.equal(r.json.error.code, 'unsupported_media_type');
        const res = await fetch(s.url + path);
        assert.equal(res.status, 405);
        assert.equal(res.headers.get('allow'), 'POST');
        assert.deepEqual(validate(doc, errorSchema, await res.json()), []);
      } else {
        const r = await postJson(s, path, '{}');
        assert.equal(r.status, 405);
        assert.equal(r.json.error.code, 'method_not_allowed');
      }
    }
    const res = await fetch(s.url + '/v1/verify/id3');
    assert.equal(res.status, 404);
    assert.deepEqual(validate(doc, errorSchema, await res.json()), []);
  });

  test('documented security: /v1 needs an app key (401 without, documented shape), the rest is public', async () => {
    const errorSchema = { $ref: '#/components/schemas/Error' };
    for (const { path, method, op } of nativeOperations(doc)) {
      if (path.startsWith('/v1/')) {
        assert.deepEqual(op.security, [{ bearerAuth: [] }, { apiKeyHeader: [] }], `${method} ${path}`);
        for (const status of ['401', '403', '429', '503']) assert.ok(op.responses[status], `${method} ${path} documents ${status}`);
        const example = bodySchema(doc, op).example;
        const r = await postJson(s, path, example, { authorization: null });
        assert.equal(r.status, 401, `${path} without a key: ${r.text}`);
        assert.equal(r.json.error.code, 'unauthorized');
        assert.deepEqual(validate(doc, responseSchema(doc, op, 401), r.json), []);
        assert.deepEqual(validate(doc, errorSchema, r.json), []);
        // X-Api-Key is the other documented scheme
        const ok = await postJson(s, path, example, { authorization: null, 'x-api-key': 'demo-key' });
        assert.equal(ok.status, expectedStatus(path, ocrReady, ok.status), `${path} with X-Api-Key: ${ok.text}`);
      } else {
        assert.deepEqual(op.security, [], `${method} ${path} is public`);
        const res = await fetch(s.url + path);
        assert.equal(res.status, 200, `${path} without a key`);
        await res.arrayBuffer();
      }
    }
  });

  test('metered operations document Idempotency-Key, Idempotent-Replay and charged', async () => {
    for (const path of ['/v1/verify/id2', '/v1/verify/id4']) {
      const op = doc.paths[path].post;
      const param = resolve(doc, op.parameters[0]);
      assert.equal(param.name, 'Idempotency-Key');
      assert.equal(param.in, 'header');
      assert.ok(resolve(doc, op.responses['200']).headers['Idempotent-Replay']);
      const example = bodySchema(doc, op).example;
      const h = { 'idempotency-key': `openapi-${path}` };
      const first = await postJson(s, path, example, h);
      const again = await postJson(s, path, example, h);
      assert.equal(again.headers.get('idempotent-replay'), 'true');
      assert.equal(again.text, first.text);
      assert.equal(typeof first.json.charged, 'boolean');
      assert.deepEqual(validate(doc, responseSchema(doc, op, 200), again.json), []);
    }
  });

  test("the document's own examples fit its schemas", () => {
    let n = 0;
    const check = (schema, value, where) => {
      assert.deepEqual(validate(doc, schema, value), [], where);
      n++;
    };
    for (const [name, schema] of Object.entries(doc.components.schemas))
      if (schema.example !== undefined) check(schema, schema.example, `components.schemas.${name}.example`);
    const responses = (op) => Object.entries(op.responses).map(([st, r]) => [st, resolve(doc, r)]);
    for (const { path, method, op } of operations(doc)) {
      for (const [status, r] of responses(op)) {
        for (const [ct, media] of Object.entries(r.content ?? {})) {
          if (!ct.startsWith('application/json') || !media.schema) continue;
          if (media.example !== undefined) check(media.schema, media.example, `${method} ${path} ${status}`);
          for (const [k, ex] of Object.entries(media.examples ?? {}))
            check(media.schema, ex.value, `${method} ${path} ${status} ${k}`);
        }
      }
    }
    assert.ok(n >= 20, `${n} examples checked`);
  });
});
