// The README's copy-paste examples, run as a new user would run them: every
// `curl` in its sh blocks goes to a real `shiming serve --demo`, and every
// `"key": value` pair its `# →` comment promises must be in the answer.
// Keeps the quick start true.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startReady } from './lib/server.mjs';

const SOURCE = process.env.SHIMING_SOURCE ?? '.';
const readme = readFileSync(join(SOURCE, 'README.md'), 'utf8');

/** [{ command, promises: [[key, value]...] }] from the README's sh blocks */
function examples() {
  const out = [];
  for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1].split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i].startsWith('curl ')) continue;
      let command = lines[i];
      while (command.endsWith('\\')) command = command.slice(0, -1) + ' ' + lines[++i].trim();
      const promises = [];
      while (i + 1 < lines.length && /^\s*# →/.test(lines[i + 1])) {
        for (const m of lines[++i].matchAll(/"(\w+)": ("[^"]*"|true|false|null|-?\d+)/g))
          promises.push([m[1], JSON.parse(m[2])]);
      }
      out.push({ command, promises });
    }
  }
  return out;
}

/** every value stored under `key` anywhere in `obj` */
function valuesOf(obj, key, acc = []) {
  if (obj && typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj)) {
      if (k === key) acc.push(v);
      valuesOf(v, key, acc);
    }
  }
  return acc;
}

let server;
before(async () => { server = await startReady(['--demo']); });
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0);
});

test('the README has curl examples with promised answers', () => {
  const ex = examples();
  assert.ok(ex.length >= 6, `found ${ex.length} examples`);
  assert.ok(ex.filter((e) => e.promises.length > 0).length >= 6);
});

for (const { command, promises } of examples()) {
  test(`README: ${command.slice(0, 110)}`, () => {
    assert.match(command, /localhost:8080/);
    const cmd = command.replaceAll('localhost:8080', `127.0.0.1:${server.port}`);
    const stdout = execFileSync('bash', ['-c', `${cmd} -w '\\n%{http_code}'`], {
      encoding: 'utf8', timeout: 30_000,
    });
    const nl = stdout.lastIndexOf('\n');
    const status = Number(stdout.slice(nl + 1));
    const body = JSON.parse(stdout.slice(0, nl));
    assert.equal(status, 200, JSON.stringify(body));
    for (const [key, value] of promises) {
      assert.ok(valuesOf(body, key).some((v) => v === value),
        `promised "${key}": ${JSON.stringify(value)}, got ${JSON.stringify(valuesOf(body, key))}`);
    }
  });
}
