// Black-box tests of the operator's tenancy commands — `shiming app`, `cred`,
// `package`, `usage`, `audit` — run as an operator runs them: the real
// binary on a store of its own, next to a real server using the same store.
//
// Covers: app create / list / show / freeze / unfreeze / disable / set and
// their refusals; --config, --tenancy-db, --key-file; cred add of every kind
// (the secret printed once, with a warning, never again by `app show`, never
// in the store's bytes); package add and `usage` ("3/9115", remaining %,
// expiry) after real charged calls; a frozen app refused by the server at
// once; audit export as JSON Lines and CSV (masked subjects only, --out mode
// 0600, date filters), verify (exit 1 naming the first altered row), purge;
// usage errors (exit 2) and --help of every command.
//
// Must never: leave a server, a child process or a temporary directory
// behind, or listen anywhere but on loopback.
import test, { after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BIN, startReady } from './lib/server.mjs';

const WANG = { name: '王伟', id_number: '110105198503150035', at: '2026-01-01' };       // match
const WANG_WRONG = { name: '王芳', id_number: '110105198503150035', at: '2026-01-01' }; // mismatch
const LI = { name: '李娜', id_number: '310104199208080025', at: '2026-01-01' };         // match
const KINDS = ['native', 'bearer', 'appcode', 'apikey', 'accesskey', 'appsecret'];
const WITH_ID = new Set(['apikey', 'accesskey', 'appsecret']);

const root = mkdtempSync(join(tmpdir(), 'shiming-tenancy-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

/** A directory of the test's own, and the flags naming its store and key. */
function place() {
  const dir = join(root, `d${++dirs}`);
  const store = ['--tenancy-db', join(dir, 'tenancy.db'), '--key-file', join(dir, 'server.key')];
  return { dir, store };
}

function run(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined, `spawn failed: ${r.error}`);
  return r;
}

/** Run and expect exit `code`; returns the result. */
function expect(code, args) {
  const r = run(args);
  assert.equal(r.status, code, `shiming ${args.join(' ')} → ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

function tomorrow() {
  const d = new Date(Date.now() + 8 * 3600_000 + 86400_000); // China time
  return d.toISOString().slice(0, 10);
}

describe('apps', () => {
  test('create, list, show, freeze, unfreeze, disable, set', () => {
    const { dir, store } = place();
    let r = expect(0, ['app', 'create', 'shop', '--daily-limit', '500', '--rate', '2.5', ...store]);
    assert.match(r.stderr, /created a new server key/);
    assert.equal(statSync(join(dir, 'server.key')).mode & 0o777, 0o600);
    assert.match(r.stdout, /^name: +shop$/m);
    assert.match(r.stdout, /^status: +active$/m);
    assert.match(r.stdout, /^daily limit: +500 calls\/day$/m);
    assert.match(r.stdout, /^rate: +2\.5\/s, burst 3$/m, 'the burst defaults to the rate rounded up');
    assert.match(r.stdout, /shiming cred add shop native/);

    r = expect(1, ['app', 'create', 'shop', ...store]);
    assert.match(r.stderr, /exists/);
    r = expect(1, ['app', 'create', 'walled', '--ip-allow', '10.0.0.0/33', ...store]);
    assert.match(r.stderr, /10\.0\.0\.0\/33/);
    expect(1, ['app', 'show', 'walled', ...store]); // nothing was created
    expect(1, ['app', 'create', 'bad name', ...store]);
    expect(0, ['app', 'create', 'other', ...store]);

    r = expect(0, ['app', 'list', ...store]);
    const rows = r.stdout.trim().split('\n');
    assert.match(rows[0], /^ID +NAME +STATUS +DAILY_LIMIT +RATE\/BURST +IP_ALLOW +WEBHOOK$/);
    assert.equal(rows.length, 3);
    assert.match(rows[1], /^1 +shop +active +500 +2\.5\/3 +any +-$/);
    assert.match(rows[2], /^2 +other +active +- +- +any +-$/);

    r = expect(0, ['app', 'show', 'shop', ...store]);
    assert.match(r.stdout, /^webhook secret: [0-9a-f]{64}$/m);
    const secret = r.stdout.match(/^webhook secret: ([0-9a-f]{64})$/m)[1];
    r = expect(0, ['app', 'show', 'other', ...store]);
    assert.ok(!r.stdout.includes(secret), 'every app has its own webhook secret');

    for (const [sub, status] of [['freeze', 'frozen'], ['unfreeze', 'active'], ['disable', 'disabled']]) {
      r = expect(0, ['app', sub, 'shop', ...store]);
      assert.equal(r.stdout, `app shop is now ${status}\n`);
      r = expect(0, ['app', 'show', 'shop', ...store]);
      assert.match(r.stdout, new RegExp(`^status: +${status}$`, 'm'));
    }
    expect(0, ['app', 'unfreeze', 'shop', ...store]);

    r = expect(0, ['app', 'set', 'shop', '--ip-allow', '10.0.0.0/8,::1/128', '--webhook',
      'http://127.0.0.1:9/hook', '--daily-limit', '0', ...store]);
    assert.match(r.stdout, /^ip allow: +10\.0\.0\.0\/8,::1\/128$/m);
    assert.match(r.stdout, /^webhook: +http:\/\/127\.0\.0\.1:9\/hook$/m);
    assert.match(r.stdout, /^daily limit: +none$/m);
    assert.match(r.stdout, /^rate: +2\.5\/s, burst 3$/m, 'settings not given stay');
    r = expect(1, ['app', 'set', 'shop', '--webhook', 'ftp://example.com/', ...store]);
    assert.match(r.stderr, /webhook/);
    expect(1, ['app', 'set', 'shop', '--rate', '5', '--burst', '0', ...store]);
    expect(2, ['app', 'set', 'shop', ...store]);
    expect(1, ['app', 'freeze', 'nosuch', ...store]);
    r = expect(0, ['app', 'show', 'shop', ...store]);
    assert.match(r.stdout, /^status: +active$/m);
  });

  test('--config names the store and the key; a missing store is an error, not a new one', () => {
    const { dir, store } = place();
    expect(0, ['app', 'create', 'conf', ...store]);
    const ini = join(dir, 'shiming.ini');
    writeFileSync(ini, `[registry]\nkey_file = ${join(dir, 'server.key')}\n\n[tenancy]\ndb = ${join(dir, 'tenancy.db')}\n`);
    const r = expect(0, ['app', 'list', '--config', ini]);
    assert.match(r.stdout, /conf/);
    const other = join(dir, 'elsewhere.db');
    const m = expect(1, ['app', 'list', '--config', ini, '--tenancy-db', other]);
    assert.match(m.stderr, /does not exist/);
    assert.ok(!existsSync(other), 'list does not create a store');
    expect(2, ['app', 'list', '--config', join(dir, 'missing.ini')]);
  });

  test('usage errors exit 2, --help exits 0, for every command', () => {
    const { store } = place();
    for (const args of [['app'], ['app', 'frobnicate'], ['app', 'show'], ['app', 'show', 'a', 'b'],
      ['app', 'list', 'extra'], ['app', 'list', '--bogus'], ['app', 'list', '--total', '5'],
      ['app', 'create', 'x', '--daily-limit', 'abc'], ['app', 'create', 'x', '--rate', '-1'],
      ['app', 'create', 'x', '--daily-limit'], ['cred'], ['cred', 'remove', 'x', 'native'],
      ['cred', 'add', 'x'], ['cred', 'add', 'x', 'password'], ['package'], ['package', 'add', 'x', 'id2'],
      ['package', 'add', 'x', 'id2', '--total', '0'], ['package', 'add', 'x', 'id2', '--total', '5', '--expires', '2099-02-30'],
      ['usage', 'a', 'b'], ['usage', '--webhook', 'x'], ['audit'], ['audit', 'check'], ['audit', 'purge'],
      ['audit', 'export', '--format', 'xml'], ['audit', 'export', '--from', '2024-13-01'],
      ['audit', 'export', '--from', '2024-02-02', '--to', '2024-02-01'], ['audit', 'verify', '--before', '2024-01-01']]) {
      const r = run([...args, ...store]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.status} ${r.stderr}`);
      assert.ok(r.stderr.length > 0, `${args.join(' ')} says why`);
    }
    for (const args of [['app', '--help'], ['app', 'create', '--help'], ['cred', '--help'], ['cred', 'add', '-h'],
      ['package', '--help'], ['usage', '--help'], ['audit', '--help'], ['audit', 'export', '--help']]) {
      const r = expect(0, args);
      assert.match(r.stdout, /^usage: shiming /);
      assert.match(r.stdout, /--tenancy-db/);
    }
  });
});

describe('credentials', () => {
  test('cred add of every kind: printed once with a warning, never shown again, not in the store', () => {
    const { dir, store } = place();
    expect(0, ['app', 'create', 'keys', ...store]);
    const secrets = [];
    for (const kind of KINDS) {
      const r = expect(0, ['cred', 'add', 'keys', kind, ...store]);
      assert.match(r.stdout, new RegExp(`^kind: +${kind}$`, 'm'));
      const m = r.stdout.match(/^secret: (\S+)$/m);
      assert.ok(m, `${kind}: a secret line`);
      const secret = m[1];
      assert.ok(secret.length >= 16);
      assert.equal(r.stdout.split(secret).length - 1, 1, 'printed exactly once');
      assert.ok(!r.stderr.includes(secret), 'not on stderr');
      assert.match(r.stderr, /only time the secret is shown/);
      if (WITH_ID.has(kind)) assert.match(r.stdout, /^id: +\S+$/m, `${kind} has an id`);
      else assert.doesNotMatch(r.stdout, /^id:/m, `${kind} has no id`);
      secrets.push(secret);
    }
    assert.equal(new Set(secrets).size, KINDS.length);
    const show = expect(0, ['app', 'show', 'keys', ...store]);
    const list = expect(0, ['app', 'list', ...store]);
    let bytes = readFileSync(join(dir, 'tenancy.db')).toString('latin1');
    if (existsSync(join(dir, 'tenancy.db-wal')))
      bytes += readFileSync(join(dir, 'tenancy.db-wal')).toString('latin1');
    for (const s of secrets) {
      assert.ok(!show.stdout.includes(s) && !list.stdout.includes(s), 'never shown again');
      assert.ok(!bytes.includes(s), 'not stored in clear');
    }
    expect(1, ['cred', 'add', 'nosuch', 'native', ...store]);
  });
});

describe('packages, usage and the audit log next to a running server', () => {
  const { dir, store } = place();
  const db = join(dir, 'tenancy.db');
  let key;
  let s = null;
  after(async () => {
    if (s) await s.stop();
  });

  const call = (path, body, k = key) => fetch(s.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${k}` },
    body: JSON.stringify(body),
  }).then(async (res) => ({ status: res.status, json: await res.json() }));

  test('package add, then usage counts the server\'s charged calls', async () => {
    expect(0, ['app', 'create', 'shop', ...store]);
    key = expect(0, ['cred', 'add', 'shop', 'native', ...store]).stdout.match(/^secret: (\S+)$/m)[1];
    let r = expect(0, ['package', 'add', 'shop', 'id2', '--total', '9115', '--expires', '2099-12-31', ...store]);
    assert.match(r.stdout, /^added 9115 units of id2 to shop \(expires: 2099-12-31\)$/m);
    assert.match(r.stdout, /^shop +id2 +0\/9115 +100\.0% +2099-12-31$/m);
    r = expect(1, ['package', 'add', 'shop', 'nosuch', '--total', '5', ...store]);
    assert.match(r.stderr, /nosuch/);
    expect(1, ['package', 'add', 'nosuch', 'id2', '--total', '5', ...store]);

    s = await startReady(['--db', join(dir, 'registry.db'), ...store]);
    for (const body of [WANG, LI, WANG_WRONG]) {
      const v = await call('/v1/verify/id2', body);
      assert.equal(v.status, 200);
    }
    r = expect(0, ['usage', 'shop', ...store]);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^APP +PRODUCT +USED\/TOTAL +REMAINING +EXPIRES$/);
    assert.equal(lines.length, 2);
    assert.match(lines[1], /^shop +id2 +3\/9115 +99\.9% +2099-12-31$/);
    r = expect(0, ['usage', ...store]);
    assert.match(r.stdout, /^shop +id2 +3\/9115 +99\.9% +2099-12-31$/m);
    assert.match(r.stdout, /^demo +id2 +0\/\d+ +100\.0% +never$/m, 'every app, the demo one too');
    r = expect(0, ['app', 'show', 'shop', ...store]);
    assert.match(r.stdout, /^shop +id2 +3\/9115 +99\.9% +2099-12-31$/m);
    expect(1, ['usage', 'nosuch', ...store]);
  });

  // Another process's write is seen by the server within its read-snapshot
  // time (100 ms, docs/tenancy.md): poll for up to 1 s.
  const pollStatus = async (path, body, want) => {
    const until = Date.now() + 1000;
    for (;;) {
      const r = await call(path, body);
      if (r.status === want || Date.now() >= until) return r;
      await new Promise((res) => setTimeout(res, 20));
    }
  };

  test('an app frozen with the CLI is refused by the running server within 100 ms', async () => {
    const parse = { id_number: '11010519491231002X' };
    assert.equal((await call('/v1/idcard/parse', parse)).status, 200);
    expect(0, ['app', 'freeze', 'shop', ...store]);
    const r = await pollStatus('/v1/idcard/parse', parse, 403);
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'app_frozen');
    expect(0, ['app', 'unfreeze', 'shop', ...store]);
    assert.equal((await pollStatus('/v1/idcard/parse', parse, 200)).status, 200);
    const stopped = await s.stop();
    assert.deepEqual(stopped, { code: 0, signal: null }, s.stderrText.slice(-2000));
    s = null;
  });

  test('audit export: JSON Lines and CSV, masked subjects only, --out mode 0600, date filters', () => {
    let r = expect(0, ['audit', 'export', ...store]);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.match(r.stderr, new RegExp(`${rows.length} rows exported`));
    const mine = rows.filter((x) => x.product === 'id2');
    assert.equal(mine.length, 3);
    assert.deepEqual(mine.map((x) => x.verdict), ['match', 'match', 'mismatch']);
    assert.deepEqual(mine.map((x) => x.subject_id_masked), ['110***********0035', '310***********0025', '110***********0035']);
    for (const raw of ['110105198503150035', '310104199208080025', '王伟', '李娜', '王芳'])
      assert.ok(!r.stdout.includes(raw), `no raw ${raw}`);

    const csv = expect(0, ['audit', 'export', '--format', 'csv', ...store]).stdout.trim().split('\n');
    assert.match(csv[0], /^id,/);
    assert.ok(csv[0].includes('subject_id_masked'));
    assert.equal(csv.length, rows.length + 1);
    assert.ok(csv.some((l) => l.includes('310***********0025')));
    for (const raw of ['110105198503150035', '李娜']) assert.ok(!csv.join('\n').includes(raw));

    const out = join(dir, 'export.jsonl');
    r = expect(0, ['audit', 'export', '--out', out, '--from', '2000-01-01', '--to', tomorrow(), ...store]);
    assert.equal(r.stdout, '');
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, rows.length);
    r = expect(0, ['audit', 'export', '--from', tomorrow(), ...store]);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /0 rows exported/);
    r = expect(0, ['audit', 'export', '--to', '2000-01-01', '--format', 'csv', ...store]);
    assert.equal(r.stdout.trim().split('\n').length, 1, 'the CSV header only');
  });

  test('audit verify names the first altered row; purge keeps the rest verifiable', () => {
    let r = expect(0, ['audit', 'verify', ...store]);
    assert.match(r.stdout, /^audit log intact: \d+ rows verified$/m);
    const first = JSON.parse(expect(0, ['audit', 'export', ...store]).stdout.split('\n')[0]);
    assert.equal(first.subject_id_masked, '110***********0035');

    // Alter the store behind the program's back: one masked digit, same length.
    assert.ok(!existsSync(db + '-wal') || statSync(db + '-wal').size === 0, 'everything is in the main file');
    const bytes = readFileSync(db);
    const from = Buffer.from('110***********0035');
    let n = 0;
    for (let at = bytes.indexOf(from); at >= 0; at = bytes.indexOf(from, at + 1)) {
      bytes[at + 17] = '6'.charCodeAt(0);
      n++;
    }
    assert.ok(n >= 1, 'the masked subject is in the file');
    writeFileSync(db, bytes);

    r = expect(1, ['audit', 'verify', ...store]);
    assert.match(r.stdout, /BROKEN/);
    assert.match(r.stdout, new RegExp(`^first broken row: ${first.id}$`, 'm'));

    r = expect(0, ['audit', 'purge', '--before', '2000-01-01', ...store]);
    assert.match(r.stdout, /^purged 0 audit rows from before 2000-01-01/);
    r = expect(0, ['audit', 'purge', '--before', tomorrow(), ...store]);
    assert.match(r.stdout, /^purged \d+ audit rows/);
    assert.ok(Number(r.stdout.match(/^purged (\d+)/)[1]) >= 3);
    r = expect(0, ['audit', 'verify', ...store]);
    assert.match(r.stdout, /intact/);
    assert.equal(expect(0, ['audit', 'export', ...store]).stdout, '');
  });
});
