// Black-box tests of registry portraits through `shiming registry import`,
// `stats` and `delete` with the real face engine (deps/models) and real
// face photos (../shared/data/faces, read in place: the CSV written here in
// a temporary folder names them by absolute path or by symlinks made in
// that folder):
//  - a registry whose persons have portraits: relative and absolute paths,
//    standard input (relative to the current directory), JSON Lines;
//  - rows whose portrait fails are rejected with line and reason (an image
//    without a face, a text file, a missing file) and counted, the whole
//    row (no card stored); models missing → models_missing, the rows
//    without a portrait still imported;
//  - re-import changes nothing (the same photo gives the same template);
//  - stats count the templates; delete erases the person's template;
//  - the store's bytes (database and WAL) hold no piece of any image and no
//    embedding.
// The face photos are not redistributable: when ../shared/data/faces is
// missing the suite is skipped; missing models fail it (scripts/setup
// installs them).
//
// Must never: copy a face photo into the repository, or leave a temporary
// folder behind.
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { BIN } from './lib/server.mjs';
import { BLANK_PNG, MODELS_DIR, SOURCE_ROOT } from './lib/images.mjs';

const FACES = resolve(SOURCE_ROOT, '..', 'shared', 'data', 'faces');
const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;
const HEADER = 'id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status';

function idWithCheck(d17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...d17].reduce((a, c, i) => a + Number(c) * w[i], 0);
  return d17 + '10X98765432'[sum % 11];
}

/** A 200×200 PNG of smooth gradients (no face), written here with zlib. */
async function gradientPng() {
  const { deflateSync } = await import('node:zlib');
  const w = 200, h = 200;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = x; raw[o + 1] = y; raw[o + 2] = (x + y) >> 1;
    }
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function shiming(args, opts = {}) {
  const r = spawnSync(resolve(BIN), args, { encoding: 'utf8', timeout: 120_000, ...opts });
  assert.doesNotMatch(r.stderr ?? '', SANITIZER);
  return r;
}

/** The store's file bytes, database and WAL. */
function storeBytes(db) {
  return Buffer.concat([db, db + '-wal'].filter(existsSync).map((p) => readFileSync(p)));
}

/** Slices of a file (64 bytes every 1/9 of it) that must not be in the store. */
function slicesOf(file) {
  const b = readFileSync(file);
  const out = [];
  for (let i = 1; i < 9; i++) out.push(b.subarray(Math.floor(b.length * i / 9), Math.floor(b.length * i / 9) + 64));
  return out;
}

const PEOPLE = [
  // [17 digits, name, portrait file in FACES or null]
  ['11010519850315003', '王伟', 'jackie_chan_01.jpg'],
  ['31010419900701002', '李娜', 'barack_obama_01.jpg'],
  ['44030519880808001', '张敏', 'scarlett_johansson_01.jpg'],
  ['11010519700101001', '刘洋', null],
];

describe('registry portraits', { skip: !existsSync(FACES) && 'no ../shared/data/faces here' }, () => {
  let dir;
  let db;
  let key;
  const ids = PEOPLE.map(([d]) => idWithCheck(d));
  before(async () => {
    assert.ok(existsSync(join(MODELS_DIR, 'fr_feature.onnx')), 'the face models (scripts/setup) are needed');
    dir = mkdtempSync(join(tmpdir(), 'shiming-portrait-'));
    db = join(dir, 'registry.db');
    key = join(dir, 'server.key');
    mkdirSync(join(dir, 'in', 'faces'), { recursive: true });
    symlinkSync(join(FACES, PEOPLE[0][2]), join(dir, 'in', 'faces', 'a.jpg'));
    writeFileSync(join(dir, 'in', 'faces', 'gradient.png'), await gradientPng());
    writeFileSync(join(dir, 'in', 'faces', 'blank.png'), Buffer.from(BLANK_PNG, 'base64'));
    writeFileSync(join(dir, 'in', 'faces', 'notes.txt'), 'not an image');
  });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  const base = () => ['--db', db, '--key-file', key, '--models-dir', MODELS_DIR];
  const stats = () => {
    const r = shiming(['registry', 'stats', '--db', db, '--key-file', key, '--json']);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const rejectsOf = (file) => readFileSync(file, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));

  function writeMain() {
    const card = (i, portrait) => `${ids[i]},${PEOPLE[i][1]},20150101,20350101,北京市公安局朝阳分局,0,0,${portrait}`;
    const lines = [
      HEADER + ',portrait',
      card(0, 'faces/a.jpg'),                               // 2: relative, through a symlink
      card(1, join(FACES, PEOPLE[1][2])),                   // 3: absolute, read in place
      card(2, join(FACES, PEOPLE[2][2])),                   // 4
      card(3, ''),                                          // 5: no portrait
      `${idWithCheck('11010519700101011')},赵六,20150101,20350101,x,0,0,faces/gradient.png`, // 6: no face
      `${idWithCheck('11010519700101012')},钱七,20150101,20350101,x,0,0,faces/notes.txt`,    // 7: not an image
      `${idWithCheck('11010519700101013')},孙八,20150101,20350101,x,0,0,faces/missing.jpg`,  // 8: no such file
      `${idWithCheck('11010519700101014')},周九,20150101,20350101,x,0,0,faces/blank.png`,    // 9: tiny, no face
    ];
    writeFileSync(join(dir, 'in', 'people.csv'), lines.join('\n') + '\n');
    return join(dir, 'in', 'people.csv');
  }

  test('import with portraits: templates stored, failing portraits rejected with line and reason', () => {
    const csv = writeMain();
    const rej = join(dir, 'rejects.csv');
    const r = shiming(['registry', 'import', ...base(), '--rejects', rej, '--json', csv]);
    assert.equal(r.status, 1, r.stderr); // rows were rejected
    const sum = JSON.parse(r.stdout);
    assert.equal(sum.rows, 8);
    assert.equal(sum.inserted, 4);
    assert.equal(sum.rejected, 4);
    assert.equal(sum.portraits, 3);
    assert.deepEqual(rejectsOf(rej).map(([, line, field, reason]) => [line, field, reason]), [
      ['6', 'portrait', 'no_face'],
      ['7', 'portrait', 'unsupported_image'],
      ['8', 'portrait', 'unreadable'],
      ['9', 'portrait', 'no_face'],
    ]);
    const st = stats();
    assert.equal(st.persons, 4); // a rejected row stores nothing of its identity either
    assert.equal(st.portraits, 3);
    // The rejects name no identity and no path.
    assert.doesNotMatch(readFileSync(rej, 'utf8'), /赵六|11010519700101011|gradient/);
  });

  test('re-import: the same photos give the same templates (nothing changes)', () => {
    const r = shiming(['registry', 'import', ...base(), '--rejects', join(dir, 'r2.csv'), '--json', join(dir, 'in', 'people.csv')]);
    assert.equal(r.status, 1, r.stderr);
    const sum = JSON.parse(r.stdout);
    assert.equal(sum.inserted, 0);
    assert.equal(sum.updated, 0);
    assert.equal(sum.unchanged, 4);
    assert.equal(sum.portraits, 3);
    assert.equal(stats().portraits, 3);
  });

  test('the store holds no piece of any image and no embedding-sized plaintext', () => {
    const bytes = storeBytes(db);
    assert.ok(bytes.includes(Buffer.from('北京市公安局朝阳分局')), 'the control: plaintext that is stored is found');
    for (const f of [join(FACES, PEOPLE[0][2]), join(FACES, PEOPLE[1][2]), join(FACES, PEOPLE[2][2])])
      for (const s of slicesOf(f)) assert.ok(!bytes.includes(s), `a piece of ${f} is in the store`);
    assert.ok(!bytes.includes(Buffer.from('JFIF')), 'no JFIF marker');
    assert.ok(!bytes.includes(Buffer.from('IHDR')), 'no PNG header');
    for (const id of ids) assert.ok(!bytes.includes(Buffer.from(id)), 'no ID number');
  });

  test('standard input: portrait paths relative to the current directory; JSON Lines', () => {
    const id = idWithCheck('32010219900101031');
    const r = shiming(['registry', 'import', ...base(), '--json', '-'], {
      cwd: join(dir, 'in'),
      input: `${HEADER},portrait\n${id},吴十,20150101,20350101,x,0,0,faces/a.jpg\n`,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).portraits, 1);
    const id2 = idWithCheck('32010219900101032');
    const jsonl = join(dir, 'in', 'more.jsonl');
    writeFileSync(jsonl, JSON.stringify({ id_number: id2, name: '郑一', valid_from: '20150101', valid_to: '20350101', issuing_authority: 'x', lost: false, hukou_status: 0, portrait: 'faces/a.jpg' }) + '\n' +
      JSON.stringify({ id_number: idWithCheck('32010219900101033'), name: '郑二', valid_from: '20150101', valid_to: '20350101', issuing_authority: 'x', lost: false, hukou_status: 0, portrait: null }) + '\n');
    const r2 = shiming(['registry', 'import', ...base(), '--json', jsonl]);
    assert.equal(r2.status, 0, r2.stderr);
    const sum = JSON.parse(r2.stdout);
    assert.equal(sum.inserted, 2);
    assert.equal(sum.portraits, 1);
    assert.equal(stats().portraits, 5);
  });

  test('models missing: portrait rows rejected (models_missing), the others imported', () => {
    const empty = mkdtempSync(join(tmpdir(), 'shiming-nomodels-'));
    try {
      const csv = join(dir, 'in', 'nomodels.csv');
      const id = idWithCheck('32010219900101041');
      writeFileSync(csv, `${HEADER},portrait\n${id},冯一,20150101,20350101,x,0,0,faces/a.jpg\n` +
        `${idWithCheck('32010219900101042')},冯二,20150101,20350101,x,0,0,\n`);
      const rej = join(dir, 'r3.csv');
      const r = shiming(['registry', 'import', '--db', db, '--key-file', key, '--models-dir', empty, '--rejects', rej, '--json', csv]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /face models cannot be loaded/);
      const sum = JSON.parse(r.stdout);
      assert.equal(sum.inserted, 1);
      assert.equal(sum.rejected, 1);
      assert.deepEqual(rejectsOf(rej).map(([, line, field, reason]) => [line, field, reason]), [['2', 'portrait', 'models_missing']]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('an import without a portrait column never loads the face engine', () => {
    const csv = join(dir, 'in', 'plain.csv');
    writeFileSync(csv, `${HEADER}\n${idWithCheck('32010219900101051')},陈一,20150101,20350101,x,0,0\n`);
    const r = shiming(['registry', 'import', '--db', db, '--key-file', key, '--models-dir', '/nonexistent', '--json', csv]);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /face models/);
  });

  test('delete erases the template with the person; its bytes leave the store', () => {
    const py = spawnSync('python3', ['-c', `
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for (s,) in c.execute("SELECT sealed FROM portraits"):
    sys.stdout.write(s.hex() + "\\n")
`, db], { encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    const sealedBefore = py.stdout.trim().split('\n').map((h) => Buffer.from(h, 'hex').subarray(0, 64));
    const before = stats().portraits;
    const r = shiming(['registry', 'delete', '--db', db, '--key-file', key, ids[1]]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(stats().portraits, before - 1);
    const bytes = storeBytes(db);
    const left = sealedBefore.filter((s) => bytes.includes(s)).length;
    assert.equal(left, sealedBefore.length - 1, 'exactly one template erased, no copy left');
    assert.equal(shiming(['registry', 'delete', '--db', db, '--key-file', key, ids[1]]).status, 1);
  });
});
