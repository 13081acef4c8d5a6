// Test helper for the suites that send images (the OCR API, dialect E):
// where the models are, synthetic ID cards from tools/cardgen, and a
// loopback image server for URL fetching (/png, /text, /big, /slow?ms=,
// /redirect?to=). Every server a test starts here it closes with
// closeServer().
//
// Must never: listen on anything but 127.0.0.1, or leave generated cards
// behind (syntheticCards() returns a cleanup).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { generateSet } from '../../../bench/lib/idcard_eval.mjs';

export const SOURCE_ROOT = resolve(process.env.SHIMING_SOURCE ?? '.');
export const MODELS_DIR = join(SOURCE_ROOT, 'deps/models');

/** A valid 16×16 PNG with nothing on it. */
export const BLANK_PNG = 'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFElEQVR42mP4TyJgGNUwqmH4agAAr639H23ooMoAAAAASUVORK5CYII=';

/** Readable cards of the generator's `tests` set (SHIMING_IDCARD_FIXTURES:
 * a folder with truth.jsonl from tools/cardgen; else generated into a
 * temporary folder, seed 7): a clean front and back, a photographed front,
 * an upside-down photo and scan. null when the generator cannot run. */
export function syntheticCards() {
  const given = process.env.SHIMING_IDCARD_FIXTURES;
  let dir = given;
  if (!given) {
    if (spawnSync('python3', ['-c', 'import PIL, numpy'], { stdio: 'ignore' }).status !== 0 &&
        spawnSync('/usr/bin/python3', ['-c', 'import PIL, numpy'], { stdio: 'ignore' }).status !== 0) return null;
    dir = mkdtempSync(join(tmpdir(), 'shiming-cards-'));
  }
  const truth = given
    ? readFileSync(join(dir, 'truth.jsonl'), 'utf8').trim().split('\n').map((l) => ({ ...JSON.parse(l), path: join(dir, JSON.parse(l).file) }))
    : generateSet(process.env.SHIMING_BIN ?? 'build/shiming', SOURCE_ROOT, dir, 'tests', 0, 7);
  const readable = truth.filter((x) => x.readable && !x.mismatch);
  const pick = [
    readable.find((x) => x.side === 'front' && !x.photographed),
    readable.find((x) => x.side === 'back' && !x.photographed),
    readable.find((x) => x.side === 'front' && x.photographed),
    readable.find((x) => x.photographed && Math.abs(x.degradations.rotation - 180) < 15),
    readable.find((x) => !x.photographed && x.degradations.rotation === 180),
  ].filter(Boolean);
  return { list: pick, cleanup: () => { if (!given) rmSync(dir, { recursive: true, force: true }); } };
}

/** A loopback server of test images and failures; resolves once listening. */
export function imageServer() {
  const png = Buffer.from(BLANK_PNG, 'base64');
  const srv = createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/png') {
      res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    } else if (u.pathname === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('not an image at all');
    } else if (u.pathname === '/big') {
      res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(200 * 1024, 7));
    } else if (u.pathname === '/slow') {
      const t = setTimeout(() => res.writeHead(200).end(png), Number(u.searchParams.get('ms') ?? 3000));
      res.on('close', () => clearTimeout(t));
    } else if (u.pathname === '/redirect') {
      res.writeHead(302, { location: u.searchParams.get('to') }).end();
    } else {
      res.writeHead(404).end('no');
    }
  });
  return new Promise((done) => srv.listen(0, '127.0.0.1', () => done(srv)));
}

export function closeServer(srv) {
  srv.closeAllConnections?.();
  return new Promise((done) => srv.close(() => done()));
}
