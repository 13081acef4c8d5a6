// Black-box tests of `shiming idcard check` and the top-level CLI, run as a
// user would run them: the real binary, real arguments, real stdin.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const BIN = process.env.SHIMING_BIN ?? 'build/shiming';
const AT = '2026-06-01';

function run(args, input) {
  const r = spawnSync(BIN, args, { input, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined, `spawn failed: ${r.error}`);
  return r;
}

function checkJson(ids, extra = []) {
  const r = run(['idcard', 'check', '--json', '--at', AT, ...extra, ...ids]);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  return { status: r.status, lines, stderr: r.stderr };
}

test('the examples of the foundation issue, as JSON', () => {
  const { status, lines } = checkJson([
    '11010519491231002X', '110103198001010013', '610104620927690', '810000199408230021',
    '110105189901010017', '11010519491231002Y', '110105194912310021',
  ]);
  assert.equal(status, 1, 'some are invalid, so exit 1');
  const [a, b, c, d, e, f, g] = lines;

  assert.equal(a.input, '11010519491231002X');
  assert.equal(a.valid, true);
  assert.equal(a.reason, null);
  assert.equal(a.id_number, '11010519491231002X');
  assert.equal(a.kind, 'resident');
  assert.equal(a.sex, 'F');
  assert.equal(a.birth, '19491231');
  assert.equal(a.age, 76);
  assert.equal(a.region.code, '110105');
  assert.equal(a.region.province, '北京市');
  assert.equal(a.region.county, '朝阳区');
  assert.equal(a.region.historical, false);

  assert.equal(b.valid, true);
  assert.equal(b.region.historical, true);
  assert.equal(b.region.county, '崇文区');
  assert.equal(b.region.first_year, 1980);
  assert.equal(b.region.last_year, 2009);
  assert.equal(b.sex, 'M');

  assert.equal(c.valid, true);
  assert.equal(c.id_number, '610104196209276908');
  assert.equal(c.birth, '19620927');

  assert.equal(d.valid, true);
  assert.equal(d.kind, 'hk_resident_permit');

  assert.deepEqual([e.valid, e.reason], [false, 'birth_date']);
  assert.deepEqual([f.valid, f.reason], [false, 'characters']);
  assert.deepEqual([g.valid, g.reason], [false, 'checksum']);
  for (const x of [e, f, g]) {
    assert.equal(x.id_number, null);
    assert.equal(x.region, null);
    assert.equal(typeof x.message, 'string');
  }
});

test('exit status is 0 when every number is valid', () => {
  const { status, lines } = checkJson(['11010519491231002X', '11010519491231002x']);
  assert.equal(status, 0);
  assert.equal(lines[1].id_number, '11010519491231002X', 'lower-case x is normalised');
});

test('numbers are read one per line from stdin, blank lines skipped, CRLF accepted', () => {
  const r = run(['idcard', 'check', '--json', '--at', AT],
    '11010519491231002X\r\n\n  110105194912310021  \n610104620927690\n');
  assert.equal(r.status, 1);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.map((l) => l.valid), [true, false, true]);
  assert.equal(lines[1].reason, 'checksum');
});

test('"-" reads stdin too', () => {
  const r = run(['idcard', 'check', '--at', AT, '-'], '11010519491231002X\n');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^11010519491231002X\tvalid\tF 1949-12-31 age 76\t北京市 朝阳区\n$/);
});

test('readable output says why a number is invalid, and about historical codes', () => {
  const r = run(['idcard', 'check', '--at', AT, '110103198001010013', '11010519491231002Y']);
  assert.equal(r.status, 1);
  const [ok, bad] = r.stdout.trim().split('\n');
  assert.match(ok, /^110103198001010013\tvalid\tM 1980-01-01 age 46\t北京市 崇文区\t\(historical code, 1980–2009\)$/);
  assert.match(bad, /^11010519491231002Y\tinvalid\tcharacters: /);
});

test('--at moves the reference date: age, and births after it are invalid', () => {
  let { lines } = checkJson(['11010519491231002X'], ['--at', '1999-12-31']);
  assert.equal(lines[0].age, 50);
  ({ lines } = checkJson(['11010519491231002X'], ['--at', '1999-12-30']));
  assert.equal(lines[0].age, 49);
  ({ lines } = checkJson(['11010519491231002X'], ['--at', '1949-12-30']));
  assert.deepEqual([lines[0].valid, lines[0].reason], [false, 'birth_date']);
});

test('--strict rejects region codes that are in no published list', () => {
  // 110199 is not a published code, but province 11 (北京) exists.
  const id17 = '11019919800101001';
  const id = id17 + checkChar(id17);
  let r = checkJson([id]);
  assert.equal(r.lines[0].valid, true);
  assert.equal(r.lines[0].region.known, false);
  assert.equal(r.lines[0].region.province, '北京市');
  r = checkJson([id], ['--strict']);
  assert.equal(r.status, 1);
  assert.equal(r.lines[0].reason, 'region');
});

test('an unknown province is always invalid', () => {
  const id17 = '99010519491231002';
  const { lines } = checkJson([id17 + checkChar(id17)]);
  assert.equal(lines[0].reason, 'region');
});

test('bytes that are not UTF-8 are echoed safely, and the output stays valid JSON', () => {
  const r = spawnSync(BIN, ['idcard', 'check', '--json', '--at', AT],
    { input: Buffer.from([0x31, 0xff, 0xfe, 0x0a]), timeout: 30_000 });
  assert.equal(r.status, 1);
  const o = JSON.parse(r.stdout.toString('utf8'));
  assert.equal(o.valid, false);
  assert.equal(o.input, '1\ufffd\ufffd');
});

test('usage errors exit 2 with a message', () => {
  for (const args of [
    ['idcard'], ['idcard', 'frobnicate'], ['idcard', 'check', '--at', '2026-02-30', '1'],
    ['idcard', 'check', '--bogus', '1'], ['nonsense'], [],
  ]) {
    const r = run(args, '');
    assert.equal(r.status, 2, `args ${JSON.stringify(args)}`);
    assert.notEqual(r.stderr.trim(), '', `a message for ${JSON.stringify(args)}`);
  }
});

test('help and version', () => {
  let r = run(['idcard', 'check', '--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--strict/);
  r = run(['--version']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^shiming \d+\.\d+\.\d+\n$/);
  r = run(['help']);
  assert.match(r.stdout, /serve/);
});

// ISO 7064 MOD 11-2, written independently of the C code under test.
function checkChar(d17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let s = 0;
  for (let i = 0; i < 17; i++) s += (d17.charCodeAt(i) - 48) * w[i];
  return '10X98765432'[s % 11];
}
