// Black-box tests of POST /v1/verify/id2 and /v1/verify/id4 on real
// registries, built as an operator builds them:
//  - the table of cases: `shiming demo-data --count 2000 --seed 11` +
//    `shiming registry import`, then every line of cases.jsonl through its
//    endpoint, compared with its expectation (verdict, reason, card facts,
//    hukou status), plus the answer's shape and the access log's masking;
//  - the README's showcase persons on `serve --demo`;
//  - queries hammering the server while a second import runs: never an
//    error, never a partial person;
//  - a registry locked by another process: 503 registry_unavailable with
//    Retry-After within ~2 s, never a hang, and recovery once released.
//
// Must never: leave a server, a child process or a temporary directory
// behind, write into the source tree, or depend on today's date (requests
// carry their own `at`).
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BIN, startReady, runServe, postJson } from './lib/server.mjs';

const AT = '2026-01-01';
const BATCH = 500; // rows per import transaction in the concurrent-import test
const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;

const root = mkdtempSync(join(tmpdir(), 'shiming-verify-'));
after(() => rmSync(root, { recursive: true, force: true }));

function shiming(args, timeout = 120_000) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout });
  assert.equal(r.error, undefined, `spawn ${args.join(' ')}: ${r.error}`);
  assert.equal(r.status, 0, `shiming ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r;
}

/** demo-data into root/NAME; returns the directory. */
function demoData(name, count, seed) {
  const dir = join(root, name);
  shiming(['demo-data', '--count', String(count), '--seed', String(seed), '--out', dir]);
  return dir;
}

/** The flags naming a registry (db + key) in `dir`. */
function regFlags(dir) {
  return ['--db', join(dir, 'registry.db'), '--key-file', join(dir, 'server.key')];
}

function importCsv(regDir, csv, extra = []) {
  return shiming(['registry', 'import', ...regFlags(regDir), ...extra, csv]);
}

async function stopClean(s) {
  const r = await s.stop();
  assert.deepEqual(r, { code: 0, signal: null }, `exit status; stderr tail:\n${s.stderrText.slice(-3000)}`);
  assert.doesNotMatch(s.stderrText, SANITIZER);
}

/** Persons of a registry.csv: Map id → { name, hukou, cards: [{from, to, lost}] }. */
function readRegistryCsv(file) {
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  assert.equal(lines[0], 'id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status');
  const persons = new Map();
  for (const [row, line] of lines.slice(1).entries()) {
    const [id, name, from, to, , lost, hukou] = line.split(',');
    if (!persons.has(id)) persons.set(id, { id, name, hukou: Number(hukou), cards: [], first: row });
    const p = persons.get(id);
    p.last = row;
    p.name = name; // later rows carry the current name
    p.hukou = Number(hukou);
    p.cards.push({ from, to, lost: lost === '1' || lost === 'true' });
  }
  for (const p of persons.values()) {
    p.cards.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
    p.newest = p.cards[p.cards.length - 1];
  }
  return persons;
}

/** Run `fn` over `items` with at most `n` in flight. */
async function pool(items, n, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

const id2 = (s, name, id, extra = {}) => postJson(s, '/v1/verify/id2', { name, id_number: id, at: AT, ...extra });
const id4 = (s, name, id, from, to, extra = {}) =>
  postJson(s, '/v1/verify/id4', { name, id_number: id, valid_from: from, valid_to: to, at: AT, ...extra });

// ------------------------------------------------------- the table of cases

describe('every case of demo-data --count 2000 --seed 11', () => {
  let s;
  let dir;
  let cases;
  before(async () => {
    dir = demoData('cases', 2000, 11);
    importCsv(dir, join(dir, 'registry.csv'));
    cases = readFileSync(join(dir, 'cases.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    s = await startReady(regFlags(dir));
  });
  after(async () => { if (s) await stopClean(s); });

  test('the cases cover every verdict but registry_unavailable, on both endpoints', () => {
    const seen = new Set(cases.map((c) => `${c.endpoint} ${c.expect.verdict}`));
    for (const v of ['match', 'mismatch', 'not_found', 'invalid_id', 'invalid_name'])
      for (const e of ['id2', 'id4']) assert.ok(seen.has(`${e} ${v}`), `a case of ${e} ${v}`);
    assert.ok(seen.has('id4 invalid_period'));
    assert.ok(cases.some((c) => c.expect.card?.lost), 'a lost card');
    assert.ok(cases.some((c) => c.expect.card?.expired), 'an expired card');
    assert.ok(cases.some((c) => c.expect.card && !c.expect.card.newest), 'an older card');
    assert.ok(cases.some((c) => c.expect.hukou_status > 0), 'a hukou status other than 0');
  });

  test('each case gets its expected answer', async (t) => {
    const failures = [];
    const counts = {};
    await pool(cases, 16, async (c) => {
      const r = await postJson(s, `/v1/verify/${c.endpoint}`, c.request, { 'x-request-id': c.id });
      const j = r.json;
      const fail = (why) => failures.push(`${c.id} ${c.endpoint} ${JSON.stringify(c.request)}: ${why}; got ${r.status} ${r.text}`);
      if (r.status !== 200) return fail('status');
      counts[`${c.endpoint} ${j.verdict}`] = (counts[`${c.endpoint} ${j.verdict}`] ?? 0) + 1;
      const e = c.expect;
      if (j.verdict !== e.verdict) return fail(`verdict, expected ${e.verdict}`);
      if ('reason' in e && j.reason !== e.reason) return fail(`reason, expected ${e.reason}`);
      if (!e.verdict.startsWith('invalid_') && j.reason !== null) return fail('reason not null');
      if (e.verdict.startsWith('invalid_') && typeof j.reason !== 'string') return fail('no reason');
      if (j.request_id !== c.id) return fail('request_id');
      // id_info: null exactly when the number is invalid
      if ((e.verdict === 'invalid_id') !== (j.id_info === null)) return fail('id_info');
      if (j.id_info && !/^\d{17}[\dX]$/.test(j.id_info.id_number)) return fail('id_info.id_number');
      if (c.endpoint === 'id4') {
        if ((e.verdict === 'match') !== (j.card !== null)) return fail('card present iff match');
        if (e.card) {
          for (const k of ['lost', 'newest', 'expired'])
            if (j.card[k] !== e.card[k]) return fail(`card.${k}, expected ${e.card[k]}`);
          if (j.card.valid_from !== c.request.valid_from) return fail('card.valid_from');
        }
        if ('hukou_status' in e && j.hukou_status !== e.hukou_status)
          return fail(`hukou_status, expected ${e.hukou_status}`);
        const found = e.verdict === 'match' || e.verdict === 'mismatch';
        if (found !== (j.hukou_status !== null)) return fail('hukou_status present iff found');
      } else if ('card' in j || 'hukou_status' in j) {
        return fail('id2 answers carry no card or hukou status');
      }
    });
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} of ${cases.length} cases failed`);
    t.diagnostic(JSON.stringify(counts));
  });

  test('the access log: one line per case, verdicts, subjects masked, no raw identity', async () => {
    const byId = new Map();
    await s.waitForLine((l) => l.request_id === cases[cases.length - 1].id || false, 10_000)
      .catch(() => {});
    // every line written by now (the last request's line may trail slightly)
    await new Promise((r) => setTimeout(r, 200));
    for (const l of s.accessLog) byId.set(l.request_id, l);
    for (const c of cases) {
      const l = byId.get(c.id);
      assert.ok(l, `access-log line of ${c.id}`);
      assert.equal(l.route, `verify_${c.endpoint}`);
      assert.equal(l.verdict, c.expect.verdict);
      assert.equal(l.status, 200);
      assert.ok(l.subject && typeof l.subject.id_number === 'string', `${c.id}: masked id`);
      if (c.request.id_number.trim().length >= 15)
        assert.ok(!l.subject.id_number.includes(c.request.id_number.trim().slice(3, 14)), `${c.id}: id masked`);
    }
    const log = s.stderrText;
    for (const c of cases) {
      const id = c.request.id_number.trim();
      if (id.length === 18) assert.ok(!log.includes(id), `raw ID number ${id} in the log`);
      const name = c.request.name;
      if ([...name].length >= 2 && /^[\u4e00-\u9fff·]+$/u.test(name))
        assert.ok(!log.includes(name), `raw name ${name} in the log`);
    }
  });
});

// --------------------------------------------------- the README's showcase

describe('the README showcase on serve --demo', () => {
  let s;
  const dir = join(root, 'demo');
  before(async () => { s = await startReady(['--demo', ...regFlags(dir)]); });
  after(async () => { if (s) await stopClean(s); });

  test('an empty registry is filled with the demo persons, and says so', async () => {
    const ev = await s.waitForLine((l) => l.event === 'demo');
    assert.equal(ev.filled, true);
    assert.equal(ev.persons, 10000);
    const h = await (await fetch(s.url + '/healthz')).json();
    assert.equal(h.registry, 'ok');
  });

  test('王伟 110105198503150035: id2 match', async () => {
    const r = await id2(s, '王伟', '110105198503150035', { at: undefined });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.verdict, 'match');
    assert.equal(r.json.reason, null);
    assert.equal(r.json.id_info.id_number, '110105198503150035');
    assert.equal(r.json.id_info.region.county, '朝阳区');
    assert.equal(r.json.id_info.sex, 'M');
    assert.equal(r.json.id_info.birth, '19850315');
    assert.equal(r.json.request_id, r.headers.get('x-request-id'));
    // id_info is what /v1/idcard/parse says of the number, less its own fields
    const withAt = await id2(s, '王伟', '110105198503150035');
    const p = (await postJson(s, '/v1/idcard/parse', { id_number: '110105198503150035', at: AT })).json;
    for (const k of ['input', 'valid', 'reason', 'message', 'request_id']) delete p[k];
    assert.deepEqual(withAt.json.id_info, p);
    assert.equal(withAt.json.id_info.age, 40);
  });

  test('another name with his number: mismatch', async () => {
    for (const name of ['王芳', '李娜', 'WANG WEI']) {
      const r = await id2(s, name, '110105198503150035');
      assert.equal(r.json.verdict, 'mismatch', name);
    }
  });

  test('李娜 310104199208080025, card 20180901–20380901: match, lost, not the newest', async () => {
    const r = await id4(s, '李娜', '310104199208080025', '20180901', '20380901');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.verdict, 'match');
    assert.equal(r.json.card.lost, true);
    assert.equal(r.json.card.newest, false);
    assert.equal(r.json.card.expired, false);
    assert.equal(r.json.card.valid_from, '20180901');
    assert.equal(r.json.card.valid_to, '20380901');
    assert.equal(r.json.hukou_status, 0);
    // a card she never had
    const r2 = await id4(s, '李娜', '310104199208080025', '20180902', '20380902');
    assert.equal(r2.json.verdict, 'mismatch');
    assert.equal(r2.json.card, null);
  });

  test('the access log masks the normalised subject', async () => {
    await id2(s, '  王伟 ', '110105198503150035', { at: AT }).then((r) => assert.equal(r.json.verdict, 'match'));
    await postJson(s, '/v1/verify/id2', { name: '王伟', id_number: '110105198503150035', at: AT },
      { 'x-request-id': 'showcase-log' });
    const l = await s.waitForLine((x) => x.request_id === 'showcase-log');
    assert.equal(l.verdict, 'match');
    assert.deepEqual(l.subject, { id_number: '110***********0035', name: '王*' });
    assert.ok(!s.stderrText.includes('110105198503150035'));
    assert.ok(!s.stderrText.includes('王伟'));
  });

  test('malformed requests are 4xx with the error shape', async () => {
    let r = await postJson(s, '/v1/verify/id2', { id_number: '110105198503150035' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'missing_field');
    assert.match(r.json.error.message, /'name'/);
    r = await postJson(s, '/v1/verify/id4', { name: '李娜', id_number: '310104199208080025', valid_from: '20180901' });
    assert.equal(r.json.error.code, 'missing_field');
    assert.match(r.json.error.message, /'valid_to'/);
    r = await postJson(s, '/v1/verify/id4', { name: '李娜', id_number: '310104199208080025', valid_from: 20180901, valid_to: '20380901' });
    assert.equal(r.json.error.code, 'invalid_field');
    r = await postJson(s, '/v1/verify/id2', { name: '王伟', id_number: '110105198503150035', at: '2026/01/01' });
    assert.equal(r.json.error.code, 'invalid_field');
    assert.match(r.json.error.message, /'at'/);
    r = await postJson(s, '/v1/verify/id2', '{"name":"王伟"', {});
    assert.equal(r.json.error.code, 'bad_json');
  });

  test('a second start on the filled registry does not fill it again', async () => {
    await stopClean(s);
    s = await startReady(['--demo', ...regFlags(dir)]);
    const ev = await s.waitForLine((l) => l.event === 'demo');
    assert.equal(ev.filled, false);
    assert.equal(ev.persons, 10000);
    const r = await id2(s, '王伟', '110105198503150035');
    assert.equal(r.json.verdict, 'match');
  });
});

// ------------------------------------------------ queries during an import

describe('queries while an import runs', () => {
  let s;
  let regDir;
  let oldPersons;
  let newPersons;
  before(async () => {
    const a = demoData('import-a', 2000, 11);
    const b = demoData('import-b', 20000, 12);
    regDir = join(root, 'import-reg');
    importCsv(regDir, join(a, 'registry.csv'));
    const A = readRegistryCsv(join(a, 'registry.csv'));
    const B = readRegistryCsv(join(b, 'registry.csv'));
    // persons in both files (the showcase, chance collisions) prove nothing here
    oldPersons = [...A.values()].filter((p) => !B.has(p.id));
    newPersons = [...B.values()].filter((p) => !A.has(p.id));
    newPersons.csv = join(b, 'registry.csv');
    // The persons whose rows straddle a multiple of the batch size (give or
    // take a row): an importer that cut batches by row count alone would
    // commit them in two halves.
    const straddles = (p, d) => Math.floor((p.first + d) / BATCH) !== Math.floor((p.last + d) / BATCH);
    newPersons.boundary = newPersons.filter((p) => straddles(p, -1) || straddles(p, 0) || straddles(p, 1));
    assert.ok(oldPersons.length > 1500 && newPersons.length > 15000);
    s = await startReady([...regFlags(regDir), '--threads', '4']);
  });
  after(async () => { if (s) await stopClean(s); });

  test('every answer is a match or not_found, never an error, never a partial person', async (t) => {
    // Small batches: many commits while the server reads. The file is fed
    // through stdin at a steady pace, so that the import lasts a few seconds
    // however fast this machine is.
    const child = spawn(BIN, ['registry', 'import', ...regFlags(regDir), '--batch', String(BATCH),
      '--format', 'csv', '--at', AT, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let importErr = '';
    child.stderr.setEncoding('utf8').on('data', (c) => { importErr += c; });
    child.stdin.on('error', () => {}); // reported through the exit status
    let running = true;
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => { running = false; resolve({ code, signal }); }));
    const lines = readFileSync(newPersons.csv, 'utf8').split(/(?<=\n)/);
    (async () => {
      for (let i = 0; i < lines.length && running; i += 1000) {
        child.stdin.write(lines.slice(i, i + 1000).join(''));
        await new Promise((r) => setTimeout(r, 40));
      }
      child.stdin.end();
    })();

    const problems = [];
    const seen = { old: 0, new_match: 0, new_not_found: 0, id4_match: 0, id4_not_found: 0 };
    const newestCard = async (neu) => {
      const r = await id4(s, neu.name, neu.id, neu.newest.from, neu.newest.to);
      if (r.status !== 200) problems.push(`new id4 ${neu.id}: ${r.status} ${r.text}`);
      else if (r.json.verdict === 'match' && r.json.card.newest === true) seen.id4_match++;
      else if (r.json.verdict === 'not_found') seen.id4_not_found++;
      else problems.push(`partial person ${neu.id} (newest card ${neu.newest.from}-${neu.newest.to}): ${r.text}`);
    };
    let k = 0;
    const hammer = async () => {
      while (running && problems.length < 20) {
        const i = k++;
        const old = oldPersons[(i * 7919) % oldPersons.length];
        const neu = newPersons[(i * 104729) % newPersons.length];
        const [r1, r2] = await Promise.all([
          id2(s, old.name, old.id),
          id2(s, neu.name, neu.id),
          newestCard(neu),
        ]);
        if (r1.status !== 200 || r1.json.verdict !== 'match') problems.push(`old ${old.id}: ${r1.status} ${r1.text}`);
        else seen.old++;
        if (r2.status !== 200 || !['match', 'not_found'].includes(r2.json.verdict)) problems.push(`new id2 ${neu.id}: ${r2.status} ${r2.text}`);
        else if (r2.json.verdict === 'match') seen.new_match++;
        else seen.new_not_found++;
      }
    };
    // …and sweeps over the persons at batch boundaries, again and again.
    const sweep = async () => {
      while (running && problems.length < 20) {
        await pool(newPersons.boundary, 16, newestCard);
        seen.sweeps = (seen.sweeps ?? 0) + 1;
      }
    };
    await Promise.all([...Array.from({ length: 4 }, hammer), sweep()]);
    const ex = await exited;
    assert.deepEqual(ex, { code: 0, signal: null }, `the import failed:\n${importErr}`);
    assert.deepEqual(problems, []);
    t.diagnostic(`during the import: ${JSON.stringify(seen)}`);
    assert.ok(seen.old > 0);

    // Afterwards every new person is there, whole.
    const sample = newPersons.filter((_, i) => i % 40 === 0);
    const late = [];
    await pool(sample, 16, async (p) => {
      const r = await id4(s, p.name, p.id, p.newest.from, p.newest.to);
      if (r.json?.verdict !== 'match' || r.json.card.newest !== true || r.json.card.lost !== p.newest.lost ||
          r.json.hukou_status !== p.hukou)
        late.push(`${p.id}: ${r.text}`);
      const r2 = await id2(s, p.name, p.id);
      if (r2.json?.verdict !== 'match') late.push(`${p.id} id2: ${r2.text}`);
    });
    assert.deepEqual(late.slice(0, 10), []);
  });
});

// ------------------------------------------------------ registry unavailable

describe('a registry locked by another process', () => {
  let s;
  let lock;
  let regDir;
  before(async () => {
    const d = demoData('locked', 200, 3);
    regDir = join(root, 'locked-reg');
    importCsv(regDir, join(d, 'registry.csv'));
    // --demo needs its registry at start, so the locked server runs without
    // it: one --demo start beforehand leaves the demo app (and demo-key) in
    // the tenancy store next to the registry.
    await stopClean(await startReady(regFlags(regDir)));
  });
  after(async () => {
    lock?.kill('SIGKILL');
    if (s) await stopClean(s);
  });

  // The sqlite3 CLI takes an exclusive lock and keeps it while its stdin
  // stays open. In WAL mode no process can take that lock while another one
  // has the database open, so it is taken before the server starts: the
  // server then starts without its registry and opens it once it can.
  function holdLock(db) {
    const child = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c) => { out += c; });
    child.stderr.setEncoding('utf8').on('data', (c) => { err += c; });
    child.stdin.write("PRAGMA locking_mode=EXCLUSIVE;\nBEGIN EXCLUSIVE;\nSELECT 'lock' || 'ed';\n");
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      const poll = setInterval(() => {
        if (out.includes('locked')) { clearInterval(poll); resolve(child); }
        else if (err || Date.now() - t0 > 10_000) {
          clearInterval(poll);
          child.kill('SIGKILL');
          reject(new Error(`sqlite3 could not lock ${db}: ${err}`));
        }
      }, 20);
    });
  }

  const haveSqlite3 = spawnSync('sqlite3', ['-version']).status === 0;

  test('503 registry_unavailable within ~2 s, then recovery once released',
    { skip: !haveSqlite3 && 'no sqlite3 CLI' }, async () => {
      lock = await holdLock(join(regDir, 'registry.db'));
      s = await startReady(regFlags(regDir), { demo: false });
      const ev = await s.waitForLine((l) => l.event === 'registry_unavailable');
      assert.match(ev.db, /registry\.db$/);

      // several at once: none waits long, all say the same
      const t0 = Date.now();
      const rs = await Promise.all(Array.from({ length: 8 }, () =>
        id2(s, '王伟', '110105198503150035')));
      const took = Date.now() - t0;
      assert.ok(took < 2500, `answered in ${took} ms`);
      for (const r of rs) {
        assert.equal(r.status, 503, r.text);
        assert.equal(r.headers.get('retry-after'), '1');
        assert.equal(r.json.verdict, 'registry_unavailable');
        assert.equal(r.json.reason, null);
        assert.equal(r.json.id_info.id_number, '110105198503150035');
        assert.equal(r.json.request_id, r.headers.get('x-request-id'));
      }
      let r = await id4(s, '李娜', '310104199208080025', '20180901', '20380901');
      assert.equal(r.status, 503);
      assert.equal(r.json.verdict, 'registry_unavailable');
      assert.equal(r.json.card, null);
      assert.equal(r.json.hukou_status, null);
      // the core's own checks do not need the registry
      r = await id2(s, '王伟', '110105198503150036');
      assert.equal(r.status, 200);
      assert.equal(r.json.verdict, 'invalid_id');
      const h = await (await fetch(s.url + '/healthz')).json();
      assert.equal(h.status, 'ok');
      assert.equal(h.registry, 'unavailable');
      const logged = await s.waitForLine((l) => l.route === 'verify_id2' && l.status === 503);
      assert.equal(logged.verdict, 'registry_unavailable');

      // release: the next requests find it
      lock.stdin.end('COMMIT;\n.quit\n');
      await new Promise((resolve) => lock.on('exit', resolve));
      lock = null;
      const t1 = Date.now();
      for (;;) {
        r = await id2(s, '王伟', '110105198503150035');
        if (r.status === 200) break;
        assert.equal(r.status, 503);
        assert.ok(Date.now() - t1 < 5000, 'recovered within 5 s');
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.equal(r.json.verdict, 'match');
      assert.equal((await (await fetch(s.url + '/healthz')).json()).registry, 'ok');
      const opened = await s.waitForLine((l) => l.event === 'registry_opened' && l.late === true);
      assert.match(opened.db, /registry\.db$/);
    });
});

// ------------------------------------------------------------ start-up errors

describe('start-up errors: a clear message and exit 1', () => {
  test('an unusable key file, a registry of another key, a damaged or impossible store', async () => {
    const d = join(root, 'startup');
    mkdirSync(d, { recursive: true });
    const key = join(d, 'server.key');
    const db = join(d, 'registry.db');

    // a key file others can read
    writeFileSync(key, 'ab'.repeat(32) + '\n', { mode: 0o644 });
    chmodSync(key, 0o644);
    let r = await runServe(['--port', '0', '--db', db, '--key-file', key]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /server key/);
    assert.ok(r.stderr.includes(key));
    // not a key at all
    writeFileSync(join(d, 'bad.key'), 'not a key\n', { mode: 0o600 });
    r = await runServe(['--port', '0', '--db', db, '--key-file', join(d, 'bad.key')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /server key/);

    // a registry created with another key
    chmodSync(key, 0o600);
    const csv = join(demoData('startup-data', 50, 5), 'registry.csv');
    shiming(['registry', 'import', '--db', db, '--key-file', key, csv]);
    r = await runServe(['--port', '0', '--db', db, '--key-file', join(d, 'other.key')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /another server key/);
    assert.ok(!r.stderr.includes('"listening"'));

    // a file that is no database, and a directory in the database's place
    writeFileSync(join(d, 'damaged.db'), 'this is not a database\n'.repeat(100));
    r = await runServe(['--port', '0', '--db', join(d, 'damaged.db'), '--key-file', key]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot open the registry/);
    r = await runServe(['--port', '0', '--db', d, '--key-file', key]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot open the registry/);

    // and the right key still works
    const s = await startReady(['--db', db, '--key-file', key]);
    const ok = await id2(s, '王伟', '110105198503150035');
    assert.equal(ok.json.verdict, 'match');
    await stopClean(s);
  });
});
