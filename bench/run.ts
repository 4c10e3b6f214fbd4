/** `npm run bench -- NAME`: runs one benchmark and prints one JSON object. */
import * as fs from 'node:fs';
import { REF } from './common.ts';
import { benchBig } from './big.ts';
import { benchBrowser } from './browser.ts';
import { benchDistributed } from './distributed.ts';
import { benchForward } from './forward.ts';
import { benchPrepack } from './prepack.ts';
import { benchSaeQuality } from './saeQuality.ts';
import { benchSaeTrain } from './saeTrain.ts';
import { benchScan } from './scan.ts';
import { benchSteer } from './steer.ts';
import { benchSweep } from './sweep.ts';

const BENCHES: Record<string, () => Record<string, unknown>> = { big: benchBig, browser: benchBrowser, distributed: benchDistributed, forward: benchForward, prepack: benchPrepack, 'sae-train': benchSaeTrain, 'sae-quality': benchSaeQuality, scan: benchScan, steer: benchSteer, sweep: benchSweep };

const name = process.argv[2];
if (!name || !BENCHES[name]) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}>\n`);
  process.exit(2);
}
if (!fs.existsSync(REF)) {
  process.stderr.write(`bench needs the PyTorch reference at ${REF}\n`);
  process.exit(2);
}
console.log(JSON.stringify(BENCHES[name]()));
