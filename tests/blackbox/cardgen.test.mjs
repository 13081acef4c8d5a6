// Black-box tests of tools/cardgen (the synthetic ID-card generator the OCR
// tests and the benchmark read), run as a user runs it: `shiming demo-data`
// writes a registry, cardgen renders cards of its persons.
// Checks: same arguments → byte-identical images and truth (whatever --jobs),
// another seed → other files; every truth line well-formed; every ID number
// printed is valid for the core (`shiming idcard check`); the printed fields
// agree with the registry rows and with the number itself; image files are
// what the truth says (format, size, card corners inside); the fixed tests
// set holds every status the OCR must tell apart; no face photo is copied
// into the output; usage errors exit 2.
//
// Must never: leave a temporary directory behind, or write into the faces
// folder (it is only read, and only when present).
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = process.env.SHIMING_SOURCE
  ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.resolve(process.env.SHIMING_BIN ?? path.join(SRC, 'build', 'shiming'));
const CARDGEN = path.join(SRC, 'tools', 'cardgen', 'cardgen.py');
const FACES = path.resolve(SRC, '..', 'shared', 'data', 'faces');
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const STATUSES = new Set(['normal', 'reversed_side', 'non_idcard', 'blurred', 'over_exposure',
  'over_dark', 'other_type_card', 'unknown']);
const FRONT = ['name', 'sex', 'ethnicity', 'birth', 'address', 'id_number'];
const BACK = ['authority', 'valid_from', 'valid_to'];
const KINDS = new Set(['idcard', 'driving_licence', 'bank_card', 'face_photo', 'text_page',
  'texture']);
const DEGRADATIONS = ['turn', 'rotation', 'perspective', 'background', 'blur_sigma', 'exposure',
  'noise_sigma', 'jpeg_quality'];

const root = mkdtempSync(path.join(tmpdir(), 'shiming-cardgen-'));
after(() => rmSync(root, { recursive: true, force: true }));

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 180_000, ...opts });
  assert.equal(r.error, undefined, `spawn ${cmd} failed: ${r.error}`);
  return r;
}

// One demo registry for every test.
const demo = path.join(root, 'demo');
{
  const r = sh(BIN, ['demo-data', '--count', '40', '--seed', '11', '--out', demo]);
  assert.equal(r.status, 0, r.stderr);
}
const registryCsv = path.join(demo, 'registry.csv');

function parseCsvLine(line) {
  const out = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { out.push(cur); cur = ''; }
    else cur += c;
  }
  out.push(cur);
  return out;
}

function readRegistry() {
  const lines = readFileSync(registryCsv, 'utf8').trimEnd().split('\n');
  const head = parseCsvLine(lines[0]);
  const persons = new Map();
  for (const line of lines.slice(1)) {
    const cols = parseCsvLine(line);
    const row = Object.fromEntries(head.map((h, i) => [h, cols[i]]));
    if (!persons.has(row.id_number)) persons.set(row.id_number, []);
    persons.get(row.id_number).push(row);
  }
  return persons;
}

let dirNo = 0;
function cardgen(args, { faces = false } = {}) {
  const out = path.join(root, `out${++dirNo}`);
  const all = [CARDGEN, '--registry', registryCsv, '--out', out, ...args];
  if (faces) all.push('--faces', FACES);
  const r = sh(PY, all);
  assert.equal(r.status, 0, `cardgen ${args.join(' ')} failed: ${r.stderr}`);
  const truthText = readFileSync(path.join(out, 'truth.jsonl'), 'utf8');
  const truth = truthText.trimEnd().split('\n').map((l) => JSON.parse(l));
  return { out, truthText, truth };
}

function filesOf(dir) {
  const names = readdirSync(path.join(dir, 'images')).sort();
  return new Map(names.map((n) => [n, readFileSync(path.join(dir, 'images', n))]));
}

function assertSameOutput(a, b, what) {
  assert.equal(a.truthText, b.truthText, `${what}: truth.jsonl differs`);
  const fa = filesOf(a.out);
  const fb = filesOf(b.out);
  assert.deepEqual([...fa.keys()], [...fb.keys()], `${what}: file lists differ`);
  for (const [n, buf] of fa) assert.ok(buf.equals(fb.get(n)), `${what}: ${n} differs`);
}

// Width and height from the file itself: PNG IHDR, or a JPEG SOFn marker.
function imageSize(buf) {
  if (buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return { fmt: 'png', w: buf.readUInt32BE(16), h: buf.readUInt32BE(20) };
  }
  assert.equal(buf.readUInt16BE(0), 0xffd8, 'neither PNG nor JPEG');
  let i = 2;
  while (i < buf.length) {
    assert.equal(buf[i], 0xff, 'JPEG marker expected');
    const m = buf[i + 1];
    const len = buf.readUInt16BE(i + 2);
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return { fmt: 'jpg', h: buf.readUInt16BE(i + 5), w: buf.readUInt16BE(i + 7), sof: m };
    }
    i += 2 + len;
  }
  assert.fail('JPEG without a frame header');
}

const isDate = (s) => {
  if (!/^\d{8}$/.test(s)) return false;
  const d = new Date(Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8)));
  return d.getUTCFullYear() === +s.slice(0, 4) && d.getUTCMonth() === +s.slice(4, 6) - 1
    && d.getUTCDate() === +s.slice(6, 8);
};

function checkWellFormed(set) {
  const registry = readRegistry();
  const seenFiles = new Set();
  for (const t of set.truth) {
    const where = t.file;
    assert.match(t.file, /^images\/\d{4}-[a-z-]+\.(jpg|png)$/, where);
    assert.ok(!seenFiles.has(t.file), `${where} listed twice`);
    seenFiles.add(t.file);
    assert.ok(['front', 'back', null].includes(t.side), `${where}: side ${t.side}`);
    assert.ok(STATUSES.has(t.expected_status), `${where}: status ${t.expected_status}`);
    assert.equal(typeof t.readable, 'boolean', where);
    assert.equal(typeof t.photographed, 'boolean', where);
    assert.ok(KINDS.has(t.kind), `${where}: kind ${t.kind}`);
    assert.deepEqual(Object.keys(t.degradations).sort(), [...DEGRADATIONS].sort(), where);
    assert.ok([0, 90, 180, 270].includes(t.degradations.turn), where);
    assert.equal(t.readable, t.expected_status === 'normal' && t.side !== null, where);

    // fields: exactly the side's keys, strings, no line breaks
    const want = t.side === 'front' ? FRONT : t.side === 'back' ? BACK : [];
    assert.deepEqual(Object.keys(t.fields), want, `${where}: field keys`);
    for (const [k, v] of Object.entries(t.fields)) {
      assert.equal(typeof v, 'string', `${where}: ${k}`);
      assert.ok(v.length > 0 && !/[\r\n]/.test(v), `${where}: ${k} = ${JSON.stringify(v)}`);
    }
    if (t.side === null) {
      assert.equal(t.identity, null, where);
      assert.notEqual(t.expected_status, 'normal', `${where}: not a card but normal`);
    } else {
      assert.equal(t.kind, 'idcard', where);
      const rows = registry.get(t.identity);
      assert.ok(rows, `${where}: identity ${t.identity} not in the registry`);
    }
    if (t.side === 'front') {
      const f = t.fields;
      assert.equal(f.id_number, t.identity, where);
      assert.ok(registry.get(f.id_number).some((r) => r.name === f.name), `${where}: name`);
      // (cards rendered with `mismatch` print another sex and/or birth year on purpose)
      if (!['birth', 'both'].includes(t.mismatch)) assert.equal(f.birth, f.id_number.slice(6, 14), `${where}: birth vs number`);
      assert.ok(isDate(f.birth), `${where}: birth ${f.birth}`);
      if (!['sex', 'both'].includes(t.mismatch)) assert.equal(f.sex, +f.id_number[16] % 2 === 1 ? '男' : '女', `${where}: sex vs number`);
      assert.match(f.ethnicity, /^[\u4e00-\u9fff]{1,4}$/, where);
      assert.ok(f.address.length >= 8 && f.address.length <= 33, `${where}: address length`);
    }
    if (t.side === 'back') {
      const f = t.fields;
      assert.ok(isDate(f.valid_from), `${where}: valid_from`);
      assert.ok(f.valid_to === '长期' || isDate(f.valid_to), `${where}: valid_to`);
      const row = registry.get(t.identity).find((r) => r.valid_from === f.valid_from);
      assert.ok(row, `${where}: no registry card from ${f.valid_from}`);
      assert.equal(f.authority, row.issuing_authority, `${where}: authority`);
      assert.equal(f.valid_to, row.valid_to === '00000000' ? '长期' : row.valid_to, where);
      assert.equal(row.lost, '0', `${where}: a card reported lost was printed`);
    }

    // the file is what the truth says
    const buf = readFileSync(path.join(set.out, t.file));
    const sz = imageSize(buf);
    assert.equal(sz.fmt, t.file.slice(-3), `${where}: format`);
    if (sz.fmt === 'jpg') {
      assert.equal(sz.sof, 0xc0, `${where}: baseline JPEG`);
      assert.equal(typeof t.degradations.jpeg_quality, 'number', where);
    }
    assert.deepEqual([sz.w, sz.h], t.size, `${where}: size`);
    assert.ok(sz.w >= 300 && sz.h >= 300 && sz.w <= 2000 && sz.h <= 2000,
      `${where}: ${sz.w}x${sz.h}`);
    if (t.card_quad) {
      assert.equal(t.card_quad.length, 4, where);
      for (const [x, y] of t.card_quad) {
        assert.ok(x >= 0 && y >= 0 && x <= sz.w && y <= sz.h, `${where}: corner ${x},${y} outside`);
      }
    } else {
      assert.equal(t.side, null, `${where}: card without corners`);
    }
    // a flat scan is exactly the card: 85.6 × 54 mm, turned or not
    if (t.side && !t.photographed && t.degradations.background === null) {
      const turned = t.degradations.turn % 180 === 90;
      const ratio = turned ? sz.h / sz.w : sz.w / sz.h;
      assert.ok(Math.abs(ratio - 85.6 / 54) < 0.01, `${where}: aspect ${ratio}`);
    }
  }
  return registry;
}

function checkNumbersValid(truth) {
  const ids = [...new Set(truth.filter((t) => t.side === 'front').map((t) => t.fields.id_number))];
  assert.ok(ids.length > 0);
  const r = sh(BIN, ['idcard', 'check', '--json'], { input: ids.join('\n') + '\n' });
  assert.equal(r.status, 0, `shiming idcard check found an invalid number: ${r.stdout}`);
  const answers = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.equal(answers.length, ids.length);
  const byId = new Map(answers.map((a) => [a.id_number, a]));
  for (const t of truth.filter((x) => x.side === 'front')) {
    const a = byId.get(t.fields.id_number);
    assert.ok(a && a.valid, t.file);
    if (!['birth', 'both'].includes(t.mismatch)) assert.equal(a.birth, t.fields.birth, t.file);
    if (!['sex', 'both'].includes(t.mismatch)) assert.equal(a.sex === 'M' ? '男' : '女', t.fields.sex, t.file);
    // the address lies in the region the number was issued in
    assert.ok(t.fields.address.startsWith(a.region.province),
      `${t.file}: ${t.fields.address} not in ${a.region.province}`);
  }
}

test('the tests set: deterministic, well-formed, every status the OCR must tell', () => {
  const a = cardgen(['--set', 'tests', '--seed', '4']);
  const b = cardgen(['--set', 'tests', '--seed', '4', '--jobs', '1']);
  assertSameOutput(a, b, 'tests set');
  assert.ok(a.truth.length >= 18 && a.truth.length <= 30, `${a.truth.length} images`);
  checkWellFormed(a);
  checkNumbersValid(a.truth);

  const t = a.truth;
  const count = (pred) => t.filter(pred).length;
  const flat = (x) => x.readable && !x.photographed && x.degradations.turn === 0;
  assert.ok(count((x) => x.side === 'front' && flat(x)) >= 3, 'clean fronts');
  assert.ok(count((x) => x.side === 'back' && flat(x)) >= 2, 'clean backs');
  assert.ok(count((x) => x.side === 'back' && x.fields.valid_to === '长期') >= 1, '长期 back');
  assert.ok(count((x) => x.readable && x.photographed) >= 4, 'photographed');
  assert.ok(count((x) => x.readable && x.degradations.turn === 180) >= 2, 'upside down');
  assert.ok(count((x) => x.readable && x.degradations.turn % 180 === 90) >= 1, 'turned 90°');
  for (const s of ['blurred', 'over_exposure', 'over_dark', 'other_type_card']) {
    assert.ok(count((x) => x.expected_status === s) >= 1, s);
  }
  assert.ok(count((x) => x.expected_status === 'non_idcard') >= 2, 'non-cards');
  // a three-line address: more than 22 characters
  assert.ok(t.some((x) => x.side === 'front' && x.fields.address.length > 22), 'long address');
});

test('mixed and photo sets: deterministic whatever --jobs, another seed other files', () => {
  const a = cardgen(['--set', 'mixed', '--count', '40', '--seed', '9', '--jobs', '2']);
  const b = cardgen(['--set', 'mixed', '--count', '40', '--seed', '9', '--jobs', '1']);
  assertSameOutput(a, b, 'mixed set');
  assert.equal(a.truth.length, 40);
  checkWellFormed(a);
  checkNumbersValid(a.truth);

  const c = cardgen(['--set', 'mixed', '--count', '40', '--seed', '10']);
  assert.notEqual(a.truthText, c.truthText, 'another seed gave the same truth');

  const p = cardgen(['--set', 'photo', '--count', '12', '--seed', '9']);
  checkWellFormed(p);
  assert.ok(p.truth.every((x) => x.photographed && x.readable && x.side !== null));
  assert.ok(p.truth.every((x) => x.degradations.background?.startsWith('desk-')));
  const q = cardgen(['--set', 'clean', '--count', '12', '--seed', '9']);
  checkWellFormed(q);
  assert.ok(q.truth.every((x) => !x.photographed && x.readable && x.degradations.turn === 0));
  assert.deepEqual(q.truth.map((x) => x.side).slice(0, 4), ['front', 'back', 'front', 'back']);
});

test('face photos go into the portrait only, never copied to the output',
  { skip: !existsSync(FACES) && 'no ../shared/data/faces here' }, () => {
    const a = cardgen(['--set', 'tests', '--seed', '4'], { faces: true });
    checkWellFormed(a);
    // the truth names the face photo of each portrait (fronts, the licence)
    for (const t of a.truth.filter((x) => x.side === 'front' || x.kind === 'driving_licence'))
      assert.ok(existsSync(path.join(FACES, t.face ?? '-')), `${t.file}: face ${t.face}`);
    const faceBytes = readdirSync(FACES).filter((n) => /\.(jpe?g|png)$/i.test(n))
      .map((n) => readFileSync(path.join(FACES, n)));
    for (const [n, buf] of filesOf(a.out)) {
      assert.ok(!faceBytes.some((f) => f.equals(buf)), `${n} is a copy of a face photo`);
    }
    // the portraits differ from the silhouette run
    const s = cardgen(['--set', 'tests', '--seed', '4']);
    assert.ok(!filesOf(a.out).get('0001-front.jpg').equals(filesOf(s.out).get('0001-front.jpg')));
  });

test('the spoof set: a scan, a photo, a screen recapture and a photocopy of each front', () => {
  const a = cardgen(['--set', 'spoof', '--count', '8', '--seed', '3', '--jobs', '2']);
  const b = cardgen(['--set', 'spoof', '--count', '8', '--seed', '3', '--jobs', '1']);
  assertSameOutput(a, b, 'spoof set');
  checkWellFormed(a);
  checkNumbersValid(a.truth);
  assert.deepEqual(a.truth.map((t) => t.spoof), [null, null, 'screen', 'photocopy', null, null, 'screen', 'photocopy']);
  assert.deepEqual(a.truth.map((t) => t.photographed), [false, true, false, false, false, true, false, false]);
  for (let i = 0; i < 8; i++) {
    const t = a.truth[i];
    assert.equal(t.side, 'front');
    assert.equal(t.identity, a.truth[i - (i % 4)].identity, `${t.file}: one person per four`);
    assert.equal(t.spoof === null, t.spoof_detail === null, t.file);
    if (t.spoof === 'screen') assert.ok(t.spoof_detail.pitch >= 2.6 && t.spoof_detail.pitch <= 4.2, t.file);
    if (t.spoof === 'photocopy') assert.equal(t.degradations.background, 'paper', t.file);
    assert.equal(t.face, null, `${t.file}: no faces folder, no face file`);
    assert.match(t.file, new RegExp(`-front${t.photographed ? '-photo' : ''}${t.spoof ? '-' + t.spoof : ''}\\.jpg$`));
  }
});

test('usage errors exit 2', () => {
  const bad = [
    [CARDGEN],
    [CARDGEN, '--registry', registryCsv],
    [CARDGEN, '--registry', registryCsv, '--out', path.join(root, 'x'), '--set', 'nope'],
    [CARDGEN, '--registry', registryCsv, '--out', path.join(root, 'x'), '--count', '0'],
  ];
  for (const args of bad) {
    const r = sh(PY, args);
    assert.equal(r.status, 2, `${args.slice(1).join(' ')}: ${r.status} ${r.stderr}`);
  }
});
