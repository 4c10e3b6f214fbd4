/** Parsing helpers for CLI option values; each error names the flag. */
import * as fs from 'node:fs';

/** A finite number, or an error naming the flag. */
export function parseNumber(flag: string) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x)) throw new Error(`${flag} expects a number, got '${v}'`);
    return x;
  };
}

/** A non-negative integer, or an error naming the flag. */
export function parseCount(flag: string) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < 0) throw new Error(`${flag} expects a non-negative integer, got '${v}'`);
    return x;
  };
}

/** Token ids: `1,2,3`, with `;` between sequences. */
export function parseTokenList(v: string): number[][] {
  return v.split(';').map((seq) =>
    seq.split(',').map((t) => {
      const x = Number(t.trim());
      if (t.trim() === '' || !Number.isInteger(x)) throw new Error(`--tokens expects integers like 1,2,3;4,5,6, got '${t}'`);
      return x;
    }),
  );
}

/** An SAE given as `name=dir`, or as `dir` (named by its folder). */
export function parseSaeSpec(spec: string): { name?: string; dir: string } {
  const eq = spec.indexOf('=');
  // A folder whose path holds '=' is taken whole when it exists.
  if (eq <= 0 || fs.existsSync(spec)) return { dir: spec };
  return { name: spec.slice(0, eq), dir: spec.slice(eq + 1) };
}
