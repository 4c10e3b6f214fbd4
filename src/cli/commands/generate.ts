/** `saescope generate`: sample text from a model with the KV cache. */
import type { Command } from 'commander';
import { loadForCli } from '../loadForCli.ts';
import { parseCount, parseNumber } from '../options.ts';

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('generate text from a prompt (KV cache; greedy at --temperature 0)')
    .requiredOption('--model <pathOrId>', 'HF model folder, HF id, or llama2.c .bin')
    .option('--temperature <t>', 'sampling temperature; 0 is greedy', parseNumber('--temperature'), 1)
    .option('--max-new-tokens <n>', 'new tokens at most', parseCount('--max-new-tokens'), 32)
    .option('--top-k <k>', 'sample from the k most likely tokens', parseCount('--top-k'))
    .option('--top-p <p>', 'nucleus sampling threshold', parseNumber('--top-p'))
    .option('--seed <s>', 'sampling seed', parseCount('--seed'), 0)
    .option('--stop <text...>', 'strings that end generation')
    .option('--json', 'print {"promptIds", "ids", "text"} as JSON')
    .argument('<prompt>', 'the prompt text')
    .action(async (prompt: string, o) => {
      const model = await loadForCli(o.model);
      let printed = 0;
      const stream = !o.json;
      if (stream) process.stdout.write(prompt);
      const r = await model.generate(prompt, {
        maxNewTokens: o.maxNewTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed, stop: o.stop,
        onToken: stream ? (_id, text) => {
          process.stdout.write(text.slice(printed));
          printed = text.length;
        } : undefined,
      });
      if (stream) process.stdout.write(r.text.slice(printed) + '\n');
      else process.stdout.write(JSON.stringify({ promptIds: r.promptIds, ids: r.ids, text: r.text }) + '\n');
      await model.dispose();
    });
}
