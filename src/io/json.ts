/** Reading JSON files with errors that name the file. */
import * as fs from 'node:fs';

/** Parses a JSON file; throws naming the file when it is missing or malformed. */
export function readJsonFile<T = Record<string, unknown>>(file: string, what = 'file'): T {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such ${what}`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
}
