/**
 * A model's weights across one or many safetensors files: a single file,
 * several files in a folder, or shards listed by `model.safetensors.index.json`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tensor } from '../tensor/tensor.ts';
import { SafetensorsFile, type TensorInfo } from './safetensors.ts';

/** Read access to named float32 weights, whatever their storage. */
export interface WeightSource {
  /** Every tensor name. */
  names(): string[];
  /** Whether a tensor exists. */
  has(name: string): boolean;
  /** Shape of a tensor (throws naming the tensor when absent). */
  shape(name: string): readonly number[];
  /** A tensor as float32 (throws naming the tensor when absent). */
  get(name: string): Tensor<'float32'>;
  /** Stored element type of a tensor (`F32`, `BF16`, ...). */
  dtype(name: string): string;
  /** What identifies this exact checkpoint (paths, sizes, modification times): caches key on it. */
  identity(): string;
}

/** Weights spread over safetensors files. */
export class SafetensorsWeights implements WeightSource {
  private readonly where = new Map<string, SafetensorsFile>();

  constructor(private readonly label: string, files: SafetensorsFile[]) {
    for (const f of files) for (const name of f.tensors.keys()) this.where.set(name, f);
  }

  /**
   * Opens every safetensors file of a model folder. With
   * `model.safetensors.index.json` the index must match the shards exactly:
   * shard names are plain file names in the folder, every tensor it maps is
   * in its shard, no tensor is in two shards, every tensor of a shard is
   * mapped, and no other `model-*-of-*.safetensors` shard lies beside them.
   */
  static fromFolder(dir: string): SafetensorsWeights {
    const index = path.join(dir, 'model.safetensors.index.json');
    if (!fs.existsSync(index)) {
      const files = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
      if (files.length === 0) throw new Error(`${dir}: no *.safetensors files found`);
      return new SafetensorsWeights(dir, files.map((f) => SafetensorsFile.open(path.join(dir, f))));
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(index, 'utf8'));
    } catch (e) {
      throw new Error(`${index}: not valid JSON (${(e as Error).message})`);
    }
    const map = (parsed as { weight_map?: unknown } | null)?.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error(`${index}: no weight_map object`);
    const entries = Object.entries(map as Record<string, unknown>);
    for (const [t, f] of entries) {
      if (typeof f !== 'string' || !f.endsWith('.safetensors') || f !== path.basename(f) || f.startsWith('.')) {
        throw new Error(`${index}: tensor '${t}' maps to ${JSON.stringify(f)}, not a .safetensors file name in the folder`);
      }
    }
    const names = [...new Set(entries.map(([, f]) => f as string))].sort();
    if (names.length === 0) throw new Error(`${index}: weight_map is empty`);
    for (const f of names) if (!fs.existsSync(path.join(dir, f))) throw new Error(`${index}: lists shard '${f}', which is missing from ${dir}`);
    const stray = fs.readdirSync(dir).filter((f) => /^model-\d+-of-\d+\.safetensors$/.test(f) && !names.includes(f));
    if (stray.length) throw new Error(`${index}: shard ${stray[0]} lies in the folder but the index does not list it`);
    const files = names.map((f) => SafetensorsFile.open(path.join(dir, f)));
    const owner = new Map<string, string>();
    for (const f of files) {
      for (const t of f.tensors.keys()) {
        const prev = owner.get(t);
        if (prev) throw new Error(`${index}: tensor '${t}' is in both ${path.basename(prev)} and ${path.basename(f.path)}`);
        owner.set(t, f.path);
        if (!(t in (map as Record<string, string>))) throw new Error(`${index}: tensor '${t}' of ${path.basename(f.path)} is missing from weight_map`);
      }
    }
    for (const [t, f] of entries) {
      if (path.basename(owner.get(t) ?? '') !== f) throw new Error(`${index}: weight_map puts '${t}' in ${f}, but ${owner.has(t) ? `it is in ${path.basename(owner.get(t)!)}` : 'no shard has it'}`);
    }
    return new SafetensorsWeights(dir, files);
  }

  /** Paths of the safetensors files, sorted (each once, even when it holds many tensors). */
  files(): string[] {
    return [...new Set([...this.where.values()].map((f) => f.path))].sort();
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  shape(name: string): readonly number[] {
    return this.info(name).shape;
  }

  get(name: string): Tensor<'float32'> {
    return this.file(name).readF32(name);
  }

  dtype(name: string): string {
    return this.info(name).dtype;
  }

  identity(): string {
    return JSON.stringify([...new Set(this.where.values())].map((f) => JSON.parse(f.identity)));
  }

  private info(name: string): TensorInfo {
    return this.file(name).tensors.get(name)!;
  }

  private file(name: string): SafetensorsFile {
    const f = this.where.get(name);
    if (!f) throw new Error(`${this.label}: missing tensor '${name}'`);
    return f;
  }
}

/** Weights held in memory (llama2.c checkpoints, tests). */
export class MemoryWeights implements WeightSource {
  constructor(
    private readonly label: string,
    private readonly map: Map<string, Tensor<'float32'>>,
    /** What the tensors were read from, for caches (default: the label). */
    private readonly origin = label,
  ) {}

  dtype(): string {
    return 'F32';
  }

  identity(): string {
    return this.origin;
  }

  names(): string[] {
    return [...this.map.keys()];
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  shape(name: string): readonly number[] {
    return this.get(name).shape;
  }

  get(name: string): Tensor<'float32'> {
    const t = this.map.get(name);
    if (!t) throw new Error(`${this.label}: missing tensor '${name}'`);
    return t;
  }
}
