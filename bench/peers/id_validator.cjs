// The npm package id-validator (JavaScript) over the same inputs as
// bench_idnum: one ID number per line in the file given as argv[2].
// Prints "ids_per_s <median>" and per-round figures; never fails on timing.
// Uses the package's GB2260 table so that it checks regions too, like shiming.
'use strict';
const fs = require('fs');
const IDValidator = require('id-validator');
const GB2260 = require('id-validator/src/GB2260');

const ids = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean);
const v = new IDValidator(GB2260);
const rounds = +(process.argv[3] || 5);

let valid = 0;
for (const id of ids) if (v.isValid(id)) valid++;   // warm-up, and the agreement count

const rates = [];
for (let r = 0; r < rounds; r++) {
  let n = 0, sink = 0;
  const t0 = process.hrtime.bigint();
  let t;
  do {
    for (const id of ids) sink += v.isValid(id) ? 1 : 0;
    n += ids.length;
    t = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (t < 1.0);
  rates.push(n / t);
  console.log(`round ${r + 1}: ${(n / t / 1e6).toFixed(3)} M IDs/s (${sink} valid results)`);
}
rates.sort((a, b) => a - b);
console.log(`valid ${valid} of ${ids.length}`);
console.log(`ids_per_s ${Math.round(rates[rates.length >> 1])}`);
