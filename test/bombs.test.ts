/**
 * Every decompression has a budget and nothing undeclared is read (issue 29):
 * a params.npz member that inflates past what its zip entry declares, one
 * whose entry declares more than its .npy header describes, duplicate
 * members, and a gzipped Neuronpedia export that decompresses past its limit;
 * duplicate Neuronpedia rows are stored once. The archives are built here
 * byte by byte (zip local headers, central directory, end record).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { NpzFile } from '../src/io/npy.ts';
import { Registry } from '../src/registry/registry.ts';
import { importNeuronpedia, readNeuronpediaExport } from '../src/registry/neuronpedia.ts';
import { tmpDir } from './helpers.ts';

/** A .npy file: the v1 header for `shape` of <f4, then `data`. */
function npy(shape: number[], data: Uint8Array): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), data]);
}

/** A zip of members (name, bytes as stored or deflated, the uncompressed size the entry declares). */
function zip(members: { name: string; body: Buffer; deflate: boolean; declared?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const data = m.deflate ? zlib.deflateRawSync(m.body) : m.body;
    const name = Buffer.from(m.name);
    const size = m.declared ?? m.body.length;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(m.deflate ? 8 : 0, 8);
    lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(size, 22);
    lh.writeUInt16LE(name.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(m.deflate ? 8 : 0, 10);
    ch.writeUInt32LE(data.length, 20);
    ch.writeUInt32LE(size, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, data);
    central.push(ch, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const four = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);

test('a well-formed archive built here reads back (the builder is right)', () => {
  const f = path.join(tmpDir(), 'ok.npz');
  fs.writeFileSync(f, zip([{ name: 'W.npy', body: npy([2, 2], four), deflate: true }, { name: 'b.npy', body: npy([4], four), deflate: false }]));
  const z = NpzFile.open(f);
  assert.deepEqual([...z.read('W').data], [1, 2, 3, 4]);
  assert.deepEqual([...z.read('b').data], [1, 2, 3, 4]);
});

test('npz decompression bombs: a member inflating past its declared size, or declaring more than its .npy header, is refused without inflating it all', () => {
  const dir = tmpDir();
  // 64 MiB of zeros after a 2x2 array, in a few KiB of deflate; the entry declares only the array.
  const body = Buffer.concat([npy([2, 2], four), Buffer.alloc(64 * 2 ** 20)]);
  const small = npy([2, 2], four).length;
  const bomb = path.join(dir, 'bomb.npz');
  fs.writeFileSync(bomb, zip([{ name: 'W.npy', body, deflate: true, declared: small }]));
  assert.ok(fs.statSync(bomb).size < 200_000);
  assert.throws(() => NpzFile.open(bomb).read('W'), /array 'W': inflates past the \d+ bytes its zip entry declares \(a decompression bomb\?\); refused/);
  // The entry declares every byte honestly, but the .npy header describes only 16 of them: trailing data is refused.
  const honest = path.join(dir, 'trailing.npz');
  fs.writeFileSync(honest, zip([{ name: 'W.npy', body, deflate: true }]));
  assert.throws(() => NpzFile.open(honest).read('W'), /the zip entry declares \d+ bytes but its \.npy header describes \d+ \(shape \(2, 2\), <f4\); refusing undeclared or missing data/);
  // Stored (not deflated) trailing bytes likewise.
  const stored = path.join(dir, 'stored.npz');
  fs.writeFileSync(stored, zip([{ name: 'W.npy', body: Buffer.concat([npy([2, 2], four), Buffer.alloc(1000)]), deflate: false }]));
  assert.throws(() => NpzFile.open(stored).read('W'), /declares \d+ bytes but its \.npy header describes/);
  // A stream that stops short of what it declares.
  const short = path.join(dir, 'short.npz');
  fs.writeFileSync(short, zip([{ name: 'W.npy', body: npy([2, 2], four), deflate: true, declared: small + 16 }]));
  assert.throws(() => NpzFile.open(short).read('W'), /declares|inflates to/);
});

test('duplicate npz members are refused, not resolved by order', () => {
  const f = path.join(tmpDir(), 'dup.npz');
  fs.writeFileSync(f, zip([{ name: 'W_enc.npy', body: npy([4], four), deflate: false }, { name: 'W_enc.npy', body: npy([4], Buffer.alloc(16)), deflate: false }]));
  assert.throws(() => NpzFile.open(f), /member 'W_enc\.npy' appears twice; refusing an archive with duplicate members/);
});

test('a gzipped Neuronpedia export that decompresses past the limit is refused; duplicate rows are stored once', () => {
  const dir = tmpDir();
  const gz = path.join(dir, 'bomb.jsonl.gz');
  fs.writeFileSync(gz, zlib.gzipSync(Buffer.alloc(8 * 2 ** 20, 0x20)));
  assert.ok(fs.statSync(gz).size < 100_000);
  assert.throws(() => readNeuronpediaExport(gz, 2 ** 20), /decompresses past 1048576 bytes \(the limit\); refused/);
  const rec = { modelId: 'm', layer: 's', index: '3', description: 'same words', explanationModelName: 'x', typeName: 't' };
  const file = path.join(dir, 'dups.jsonl');
  fs.writeFileSync(file, Array.from({ length: 1000 }, () => JSON.stringify(rec)).join('\n'));
  const reg = Registry.open(path.join(dir, 'r.db'));
  const first = importNeuronpedia(reg, file, { model: 'hf:m', sae: 'sae-x', npModel: 'm', npSae: 's' });
  assert.equal(first.imported, 1);
  assert.equal(first.skipped.duplicate, 999);
  assert.throws(() => importNeuronpedia(reg, file, { model: 'hf:m', sae: 'sae-x', npModel: 'm', npSae: 's' }), /nothing to import \(1 already in the registry, 999 duplicate\)/);
  assert.equal(reg.explanations('hf:m', 'sae-x', 3).length, 1);
  reg.close();
});
