/** The `saescope` command: parses input and calls the library. */
import { Command } from 'commander';
import { registerGenerate } from './commands/generate.ts';
import { registerRun } from './commands/run.ts';
import { registerTrain } from './commands/train.ts';
import { registerEval } from './commands/evaluate.ts';
import { registerCollect } from './commands/collect.ts';
import { registerAnalysis } from './commands/analysis.ts';
import { registerRegistry } from './commands/registry.ts';
import { registerSteering } from './commands/steering.ts';
import { registerInterp } from './commands/interp.ts';
import { registerServe } from './commands/serve.ts';
import { registerDemo } from './commands/demo.ts';
import { registerInfo } from './commands/info.ts';
import { registerSae } from './commands/sae.ts';
import { registerReport } from './commands/report.ts';
import { registerLadder } from './commands/ladder.ts';
import { registerConditional } from './commands/conditional.ts';
import { registerSite } from './commands/site.ts';
import { addModelFlags } from './loadForCli.ts';
import { stopProgress } from './progress.ts';
import { addSaeFlags } from './saeForCli.ts';
import { VERSION } from '../version.ts';

const program = new Command();
program.name('saescope').description('Understand transformer language models through sparse autoencoders.').version(VERSION);
// A command's own --verbose also shows ONNX Runtime's warnings (otherwise set SAESCOPE_ORT_VERBOSE=1).
program.hook('preAction', (_program, action) => {
  if (action.opts().verbose) process.env.SAESCOPE_ORT_VERBOSE = '1';
});
registerGenerate(program);
registerRun(program);
registerTrain(program);
registerEval(program);
registerCollect(program);
registerAnalysis(program);
registerRegistry(program);
registerSteering(program);
registerInterp(program);
registerServe(program);
registerDemo(program);
registerInfo(program);
registerSae(program);
registerReport(program);
registerLadder(program);
registerConditional(program);
registerSite(program);
addModelFlags(program);
addSaeFlags(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  stopProgress();
  process.stderr.write(`saescope: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
