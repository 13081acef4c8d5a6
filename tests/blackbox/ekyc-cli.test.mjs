// Black-box tests of `shiming ekyc --doc FILE --face FILE [--json]`, the
// eKYC decision on local files (the same pipeline as POST /v1/ekyc), with
// the real OCR and face models and tools/cardgen's `spoof` set (generated
// at run time into a temporary folder) and ../shared/data/faces (read in
// place). Exit status 0 passed, 1 not passed or failed, 2 usage.
//
// Must never: copy a face image, or leave the generated cards behind.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { generateSet } from '../../bench/lib/idcard_eval.mjs';
import { BIN } from './lib/server.mjs';
import { MODELS_DIR, SOURCE_ROOT } from './lib/images.mjs';
import { FACES_DIR, faceLabels, gradientBmp, otherIdentity, sameIdentity } from './lib/faces.mjs';

const dir = mkdtempSync(join(tmpdir(), 'shiming-ekyc-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const labels = faceLabels();
const cards = generateSet(BIN, SOURCE_ROOT, dir, 'spoof', 4, 11);
const face = (f) => join(FACES_DIR, f);

function ekyc(args) {
  const r = spawnSync(BIN, ['ekyc', '--models-dir', MODELS_DIR, ...args], { encoding: 'utf8' });
  assert.doesNotMatch(r.stderr, /AddressSanitizer|LeakSanitizer|runtime error:/);
  return r;
}

test('usage errors exit 2', () => {
  for (const args of [[], ['--doc', 'x.jpg'], ['--doc', 'x', '--face', 'y', '--doc-type', 'pass'],
    ['--doc', 'x', '--face', 'y', '--authorize'], ['--doc', 'x', '--face', 'y', '--id-number', '123'],
    ['--doc', 'x', '--face', 'y', '--bogus'], ['--doc']]) {
    const r = ekyc(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /shiming ekyc/);
  }
  assert.equal(ekyc(['--help']).status, 0);
});

test('passed, another person, a screen recapture, a photocopy, no face, a missing file', () => {
  const [scan, , screen, copy] = cards;
  const same = sameIdentity(labels, scan.face) ?? scan.face;
  let r = ekyc(['--doc', scan.path, '--face', face(same), '--json']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.passed, true);
  assert.equal(j.subcode, 200);
  assert.equal(j.document.fields.id_number, scan.fields.id_number);

  r = ekyc(['--doc', scan.path, '--face', face(otherIdentity(labels, scan.face, 2)), '--json']);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(JSON.parse(r.stdout).subcode, 204);

  for (const [c, type] of [[screen, 'screen_recapture'], [copy, 'photocopy']]) {
    r = ekyc(['--doc', c.path, '--face', face(same), '--json']);
    assert.equal(r.status, 1, r.stderr);
    const x = JSON.parse(r.stdout);
    assert.equal(x.subcode, 212, r.stdout);
    assert.deepEqual(x.document.spoof, { risk: true, type });
  }
  // text output
  r = ekyc(['--doc', scan.path, '--face', face(same)]);
  assert.match(r.stdout, /^passed \(subcode 200\)/);

  const bmp = join(dir, 'gradient.bmp');
  writeFileSync(bmp, gradientBmp());
  r = ekyc(['--doc', scan.path, '--face', bmp]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no_face/);
  r = ekyc(['--doc', join(dir, 'missing.jpg'), '--face', bmp]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /missing\.jpg/);
});

test('--authorize with a registry that cannot be opened: 209', () => {
  const [scan] = cards;
  const same = sameIdentity(labels, scan.face) ?? scan.face;
  const key = join(dir, 'server.key');
  writeFileSync(key, '11'.repeat(32) + '\n', { mode: 0o600 });
  const r = ekyc(['--doc', scan.path, '--face', face(same), '--authorize', '--db', join(dir, 'absent.db'), '--key-file', key, '--json']);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(JSON.parse(r.stdout).subcode, 209, r.stdout + r.stderr);
});
