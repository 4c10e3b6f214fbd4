/**
 * Shared benchmark plumbing: the PyTorch reference runner (peak memory via
 * /usr/bin/time), saescope workers in child processes (so each run's peak
 * resident memory is its own), and the GPT-2-small random model cache.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED = path.resolve(ROOT, '..', 'shared');
export const REF = path.join(SHARED, 'reference', 'torch_reference.py');
export const CACHE = path.join(ROOT, '.bench-cache');

/** A measured run: its JSON output and peak resident memory in MiB. */
export interface Measured {
  readonly result: Record<string, unknown>;
  readonly peakMiB: number;
}

/** Runs a command under /usr/bin/time; parses the last JSON line of stdout. */
export function measure(cmd: string, args: string[], env: Record<string, string> = {}): Measured {
  const timeFile = path.join(CACHE, `.time-${process.pid}`);
  fs.mkdirSync(CACHE, { recursive: true });
  const out = execFileSync('/usr/bin/time', ['-f', '%M', '-o', timeFile, cmd, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = out.trim().split('\n');
  const result = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
  const kb = Number(fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop());
  fs.rmSync(timeFile, { force: true });
  return { result, peakMiB: Math.round(kb / 1024) };
}

/** Runs the PyTorch reference (with /usr/bin/python3 and OpenBLAS). */
export function torchRef(args: string[], env: Record<string, string> = {}): Measured {
  return measure('/usr/bin/python3', [REF, ...args], env);
}

/**
 * Runs a saescope worker script (bench/workers/NAME.ts) with JSON args, with
 * the huge-page malloc setting the `saescope` command itself runs with.
 */
export function worker(name: string, args: Record<string, unknown>): Measured {
  const tunables = [process.env.GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1'].filter(Boolean).join(':');
  return measure(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'workers', `${name}.ts`), JSON.stringify(args)], { GLIBC_TUNABLES: tunables });
}

/** A random SAE from `torch_reference.py sae-random ARGS`, made once into the bench cache. */
export function randomSae(name: string, args: string[]): string {
  const dir = path.join(CACHE, name);
  if (!fs.existsSync(path.join(dir, 'cfg.json'))) execFileSync('/usr/bin/python3', [REF, 'sae-random', ...args, '--out', dir], { stdio: 'inherit' });
  return dir;
}

/** The GPT-2-small-shaped random model (made once by the reference), with the real GPT-2 tokenizer. */
export function gpt2SmallRandom(): string {
  const dir = path.join(CACHE, 'gpt2-small-random');
  if (!fs.existsSync(path.join(dir, 'model.safetensors'))) {
    process.stderr.write('making the GPT-2-small random model with torch_reference.py random-model ...\n');
    execFileSync('/usr/bin/python3', [REF, 'random-model', '--arch', 'gpt2', '--layers', '12', '--d-model', '768', '--heads', '12', '--vocab', '50257', '--ctx', '1024', '--out', dir], { stdio: 'inherit' });
    fs.copyFileSync(path.join(SHARED, 'models', 'gpt2-tokenizer', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  }
  return dir;
}

/** Rounds to 3 significant digits for printing. */
export function r3(x: number): number {
  return Number(x.toPrecision(3));
}
