// Test helper for the face and eKYC suites: the labelled faces of
// ../shared/data/faces (read in place, never copied), a generated image
// without a face, a loopback server of face files, and small HTTP helpers.
//
// Must never: copy a face image anywhere (they are only read and sent), or
// listen on anything but 127.0.0.1.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';

import { SOURCE_ROOT } from './images.mjs';

export const FACES_DIR = resolve(process.env.SHIMING_FACES ?? join(SOURCE_ROOT, '../shared/data/faces'));

/** file -> identity, from labels.csv; throws when the set is missing. */
export function faceLabels() {
  const csv = join(FACES_DIR, 'labels.csv');
  if (!existsSync(csv)) throw new Error(`the face set is missing: ${csv} (../shared/data/faces)`);
  const out = new Map();
  for (const line of readFileSync(csv, 'utf8').trim().split('\n').slice(1)) {
    const [file, identity] = line.split(',');
    out.set(file, identity);
  }
  return out;
}

export function faceBytes(file) {
  return readFileSync(join(FACES_DIR, file));
}

/** Another photo of the same identity as `file` (a colour JPEG), or undefined. */
export function sameIdentity(labels, file) {
  const id = labels.get(file);
  return [...labels.keys()].find((f) => f !== file && labels.get(f) === id && f.endsWith('.jpg'));
}

/** A photo of another identity than `file`'s. */
export function otherIdentity(labels, file, skip = 0) {
  const id = labels.get(file);
  return [...labels.keys()].filter((f) => labels.get(f) !== id && f.endsWith('.jpg'))[skip];
}

/** A 24-bit BMP (w x h) of smooth colour gradients: an image with no face. */
export function gradientBmp(w = 320, h = 240) {
  const row = Math.ceil((w * 3) / 4) * 4;
  const buf = Buffer.alloc(54 + row * h);
  buf.write('BM', 0);
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(w, 18);
  buf.writeInt32LE(h, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(24, 28);
  buf.writeUInt32LE(row * h, 34);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = 54 + y * row + x * 3;
      buf[o] = (x * 255) / w;
      buf[o + 1] = (y * 255) / h;
      buf[o + 2] = 128;
    }
  return buf;
}

/** A loopback server: /face/<file> from the face set, /slow/<file>?ms=,
 * /big (700 KiB), /missing (404). Resolves once listening. */
export function faceServer() {
  const srv = createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/big') {
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(Buffer.alloc(700 * 1024, 7));
      return;
    }
    const m = /^\/(face|slow)\/([A-Za-z0-9_.-]+)$/.exec(u.pathname);
    if (!m || !existsSync(join(FACES_DIR, m[2]))) {
      res.writeHead(404).end('no');
      return;
    }
    const send = () => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(faceBytes(m[2]));
    if (m[1] === 'slow') {
      const t = setTimeout(send, Number(u.searchParams.get('ms') ?? 2500));
      res.on('close', () => clearTimeout(t));
    } else send();
  });
  return new Promise((done) => srv.listen(0, '127.0.0.1', () => done(srv)));
}

/** A multipart/form-data POST. parts: [[name, value, filename?]]. */
export async function postMultipart(s, path, parts, headers) {
  const fd = new FormData();
  for (const [name, value, filename] of parts)
    if (filename !== undefined) fd.append(name, new Blob([value]), filename);
    else fd.append(name, value);
  const res = await fetch(s.url + path, { method: 'POST', headers, body: fd });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* asserted by the caller */ }
  return { status: res.status, headers: res.headers, text, json };
}

export function assertError(assert, r, status, code, message) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json?.error, r.text);
  assert.equal(r.json.error.code, code, r.text);
  assert.equal(typeof r.json.error.message, 'string');
  assert.equal(r.json.error.request_id, r.headers.get('x-request-id'));
  if (message) assert.match(r.json.error.message, message);
}

/** The admin API of a test server (its admin.token in s.dir). */
export async function admin(s, method, path, body) {
  const token = readFileSync(join(s.dir, 'admin.token'), 'utf8').trim();
  const res = await fetch(s.url + '/admin/v1' + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} /admin/v1${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** Units the demo app used of `product`. */
export async function used(s, product) {
  return (await admin(s, 'GET', '/apps/demo/usage')).packages
    .filter((p) => p.product === product).reduce((a, p) => a + p.used, 0);
}
