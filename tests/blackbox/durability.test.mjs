// Durability of metering: an acknowledged verification is never lost.
//
// A demo server takes charged /v1/verify/id2 calls from 8 concurrent
// clients; every call that got its 200 is remembered by its request id. The
// server is killed with SIGKILL in the middle of that load, restarted on the
// same files, and stopped. Then, from the files alone (`shiming audit
// export`, `shiming audit verify`, and the sqlite3 CLI on the tenancy
// store): every acknowledged request id has its audit row, the chain still
// verifies, and the demo app's used units equal its charged audit rows — a
// call was charged if and only if it was audited, whatever the kill cut off.
//
// Must never: leave a server or a temporary directory behind, or listen
// anywhere but on loopback.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BIN, startReady, postJson } from './lib/server.mjs';

const SANITIZER = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/;
const WANG = { name: '王伟', id_number: '110105198503150035' };
const WORKERS = 8;
const LOAD_MS = 2000;
const haveSqlite3 = spawnSync('sqlite3', ['-version']).status === 0;

const dir = mkdtempSync(join(tmpdir(), 'shiming-durability-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const files = ['--db', join(dir, 'registry.db'), '--key-file', join(dir, 'server.key')];
const store = ['--tenancy-db', join(dir, 'tenancy.db'), '--key-file', join(dir, 'server.key')];

function shiming(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 1 << 30 });
  assert.equal(r.error, undefined, String(r.error));
  return r;
}

function sqlite(sql) {
  const r = spawnSync('sqlite3', [join(dir, 'tenancy.db'), sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('SIGKILL under load loses no acknowledged call, and used = charged audit rows',
  { skip: !haveSqlite3 && 'no sqlite3 CLI' }, async () => {
    let s = await startReady(['--demo', ...files, '--log-requests', 'false']);
    const acked = [];
    let sent = 0;
    let failed = 0;
    let stop = false;
    async function worker(w) {
      for (let i = 0; !stop; i++) {
        const id = `dur-${w}-${i}`;
        sent++;
        try {
          const r = await postJson(s, '/v1/verify/id2', WANG, { 'x-request-id': id });
          if (r.status === 200) {
            assert.equal(r.json.charged, true);
            assert.equal(r.headers.get('x-request-id'), id);
            acked.push(id);
          } else {
            failed++;
          }
        } catch {
          failed++; // the connection died with the server
          return;
        }
      }
    }
    const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    await new Promise((r) => setTimeout(r, LOAD_MS));
    s.child.kill('SIGKILL');
    const exited = await s.exit;
    stop = true;
    await load;
    assert.equal(exited.signal, 'SIGKILL');
    assert.ok(acked.length >= 20, `only ${acked.length} calls acknowledged in ${LOAD_MS} ms`);

    // restart on the same files: it opens, answers, and stops cleanly
    s = await startReady(['--demo', ...files, '--log-requests', 'false']);
    try {
      const r = await postJson(s, '/v1/verify/id2', WANG, { 'x-request-id': 'after-restart' });
      assert.equal(r.status, 200, r.text);
      acked.push('after-restart');
    } finally {
      const r = await s.stop();
      assert.deepEqual(r, { code: 0, signal: null }, s.stderrText.slice(-3000));
      assert.doesNotMatch(s.stderrText, SANITIZER);
    }

    // every acknowledged call is in the audit log
    const exp = shiming(['audit', 'export', '--format', 'jsonl', ...store]);
    assert.equal(exp.status, 0, exp.stderr);
    const audited = new Set(exp.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).request_id));
    const lost = acked.filter((id) => !audited.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged calls have no audit row`);

    // the chain survived the kill
    const v = shiming(['audit', 'verify', ...store]);
    assert.equal(v.status, 0, `${v.stdout}\n${v.stderr}`);

    // charged if and only if audited as charged
    const app = sqlite("SELECT id FROM apps WHERE name = 'demo'");
    const used = Number(sqlite(`SELECT SUM(used) FROM packages WHERE app_id = ${app} AND product = 'id2'`));
    const charged = Number(sqlite(`SELECT COUNT(*) FROM audit WHERE app_id = ${app} AND product = 'id2' AND charged = 1`));
    assert.equal(used, charged, `used ${used}, charged audit rows ${charged}`);
    assert.ok(charged >= acked.length, `${charged} charged rows for ${acked.length} acknowledged calls`);
    assert.ok(charged <= sent + 1, `${charged} charged rows, ${sent} calls sent`);
    console.log(`# durability: ${sent} sent, ${acked.length} acknowledged, ${charged} charged and audited, ${failed} cut off`);
  });
