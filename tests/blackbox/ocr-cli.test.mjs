// Black-box tests of `shiming ocr lines`: the real binary reading the fixture
// images in tests/fixtures/ocr with the models that scripts/setup installs
// into deps/models (missing models make these tests fail, never skip).
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const BIN = process.env.SHIMING_BIN ?? 'build/shiming';
const SRC = process.env.SHIMING_SOURCE ?? '.';
const FIX = path.join(SRC, 'tests/fixtures/ocr');
const MODELS = path.join(SRC, 'deps/models');
const TEXT = ['实名核验测试样张', '北京市朝阳区建国路八十八号', '11010519491231002X'];

function run(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.error, undefined, `spawn failed: ${r.error}`);
  return r;
}

function ocrJson(files, extra = []) {
  const r = run(['ocr', 'lines', '--json', '--models-dir', MODELS, ...extra, ...files]);
  const out = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { status: r.status, out, stderr: r.stderr };
}

test('reads the lines of a clean, an upside-down and a tilted image, in reading order', () => {
  const files = ['lines.png', 'upside.png', 'tilted.jpg'].map((f) => path.join(FIX, f));
  const { status, out, stderr } = ocrJson(files);
  assert.equal(status, 0, stderr);
  assert.equal(out.length, 3);
  const [clean, upside, tilted] = out;
  assert.equal(clean.file, files[0]);
  assert.deepEqual(clean.lines.map((l) => l.text), TEXT);
  assert.deepEqual(tilted.lines.map((l) => l.text), TEXT);
  // turned 180°: each line turned back, listed top to bottom of the image
  assert.deepEqual(upside.lines.map((l) => l.text), [...TEXT].reverse());
  assert.ok(upside.lines.every((l) => l.rotated === true));
  assert.ok(clean.lines.every((l) => l.rotated === false));
  for (const l of clean.lines) {
    assert.ok(l.confidence > 0.9 && l.confidence <= 1, `confidence ${l.confidence}`);
    assert.equal(l.box.length, 4);
    assert.ok(l.box.every((p) => p.length === 2 && Number.isInteger(p[0]) && Number.isInteger(p[1])));
    assert.ok(l.box[0][0] < l.box[1][0] && l.box[0][1] < l.box[3][1], 'tl, tr, br, bl');
  }
  assert.ok(Number.isInteger(clean.timing_ms));
});

test('readable output: one header per file, then confidence, box and text', () => {
  const r = run(['ocr', 'lines', '--models-dir', MODELS, path.join(FIX, 'lines.png')]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0], /lines\.png\t3 lines\t\d+ ms$/);
  assert.equal(lines.length, 4);
  for (let i = 0; i < 3; i++) {
    const cols = lines[i + 1].trim().split('\t');
    assert.match(cols[0], /^0\.\d{3}|1\.000$/);
    assert.match(cols[1], /^\d+,\d+ \d+,\d+ \d+,\d+ \d+,\d+$/);
    assert.equal(cols[cols.length - 1], TEXT[i]);
  }
});

test('images without text, unreadable files and non-images', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shiming-ocr-'));
  try {
    const trunc = path.join(dir, 'cut.jpg');
    const jpg = readFileSync(path.join(FIX, 'tilted.jpg'));
    writeFileSync(trunc, jpg.subarray(0, jpg.length >> 1));
    const text = path.join(dir, 'notes.txt');
    writeFileSync(text, 'not an image at all\n');
    const { status, out, stderr } = ocrJson([
      path.join(FIX, 'small.webp'), trunc, text, path.join(dir, 'missing.png'), path.join(FIX, 'small.bmp'),
    ]);
    assert.equal(status, 1, 'a file could not be read: exit 1');
    assert.deepEqual(out.map((o) => o.error ?? o.lines.length), [0, 'corrupt', 'unsupported', 'unreadable', 0]);
    assert.match(stderr, /cut\.jpg: the image is truncated or corrupt/);
    assert.doesNotMatch(stderr, /VIPS-WARNING/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the models directory comes from [vision] models_dir; missing models are a clear error', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'shiming-ocr-'));
  try {
    const cfg = path.join(dir, 'shiming.ini');
    writeFileSync(cfg, `[vision]\nmodels_dir = ${MODELS}\nintra_threads = 1\n`);
    const ok = run(['ocr', 'lines', '--json', '--config', cfg, path.join(FIX, 'lines.png')]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout).lines.map((l) => l.text), TEXT);

    const bad = run(['ocr', 'lines', '--models-dir', dir, path.join(FIX, 'lines.png')]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /ppocr_keys_v1\.txt: cannot be read \(run scripts\/setup\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage errors exit 2', () => {
  assert.equal(run(['ocr']).status, 2);
  assert.equal(run(['ocr', 'words', 'x.png']).status, 2);
  assert.equal(run(['ocr', 'lines']).status, 2);
  assert.equal(run(['ocr', 'lines', '--intra-threads', 'many', 'x.png']).status, 2);
  const help = run(['ocr', 'lines', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /usage: shiming ocr lines/);
  assert.match(run(['help']).stdout, /ocr/);
});
