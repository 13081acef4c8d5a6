// Black-box tests of `shiming demo-data`, run as a user runs it: the real
// binary writes a synthetic registry and test cases into a directory.
// Checks: same arguments → byte-identical files, another seed → other files,
// the CSV's shape, every case line parses and is consistent with the
// registry written alongside, usage errors exit 2 — and, end to end, that
// every case gets its expected verdict from the real server, both on the
// registry `serve --demo` fills and on one `registry import` loads.
//
// Must never: leave a temporary directory or a server behind, or depend on
// today's date (every case carries its own "at").
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startReady, postJson } from './lib/server.mjs';

const BIN = process.env.SHIMING_BIN ?? 'build/shiming';
const HEADER = 'id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status';
const VERDICTS = new Set([
  'match', 'mismatch', 'not_found', 'invalid_id', 'invalid_name', 'invalid_period',
]);
const REASONS = {
  invalid_id: new Set(['length', 'characters', 'birth_date', 'region', 'checksum']),
  invalid_name: new Set(['empty', 'encoding', 'control', 'characters', 'mixed_script', 'dot',
    'too_short', 'too_long']),
  invalid_period: new Set(['format', 'begin_long_term', 'begin_before_birth', 'begin_in_future',
    'end_before_begin', 'duration']),
};

const root = mkdtempSync(path.join(tmpdir(), 'shiming-demo-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirNo = 0;
function freshDir() {
  return path.join(root, `out${++dirNo}`);
}

function run(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined, `spawn failed: ${r.error}`);
  return r;
}

function generate(args) {
  const out = freshDir();
  const r = run(['demo-data', ...args, '--out', out]);
  assert.equal(r.status, 0, `demo-data ${args.join(' ')} failed: ${r.stderr}`);
  return {
    out,
    csv: readFileSync(path.join(out, 'registry.csv')),
    cases: readFileSync(path.join(out, 'cases.jsonl')),
  };
}

test('the same count and seed give byte-identical files; another seed other files', () => {
  const a = generate(['--count', '500', '--seed', '7']);
  const b = generate(['--count', '500', '--seed', '7']);
  assert.ok(a.csv.length > 10_000);
  assert.ok(a.csv.equals(b.csv), 'registry.csv differs between two identical runs');
  assert.ok(a.cases.equals(b.cases), 'cases.jsonl differs between two identical runs');

  const c = generate(['--count', '500', '--seed', '8']);
  assert.ok(!a.csv.equals(c.csv), 'another seed gave the same registry');
  assert.ok(!a.cases.equals(c.cases), 'another seed gave the same cases');

  // the option order does not matter, and --at defaults to 2026-01-01
  const d = generate(['--at', '2026-01-01', '--seed', '7', '--count', '500']);
  assert.ok(a.csv.equals(d.csv));
  assert.ok(a.cases.equals(d.cases));
});

function parseRegistry(buf) {
  const text = buf.toString('utf8');
  assert.ok(!text.includes('\r'), 'LF line ends only');
  assert.ok(text.endsWith('\n'));
  const lines = text.slice(0, -1).split('\n');
  assert.equal(lines[0], HEADER);
  const persons = new Map();
  let last = null;
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    assert.equal(f.length, 7, `7 columns: ${line}`);
    const [id, name, from, to, authority, lost, hukou] = f;
    assert.match(id, /^\d{17}[\dX]$/);
    assert.ok(name.length >= 2 && [...name].length <= 15, `name ${name}`);
    assert.match(from, /^\d{8}$/);
    assert.match(to, /^\d{8}$/);
    assert.ok(to === '00000000' || to > from, `${from}-${to}`);
    assert.match(authority, /公安局/);
    assert.match(lost, /^[01]$/);
    assert.match(hukou, /^[012]$/);
    let p = persons.get(id);
    if (p) {
      assert.equal(last, id, `the rows of ${id} are not consecutive`);
      assert.equal(p.name, name);
      assert.ok(from > p.cards.at(-1).from, `${id}: cards not oldest first`);
    } else {
      p = { name, hukou: Number(hukou), cards: [] };
      persons.set(id, p);
    }
    p.cards.push({ from, to, lost: lost === '1' });
    last = id;
  }
  return persons;
}

test('registry.csv: header, columns, the showcase first', () => {
  const { csv } = generate(['--count', '500', '--seed', '7']);
  const persons = parseRegistry(csv);
  assert.equal(persons.size, 500);
  const [first, second, third] = [...persons.entries()];
  assert.deepEqual(first, ['110105198503150035', {
    name: '王伟', hukou: 0,
    cards: [{ from: '20050320', to: '20150320', lost: false }, { from: '20150320', to: '20350320', lost: false }],
  }]);
  assert.equal(second[0], '310104199208080025');
  assert.equal(second[1].name, '李娜');
  assert.deepEqual(second[1].cards.map((c) => c.lost), [false, true, false]);
  assert.equal(third[0], '650102196811020045');
  assert.equal(third[1].name, '阿依古丽·买买提');
  assert.equal(third[1].cards[1].to, '00000000');
  const text = csv.toString('utf8');
  assert.ok(text.includes(',北京市公安局朝阳分局,'));
  assert.ok(text.includes(',乌鲁木齐市公安局天山区分局,'));
  // a world, not a list: more cards than persons, lost cards, hukou 1 or 2 somewhere
  const rows = text.split('\n').length - 2;
  assert.ok(rows > 800, `${rows} cards for 500 persons`);
  assert.ok([...persons.values()].some((p) => p.cards.some((c) => c.lost) && p !== second[1]));
  assert.ok([...persons.values()].some((p) => p.hukou !== 0));
});

test('cases.jsonl: every line parses, speaks the vocabulary, and fits the registry', () => {
  const { csv, cases } = generate(['--count', '500', '--seed', '7']);
  const persons = parseRegistry(csv);
  const lines = cases.toString('utf8').split('\n');
  assert.equal(lines.pop(), '', 'ends with a newline');
  assert.ok(lines.length >= 400, `${lines.length} cases for 500 persons`);
  const seen = new Map();
  lines.forEach((line, i) => {
    const c = JSON.parse(line);
    assert.equal(c.id, `case-${String(i + 1).padStart(6, '0')}`);
    assert.ok(c.endpoint === 'id2' || c.endpoint === 'id4', c.endpoint);
    assert.equal(typeof c.request.name, 'string');
    assert.equal(typeof c.request.id_number, 'string');
    assert.equal(c.request.at, '2026-01-01');
    if (c.endpoint === 'id4') {
      assert.equal(typeof c.request.valid_from, 'string');
      assert.equal(typeof c.request.valid_to, 'string');
    } else {
      assert.equal(c.request.valid_from, undefined);
    }
    const { verdict, reason } = c.expect;
    assert.ok(VERDICTS.has(verdict), `${c.id}: verdict ${verdict}`);
    if (REASONS[verdict]) assert.ok(REASONS[verdict].has(reason), `${c.id}: ${verdict} reason ${reason}`);
    else assert.equal(reason, undefined);
    const key = `${c.endpoint}:${verdict}:${reason ?? ''}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);

    const p = persons.get(c.request.id_number.toUpperCase());
    if (verdict === 'not_found') assert.equal(p, undefined, `${c.id}: not_found, yet in the registry`);
    if (verdict === 'match') {
      assert.ok(p, `${c.id}: match, yet not in the registry`);
      assert.equal(c.request.name.trim().replace(/[•・.]/, '·'), p.name);
    }
    if (verdict === 'mismatch') assert.ok(p, `${c.id}: mismatch, yet not in the registry`);
    if (c.endpoint === 'id4' && verdict === 'match') {
      const i = p.cards.findIndex((k) => k.from === c.request.valid_from && k.to === c.request.valid_to);
      assert.ok(i >= 0, `${c.id}: no such card`);
      const k = p.cards[i];
      assert.deepEqual(c.expect.card, {
        lost: k.lost,
        newest: i === p.cards.length - 1,
        expired: k.to !== '00000000' && k.to < '20260101',
      });
      assert.equal(c.expect.hukou_status, p.hukou);
    }
    if (c.endpoint === 'id4' && verdict === 'mismatch' && p.name === c.request.name) {
      assert.ok(!p.cards.some((k) => k.from === c.request.valid_from && k.to === c.request.valid_to),
        `${c.id}: mismatch, yet the card exists`);
    }
  });
  for (const v of VERDICTS) {
    const n = [...seen.entries()].filter(([k]) => k.split(':')[1] === v).reduce((s, [, x]) => s + x, 0);
    assert.ok(n >= 10, `only ${n} cases expect ${v}`);
  }
  for (const r of REASONS.invalid_id) assert.ok([...seen.keys()].some((k) => k.endsWith(`invalid_id:${r}`)), `no invalid_id ${r}`);
  for (const r of REASONS.invalid_period) assert.ok(seen.has(`id4:invalid_period:${r}`), `no invalid_period ${r}`);
  assert.ok(seen.get('id4:match:') >= 50);
  assert.ok(seen.get('id4:mismatch:') >= 20);
});

test('--at moves the world and is carried by every request', () => {
  const a = generate(['--count', '300', '--seed', '7']);
  const b = generate(['--count', '300', '--seed', '7', '--at', '2031-06-30']);
  assert.ok(!a.csv.equals(b.csv));
  const cases = b.cases.toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(cases.every((c) => c.request.at === '2031-06-30'));
  for (const line of b.csv.toString('utf8').trim().split('\n').slice(1)) {
    const from = line.split(',')[2];
    assert.ok(from <= '20310630', `a card issued after --at: ${line}`);
  }
});

test('--help, and usage errors exit 2 without writing anything', () => {
  const h = run(['demo-data', '--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /usage: shiming demo-data/);
  assert.match(h.stdout, /--seed/);

  const out = freshDir();
  for (const args of [
    [],                                          // no --out
    ['--count', '10'],                           // still no --out
    ['--out', out, '--count', 'abc'],
    ['--out', out, '--count', '0'],
    ['--out', out, '--count', '-5'],
    ['--out', out, '--count', '10x'],
    ['--out', out, '--count', '99999999999'],
    ['--out', out, '--seed', 'seven'],
    ['--out', out, '--seed', '-1'],
    ['--out', out, '--at', '2026-02-30'],
    ['--out', out, '--at', '20260101'],
    ['--out', out, '--at', '2020-01-01'],        // before the showcase's cards
    ['--out', out, '--bogus'],
    ['--out', out, 'extra'],
    ['--out'],                                   // missing value
  ]) {
    const r = run(['demo-data', ...args]);
    assert.equal(r.status, 2, `demo-data ${args.join(' ')} → ${r.status}: ${r.stderr}`);
    assert.ok(r.stderr.length > 0, `demo-data ${args.join(' ')}: no message`);
  }
  assert.ok(!existsSync(out), 'a usage error wrote the output directory');
});

test('an unwritable output directory exits 1 with a message', () => {
  const file = path.join(root, 'plain-file');
  writeFileSync(file, 'x');
  const r = run(['demo-data', '--count', '10', '--out', path.join(file, 'sub')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /plain-file/);
});

// ------------------------------------------------------------ end to end

function compare(c, got) {
  const where = `${c.id} (${c.endpoint} ${JSON.stringify(c.request)})`;
  assert.equal(got.status, 200, `${where}: HTTP ${got.status} ${got.text}`);
  assert.equal(got.json.verdict, c.expect.verdict, `${where}: verdict`);
  assert.equal(got.json.reason, c.expect.reason ?? null, `${where}: reason`);
  if (c.expect.card) {
    const { lost, newest, expired } = got.json.card ?? {};
    assert.deepEqual({ lost, newest, expired }, c.expect.card, `${where}: card`);
  }
  if (c.expect.hukou_status !== undefined) {
    assert.equal(got.json.hukou_status, c.expect.hukou_status, `${where}: hukou_status`);
  }
}

/** POST every case to the server, a few at a time; returns how many ran. */
async function replay(server, cases) {
  let next = 0;
  async function worker() {
    while (next < cases.length) {
      const c = cases[next++];
      compare(c, await postJson(server, `/v1/verify/${c.endpoint}`, c.request));
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker));
  return next;
}

function readCases(out) {
  return readFileSync(path.join(out, 'cases.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

test('serve --demo holds the registry demo-data writes: every case gets its verdict', async () => {
  const dir = freshDir();
  const server = await startReady(['--demo', '--db', path.join(dir, 'registry.db'),
    '--key-file', path.join(dir, 'server.key'), '--log-requests', 'false']);
  try {
    const demo = await server.waitForLine((l) => l.event === 'demo');
    assert.equal(demo.filled, true);
    // the same persons and seed, written as files
    const { out } = generate(['--count', String(demo.persons), '--seed', String(demo.seed)]);
    const cases = readCases(out);
    assert.ok(cases.length > demo.persons / 2);
    assert.equal(await replay(server, cases), cases.length);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

test('registry import of demo-data, then every case over HTTP', async () => {
  const { out } = generate(['--count', '400', '--seed', '21', '--at', '2030-03-01']);
  const db = path.join(out, 'registry.db');
  const key = path.join(out, 'server.key');
  const imp = run(['registry', 'import', '--db', db, '--key-file', key, '--at', '2030-03-01',
    path.join(out, 'registry.csv')]);
  assert.equal(imp.status, 0, imp.stderr);
  const server = await startReady(['--db', db, '--key-file', key, '--log-requests', 'false']);
  try {
    const cases = readCases(out);
    assert.equal(await replay(server, cases), cases.length);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});
