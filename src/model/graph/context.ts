/**
 * The state shared by the graph-building functions of one compiled graph:
 * the builder, the spec, weight initializers (each added once), and the hook
 * function that exposes, intervenes on or stops at a hook.
 */
import { GraphBuilder, type Dim } from '../../runtime/graph.ts';
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
  /** Logits for every position, only the last, or none. */
  readonly logits: 'all' | 'last' | 'none';
  /** Past/present key-value inputs and outputs for generation. */
  readonly kvCache: boolean;
  /** With `logits: 'none'`: the last hook needed, after which building stops. */
  readonly stopAfter?: string;
}

/** Thrown to end building at `stopAfter`. */
export class StopBuild extends Error {}

/** Building context. */
export class BuildCtx {
  readonly g = new GraphBuilder();
  private readonly weightNames = new Map<string, string>();
  private readonly active: Set<string>;
  private readonly hookByName: Map<string, HookPoint>;

  constructor(
    readonly spec: ModelSpec,
    readonly qkv: QkvLayout,
    readonly plan: GraphPlan,
    private readonly resolver: WeightResolver,
    private readonly loadWeight: (name: string) => Tensor<'float32'>,
    hooks: readonly HookPoint[],
    private readonly encoders: ReadonlyMap<string, FeatureEncoder> = new Map(),
  ) {
    this.active = new Set([...plan.cache, ...plan.add, ...plan.replace, ...(plan.clamp ?? []).map((p) => p.hook)]);
    this.hookByName = new Map(hooks.map((h) => [h.name, h]));
  }

  /** Initializer for a canonical weight in `x @ W` orientation; undefined if optional and absent. */
  weight(w: CanonicalWeight, layer = -1): string | undefined {
    const r = this.resolver.find(w, layer);
    if (!r) return undefined;
    const key = `${r.name}${r.transpose ? '^T' : ''}`;
    let v = this.weightNames.get(key);
    if (v === undefined) {
      const raw = this.weightNames.get(r.name) ?? this.g.weight(r.name, this.loadWeight(r.name));
      this.weightNames.set(r.name, raw);
      v = r.transpose ? this.g.op('Transpose', [raw], { perm: [1, 0] }) : raw;
      this.weightNames.set(key, v);
    }
    return v;
  }

  /** A required weight. */
  req(w: CanonicalWeight, layer = -1): string {
    const v = this.weight(w, layer);
    if (v === undefined) throw new Error(`weight ${w} (block ${layer}) is required`);
    return v;
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
    if (this.plan.replace.includes(name)) v = this.g.input(interventionInput('replace', name), 'float32', dims);
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
