/**
 * Resolves an adapter's canonical weights against a checkpoint's tensor names,
 * tolerating the wrapper prefixes some checkpoints add (`transformer.`,
 * `model.`), and reporting a missing tensor by its HF name.
 */
import type { WeightSource } from '../io/weights.ts';
import type { ArchAdapter, CanonicalWeight } from './adapters/adapter.ts';

/** A resolved weight: the checkpoint's tensor name and whether to transpose it. */
export interface ResolvedWeight {
  /** Full tensor name in the checkpoint. */
  readonly name: string;
  /** Stored [out, in]. */
  readonly transpose: boolean;
}

/** Maps canonical weights to checkpoint tensors for one model. */
export class WeightResolver {
  private readonly byStripped = new Map<string, string>();

  constructor(private readonly adapter: ArchAdapter, private readonly source: WeightSource, private readonly label: string) {
    for (const full of source.names()) {
      let short = full;
      for (const p of adapter.stripPrefixes) {
        if (short.startsWith(p)) {
          short = short.slice(p.length);
          break;
        }
      }
      this.byStripped.set(short, full);
    }
  }

  /** The tensor for a canonical weight at a layer; undefined when optional and absent. */
  find(w: CanonicalWeight, layer = -1): ResolvedWeight | undefined {
    const ref = this.adapter.weights[w];
    if (!ref) return undefined;
    const candidates = (typeof ref.from === 'string' ? [ref.from] : ref.from).map((n) => n.replace('{L}', String(layer)));
    for (const c of candidates) {
      const full = this.byStripped.get(c);
      if (full !== undefined) return { name: full, transpose: ref.transpose === true };
    }
    if (ref.optional) return undefined;
    throw new Error(`${this.label}: missing tensor '${candidates.join("' or '")}' (for ${w}${layer >= 0 ? ` of block ${layer}` : ''})`);
  }

  /** Like `find`, but required. */
  get(w: CanonicalWeight, layer = -1): ResolvedWeight {
    const r = this.find(w, layer);
    if (!r) throw new Error(`${this.label}: the ${this.adapter.modelTypes[0]} adapter declares no weight '${w}'`);
    return r;
  }

  /** Whether the checkpoint holds a canonical weight at a layer (never throws). */
  present(w: CanonicalWeight, layer = -1): boolean {
    const ref = this.adapter.weights[w];
    if (!ref) return false;
    return (typeof ref.from === 'string' ? [ref.from] : ref.from).some((n) => this.byStripped.has(n.replace('{L}', String(layer))));
  }

  /** Whether the adapter declares a canonical weight (present or optional). */
  declares(w: CanonicalWeight): boolean {
    return this.adapter.weights[w] !== undefined;
  }
}
