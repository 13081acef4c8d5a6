// The ID-card reader end to end (`shiming ocr idcard --json`, the pipeline
// of POST /v1/ocr/idcard) on the generator's fixed `tests` set
// (tools/cardgen, seed 7, generated into a temporary folder): every field
// of the clean, photographed, rotated and upside-down cards exact, every
// image_status, number_type (consistent, printed sex or birth differing,
// both), the core's checks, reversed_side when the other side is asked for.
//
// Skipped only when the OCR models are missing (scripts/setup installs
// them) or python3 lacks Pillow/numpy. Must never: write into the source
// tree, or keep the generated images.
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { FIELDS, generateSet } from '../../bench/lib/idcard_eval.mjs';

const BIN = process.env.SHIMING_BIN ?? 'build/shiming';
const ROOT = resolve(process.env.SHIMING_SOURCE ?? '.');
const MODELS = join(ROOT, 'deps/models');
const HAVE_MODELS = existsSync(join(MODELS, 'ch_PP-OCRv4_rec_infer.onnx'));
const HAVE_PIL = spawnSync('python3', ['-c', 'import PIL, numpy'], { stdio: 'ignore' }).status === 0 ||
  spawnSync('/usr/bin/python3', ['-c', 'import PIL, numpy'], { stdio: 'ignore' }).status === 0;
const SKIP = !HAVE_MODELS ? 'needs the OCR models (scripts/setup)' : !HAVE_PIL ? 'needs python3-pil and python3-numpy' : false;

/** One JSON object per file from `shiming ocr idcard --json`. */
function readCards(files, extra = []) {
  const out = execFileSync(BIN, ['ocr', 'idcard', '--json', '--models-dir', MODELS, ...extra, ...files], { maxBuffer: 1 << 26 }).toString();
  const rows = out.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, files.length);
  return rows;
}

describe('shiming ocr idcard on the synthetic tests set', { skip: SKIP }, () => {
  let dir;
  let truth;
  let answers;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shiming-idcard-test-'));
    truth = generateSet(BIN, ROOT, dir, 'tests', 0, 7);
    answers = readCards(truth.map((t) => t.path));
  });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  test('the set is what this test expects', () => {
    assert.ok(truth.length >= 25, `${truth.length} images`);
    for (const k of ['normal', 'blurred', 'over_exposure', 'over_dark', 'non_idcard', 'other_type_card'])
      assert.ok(truth.some((t) => t.expected_status === k), k);
  });

  test('every field of every readable card exact (clean, photographed, turned, upside down)', () => {
    let n = 0;
    for (const [i, t] of truth.entries()) {
      if (!t.readable) continue;
      const a = answers[i];
      assert.equal(a.side, t.side, t.file);
      assert.deepEqual(Object.keys(a.fields), FIELDS, t.file);
      for (const f of FIELDS) {
        if (f in t.fields) {
          assert.equal(a.fields[f]?.text, t.fields[f], `${t.file} ${f}`);
          assert.ok(a.fields[f].confidence > 0.5 && a.fields[f].confidence <= 1, `${t.file} ${f} confidence`);
        } else {
          assert.equal(a.fields[f], null, `${t.file} ${f}: not on this side`);
        }
      }
      n++;
    }
    assert.ok(n >= 18, `${n} readable cards`);
    // the hard ones are among them
    for (const rot of [90, 180, 183, 176, 268])
      assert.ok(truth.some((t) => t.readable && t.degradations.rotation === rot), `rotation ${rot}`);
  });

  test('image_status of every image (no side asked)', () => {
    for (const [i, t] of truth.entries())
      assert.equal(answers[i].image_status, t.expected_status, t.file);
  });

  test('number_type: consistent 1, sex differs 4, birth differs 3, both 2; backs and non-cards -1', () => {
    const want = { sex: 4, birth: 3, both: 2 };
    let mism = 0;
    for (const [i, t] of truth.entries()) {
      const a = answers[i];
      if (t.side === 'front' && t.readable) {
        assert.equal(a.idcard_number_type, t.mismatch ? want[t.mismatch] : 1, t.file);
        assert.equal(a.checks.id_number, 'ok', t.file);
        if (t.mismatch) mism++;
      } else if (t.side === 'back' || t.kind !== 'idcard') {
        assert.equal(a.idcard_number_type, -1, t.file);
      }
      if (t.side === 'back' && t.readable) {
        assert.equal(a.checks.period, 'ok', t.file);
        assert.equal(a.checks.id_number, null, t.file);
      }
    }
    assert.equal(mism, 3);
  });

  test('reversed_side when the other side is asked for; normal when the same', () => {
    const front = truth.find((t) => t.readable && t.side === 'front' && !t.photographed);
    const back = truth.find((t) => t.readable && t.side === 'back' && !t.photographed);
    const [a, b] = readCards([front.path, back.path], ['--side', 'back']);
    assert.equal(a.image_status, 'reversed_side');
    assert.equal(a.side, 'front');
    assert.equal(b.image_status, 'normal');
    const [c] = readCards([front.path], ['--side', 'front']);
    assert.equal(c.image_status, 'normal');
    assert.equal(c.fields.id_number.text, front.fields.id_number);
  });
});
