#!/usr/bin/env node
// Entry for the `saescope` command: in a checkout (src/ beside bin/) it runs the
// TypeScript CLI through tsx; in the installed package, the compiled dist/.
//
// On Linux the command re-runs itself once with glibc's malloc asked to back
// large allocations with transparent huge pages (GLIBC_TUNABLES
// glibc.malloc.hugetlb=1): reading a model's weights into memory then takes
// half the page faults' time (a Llama-3.2-1B-sized BF16 checkpoint widened to
// f32: 5.9 s instead of 12.5 s on this project's machine). SAESCOPE_NO_REEXEC=1
// turns this off.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { URL } from 'node:url';
import process from 'node:process';

const tunables = process.env.GLIBC_TUNABLES ?? '';
if (process.platform === 'linux' && !process.env.SAESCOPE_NO_REEXEC && !tunables.includes('glibc.malloc.hugetlb')) {
  const env = { ...process.env, GLIBC_TUNABLES: [tunables, 'glibc.malloc.hugetlb=1'].filter(Boolean).join(':') };
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { env, stdio: 'inherit' });
  const forward = (sig) => () => child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, forward(sig));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
} else if (existsSync(new URL('../src/cli/main.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
} else {
  await import('../dist/cli/main.js');
}
