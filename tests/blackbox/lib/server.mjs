// Test helper: start the real `shiming serve` on an ephemeral port, learn the
// port from its "listening" line, collect its stderr (JSON lines parsed), and
// stop it with SIGTERM. Every test that starts a server must stop it in its
// after()/finally, and should assert the exit code is 0 (under the ASan build
// that also means "no leaks").
//
// Every server gets a registry of its own: a fresh temporary directory with
// `--db DIR/registry.db --key-file DIR/server.key`, removed once the process
// has exited, unless the test passes --db / --key-file itself (or
// { registry: false }). Its tenancy store and admin token go next to the
// registry (`--tenancy-db DIR/tenancy.db --admin-token-file DIR/admin.token`,
// DIR being the directory of the test's own --db when it passes one), unless
// the test names them itself.
//
// The native API needs an app's key: servers start with `--demo` (the demo
// app, key `demo-key`, huge packages) unless the test passes { demo: false };
// postJson sends `Authorization: Bearer <server.apiKey>` (demo-key) unless
// the test sends its own Authorization (null: none at all).
//
// Must never: pick a fixed port, leave a child process behind, or create
// files in the source tree (the serve defaults, var/…, are relative to it).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const BIN = process.env.SHIMING_BIN ?? 'build/shiming';

const START_TIMEOUT_MS = 20_000;

const hasFlag = (args, flag) => args.some((a) => a === flag || a.startsWith(flag + '='));

/** The value of `--flag VALUE` or `--flag=VALUE` in args, or undefined. */
function flagValue(args, flag) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i].startsWith(flag + '=')) return args[i].slice(flag.length + 1);
  }
  return undefined;
}

/** The demo app's native key (`serve --demo`). */
export const DEMO_KEY = 'demo-key';
/** Headers that authenticate as the demo app. */
export const DEMO_AUTH = Object.freeze({ authorization: `Bearer ${DEMO_KEY}` });

/**
 * A temporary registry (and tenancy store) for a server about to start: the
 * flags to pass and a cleanup function; no registry flags when the test
 * brings its own registry, and then the tenancy files go next to its --db.
 * @param {string[]} args
 * @param {{ registry?: boolean }} opts
 */
export function registryArgs(args, opts = {}) {
  const own = opts.registry === false || hasFlag(args, '--db') || hasFlag(args, '--key-file');
  const out = [];
  let dir = null;
  let base = null;
  if (!own) {
    dir = mkdtempSync(join(tmpdir(), 'shiming-serve-'));
    out.push('--db', join(dir, 'registry.db'), '--key-file', join(dir, 'server.key'));
    base = dir;
  }
  const needTenancy = !hasFlag(args, '--tenancy-db');
  const needToken = !hasFlag(args, '--admin-token-file');
  if (base === null && (needTenancy || needToken)) {
    const db = flagValue(args, '--db');
    if (db !== undefined) {
      base = dirname(db);
    } else {
      dir = mkdtempSync(join(tmpdir(), 'shiming-serve-'));
      base = dir;
    }
  }
  if (needTenancy) out.push('--tenancy-db', join(base, 'tenancy.db'));
  if (needToken) out.push('--admin-token-file', join(base, 'admin.token'));
  return {
    args: out,
    dir,
    cleanup: () => { if (dir) rmSync(dir, { recursive: true, force: true }); },
  };
}

/**
 * @param {string[]} args extra arguments after `serve --bind 127.0.0.1 --port 0`
 * @param {{ env?: object, raw?: boolean, registry?: boolean, demo?: boolean, apiKey?: string }} opts
 *   raw: do not add --bind/--port; registry: false: do not add a temporary
 *   --db/--key-file; demo: false: do not add --demo (then pass apiKey, the
 *   key of an app the test made, for postJson)
 */
export function startServer(args = [], opts = {}) {
  const reg = registryArgs(args, opts);
  const demo = opts.demo !== false && !hasFlag(args, '--demo') && !hasFlag(args, '--no-demo')
    ? ['--demo'] : [];
  const argv = opts.raw ? ['serve', ...reg.args, ...demo, ...args]
    : ['serve', '--bind', '127.0.0.1', '--port', '0', ...reg.args, ...demo, ...args];
  const child = spawn(BIN, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(opts.env ?? {}) },
  });

  const server = {
    child,
    /** the temporary directory holding this server's registry, or null */
    dir: reg.dir,
    /** the native key postJson sends */
    apiKey: opts.apiKey ?? DEMO_KEY,
    port: 0,
    tls: false,
    url: '',
    stderrText: '',
    stdoutText: '',
    /** every stderr line that parsed as JSON, in order */
    lines: [],
    /** the access-log lines (those with a request_id) */
    get accessLog() {
      return this.lines.filter((l) => typeof l.request_id === 'string' && !l.event);
    },
    exited: null,
    /** resolves with { code, signal } once the process has exited */
    exit: null,
    stop,
    waitForLine,
  };

  server.exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      server.exited = { code, signal };
      reg.cleanup();
      resolve(server.exited);
    });
  });

  const waiters = [];
  let partial = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    server.stderrText += chunk;
    partial += chunk;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let obj = null;
      try {
        obj = JSON.parse(text);
      } catch {
        continue; // a human message (e.g. a usage error), kept in stderrText
      }
      server.lines.push(obj);
      for (const w of [...waiters]) {
        if (w.pred(obj)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(obj);
        }
      }
    }
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    server.stdoutText += chunk;
  });

  /** Resolve with the first line (already seen or future) matching pred. */
  function waitForLine(pred, timeoutMs = 10_000) {
    const seen = server.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      waiters.push(w);
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`no matching stderr line within ${timeoutMs} ms; stderr:\n${server.stderrText}`));
      }, timeoutMs);
      t.unref();
      server.exit.then(() => {
        if (waiters.includes(w)) {
          waiters.splice(waiters.indexOf(w), 1);
          clearTimeout(t);
          reject(new Error(`server exited (${JSON.stringify(server.exited)}) before the line; stderr:\n${server.stderrText}`));
        }
      });
    });
  }

  /** SIGTERM (unless already gone) and resolve with { code, signal }. */
  async function stop(signal = 'SIGTERM', timeoutMs = 20_000) {
    if (server.exited) return server.exited;
    child.kill(signal);
    const timer = new Promise((resolve) => {
      const t = setTimeout(() => resolve(null), timeoutMs);
      t.unref();
    });
    const r = await Promise.race([server.exit, timer]);
    if (r === null) {
      child.kill('SIGKILL');
      await server.exit;
      throw new Error(`server did not exit within ${timeoutMs} ms of ${signal}; stderr:\n${server.stderrText}`);
    }
    return r;
  }

  server.ready = waitForLine((l) => l.event === 'listening', START_TIMEOUT_MS).then((l) => {
    server.port = l.port;
    server.tls = l.tls;
    server.url = `${l.tls ? 'https' : 'http'}://127.0.0.1:${l.port}`;
    return server;
  });
  return server;
}

/** Start and wait until it listens. Rejects (after stopping it) on failure. */
export async function startReady(args = [], opts = {}) {
  const s = startServer(args, opts);
  try {
    return await s.ready;
  } catch (e) {
    await s.stop('SIGKILL').catch(() => {});
    throw e;
  }
}

/** Run `shiming serve ...args` expecting it to exit on its own (usage errors, --help).
 * A temporary registry is added (before `args`) as for startServer. */
export function runServe(args, timeoutMs = 20_000, opts = {}) {
  return new Promise((resolve, reject) => {
    const reg = registryArgs(args, opts);
    const child = spawn(BIN, ['serve', ...reg.args, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.on('exit', () => reg.cleanup());
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve ${args.join(' ')} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The request headers: JSON, the server's key, then `headers` (a null value
 * removes a header: `{ authorization: null }` sends no key). */
export function withAuth(server, headers = {}) {
  const out = { 'content-type': 'application/json', authorization: `Bearer ${server.apiKey ?? DEMO_KEY}` };
  for (const [k, v] of Object.entries(headers)) {
    const key = k.toLowerCase();
    if (v === null || v === undefined) delete out[key];
    else out[key] = v;
  }
  return out;
}

/** POST JSON (a value is serialised; a string or bytes are sent as they are)
 * with the server's key (see withAuth). */
export async function postJson(server, path, body, headers = {}) {
  const res = await fetch(server.url + path, {
    method: 'POST',
    headers: withAuth(server, headers),
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // leave null: the caller asserts
  }
  return { res, status: res.status, headers: res.headers, text, json };
}
