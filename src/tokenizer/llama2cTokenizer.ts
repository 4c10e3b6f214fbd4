/**
 * llama2.c's `tokenizer.bin`: an int32 max token length, then per token a
 * float32 merge score, an int32 byte length and the bytes. Encoding follows
 * llama2.c's run.c: a dummy-prefix space, one token per UTF-8 character with
 * `<0xXX>` byte fallback (ids byte + 3), then greedy merging of the adjacent
 * pair with the highest score.
 */
import * as fs from 'node:fs';
import type { TextTokenizer } from './types.ts';

/** A llama2.c sentencepiece-style tokenizer. */
export class Llama2cTokenizer implements TextTokenizer {
  readonly bosId = 1;
  readonly eosId = 2;
  private readonly lookup = new Map<string, number>();

  constructor(private readonly pieces: readonly string[], private readonly scores: readonly number[]) {
    pieces.forEach((p, i) => {
      if (!this.lookup.has(p)) this.lookup.set(p, i);
    });
  }

  /** Reads a tokenizer.bin; the vocabulary size is the number of entries. */
  static fromFile(file: string): Llama2cTokenizer {
    const buf = fs.readFileSync(file);
    const pieces: string[] = [];
    const scores: number[] = [];
    let off = 4;
    while (off < buf.length) {
      if (off + 8 > buf.length) throw new Error(`${file}: truncated tokenizer entry at byte ${off}`);
      scores.push(buf.readFloatLE(off));
      const len = buf.readInt32LE(off + 4);
      off += 8;
      if (len < 0 || off + len > buf.length) throw new Error(`${file}: token ${pieces.length} has invalid length ${len}`);
      pieces.push(buf.subarray(off, off + len).toString('utf8'));
      off += len;
    }
    return new Llama2cTokenizer(pieces, scores);
  }

  /** Serializes to the tokenizer.bin layout. */
  toBuffer(): Buffer {
    const parts: Buffer[] = [];
    const head = Buffer.alloc(4);
    head.writeInt32LE(Math.max(...this.pieces.map((p) => Buffer.byteLength(p))));
    parts.push(head);
    this.pieces.forEach((p, i) => {
      const b = Buffer.from(p, 'utf8');
      const h = Buffer.alloc(8);
      h.writeFloatLE(this.scores[i]);
      h.writeInt32LE(b.length, 4);
      parts.push(h, b);
    });
    return Buffer.concat(parts);
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  encode(text: string, opts: { bos?: boolean } = {}): number[] {
    const ids: number[] = [];
    if (text.length > 0) {
      const space = this.lookup.get(' ');
      if (space !== undefined) ids.push(space);
    }
    for (const ch of text) {
      const id = this.lookup.get(ch);
      if (id !== undefined) ids.push(id);
      else for (const byte of Buffer.from(ch, 'utf8')) ids.push(byte + 3);
    }
    for (;;) {
      let best = -Infinity;
      let at = -1;
      let bestId = -1;
      for (let i = 0; i + 1 < ids.length; i++) {
        const id = this.lookup.get(this.pieces[ids[i]] + this.pieces[ids[i + 1]]);
        if (id !== undefined && this.scores[id] > best) {
          best = this.scores[id];
          at = i;
          bestId = id;
        }
      }
      if (at < 0) break;
      ids.splice(at, 2, bestId);
    }
    return (opts.bos ?? true) ? [this.bosId, ...ids] : ids;
  }

  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    const bytes: number[] = [];
    let prev = -1;
    for (const id of ids) {
      if ((opts.skipSpecial ?? true) && (id === this.bosId || id === this.eosId || id === 0)) {
        prev = id;
        continue;
      }
      let piece = this.pieces[id] ?? '';
      if ((prev === this.bosId || prev === -1) && piece.startsWith(' ')) piece = piece.slice(1);
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
      if (m) bytes.push(parseInt(m[1], 16));
      else bytes.push(...Buffer.from(piece, 'utf8'));
      prev = id;
    }
    return Buffer.from(bytes).toString('utf8');
  }

  idToToken(id: number): string | undefined {
    return this.pieces[id];
  }
}
