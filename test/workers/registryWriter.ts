/**
 * A registry writer process for the concurrency tests. Modes:
 * `edits FILE ID N`: N edits of its own features plus a tag on a shared one;
 * `bulk FILE`: imports batches of 2,000 features forever, printing each committed batch.
 */
import { Registry } from '../../src/registry/registry.ts';
import { importRegistry } from '../../src/registry/exchange.ts';

const [mode, file, id, n] = process.argv.slice(2);
const reg = Registry.open(file);
if (mode === 'edits') {
  for (let i = 0; i < Number(n); i++) {
    reg.set('m', 's', Number(id) * 100000 + i + 1, { name: `w${id}-${i}`, notes: `edit ${i}` });
    reg.addTag('m', 's', 0, `w${id}-${i}`);
  }
  reg.close();
} else {
  for (let batch = 0; ; batch++) {
    const data: Record<string, { name: string }> = {};
    for (let i = 0; i < 2000; i++) data[String(batch * 2000 + i)] = { name: `b${batch}` };
    importRegistry(reg, data, { model: 'm', sae: 'bulk' });
    process.stdout.write(`committed ${batch}\n`);
  }
}
