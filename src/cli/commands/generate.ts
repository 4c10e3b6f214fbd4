/** `saescope generate`: sample text from a model with the KV cache. */
import type { Command } from 'commander';
import { loadForCli, resourceReport } from '../loadForCli.ts';
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
    .option('--chat', "wrap the prompt as a user turn of the model's chat template (instruct models)")
    .option('--json', 'print {"promptIds", "ids", "text", "load_seconds", "peak_rss_mib", ...} as JSON')
    .option('--verbose', 'print load time and memory to stderr')
    .argument('<prompt>', 'the prompt text')
    .action(async (prompt: string, o) => {
      const t0 = performance.now();
      let loadSeconds: number | undefined;
      const model = await loadForCli(o.model, o);
      let printed = 0;
      const stream = !o.json;
      const input = o.chat ? model.chatPrompt(prompt) : prompt;
      if (stream) process.stdout.write(o.chat ? model.tokenizer!.decode(input as number[]) : prompt);
      const r = await model.generate(input, {
        maxNewTokens: o.maxNewTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed, stop: o.stop,
        onToken: (_id, text) => {
          loadSeconds ??= (performance.now() - t0) / 1000;
          if (!stream) return;
          process.stdout.write(text.slice(printed));
          printed = text.length;
        },
      });
      const res = resourceReport(model, loadSeconds ?? (performance.now() - t0) / 1000);
      if (r.stopReason === 'context') process.stderr.write(`saescope: stopped after ${r.ids.length} new tokens: the model's context of ${model.spec.nCtx} tokens is full\n`);
      if (stream) process.stdout.write(r.text.slice(printed) + '\n');
      else process.stdout.write(JSON.stringify({ promptIds: r.promptIds, ids: r.ids, text: r.text, stopReason: r.stopReason, ...res }) + '\n');
      if (o.verbose) process.stderr.write(`load to first token ${res.load_seconds} s, peak resident ${res.peak_rss_mib} MiB, ${res.weights} weights ${res.weights_mib} MiB in memory, ${res.sessions} sessions\n`);
      await model.dispose();
    });
}
