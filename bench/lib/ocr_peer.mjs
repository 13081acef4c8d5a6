// ocr_peer.mjs — the npm peer @gutenye/ocr-node (PaddleOCR through
// onnxruntime-node and sharp), pinned in bench/peer-ocr: reads each image
// named in the file argv[2] (one path a line) and prints one JSON line per
// image {file, ms, lines:[{text, conf}]}, then {"rss_kib": peak}.
// Used by bench/ocr-idcard only.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { default: Ocr } = await import(join(here, '../peer-ocr/node_modules/@gutenye/ocr-node/build/index.js'));
const ocr = await Ocr.create();
for (const file of readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean)) {
  const t = performance.now();
  const lines = await ocr.detect(file);
  const ms = performance.now() - t;
  console.log(JSON.stringify({ file, ms, lines: lines.map((l) => ({ text: l.text, conf: l.mean })) }));
}
console.log(JSON.stringify({ rss_kib: process.resourceUsage().maxRSS }));
