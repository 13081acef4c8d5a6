// Black-box tests of `shiming face compare A B`: the real binary with the face
// models that scripts/setup installs into deps/models, on the labelled faces
// in ../shared/data/faces (read in place). Missing models or faces make these
// tests fail, never skip. Exit status: 0 same person, 1 not, 2 usage or models
// missing, 3 an image unreadable, not an image, or without a face.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

const BIN = process.env.SHIMING_BIN ?? 'build/shiming';
const SRC = process.env.SHIMING_SOURCE ?? '.';
const FACES = path.join(SRC, '../shared/data/faces');
const MODELS = path.join(SRC, 'deps/models');
const face = (f) => path.join(FACES, f);

function run(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.error, undefined, `spawn failed: ${r.error}`);
  return r;
}

function compare(a, b, extra = []) {
  const r = run(['face', 'compare', '--json', '--models-dir', MODELS, ...extra, a, b]);
  const lines = r.stdout.trim().split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one JSON object: ${r.stdout}`);
  return { status: r.status, out: JSON.parse(lines[0]), stderr: r.stderr };
}

// A flat grey PNG (no face), written with zlib: no image library needed.
function greyPng(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((w * 3 + 1) * h, 128);
  for (let y = 0; y < h; y++) raw[y * (w * 3 + 1)] = 0; // filter: none
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

test('the faces and models are there', () => {
  assert.ok(existsSync(face('pairs.csv')), `labelled faces missing in ${FACES}`);
  assert.ok(existsSync(path.join(MODELS, 'fr_feature.onnx')), 'face models missing: run scripts/setup');
});

test('the same person: exit 0, score at or over the threshold, the JSON shape', () => {
  const a = face('barack_obama_01.jpg'), b = face('barack_obama_02.jpg');
  const { status, out, stderr } = compare(a, b);
  assert.equal(status, 0, stderr);
  assert.deepEqual(Object.keys(out), ['score', 'same_person', 'similarity', 'threshold', 'faces']);
  assert.equal(out.same_person, true);
  assert.equal(out.threshold, 70);
  assert.ok(out.score >= 70 && out.score <= 100, `score ${out.score}`);
  assert.ok(out.similarity > 0.339 && out.similarity <= 1);
  assert.equal(out.faces.length, 2);
  assert.equal(out.faces[0].file, a);
  assert.equal(out.faces[1].file, b);
  for (const f of out.faces) {
    assert.deepEqual(Object.keys(f), ['file', 'n_faces', 'box', 'detector_score', 'quality', 'liveness', 'live']);
    assert.equal(f.n_faces, 1);
    assert.equal(f.box.length, 4);
    assert.ok(f.box[0] < f.box[2] && f.box[1] < f.box[3], `box ${f.box}`);
    assert.ok(f.detector_score > 0.65 && f.detector_score <= 1);
    assert.ok(f.quality > 0 && f.quality <= 1);
    assert.ok(f.liveness >= 0 && f.liveness <= 1);
    assert.equal(f.live, f.liveness >= 0.5);
  }
  // symmetric
  const back = compare(b, a);
  assert.equal(back.status, 0);
  assert.ok(Math.abs(back.out.similarity - out.similarity) < 1e-4);
});

test('different people: exit 1, score under the threshold', () => {
  for (const [a, b] of [['barack_obama_01.jpg', 'angelina_jolie_01.jpg'], ['bbt_amy_01.png', 'bbt_howard_01.png']]) {
    const { status, out, stderr } = compare(face(a), face(b));
    assert.equal(status, 1, stderr);
    assert.equal(out.same_person, false);
    assert.ok(out.score >= 0 && out.score < 70, `${a} / ${b}: score ${out.score}`);
  }
});

test('readable output: the score and decision, then one line per image', () => {
  const r = run(['face', 'compare', '--models-dir', MODELS, face('bbt_amy_01.png'), face('bbt_amy_02.png')]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^score \d+\.\d: the same person \(the same person at 70 or more; similarity 0\.\d{4}\)$/);
  assert.match(lines[1], /bbt_amy_01\.png: face \d+,\d+-\d+,\d+ \(1 found\), quality [01]\.\d\d, liveness [01]\.\d\d \((live|not live)\)$/);
});

test('a missing file, an image without a face, and not an image: exit 3 with a stable code', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shiming-face-cli-'));
  try {
    const grey = path.join(dir, 'grey.png');
    writeFileSync(grey, greyPng(320, 240));
    const text = path.join(dir, 'notes.txt');
    writeFileSync(text, 'not an image\n');
    const cases = [
      [path.join(dir, 'missing.jpg'), 'unreadable'],
      [grey, 'no_face'],
      [text, 'unsupported'],
    ];
    for (const [file, code] of cases) {
      const { status, out, stderr } = compare(face('barack_obama_01.jpg'), file);
      assert.equal(status, 3, `${file}: ${stderr}`);
      assert.equal(out.error, code, JSON.stringify(out));
      assert.equal(out.file, file);
      assert.equal(typeof out.message, 'string');
      assert.match(stderr, new RegExp(`\\(${code}\\)`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('models missing: exit 2 and a clear message; usage errors: exit 2; --help: exit 0', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shiming-face-nomodels-'));
  try {
    const r = run(['face', 'compare', '--json', '--models-dir', dir, face('barack_obama_01.jpg'), face('barack_obama_02.jpg')]);
    assert.equal(r.status, 2);
    assert.equal(JSON.parse(r.stdout).error, 'models_missing');
    assert.match(r.stderr, /fr_detect\.onnx: cannot be read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(run(['face', 'compare', face('barack_obama_01.jpg')]).status, 2);
  assert.equal(run(['face']).status, 2);
  assert.equal(run(['face', 'match', 'a', 'b']).status, 2);
  const h = run(['face', 'compare', '--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /exit status: 0 the same person, 1 not the same person, 2 usage error/);
});
