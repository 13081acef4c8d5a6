// idcard_eval.mjs — shared by bench/ocr-idcard and tests/blackbox/ocr-idcard.test.mjs:
// generate a synthetic card set with tools/cardgen (fixed seed, temp folder),
// read its truth.jsonl, and score answers field by field.
//
// Must never: write into the source tree, or keep the generated images (they
// may hold faces from ../shared/data/faces: the caller removes the folder).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const FIELDS = ['name', 'sex', 'ethnicity', 'birth', 'address', 'id_number', 'authority', 'valid_from', 'valid_to'];

/** Generate a registry and a card set into dir/SET; returns the truth rows. */
export function generateSet(bin, root, dir, set, count, seed) {
  const demo = join(dir, 'demo');
  if (!existsSync(join(demo, 'registry.csv')))
    execFileSync(bin, ['demo-data', '--count', String(Math.max(100, count)), '--seed', String(seed), '--out', demo], { stdio: 'ignore' });
  const out = join(dir, set);
  const faces = resolve(root, '..', 'shared', 'data', 'faces');
  const args = [join(root, 'tools/cardgen/cardgen.py'), '--registry', join(demo, 'registry.csv'), '--out', out,
    '--set', set, '--seed', String(seed), '--data', join(root, 'data')];
  if (set !== 'tests') args.push('--count', String(count));
  if (existsSync(faces)) args.push('--faces', faces);
  execFileSync('python3', args, { stdio: 'ignore' });
  return readFileSync(join(out, 'truth.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const t = JSON.parse(l);
    t.path = join(out, t.file);
    return t;
  });
}

/** Field-level comparison of an answer (the native JSON) with a truth row:
 * { field: true|false } for each field the truth has. */
export function scoreFields(truth, answer) {
  const out = {};
  for (const [k, v] of Object.entries(truth.fields ?? {}))
    out[k] = answer?.fields?.[k]?.text === v;
  return out;
}

export function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
