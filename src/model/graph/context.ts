/**
 * The state shared by the graph-building functions of one compiled graph:
 * the builder, the spec, the model's weights (graph inputs bound to the one
 * shared copy, or quantized external data), and the hook function that
 * exposes, intervenes on or stops at a hook.
 */
import { GraphBuilder, type Dim } from '../../runtime/graph.ts';
import type { Feed } from '../../runtime/session.ts';
import type { ExternalData, QuantSource } from '../quant/quantSource.ts';
import { interventionInput, type ClampPlan, type FeatureEncoder } from '../../hooks/interventions.ts';
import { applyClamp } from './clamp.ts';
import type { HookPoint } from '../../hooks/points.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import type { CanonicalWeight, QkvLayout } from '../adapters/adapter.ts';
import type { ModelSpec } from '../spec.ts';
import type { WeightResolver } from '../weightRefs.ts';

/** What one compiled graph computes. Part of the session cache key. */
export interface GraphPlan {
  /** Hooks returned as outputs. */
  readonly cache: readonly string[];
  /** Hooks with an additive input `add:<hook>`. */
  readonly add: readonly string[];
  /** Hooks whose value is replaced by input `replace:<hook>`. */
  readonly replace: readonly string[];
  /** Feature clamps through an SAE encoder. */
  readonly clamp?: readonly ClampPlan[];
  /**
   * Logits for every position, only the last, none, or `'at'` the positions
   * listed in input `logits_at` [n] int64 (one graph serving every mode).
   */
  readonly logits: 'all' | 'last' | 'none' | 'at';
  /** Past/present key-value inputs and outputs for generation. */
  readonly kvCache: boolean;
  /** With `logits: 'none'`: the last hook needed, after which building stops. */
  readonly stopAfter?: string;
  /**
   * Each replacement comes with a switch, input `replace.on:<hook>` [1]
   * uint8: where 0, the hook's own value passes (a graph serving calls with
   * and without the replacement).
   */
  readonly replaceSwitch?: boolean;
}

/** Where a graph's weights come from. */
export interface WeightProvider {
  /** A float32 tensor as stored in the checkpoint (shared across sessions). */
  f32(name: string): Tensor<'float32'>;
  /** Quantized linear layers and embeddings, in int8/int4 modes. */
  readonly quant?: QuantSource;
  /**
   * Quantized layers against float32 activations (MatMulNBits
   * accuracy_level 1): the weights stay as stored. Otherwise level 4 (int8
   * activations), whose kernel repacks them (contrib_ops/cpu/quantization/matmul_nbits.cc, PrePack).
   */
  readonly f32Activations?: boolean;
}

/** Linear weights that MatMulNBits replaces in quantized modes. */
const QUANTIZED_LINEARS: ReadonlySet<CanonicalWeight> = new Set(['W_Q', 'W_K', 'W_V', 'W_qkv', 'W_O', 'W_gate', 'W_in', 'W_out', 'W_U']);

/** Thrown to end building at `stopAfter`. */
export class StopBuild extends Error {}

/** Building context. */
export class BuildCtx {
  readonly g = new GraphBuilder();
  private readonly inputs = new Map<string, string>();
  private readonly bound: Record<string, Feed> = {};
  private readonly active: Set<string>;
  private readonly hookByName: Map<string, HookPoint>;

  constructor(
    readonly spec: ModelSpec,
    readonly qkv: QkvLayout,
    readonly plan: GraphPlan,
    private readonly resolver: WeightResolver,
    private readonly weights: WeightProvider,
    hooks: readonly HookPoint[],
    private readonly encoders: ReadonlyMap<string, FeatureEncoder> = new Map(),
  ) {
    this.active = new Set([...plan.cache, ...plan.add, ...plan.replace, ...(plan.clamp ?? []).map((p) => p.hook)]);
    this.hookByName = new Map(hooks.map((h) => [h.name, h]));
  }

  /** Inputs bound to the model's shared tensors, to feed on every run. */
  boundFeeds(): Readonly<Record<string, Feed>> {
    return this.bound;
  }

  /** Where the quantized weights' external data is, when the graph uses it. */
  get externalData(): ExternalData | undefined {
    return this.weights.quant?.external;
  }

  /** A canonical weight as stored (orientation unchanged); undefined if optional and absent. */
  weight(w: CanonicalWeight, layer = -1): string | undefined {
    const r = this.resolver.find(w, layer);
    return r ? this.stored(r.name) : undefined;
  }

  /** A required weight, as stored. */
  req(w: CanonicalWeight, layer = -1): string {
    const v = this.weight(w, layer);
    if (v === undefined) throw new Error(`weight ${w} (block ${layer}) is required`);
    return v;
  }

  /**
   * `x @ W (+ b)` for a canonical linear weight in any storage: MatMul on an
   * [in, out] tensor, FusedMatMul with transB on a torch [out, in] tensor (no
   * transposed copy), or MatMulNBits on the quantized form.
   */
  linear(x: string, w: CanonicalWeight, layer = -1, bias?: CanonicalWeight): string {
    const { g } = this;
    const r = this.resolver.find(w, layer);
    if (!r) throw new Error(`weight ${w} (block ${layer}) is required`);
    let y: string;
    const q = this.weights.quant;
    if (q && QUANTIZED_LINEARS.has(w)) {
      const e = q.linear(r.name);
      const key = `q.${r.name}`;
      if (!this.g.has(`${key}.B`)) {
        g.external(`${key}.B`, 'uint8', [e.N, Math.ceil(e.K / e.blockSize), (e.blockSize * e.bits) / 8], e.B);
        g.external(`${key}.scales`, 'float32', [e.scales.length / 4], e.scales);
        g.external(`${key}.zp`, 'uint8', [e.zeroPoints.length], e.zeroPoints);
      }
      y = g.op('MatMulNBits', [x, `${key}.B`, `${key}.scales`, `${key}.zp`], { K: e.K, N: e.N, bits: e.bits, block_size: e.blockSize, accuracy_level: this.weights.f32Activations ? 1 : 4 }, { domain: 'com.microsoft' });
    } else if (r.transpose) {
      y = g.op('FusedMatMul', [x, this.stored(r.name)], { transB: 1 }, { domain: 'com.microsoft' });
    } else {
      y = g.op('MatMul', [x, this.stored(r.name)]);
    }
    const b = bias ? this.weight(bias, layer) : undefined;
    return b ? g.op('Add', [y, b]) : y;
  }

  /** Token embeddings [batch, pos, dModel] for int64 `ids`; quantized modes dequantize only the gathered rows. */
  embed(ids: string): string {
    const { g } = this;
    const r = this.resolver.get('W_E');
    const q = this.weights.quant;
    if (!q) return g.op('Gather', [this.stored(r.name), ids]);
    const e = q.embedding(r.name);
    const nb = e.cols / e.blockSize;
    const qName = this.bind(`qe.${r.name}`, { dtype: 'int8', shape: [e.rows, e.cols], data: e.q });
    const sName = this.bind(`qe.${r.name}.scales`, { dtype: 'float32', shape: [e.rows, nb, 1], data: e.scales });
    const rows = g.op('Cast', [g.op('Gather', [qName, ids])], { to: 1 });
    const blocks = g.op('Reshape', [rows, g.ints([0, 0, nb, e.blockSize])]);
    const scaled = g.op('Mul', [blocks, g.op('Gather', [sName, ids])]);
    return g.op('Reshape', [scaled, g.ints([0, 0, e.cols])]);
  }

  private stored(name: string): string {
    const t = this.inputs.has(name) ? undefined : this.weights.f32(name);
    return t ? this.bind(name, t) : this.inputs.get(name)!;
  }

  private bind(name: string, t: Feed): string {
    let v = this.inputs.get(name);
    if (v === undefined) {
      v = this.g.input(`w.${name}`, t.dtype as 'float32', [...t.shape]);
      this.inputs.set(name, v);
      this.bound[v] = t;
    }
    return v;
  }

  /** The KV cache's filled length, input `past_len` [1] int64 (declared on first use). */
  pastLen(): string {
    if (!this.g.has('past_len')) this.g.input('past_len', 'int64', [1]);
    return 'past_len';
  }

  /** Whether any output or intervention touches this hook. */
  isActive(name: string): boolean {
    return this.active.has(name);
  }

  /**
   * Passes a value through hook `name`: applies a replacement or an additive
   * input, exposes the result as an output when cached, and stops the build
   * after `plan.stopAfter`. Returns the value downstream computation uses.
   */
  hook(name: string, x: string): string {
    const point = this.hookByName.get(name);
    if (!point) throw new Error(`internal: hook ${name} is not declared for ${this.spec.modelType}`);
    let v = x;
    const dims: Dim[] = point.shape.map((s) => (s === 'batch' ? 'batch' : `${name}.${s}`));
    if (this.plan.replace.includes(name)) {
      const r = this.g.input(interventionInput('replace', name), 'float32', dims.map((d, i) => `${d}.rep${i}`));
      if (!this.plan.replaceSwitch) v = r;
      else {
        const on = this.g.op('Cast', [this.g.input(`replace.on:${name}`, 'uint8', [1])], { to: 9 });
        v = this.g.op('Where', [on, r, v]);
      }
    }
    if (this.plan.add.includes(name)) {
      const delta = this.g.input(interventionInput('add', name), 'float32', dims.map((d, i) => `${d}.add${i}`));
      v = this.g.op('Add', [v, delta]);
    }
    for (const cp of this.plan.clamp ?? []) {
      if (cp.hook !== name) continue;
      const enc = this.encoders.get(cp.encoder);
      if (!enc) throw new Error(`internal: no encoder '${cp.encoder}' for the clamp at ${name}`);
      v = applyClamp(this, v, cp, enc);
    }
    if (this.plan.cache.includes(name)) {
      this.g.op('Identity', [v], {}, { out: name });
      this.g.output(name, 'float32', dims);
    }
    if (this.plan.stopAfter === name) throw new StopBuild(name);
    return v;
  }
}
