#!/usr/bin/env node
// bench/ekyc/run.mjs [--count N] [--seed S] — the full POST /v1/ekyc over
// HTTP against a real `shiming serve --demo` with the OCR and face models
// loaded: a photographed card of tools/cardgen's `spoof` set (a face of
// ../shared/data/faces in the portrait) plus a selfie (another photo of the
// same identity, read in place). Prints latency median / p95 one call at a
// time (the server's timing_ms and the client's round trip), throughput
// with every core busy (2 × CPUs calls in flight), the server's peak RSS
// (VmHWM from /proc/PID/status), the decisions seen, and the document
// anti-spoofing rates on the set (genuine scans and photos flagged; screen
// recaptures and photocopies caught).
//
// Prints; never fails on timing (exit 1 only when something cannot run).
// Needs scripts/setup (build/shiming, deps/models), python3 with Pillow and
// numpy (tools/cardgen), and ../shared/data/faces. Generated cards are
// removed at the end. Figures taken on a shared machine are labelled with
// its load average: they are not quiet-machine numbers.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { generateSet, percentile } from '../lib/idcard_eval.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
process.chdir(root);
const { startReady } = await import(join(root, 'tests/blackbox/lib/server.mjs'));
const { FACES_DIR, faceLabels, sameIdentity } = await import(join(root, 'tests/blackbox/lib/faces.mjs'));

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const COUNT = Number(opt('--count', 80)); // spoof-set images (a quarter of them photos)
const SEED = Number(opt('--seed', 13));
const BIN = process.env.SHIMING_BIN ?? 'build/shiming';

const dir = mkdtempSync(join(tmpdir(), 'shiming-bench-ekyc-'));
let server = null;
const fmt = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

function peakRss(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { hwm: Number(/VmHWM:\s+(\d+)/.exec(s)[1]), rss: Number(/VmRSS:\s+(\d+)/.exec(s)[1]) };
  } catch { return { hwm: NaN, rss: NaN }; }
}

async function ekyc(doc, selfie) {
  const t = performance.now();
  const res = await fetch(server.url + '/v1/ekyc', {
    method: 'POST',
    headers: { authorization: 'Bearer demo-key', 'content-type': 'application/json' },
    body: JSON.stringify({ doc_image_base64: doc.toString('base64'), face_image_base64: selfie.toString('base64') }),
  });
  const json = await res.json();
  return { ms: performance.now() - t, status: res.status, json };
}

try {
  console.log(`# bench/ekyc: spoof set of ${COUNT}, seed ${SEED}, ${cpus().length} CPUs, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  const labels = faceLabels();
  const cards = generateSet(BIN, root, dir, 'spoof', COUNT, SEED);
  server = await startReady(['--vision-max-upload', '8MiB']);
  for (const ev of ['ocr_ready', 'face_ready'])
    if (!server.lines.some((l) => l.event === ev)) throw new Error(`the server logged no ${ev} (run scripts/setup)`);
  const pair = (c) => [readFileSync(c.path), readFileSync(join(FACES_DIR, sameIdentity(labels, c.face) ?? c.face))];
  const photos = cards.filter((c) => c.photographed).map(pair);
  await ekyc(...photos[0]); // warm up

  // one at a time: a card photo and a selfie of the same identity
  const server_ms = [], client_ms = [], sub = {};
  for (let rep = 0; rep < 2; rep++)
    for (const [doc, selfie] of photos) {
      const r = await ekyc(doc, selfie);
      if (r.status !== 200) { console.log(`  HTTP ${r.status}: ${JSON.stringify(r.json)}`); continue; }
      server_ms.push(r.json.timing_ms);
      client_ms.push(r.ms);
      sub[r.json.subcode] = (sub[r.json.subcode] ?? 0) + 1;
    }
  console.log(`\n## POST /v1/ekyc, card photo + selfie, sequential (${server_ms.length} calls)`);
  console.log(`  server timing_ms: median ${fmt(percentile(server_ms, 50))} ms, p95 ${fmt(percentile(server_ms, 95))} ms`);
  console.log(`  client round trip: median ${fmt(percentile(client_ms, 50))} ms, p95 ${fmt(percentile(client_ms, 95))} ms`);
  console.log(`  subcodes: ${JSON.stringify(sub)}`);

  // throughput with every core busy
  {
    const inflight = 2 * cpus().length;
    const total = Math.max(photos.length * 2, 24);
    let next = 0, done = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: inflight }, async () => {
      while (next < total) { const p = photos[next++ % photos.length]; if ((await ekyc(...p)).status === 200) done++; }
    }));
    const s = (performance.now() - t0) / 1000;
    console.log(`\n## throughput, ${inflight} in flight: ${(done / s).toFixed(2)} calls/s (${done} in ${s.toFixed(1)} s)`);
  }

  // document anti-spoofing on the whole set
  {
    const rows = { genuine: [0, 0], screen: [0, 0], photocopy: [0, 0] };
    for (const c of cards) {
      const r = await ekyc(...pair(c));
      if (r.status !== 200) continue;
      const k = c.spoof ?? 'genuine';
      rows[k][0] += r.json.document.spoof.risk ? 1 : 0;
      rows[k][1]++;
    }
    console.log('\n## document anti-spoofing on the set (flagged / images)');
    for (const [k, [a, b]] of Object.entries(rows)) console.log(`  ${k.padEnd(10)} ${a}/${b}`);
  }

  const m = peakRss(server.child.pid);
  console.log(`\n## server memory (OCR + face models loaded): peak RSS (VmHWM) ${(m.hwm / 1024).toFixed(0)} MiB, now ${(m.rss / 1024).toFixed(0)} MiB`);
} catch (e) {
  console.error(`bench/ekyc: ${e.message}`);
  process.exitCode = 1;
} finally {
  if (server) await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
