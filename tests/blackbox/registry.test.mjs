// Black-box tests of `shiming registry import|stats|delete`, run as an
// operator would: the real binary, real files, stdin, a reject file, the
// `sqlite3` command-line tool to inspect the store, and SIGKILL mid-import.
//
// Must never: leave a child process or a temporary directory behind (every
// test removes its directory in `finally`), or depend on `shiming demo-data`
// (the rows are generated here, with valid check characters).
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BIN = process.env.SHIMING_BIN ?? 'build/shiming';
const AT = '2026-01-01';
const HEADER = 'id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status';

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'shiming-bb-registry-'));
}

function run(args, input, opts = {}) {
  const r = spawnSync(BIN, args, {
    input, encoding: 'utf8', timeout: opts.timeout ?? 300_000, maxBuffer: 64 << 20,
  });
  assert.equal(r.error, undefined, `spawn failed: ${r.error}`);
  return r;
}

function checkChar(d17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let s = 0;
  for (let i = 0; i < 17; i++) s += Number(d17[i]) * w[i];
  return '10X98765432'[s % 11];
}

const pad = (n, w) => String(n).padStart(w, '0');

const REGIONS = [
  ['110105', '北京市公安局朝阳分局'], ['310104', '上海市公安局徐汇分局'],
  ['440305', '深圳市公安局南山分局'], ['330106', '杭州市公安局西湖分局'],
  ['510107', '成都市公安局武侯分局'], ['420106', '武汉市公安局武昌分局'],
  ['320106', '南京市公安局鼓楼分局'], ['370102', '济南市公安局历下分局'],
];
const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '欧阳', '司马'];
const GIVEN = ['伟', '芳', '娜', '秀英', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '艳',
  '杰', '娟', '涛', '明', '超', '秀兰', '霞', '阿卜杜·热合曼'];

/** Person i: a unique valid ID, a name, hukou, and the cards the law gives
 * at 16 (10 years), 26 (20 years) and 46 (long-term), up to 2025. */
function person(i) {
  const [region, authority] = REGIONS[i % REGIONS.length];
  const j = Math.floor(i / REGIONS.length);
  const d = j % (46 * 12 * 28);
  const seq = Math.floor(j / (46 * 12 * 28));
  const y = 1950 + (d % 46);
  const m = 1 + (Math.floor(d / 46) % 12);
  const day = 1 + (Math.floor(d / (46 * 12)) % 28);
  const id17 = region + pad(y, 4) + pad(m, 2) + pad(day, 2) + pad(seq, 3);
  const md = pad(m, 2) + pad(day, 2);
  const cards = [[`${y + 16}${md}`, `${y + 26}${md}`], [`${y + 26}${md}`, `${y + 46}${md}`]];
  if (y + 46 <= 2025) cards.push([`${y + 46}${md}`, i % 2 ? '长期' : '00000000']);
  return {
    id: id17 + checkChar(id17),
    name: SURNAMES[i % SURNAMES.length] + GIVEN[(i * 7) % GIVEN.length],
    hukou: i % 50 === 0 ? 2 : i % 20 === 1 ? 1 : 0,
    authority,
    cards: cards.map(([from, to], k) => ({ from, to, lost: k === 0 && i % 5 === 0 ? 1 : 0 })),
  };
}

function csvRows(from, count) {
  const out = [];
  for (let i = from; i < from + count; i++) {
    const p = person(i);
    for (const c of p.cards) out.push(`${p.id},${p.name},${c.from},${c.to},${p.authority},${c.lost},${p.hukou}`);
  }
  return out;
}

function jsonlRows(from, count) {
  const out = [];
  for (let i = from; i < from + count; i++) {
    const p = person(i);
    for (const c of p.cards) {
      out.push(JSON.stringify({
        id_number: p.id, name: p.name, valid_from: c.from, valid_to: c.to,
        issuing_authority: p.authority, lost: c.lost === 1, hukou_status: p.hukou,
      }));
    }
  }
  return out;
}

function expected(from, count) {
  let cards = 0, lost = 0;
  const hukou = [0, 0, 0];
  for (let i = from; i < from + count; i++) {
    const p = person(i);
    cards += p.cards.length;
    lost += p.cards.filter((c) => c.lost).length;
    hukou[p.hukou]++;
  }
  return { persons: count, cards, lost_cards: lost, hukou };
}

const SUMMARY = /^(.+): (\d+) rows: (\d+) inserted, (\d+) updated, (\d+) unchanged, (\d+) rejected; (\d+) batches, ([\d.]+) s, (\d+) rows\/s$/;

function summary(stdout) {
  const lines = stdout.trim().split('\n');
  return lines.map((l) => {
    const m = SUMMARY.exec(l);
    assert.ok(m, `not a summary line: ${l}`);
    return {
      file: m[1], rows: +m[2], inserted: +m[3], updated: +m[4], unchanged: +m[5],
      rejected: +m[6], batches: +m[7], seconds: +m[8],
    };
  });
}

function stats(dir, extra = []) {
  const r = run(['registry', 'stats', '--json', '--db', path.join(dir, 'r.db'),
    '--key-file', path.join(dir, 'k.key'), ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function storeArgs(dir, db = 'r.db') {
  return ['--db', path.join(dir, db), '--key-file', path.join(dir, 'k.key')];
}

function sqlite(db, sql) {
  const r = spawnSync('sqlite3', [db, sql], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined, `sqlite3 failed to start: ${r.error}`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('CSV, JSON Lines and stdin import; a second run changes nothing', () => {
  const dir = tmpdir();
  try {
    const csv = path.join(dir, 'people.csv');
    fs.writeFileSync(csv, '\ufeff' + [HEADER, ...csvRows(0, 300)].join('\r\n') + '\r\n');
    const jsonl = path.join(dir, 'more.jsonl');
    fs.writeFileSync(jsonl, jsonlRows(300, 200).join('\n') + '\n');
    const stdinText = [HEADER, ...csvRows(500, 100)].join('\n') + '\n';

    let r = run(['registry', 'import', ...storeArgs(dir), '--at', AT, csv, jsonl]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /created a new server key/);
    const [a, b, total] = summary(r.stdout);
    assert.equal(a.file, csv);
    assert.equal(a.rows, csvRows(0, 300).length);
    assert.equal(a.inserted, a.rows);
    assert.equal(b.rows, jsonlRows(300, 200).length);
    assert.equal(b.inserted, b.rows);
    assert.equal(total.file, 'total');
    assert.equal(total.rows, a.rows + b.rows);
    assert.equal(fs.statSync(path.join(dir, 'k.key')).mode & 0o777, 0o600);

    r = run(['registry', 'import', ...storeArgs(dir), '--at', AT, '-'], stdinText);
    assert.equal(r.status, 0, r.stderr);
    const [c] = summary(r.stdout);
    assert.equal(c.file, '-');
    assert.equal(c.inserted, csvRows(500, 100).length);
    assert.doesNotMatch(r.stderr, /created a new server key/);

    const want = expected(0, 600);
    let s = stats(dir);
    assert.equal(s.persons, want.persons);
    assert.equal(s.cards, want.cards);
    assert.equal(s.lost_cards, want.lost_cards);
    assert.deepEqual([s.hukou.valid, s.hukou.moved_out, s.hukou.invalid], want.hukou);
    assert.equal(s.schema_version, 3);
    assert.match(s.key_fingerprint, /^[0-9a-f]{16}$/);

    // Idempotent: everything again, all unchanged, stats identical.
    r = run(['registry', 'import', ...storeArgs(dir), '--at', AT, '--json', csv, jsonl]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.inserted, 0);
    assert.equal(j.updated, 0);
    assert.equal(j.unchanged, a.rows + b.rows);
    assert.equal(j.files.length, 2);
    r = run(['registry', 'import', ...storeArgs(dir), '--at', AT, '-'], stdinText);
    assert.equal(summary(r.stdout)[0].unchanged, c.rows);
    const s2 = stats(dir);
    assert.deepEqual({ ...s2, store_bytes: 0, bytes_per_person: 0 },
      { ...s, store_bytes: 0, bytes_per_person: 0 });

    // A changed row is an update.
    const p0 = person(0);
    const c0 = p0.cards[0];
    const changed = `${p0.id},${p0.name},${c0.from},${c0.to},新的分局,${c0.lost},${p0.hukou}`;
    r = run(['registry', 'import', ...storeArgs(dir), '--at', AT, '--format', 'csv', '-'],
      `${HEADER}\n${changed}\n`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(summary(r.stdout)[0].updated, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('rejected rows are listed with file, line, field and reason, never their values', () => {
  const dir = tmpdir();
  try {
    const good = csvRows(0, 2);
    const p = person(7);
    const badId = p.id.slice(0, 17) + (p.id[17] === '0' ? '1' : '0');
    const lines = [
      HEADER,
      good[0],
      `${badId},${p.name},20050320,20150320,x,0,0`,        // 3 checksum
      `${p.id},王1,20050320,20150320,x,0,0`,               // 4 name
      `${p.id},${p.name},${p.cards[0].from},20990101,x,0,0`, // 5 duration
      `${p.id},${p.name},${p.cards[0].from},${p.cards[0].to},x,maybe,0`, // 6 lost
      `${p.id},${p.name},${p.cards[0].from},${p.cards[0].to},x,0,5`,     // 7 hukou
      `${p.id},${p.name},${p.cards[0].from}`,              // 8 column count
      good[1],
    ];
    const csv = path.join(dir, 'in, "odd" name.csv');
    fs.writeFileSync(csv, lines.join('\n') + '\n');
    const rejects = path.join(dir, 'rejects.csv');
    const r = run(['registry', 'import', ...storeArgs(dir), '--at', AT, '--rejects', rejects, csv]);
    assert.equal(r.status, 1, 'some rows were rejected: exit 1');
    const [s] = summary(r.stdout);
    assert.equal(s.rows, 8);
    assert.equal(s.rejected, 6);
    assert.equal(s.inserted, 2);
    assert.match(r.stderr, /6 rejected rows listed in/);

    const text = fs.readFileSync(rejects, 'utf8');
    const q = '"' + csv.replace(/"/g, '""') + '"';
    assert.equal(text, [
      'file,line,field,reason',
      `${q},3,id_number,checksum`,
      `${q},4,name,characters`,
      `${q},5,valid_to,duration`,
      `${q},6,lost,not_boolean`,
      `${q},7,hukou_status,not_hukou_status`,
      `${q},8,row,column_count`,
    ].join('\n') + '\n');
    for (const secret of [p.id, badId, p.name, p.id.slice(6, 14)]) {
      assert.ok(!text.includes(secret), 'the reject file holds no identity');
      assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret));
    }

    // Without --rejects they go to stderr, one line each.
    const r2 = run(['registry', 'import', ...storeArgs(dir), '--at', AT, csv]);
    assert.equal(r2.status, 1);
    const rejectLines = r2.stderr.split('\n').filter((l) => l.includes(': rejected '));
    assert.equal(rejectLines.length, 6);
    assert.match(rejectLines[0], /rejected .*in, "odd" name\.csv:3: id_number: checksum$/);
    assert.ok(!r2.stderr.includes(p.id));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('stats and delete; another key is refused; --config reads [registry]', () => {
  const dir = tmpdir();
  try {
    const csv = path.join(dir, 'p.csv');
    fs.writeFileSync(csv, [HEADER, ...csvRows(0, 50)].join('\n') + '\n');
    let r = run(['registry', 'import', ...storeArgs(dir), '--at', AT, csv]);
    assert.equal(r.status, 0, r.stderr);

    r = run(['registry', 'stats', ...storeArgs(dir)]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^persons: +50$/m);
    assert.match(r.stdout, /^schema version: +3$/m);
    assert.match(r.stdout, /^key fingerprint: +[0-9a-f]{16}$/m);
    assert.match(r.stdout, /^bytes\/person: +[\d.]+$/m);
    const before = stats(dir);
    assert.ok(before.store_bytes > 0);
    assert.ok(Math.abs(before.bytes_per_person - before.store_bytes / 50) < 1);

    const victim = person(3);
    r = run(['registry', 'delete', ...storeArgs(dir), victim.id]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!r.stdout.includes(victim.id), 'the number is masked');
    assert.match(r.stdout, new RegExp(`deleted ${victim.id.slice(0, 3)}\\*+${victim.id.slice(14)}`));
    const after = stats(dir);
    assert.equal(after.persons, 49);
    assert.equal(after.cards, before.cards - victim.cards.length);
    r = run(['registry', 'delete', ...storeArgs(dir), victim.id]);
    assert.equal(r.status, 1, 'not found: exit 1');
    assert.match(r.stderr, /not in the registry/);
    r = run(['registry', 'delete', ...storeArgs(dir), '12345']);
    assert.equal(r.status, 2, 'not an ID number: usage error');

    // Re-importing brings the person back (erasure is not a tombstone).
    r = run(['registry', 'import', ...storeArgs(dir), '--at', AT, csv]);
    assert.equal(summary(r.stdout)[0].inserted, victim.cards.length);

    // A different key file: refused with a clear message, nothing changed.
    const other = path.join(dir, 'other.key');
    r = run(['registry', 'import', '--db', path.join(dir, 'r.db'), '--key-file', other, '--at', AT, csv]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /another server key/);
    r = run(['registry', 'stats', '--db', path.join(dir, 'r.db'), '--key-file', other]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(before.key_fingerprint));

    // stats never creates a key or a store.
    r = run(['registry', 'stats', '--db', path.join(dir, 'none.db'), '--key-file', path.join(dir, 'none.key')]);
    assert.equal(r.status, 1);
    assert.ok(!fs.existsSync(path.join(dir, 'none.key')));
    assert.ok(!fs.existsSync(path.join(dir, 'none.db')));

    // --config: the server's INI file, [registry] section.
    const ini = path.join(dir, 'shiming.ini');
    fs.writeFileSync(ini, `[server]\nport = 9999\n\n[registry]\ndb = ${path.join(dir, 'r.db')}\n` +
      `key_file = ${path.join(dir, 'k.key')}\nbusy_timeout_ms = 500\n`);
    r = run(['registry', 'stats', '--json', '--config', ini]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).persons, 50);
    // a flag overrides the file
    r = run(['registry', 'stats', '--config', ini, '--db', path.join(dir, 'none.db')]);
    assert.equal(r.status, 1);
    fs.writeFileSync(ini, '[registry]\nbogus = 1\n');
    r = run(['registry', 'stats', '--config', ini]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /shiming\.ini:2/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the database file holds no ID number and no name, WAL included', () => {
  const dir = tmpdir();
  try {
    const count = 400;
    const csv = path.join(dir, 'p.csv');
    fs.writeFileSync(csv, [HEADER, ...csvRows(1000, count)].join('\n') + '\n');
    const r = run(['registry', 'import', ...storeArgs(dir), '--at', AT, '--batch', '100', csv]);
    assert.equal(r.status, 0, r.stderr);
    const files = ['r.db', 'r.db-wal'].map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f));
    const bytes = Buffer.concat(files.map((f) => fs.readFileSync(f)));
    assert.ok(bytes.length > 0);
    // The control: what is stored in plaintext is found by this search.
    assert.ok(bytes.includes(Buffer.from(REGIONS[0][1], 'utf8')));
    const names = new Set();
    for (let i = 1000; i < 1000 + count; i++) {
      const p = person(i);
      assert.ok(!bytes.includes(Buffer.from(p.id, 'utf8')), `ID number of person ${i} found`);
      assert.ok(!bytes.includes(Buffer.from(p.id.slice(0, 17), 'utf8')));
      names.add(p.name);
    }
    for (const n of names) assert.ok(!bytes.includes(Buffer.from(n, 'utf8')), `name ${n} found`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a killed import leaves a consistent store; re-running completes it', async () => {
  const dir = tmpdir();
  const persons = 250_000;
  try {
    const csv = path.join(dir, 'big.csv');
    const fd = fs.openSync(csv, 'w');
    fs.writeSync(fd, HEADER + '\n');
    for (let i = 0; i < persons; i += 10_000) fs.writeSync(fd, csvRows(i, 10_000).join('\n') + '\n');
    fs.closeSync(fd);
    const want = expected(0, persons);

    // Uninterrupted reference, with stderr not a terminal: plain progress lines.
    let r = run(['registry', 'import', ...storeArgs(dir, 'ref.db'), '--at', AT, csv]);
    assert.equal(r.status, 0, r.stderr);
    const ref = summary(r.stdout)[0];
    assert.equal(ref.inserted, want.cards);
    const progress = r.stderr.split('\n').filter((l) => l.includes(' rows/s'));
    for (const l of progress) {
      assert.match(l, /^shiming registry import: .*big\.csv: \d+ rows, \d+% read, \d+ rows\/s, ETA \d+:\d\d$/);
      assert.ok(!l.includes('\r') && !l.includes('\x1b'), 'no terminal control on a pipe');
    }
    if (ref.seconds > 1.5) assert.ok(progress.length >= 1, `no progress line in ${ref.seconds} s`);

    // The same import, killed once some batches are committed.
    const db = path.join(dir, 'r.db');
    const child = spawn(BIN, ['registry', 'import', ...storeArgs(dir), '--at', AT,
      '--batch', '5000', csv], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    let finished = false;
    child.on('exit', () => { finished = true; });
    let committed = 0;
    try {
      const deadline = Date.now() + 120_000;
      while (!finished && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 20));
        if (!fs.existsSync(db)) continue;
        const q = spawnSync('sqlite3', [db, 'SELECT COUNT(*) FROM persons'], { encoding: 'utf8' });
        committed = q.status === 0 ? Number(q.stdout.trim()) || 0 : 0;
        if (committed > 0) break;
      }
    } finally {
      child.kill('SIGKILL');
    }
    const { signal } = await exited;
    assert.equal(signal, 'SIGKILL', 'the import had already finished; make the file bigger');

    assert.equal(sqlite(db, 'PRAGMA integrity_check'), 'ok');
    const mid = stats(dir);
    assert.ok(mid.persons > 0 && mid.persons < persons, `killed midway: ${mid.persons} persons`);
    // Whole batches only: every stored person has all their cards.
    assert.equal(sqlite(db, 'SELECT COUNT(*) FROM persons p WHERE NOT EXISTS ' +
      '(SELECT 1 FROM cards c WHERE c.person_id = p.id)'), '0');

    r = run(['registry', 'import', ...storeArgs(dir), '--at', AT, csv]);
    assert.equal(r.status, 0, r.stderr);
    const again = summary(r.stdout)[0];
    assert.equal(again.rows, ref.rows);
    assert.ok(again.unchanged > 0 && again.inserted > 0);
    assert.equal(again.inserted + again.unchanged, ref.rows);
    assert.equal(sqlite(db, 'PRAGMA integrity_check'), 'ok');

    const got = stats(dir);
    const refStats = stats(dir, ['--db', path.join(dir, 'ref.db')]);
    for (const s of [got, refStats]) {
      assert.equal(s.persons, want.persons);
      assert.equal(s.cards, want.cards);
      assert.equal(s.lost_cards, want.lost_cards);
      assert.deepEqual([s.hukou.valid, s.hukou.moved_out, s.hukou.invalid], want.hukou);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('usage errors exit 2', () => {
  const dir = tmpdir();
  try {
    for (const args of [
      ['registry'], ['registry', 'frobnicate'], ['registry', 'import', ...storeArgs(dir)],
      ['registry', 'import', ...storeArgs(dir), '--batch', '0', 'x.csv'],
      ['registry', 'import', ...storeArgs(dir), '--format', 'xml', 'x.csv'],
      ['registry', 'import', ...storeArgs(dir), '--bogus', 'x.csv'],
      ['registry', 'import', ...storeArgs(dir), '-', '-'],
      ['registry', 'stats', ...storeArgs(dir), '--rejects', 'x'],
      ['registry', 'delete', ...storeArgs(dir)],
    ]) {
      const r = run(args, '');
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.length > 0);
    }
    const r = run(['registry', '--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /registry import/);
    assert.ok(!fs.existsSync(path.join(dir, 'r.db')), 'usage errors touch nothing');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
