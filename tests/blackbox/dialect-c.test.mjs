// Conformance tests of dialect C (seed 002): the four-element check
// GET/POST /idcard/idcardstatus/Submit.json and /Submit.xml, against the
// real server with a registry built for it (lost, expired, older cards,
// household status 1 and 2) and apps set up as an operator does (admin API):
//  - the seed's success and failure examples, byte for byte (JSON and XML);
//  - every result (status 1 / 2, every info flag) and every error code of
//    the seed produced by a real request, through GET and POST, JSON and
//    XML; each XML answer is checked with `xmllint --noout` and compared
//    field for field with the JSON answer to the same request;
//  - the API key and the dynamic password (md5, ±10 minutes);
//  - wrong methods, content types, bad %-escapes, oversized bodies,
//    missing and duplicated fields;
//  - charging (code 2 only) and the audit rows (dialect, vendor code);
//  - the registry locked by another process (4010) and the tenancy store
//    locked for writing (0).
// Client addresses: the failed-authentication limiter counts per address,
// so requests that fail authentication come from 127.0.1.x (Linux routes
// all of 127/8 to loopback), one address per case.
//
// Must never: leave a server, a child process or a temporary directory
// behind, listen anywhere but on loopback, or write into the source tree.
import test, { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BIN, startReady } from './lib/server.mjs';

const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;
const haveSqlite3 = spawnSync('sqlite3', ['-version']).status === 0;
const haveXmllint = spawnSync('xmllint', ['--version']).status === 0;

const root = mkdtempSync(join(tmpdir(), 'shiming-dialect-c-'));
after(() => rmSync(root, { recursive: true, force: true }));

// ------------------------------------------------------------ the seed

const MSG = {
  0: '未知错误', 1: '提交失败', 2: '提交成功', 400: '非法ip访问', 401: '帐号不能为空',
  402: '密码不能为空', 403: '应用不存在', 404: '姓名不能为空', 4041: '姓名格式不正确(2-10个中文汉字)',
  406: '身份证号码不能为空', 4061: '身份证格式不正确', 405: 'API ID 或 API KEY 不正确',
  4050: '账号被冻结', 40501: '动态密码已过期', 40502: '动态密码校验失败', 40505: '没有签定合同',
  4051: '剩余条数不足', 4052: '访问 ip 与备案 ip 不符', 4086: '通道无效', 4010: '通道错误',
};
const SEED_SUCCESS_XML = '<?xml version="1.0" encoding="utf-8"?><SubmitResult><code>2</code><msg>提交成功</msg><idcardid>16236437872836</idcardid><result><status>2</status><info><desc>查询成功</desc><isLosted>0</isLosted><isNewest>1</isNewest><isExpired>0</isExpired><hjzt>0</hjzt></info></result></SubmitResult>';
const SEED_SUCCESS_JSON = {
  code: 2, msg: '提交成功', idcardid: '16236437872836',
  result: { status: '2', info: { desc: '查询成功', isLosted: '0', isNewest: '1', isExpired: '0', hjzt: '0' } },
};
const SEED_FAILURE_XML = '<?xml version="1.0" encoding="utf-8"?><SubmitResult><code>1</code><msg>提交失败</msg></SubmitResult>';
const SEED_FAILURE_JSON = '{"code":1,"msg":"提交失败"}';

// ------------------------------------------------------- the registry

/** An 18-digit ID number with its check character. */
function idNumber(region, birth, seq) {
  const body = `${region}${birth}${seq}`;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body].reduce((a, d, i) => a + Number(d) * w[i], 0);
  return body + '10X98765432'[sum % 11];
}

// Cards follow the card law (age at issue → 5, 10, 20 years, long-term
// from 46); the dates are far from today so that "expired" is stable.
const P = {
  // two cards: the old one expired, the newest current; hukou 0
  zhang: { name: '张伟明', id: idNumber('110105', '19800101', '001'), hukou: 0,
    cards: [['20000101', '20100101', 0], ['20100101', '20300101', 0]] },
  // one card, reported lost; hukou 1 (moved out, not yet in)
  li: { name: '李秀英', id: idNumber('110105', '19750505', '002'), hukou: 1,
    cards: [['20100505', '20300505', 1]] },
  // long-term card; hukou 2 (invalid)
  wang: { name: '王建国', id: idNumber('110105', '19400202', '003'), hukou: 2,
    cards: [['20060202', '00000000', 0]] },
  // the newest card has expired; hukou 0
  chen: { name: '陈静', id: idNumber('110105', '19900303', '004'), hukou: 0,
    cards: [['20080303', '20180303', 0]] },
};
const NOBODY = idNumber('110105', '19850505', '005'); // well-formed, not in the registry
const BAD_ID = P.zhang.id.slice(0, 17) + (P.zhang.id[17] === '0' ? '1' : '0'); // checksum

function shiming(args, timeout = 60_000) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout });
  assert.equal(r.error, undefined, `spawn ${args.join(' ')}: ${r.error}`);
  assert.equal(r.status, 0, `shiming ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r;
}

/** A directory with registry.db (our persons) and server.key; returns its flags. */
function buildRegistry(name) {
  const dir = join(root, name);
  mkdirSync(dir);
  const lines = ['id_number,name,valid_from,valid_to,issuing_authority,lost,hukou_status'];
  for (const p of Object.values(P))
    for (const [from, to, lost] of p.cards)
      lines.push([p.id, p.name, from, to, '北京市公安局朝阳分局', lost, p.hukou].join(','));
  const csv = join(dir, 'persons.csv');
  writeFileSync(csv, lines.join('\n') + '\n');
  const flags = ['--db', join(dir, 'registry.db'), '--key-file', join(dir, 'server.key')];
  shiming(['registry', 'import', ...flags, csv]);
  return { dir, flags };
}

async function stopClean(s) {
  const r = await s.stop();
  assert.deepEqual(r, { code: 0, signal: null }, `exit status; stderr tail:\n${s.stderrText.slice(-3000)}`);
  assert.doesNotMatch(s.stderrText, SANITIZER);
}

// ------------------------------------------------------------ requests

/** Parse the answers' XML (elements and text only, which is all they hold). */
function parseXml(text) {
  const decl = '<?xml version="1.0" encoding="utf-8"?>';
  assert.ok(text.startsWith(decl), `declaration: ${text.slice(0, 60)}`);
  let i = decl.length;
  const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'").replace(/&amp;/g, '&');
  function element() {
    const m = /^<([A-Za-z]+)>/.exec(text.slice(i));
    assert.ok(m, `an element at ${i}: ${text.slice(i, i + 40)}`);
    const name = m[1];
    i += m[0].length;
    let value;
    if (text[i] === '<' && text[i + 1] !== '/') {
      value = {};
      while (text[i] === '<' && text[i + 1] !== '/') {
        const [k, v] = element();
        assert.ok(!(k in value), `element ${k} once`);
        value[k] = v;
      }
    } else {
      const end = text.indexOf('<', i);
      value = unescape(text.slice(i, end));
      i = end;
    }
    const close = `</${name}>`;
    assert.equal(text.slice(i, i + close.length), close);
    i += close.length;
    return [name, value];
  }
  const [rootName, value] = element();
  assert.equal(rootName, 'SubmitResult');
  assert.equal(i, text.length, 'nothing after the root element');
  return value;
}

/** The XML answer as the JSON answer would say it: code is a number. */
function xmlAsJson(v) {
  const out = { ...v };
  if (out.code !== undefined) out.code = Number(out.code);
  return out;
}

function xmllint(text) {
  const r = spawnSync('xmllint', ['--noout', '-'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `xmllint: ${r.stderr}\n${text}`);
}

/**
 * One request. opts: method (GET), fmt ('json' | 'xml'), query (object or
 * raw string), body (object → urlencoded, or raw string/Buffer), headers,
 * from (client address).
 */
function request(s, opts = {}) {
  const fmt = opts.fmt ?? 'json';
  const method = opts.method ?? 'GET';
  let qs = '';
  if (typeof opts.query === 'string') qs = opts.query;
  else if (opts.query) qs = new URLSearchParams(opts.query).toString();
  let body = null;
  const headers = { ...(opts.headers ?? {}) };
  if (typeof opts.body === 'string' || Buffer.isBuffer(opts.body)) body = opts.body;
  else if (opts.body) {
    body = new URLSearchParams(opts.body).toString();
    if (!('content-type' in headers)) headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  for (const [k, v] of Object.entries(headers)) if (v === null) delete headers[k];
  if (body !== null) headers['content-length'] = Buffer.byteLength(body);
  const path = `/idcard/idcardstatus/Submit.${fmt}${qs ? '?' + qs : ''}`;
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: s.port, method, path, headers,
      localAddress: opts.from ?? '127.0.0.1', agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, headers: res.headers, text, fmt });
      });
    });
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}

/** The answer as an object: JSON parsed, or XML checked and parsed. */
function answerOf(r) {
  if (r.fmt === 'xml') {
    assert.match(r.headers['content-type'], /^text\/xml; charset=utf-8$/);
    if (haveXmllint) xmllint(r.text);
    return xmlAsJson(parseXml(r.text));
  }
  assert.match(r.headers['content-type'], /^application\/json; charset=utf-8$/);
  return JSON.parse(r.text);
}

/**
 * The same parameters through GET (query) and POST (form body), JSON and
 * XML: the four answers must agree field for field (the serial number
 * differs per call). Returns the JSON answer of the GET and all responses.
 */
async function all4(s, params, extra = {}) {
  const variants = [];
  for (const method of ['GET', 'POST'])
    for (const fmt of ['json', 'xml'])
      variants.push(request(s, { ...extra, method, fmt,
        ...(method === 'GET' ? { query: params } : { body: params }) }));
  const rs = await Promise.all(variants);
  const answers = rs.map((r) => {
    assert.equal(r.status, 200, r.text);
    const a = answerOf(r);
    if (a.idcardid !== undefined) {
      assert.match(a.idcardid, /^\d{14}$/, 'a 14-digit serial number');
      const t = Number(a.idcardid.slice(0, 10));
      assert.ok(Math.abs(t - Date.now() / 1000) < 120, 'the serial starts with the Unix time');
    }
    return a;
  });
  const serials = answers.map((a) => a.idcardid).filter((x) => x !== undefined);
  assert.equal(new Set(serials).size, serials.length, 'serial numbers are unique');
  const strip = (a) => ({ ...a, idcardid: a.idcardid === undefined ? undefined : 'S' });
  for (const a of answers.slice(1)) assert.deepEqual(strip(a), strip(answers[0]));
  return { answer: answers[0], responses: rs };
}

const demo = { account: 'demo', password: 'demo-apikey' };
const params = (p, card = 0, extra = {}) => ({
  ...demo, name: p.name, id_card_no: p.id, begin_date: p.cards[card][0], end_date: p.cards[card][1], ...extra,
});

const md5 = (s) => createHash('md5').update(s, 'utf8').digest('hex');
const dynamic = (account, key, name, id, time) => md5(account + key + 'idcardstatus' + name + id + time);
const unixNow = () => Math.floor(Date.now() / 1000);

/** An admin API call with the token of a server whose files are in dir. */
async function admin(s, dir, method, path, body) {
  const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
  const res = await fetch(s.url + '/admin/v1' + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} /admin/v1${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** A new app with an apikey credential and packages; returns { account, password }. */
async function makeApp(s, dir, name, settings = {}, packages = { idcardstatus: 1000 }) {
  await admin(s, dir, 'POST', '/apps', { name, ...settings });
  const cred = await admin(s, dir, 'POST', `/apps/${name}/credentials`, { kind: 'apikey' });
  assert.equal(typeof cred.id, 'string');
  for (const [product, total] of Object.entries(packages))
    await admin(s, dir, 'POST', `/apps/${name}/packages`, { product, total });
  return { account: cred.id, password: cred.secret };
}

function assertCode(a, code, text = '') {
  assert.equal(a.code, code, `code ${code}: ${JSON.stringify(a)} ${text}`);
  assert.equal(a.msg, MSG[code]);
  if (code !== 2) assert.deepEqual(Object.keys(a), ['code', 'msg'], 'only code and msg');
}

// ------------------------------------------------------ the main server

describe('dialect C on a server with its own registry and the demo app', () => {
  let s;
  let reg;
  before(async () => {
    reg = buildRegistry('main');
    s = await startReady([...reg.flags, '--max-body', '8KiB']);
  });
  after(async () => { if (s) await stopClean(s); });

  test('the seed\'s success example, byte for byte (but the serial number)', async () => {
    const { answer, responses } = await all4(s, params(P.zhang, 1));
    assert.deepEqual({ ...answer, idcardid: '16236437872836' }, SEED_SUCCESS_JSON);
    for (const r of responses) {
      const serial = answerOf(r).idcardid;
      if (r.fmt === 'xml') assert.equal(r.text, SEED_SUCCESS_XML.replace('16236437872836', serial));
      else assert.equal(r.text, JSON.stringify(SEED_SUCCESS_JSON).replace('16236437872836', serial));
      assert.match(r.headers['x-request-id'], /\S/);
    }
  });

  test('the seed\'s failure example, byte for byte: an unlawful validity period', async () => {
    // 20 years for an issue at 30, but one day too long
    const p = params(P.zhang, 1, { end_date: '20300102' });
    for (const method of ['GET', 'POST']) {
      const j = await request(s, { method, fmt: 'json', ...(method === 'GET' ? { query: p } : { body: p }) });
      assert.equal(j.status, 200);
      assert.equal(j.text, SEED_FAILURE_JSON);
      assert.match(j.headers['x-error-detail'], /validity period/);
      const x = await request(s, { method, fmt: 'xml', ...(method === 'GET' ? { query: p } : { body: p }) });
      assert.equal(x.status, 200);
      assert.equal(x.text, SEED_FAILURE_XML);
      if (haveXmllint) xmllint(x.text);
    }
  });

  // Every result the registry can give, each through GET/POST × JSON/XML.
  const info = (lost, newest, expired, hjzt) => ({
    desc: '查询成功', isLosted: lost, isNewest: newest, isExpired: expired, hjzt,
  });
  const results = [
    ['the newest current card (hukou 0)', params(P.zhang, 1), '2', info('0', '1', '0', '0')],
    ['an older, expired card: not the newest', params(P.zhang, 0), '2', info('0', '0', '1', '0')],
    ['a card reported lost; hukou 1', params(P.li), '2', info('1', '1', '0', '1')],
    ['a long-term card (end_date 00000000); hukou 2', params(P.wang), '2', info('0', '1', '0', '2')],
    ['the newest card, expired', params(P.chen), '2', info('0', '1', '1', '0')],
    ['a long-term card written 长期', params(P.wang, 0, { end_date: '长期' }), '2', info('0', '1', '0', '2')],
    ['the name differs: inconsistent, no card facts', params(P.zhang, 1, { name: '张伟' }), '1',
      { desc: '身份四要素信息不一致' }],
    ['lawful dates of no card of the person: inconsistent', params(P.zhang, 1, { begin_date: '20110101', end_date: '20310101' }),
      '1', { desc: '身份四要素信息不一致' }],
    ['a number the registry does not hold: inconsistent, not on record', params(P.zhang, 1, { id_card_no: NOBODY }),
      '1', { desc: '库中无此号' }],
    ['a name with surrounding spaces is the same name', params(P.li, 0, { name: ' 李秀英 ' }), '2', info('1', '1', '0', '1')],
  ];
  for (const [title, p, status, want] of results) {
    test(`code 2, status ${status}: ${title}`, async () => {
      const { answer } = await all4(s, p);
      assertCode(answer, 2);
      assert.deepEqual(Object.keys(answer), ['code', 'msg', 'idcardid', 'result']);
      assert.deepEqual(answer.result, { status, info: want });
    });
  }

  // Input refused with a code; nothing charged, answered the same way on
  // every method and format.
  const long11 = '欧阳诸葛司马上官东方西门';
  const refusals = [
    [401, 'no account', { ...params(P.zhang), account: undefined }],
    [401, 'a blank account', { ...params(P.zhang), account: '  ' }],
    [402, 'no password', { ...params(P.zhang), password: undefined }],
    [402, 'an empty password', { ...params(P.zhang), password: '' }],
    [404, 'no name', { ...params(P.zhang), name: undefined }],
    [404, 'an empty name', { ...params(P.zhang), name: '' }],
    [406, 'no id_card_no', { ...params(P.zhang), id_card_no: undefined }],
    [4061, 'a wrong check character', params(P.zhang, 1, { id_card_no: BAD_ID })],
    [4061, 'a 17-digit number', params(P.zhang, 1, { id_card_no: P.zhang.id.slice(0, 17) })],
    [4061, 'a birth date that does not exist', params(P.zhang, 1, { id_card_no: idNumber('110105', '19800231', '001') })],
    [4041, 'a digit in the name (the core)', params(P.zhang, 1, { name: '张3' })],
    [4041, 'one Han character (the core)', params(P.zhang, 1, { name: '张' })],
    [4041, 'a Latin name (the vendor\'s rule)', params(P.zhang, 1, { name: 'ZHANG SAN' })],
    [4041, 'eleven Han characters (the vendor\'s rule)', params(P.zhang, 1, { name: long11 })],
    [1, 'no begin_date', { ...params(P.zhang), begin_date: undefined }],
    [1, 'a date with dashes', params(P.zhang, 1, { begin_date: '2010-01-01' })],
    [1, '长期 as begin date', params(P.zhang, 1, { begin_date: '长期' })],
  ];
  for (const [code, title, p] of refusals) {
    test(`code ${code}: ${title}`, async () => {
      const clean = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined));
      const { answer } = await all4(s, clean);
      assertCode(answer, code);
    });
  }

  test('a minority name with a middle dot (7 Han characters) is within the vendor\'s rule', async () => {
    const r = await request(s, { query: params(P.zhang, 1, { name: '阿依古丽·买买提' }) });
    const a = answerOf(r);
    assertCode(a, 2);
    assert.equal(a.result.status, '1'); // not this person's name
  });

  test('ten Han characters are within the vendor\'s rule', async () => {
    const a = answerOf(await request(s, { query: params(P.zhang, 1, { name: long11.slice(0, 10) }) }));
    assertCode(a, 2);
  });

  test('the dynamic password: md5(account + key + "idcardstatus" + name + id_card_no + time), ±10 minutes', async () => {
    const p = params(P.zhang, 1);
    const sign = (time, over = {}) => {
      const q = { ...p, ...over, time: String(time) };
      q.password = dynamic(q.account, 'demo-apikey', q.name, q.id_card_no, q.time);
      return q;
    };
    const now = unixNow();
    for (const t of [now, now - 590, now + 590]) {
      const { answer } = await all4(s, sign(t));
      assertCode(answer, 2);
      assert.equal(answer.result.status, '2');
    }
    // upper-case hex is the same digest
    const up = sign(now);
    up.password = up.password.toUpperCase();
    assertCode(answerOf(await request(s, { query: up })), 2);
    // the key itself with a time: still the key
    assertCode(answerOf(await request(s, { query: { ...p, time: String(now) } })), 2);
    // UTF-8 of the name as sent, through POST
    const { answer } = await all4(s, sign(now, { name: '陈静', id_card_no: P.chen.id, begin_date: '20080303', end_date: '20180303' }));
    assertCode(answer, 2);
    assert.equal(answer.result.info.isExpired, '1');
  });

  // Failed authentications, each from an address of its own (127.0.1.x).
  let addr = 10;
  const failures = [
    [403, 'an unknown account', () => params(P.zhang, 1, { account: 'nobody-here' })],
    [403, 'an account with a NUL byte', () => null, 'account=demo%00x&password=demo-apikey&name=%E9%99%88%E9%9D%99&id_card_no=1&begin_date=1&end_date=1'],
    [405, 'a wrong API key, no time', () => params(P.zhang, 1, { password: 'demo-apikey-wrong' })],
    [405, 'the API key of another account', () => params(P.zhang, 1, { account: 'demo', password: 'x'.repeat(11) })],
    [40502, 'a dynamic password over other fields', () => {
      const q = params(P.zhang, 1, { time: String(unixNow()) });
      q.password = dynamic('demo', 'demo-apikey', '张伟', q.id_card_no, q.time); // signed another name
      return q;
    }],
    [40502, 'a dynamic password with a wrong key', () => {
      const q = params(P.zhang, 1, { time: String(unixNow()) });
      q.password = dynamic('demo', 'not-the-key', q.name, q.id_card_no, q.time);
      return q;
    }],
    [40502, 'a time that is not 10 digits', () => {
      const q = params(P.zhang, 1, { time: String(unixNow() * 1000) });
      q.password = dynamic('demo', 'demo-apikey', q.name, q.id_card_no, q.time);
      return q;
    }],
    [40501, 'a correct dynamic password 11 minutes old', () => {
      const q = params(P.zhang, 1, { time: String(unixNow() - 660) });
      q.password = dynamic('demo', 'demo-apikey', q.name, q.id_card_no, q.time);
      return q;
    }],
    [40501, 'a correct dynamic password 11 minutes ahead', () => {
      const q = params(P.zhang, 1, { time: String(unixNow() + 660) });
      q.password = dynamic('demo', 'demo-apikey', q.name, q.id_card_no, q.time);
      return q;
    }],
  ];
  for (const [code, title, make, raw] of failures) {
    test(`code ${code}: ${title}`, async () => {
      const from = `127.0.1.${addr++}`;
      if (raw) {
        for (const fmt of ['json', 'xml']) {
          const r = await request(s, { query: raw, fmt, from });
          assert.equal(r.status, 200);
          assertCode(answerOf(r), code);
        }
        return;
      }
      const { answer } = await all4(s, make(), { from });
      assertCode(answer, code);
    });
  }

  test('secrets and request values never reach the log or an answer', async () => {
    const r = await request(s, { query: params(P.zhang, 1, { password: 'typed-by-mistake-123' }), from: '127.0.1.99' });
    assertCode(answerOf(r), 405);
    assert.ok(!r.text.includes('typed-by-mistake-123'));
    const ok = await request(s, { query: params(P.zhang, 1) });
    assertCode(answerOf(ok), 2);
    await s.waitForLine((l) => l.request_id === ok.headers['x-request-id']);
    assert.ok(!s.stderrText.includes('typed-by-mistake-123'));
    assert.ok(!s.stderrText.includes('demo-apikey'));
    assert.ok(!s.stderrText.includes(P.zhang.id));
    assert.ok(!s.stderrText.includes(P.zhang.name));
  });

  // ---------------------------------------------------- the protocol

  test('methods other than GET and POST: 405 with Allow, code 1 in the endpoint\'s format', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']) {
      for (const fmt of ['json', 'xml']) {
        const r = await request(s, { method, fmt, query: params(P.zhang, 1) });
        assert.equal(r.status, 405, `${method} ${fmt}`);
        assert.equal(r.headers.allow, 'GET, POST');
        if (method !== 'HEAD') assertCode(answerOf(r), 1);
      }
    }
  });

  test('content types: a form (any case, charset utf-8) or none; others 415 with code 1', async () => {
    const body = new URLSearchParams(params(P.zhang, 1)).toString();
    for (const ct of ['application/x-www-form-urlencoded', 'Application/X-WWW-Form-Urlencoded; charset=UTF-8',
      'application/x-www-form-urlencoded;charset="utf-8"', null]) {
      const r = await request(s, { method: 'POST', body, headers: { 'content-type': ct } });
      assert.equal(r.status, 200, `${ct}: ${r.text}`);
      assertCode(answerOf(r), 2);
    }
    for (const ct of ['application/json', 'multipart/form-data; boundary=x', 'text/plain',
      'application/x-www-form-urlencoded; charset=gbk', 'application/x-www-form-urlencodedx']) {
      for (const fmt of ['json', 'xml']) {
        const r = await request(s, { method: 'POST', fmt, body, headers: { 'content-type': ct } });
        assert.equal(r.status, 415, `${ct}: ${r.text}`);
        assertCode(answerOf(r), 1);
      }
    }
    // a JSON body is not read as parameters
    const r = await request(s, { method: 'POST', body: JSON.stringify(params(P.zhang, 1)), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 415);
  });

  test('query and body together: parameters are taken from both', async () => {
    const p = params(P.li);
    const r = await request(s, {
      method: 'POST', query: { account: p.account, password: p.password },
      body: { name: p.name, id_card_no: p.id_card_no, begin_date: p.begin_date, end_date: p.end_date },
    });
    const a = answerOf(r);
    assertCode(a, 2);
    assert.equal(a.result.info.isLosted, '1');
    // a GET with a form body reads it too
    const g = await request(s, { method: 'GET', query: { account: 'demo', password: 'demo-apikey' },
      body: { name: p.name, id_card_no: p.id_card_no, begin_date: p.begin_date, end_date: p.end_date } });
    assertCode(answerOf(g), 2);
  });

  test('a parameter given twice (query, body, or both; even with one value) is refused: code 1', async () => {
    const p = params(P.zhang, 1);
    const qs = new URLSearchParams(p).toString();
    for (const field of ['account', 'password', 'name', 'id_card_no', 'begin_date', 'end_date', 'time']) {
      const once = field in p ? '' : `&${field}=1`; // time is not in p: give it twice here
      const dup = `${qs}${once}&${field}=${encodeURIComponent(p[field] ?? '1')}`;
      for (const fmt of ['json', 'xml']) {
        const r = await request(s, { fmt, query: dup });
        assert.equal(r.status, 200);
        assertCode(answerOf(r), 1);
        assert.match(r.headers['x-error-detail'], new RegExp(`'${field}'`));
      }
      const both = await request(s, { method: 'POST', query: { [field]: p[field] ?? '1' }, body: { ...p, [field]: p[field] ?? '1' } });
      assertCode(answerOf(both), 1);
    }
    // unknown parameters are ignored; a trailing '&' is nothing; an empty
    // piece is skipped in a body, but in the query the server reports it
    // as a parameter with an empty name: malformed
    assertCode(answerOf(await request(s, { query: `${qs}&extra=1&sign=x&` })), 2);
    assertCode(answerOf(await request(s, { method: 'POST', body: `${qs}&&extra=1&` })), 2);
    assertCode(answerOf(await request(s, { query: `${qs}&&extra=1` })), 1);
  });

  test('bad %-escapes in the body: code 1; invalid UTF-8 in the name: 4041; bad escapes in the query are literal', async () => {
    const qs = new URLSearchParams(params(P.zhang, 1)).toString();
    for (const bad of ['%zz', '%', '%4', '%G0']) {
      for (const fmt of ['json', 'xml']) {
        const r = await request(s, { method: 'POST', fmt, body: `${qs}&note=${bad}` });
        assert.equal(r.status, 200);
        assertCode(answerOf(r), 1);
      }
    }
    const empty = await request(s, { method: 'POST', body: `${qs}&=x` });
    assertCode(answerOf(empty), 1);
    const notUtf8 = { ...params(P.zhang, 1) };
    delete notUtf8.name;
    const body = `${new URLSearchParams(notUtf8)}&name=%FF%FE`;
    assertCode(answerOf(await request(s, { method: 'POST', body })), 4041);
    assertCode(answerOf(await request(s, { query: body })), 4041);
    // a '%' that is no escape in the query reaches the field as it is
    const q = `${new URLSearchParams(notUtf8)}&name=%zz`;
    assertCode(answerOf(await request(s, { query: q })), 4041);
  });

  test('a body over --max-body: 413, nothing called', async () => {
    const body = new URLSearchParams({ ...params(P.zhang, 1), pad: 'x'.repeat(16 * 1024) }).toString();
    for (const fmt of ['json', 'xml']) {
      const r = await request(s, { method: 'POST', fmt, body });
      assert.equal(r.status, 413, r.text);
      // answered by the dialect in its own format (code 1), before the
      // body is read: no call was made
      const j = fmt === 'json' ? JSON.parse(r.text) : xmlAsJson(parseXml(r.text));
      assert.equal(String(j.code), '1', r.text);
    }
  });

  // ------------------------------------------------ apps and admission

  test('4050: a frozen and a disabled app; 4052: the IP allowlist', async () => {
    const frosty = await makeApp(s, reg.dir, 'c-frosty');
    const call = (c) => all4(s, params(P.zhang, 1, c));
    assertCode((await call(frosty)).answer, 2);
    await admin(s, reg.dir, 'PATCH', '/apps/c-frosty', { status: 'frozen' });
    assertCode((await call(frosty)).answer, 4050);
    await admin(s, reg.dir, 'PATCH', '/apps/c-frosty', { status: 'disabled' });
    assertCode((await call(frosty)).answer, 4050);
    await admin(s, reg.dir, 'PATCH', '/apps/c-frosty', { status: 'active' });
    assertCode((await call(frosty)).answer, 2);
    // a frozen app's wrong key is still 405: the status is told only to its owner
    await admin(s, reg.dir, 'PATCH', '/apps/c-frosty', { status: 'frozen' });
    assertCode(answerOf(await request(s, { query: params(P.zhang, 1, { ...frosty, password: 'wrong' }), from: '127.0.1.80' })), 405);

    const walled = await makeApp(s, reg.dir, 'c-walled', { ip_allow: '10.0.0.0/8' });
    assertCode((await call(walled)).answer, 4052);
    await admin(s, reg.dir, 'PATCH', '/apps/c-walled', { ip_allow: '10.0.0.0/8, 127.0.0.1/32' });
    assertCode((await call(walled)).answer, 2);
    // another loopback address is not on the list
    assertCode(answerOf(await request(s, { query: params(P.zhang, 1, walled), from: '127.0.0.2' })), 4052);
  });

  test('40505: an app that never had a package of this product; 4051 once its package is used up', async () => {
    const none = await makeApp(s, reg.dir, 'c-nocontract', {}, { id4: 100 });
    assertCode((await all4(s, params(P.zhang, 1, none))).answer, 40505);
    // even invalid input: there is no contract at all
    assertCode(answerOf(await request(s, { query: params(P.zhang, 1, { ...none, id_card_no: BAD_ID }) })), 40505);

    const two = await makeApp(s, reg.dir, 'c-two', {}, { idcardstatus: 2 });
    const usage = async () => {
      const u = await admin(s, reg.dir, 'GET', '/apps/c-two/usage');
      return u.packages.filter((x) => x.product === 'idcardstatus').reduce((a, x) => a + x.used, 0);
    };
    const q = (over) => ({ query: params(P.zhang, 1, { ...two, ...over }) });
    assertCode(answerOf(await request(s, q({ id_card_no: BAD_ID }))), 4061);
    assertCode(answerOf(await request(s, q({ name: '张3' }))), 4041);
    assertCode(answerOf(await request(s, q({ end_date: '20300102' }))), 1);
    assert.equal(await usage(), 0, 'refused input is free');
    let a = answerOf(await request(s, q({ id_card_no: NOBODY })));
    assertCode(a, 2);
    assert.equal(a.result.status, '1');
    assert.equal(await usage(), 1, 'not on record: code 2, charged');
    a = answerOf(await request(s, q({ name: '张伟' })));
    assertCode(a, 2);
    assert.equal(await usage(), 2, 'inconsistent: code 2, charged');
    for (const fmt of ['json', 'xml'])
      assertCode(answerOf(await request(s, { ...q({}), fmt })), 4051);
    // free answers are still given once the balance is exhausted
    assertCode(answerOf(await request(s, q({ id_card_no: BAD_ID }))), 4061);
    assert.equal(await usage(), 2);
    // topping up opens it again
    await admin(s, reg.dir, 'POST', '/apps/c-two/packages', { product: 'idcardstatus', total: 1 });
    assertCode(answerOf(await request(s, q({}))), 2);
  });

  test('4086: the app\'s daily limit and its rate limit (with Retry-After)', async () => {
    const daily = await makeApp(s, reg.dir, 'c-daily', { daily_limit: 1 });
    assertCode(answerOf(await request(s, { query: params(P.zhang, 1, daily) })), 2);
    for (const fmt of ['json', 'xml']) {
      const r = await request(s, { fmt, query: params(P.zhang, 1, daily) });
      assertCode(answerOf(r), 4086);
      assert.match(r.headers['retry-after'], /^\d+$/);
    }
    const slow = await makeApp(s, reg.dir, 'c-slow', { rate_per_s: 0.01, burst: 1 });
    assertCode(answerOf(await request(s, { query: params(P.zhang, 1, slow) })), 2);
    const r = await request(s, { fmt: 'xml', query: params(P.zhang, 1, slow) });
    assertCode(answerOf(r), 4086);
    assert.ok(Number(r.headers['retry-after']) >= 1);
  });

  test('audit rows carry dialect "idcardstatus" and the vendor code', async () => {
    const cases = [
      [params(P.zhang, 1), '2', 'match'],
      [params(P.zhang, 1, { name: '张伟' }), '2', 'mismatch'],
      [params(P.zhang, 1, { id_card_no: NOBODY }), '2', 'not_found'],
      [params(P.zhang, 1, { id_card_no: BAD_ID }), '4061', 'invalid_id'],
      [params(P.zhang, 1, { name: '张3' }), '4041', 'invalid_name'],
      [params(P.zhang, 1, { end_date: '20300102' }), '1', 'invalid_period'],
    ];
    const ids = [];
    for (const [p, , ] of cases) {
      for (const fmt of ['json', 'xml']) {
        const r = await request(s, { fmt, method: 'POST', body: p });
        ids.push(r.headers['x-request-id']);
      }
    }
    const audit = await admin(s, reg.dir, 'GET', '/audit?app=demo&limit=1000');
    for (const [i, [, code, verdict]] of cases.entries()) {
      for (const id of ids.slice(2 * i, 2 * i + 2)) {
        const row = audit.rows.find((x) => x.request_id === id);
        assert.ok(row, `audit row of ${id}`);
        assert.equal(row.dialect, 'idcardstatus');
        assert.equal(row.product, 'idcardstatus');
        assert.equal(row.vendor_code, code);
        assert.equal(row.verdict, verdict);
        assert.ok(!JSON.stringify(row).includes(P.zhang.id), 'the number is masked');
      }
    }
  });
});

// -------------------------------------------------- 400: the limiter

describe('the failed-authentication limiter', () => {
  let s;
  before(async () => { s = await startReady([...buildRegistry('limiter').flags]); });
  after(async () => { if (s) await stopClean(s); });

  test('400 after 20 failures from one address, even with the right key; other addresses unaffected', async () => {
    const from = '127.0.0.9';
    for (let i = 0; i < 20; i++) {
      const a = answerOf(await request(s, { query: params(P.zhang, 1, { password: `wrong-${i}` }), from }));
      assertCode(a, 405);
    }
    for (const fmt of ['json', 'xml']) {
      const r = await request(s, { fmt, query: params(P.zhang, 1), from });
      assert.equal(r.status, 200);
      assertCode(answerOf(r), 400);
      assert.match(r.headers['retry-after'], /^\d+$/);
    }
    // unknown accounts count too, and are refused alike now
    assertCode(answerOf(await request(s, { query: params(P.zhang, 1, { account: 'x' }), from })), 400);
    assertCode(answerOf(await request(s, { query: params(P.zhang, 1), from: '127.0.0.10' })), 2);
  });
});

// ---------------------------------------------- 4010 and 0: stores down

/** Hold a lock on an SQLite file with the sqlite3 CLI until released. */
function holdLock(db, sql) {
  const child = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c) => { err += c; });
  child.stdin.write(`${sql}\nSELECT 'lock' || 'ed';\n`);
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

async function release(lock) {
  lock.stdin.end('COMMIT;\n.quit\n');
  await new Promise((resolve) => lock.on('exit', resolve));
}

describe('stores out of reach', { skip: !haveSqlite3 && 'no sqlite3 CLI' }, () => {
  let s;
  let lock;
  after(async () => {
    lock?.kill('SIGKILL');
    if (s) await stopClean(s);
  });

  test('4010: the registry is locked by another process; the core\'s own checks still answer', async () => {
    const reg = buildRegistry('locked');
    // one --demo start leaves the demo app in the tenancy store
    await stopClean(await startReady(reg.flags));
    lock = await holdLock(join(reg.dir, 'registry.db'), 'PRAGMA locking_mode=EXCLUSIVE;\nBEGIN EXCLUSIVE;');
    s = await startReady(reg.flags, { demo: false });
    await s.waitForLine((l) => l.event === 'registry_unavailable');
    const { answer, responses } = await all4(s, params(P.zhang, 1));
    assertCode(answer, 4010);
    for (const r of responses) assert.equal(r.headers['retry-after'], '1');
    assertCode((await all4(s, params(P.zhang, 1, { id_card_no: BAD_ID }))).answer, 4061);
    await release(lock);
    lock = null;
    const until = Date.now() + 5000;
    for (;;) {
      const a = answerOf(await request(s, { query: params(P.zhang, 1) }));
      if (a.code === 2) break;
      assert.equal(a.code, 4010);
      assert.ok(Date.now() < until, 'recovered within 5 s');
      await new Promise((res) => setTimeout(res, 50));
    }
    await stopClean(s);
    s = null;
  });

  test('0: the tenancy store cannot record the call (locked for writing): nothing charged, Retry-After', async () => {
    const reg = buildRegistry('tenancy-locked');
    s = await startReady(reg.flags);
    const usage = async () => {
      const u = await admin(s, reg.dir, 'GET', '/apps/demo/usage');
      return u.packages.filter((x) => x.product === 'idcardstatus').reduce((a, x) => a + x.used, 0);
    };
    assertCode(answerOf(await request(s, { query: params(P.zhang, 1) })), 2);
    const before = await usage();
    lock = await holdLock(join(reg.dir, 'tenancy.db'), 'BEGIN IMMEDIATE;');
    for (const fmt of ['json', 'xml']) {
      const r = await request(s, { fmt, query: params(P.zhang, 1) });
      assert.equal(r.status, 200);
      assertCode(answerOf(r), 0);
      assert.equal(r.headers['retry-after'], '1');
    }
    await release(lock);
    lock = null;
    assert.equal(await usage(), before, 'nothing charged');
    assertCode(answerOf(await request(s, { query: params(P.zhang, 1) })), 2);
  });
});
