/** Reading JSON files with errors that name the file. */
import * as fs from 'node:fs';

/** Parses a JSON file holding an object; throws naming the file when it is missing, malformed or not an object. */
export function readJsonFile<T = Record<string, unknown>>(file: string, what = 'file'): T {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such ${what}`);
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${file}: expected a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  return v as T;
}

/** Parses a JSON file of at most `maxBytes` (refused naming the size before reading); errors name the file. */
export function readJsonBounded(file: string, maxBytes: number): unknown {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such file`);
  const size = fs.statSync(file).size;
  if (size > maxBytes) throw new Error(`${file}: ${size} bytes; the limit is ${maxBytes}`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
}
