/**
 * Tracks, per latent, tokens since it last fired (dead latents) and how often
 * it fired (feature density for sparsity.safetensors).
 */
export class DeadTracker {
  /** Tokens since each latent last fired. */
  sinceFired: Float64Array;
  /** Tokens on which each latent fired. */
  fireCount: Float64Array;
  /** Tokens seen. */
  tokens = 0;

  constructor(readonly dSae: number, readonly window: number) {
    this.sinceFired = new Float64Array(dSae);
    this.fireCount = new Float64Array(dSae);
  }

  /** Records a batch from top-k indices [B, k] (with their values for zeros). */
  fromIndices(indices: BigInt64Array, values: Float32Array | undefined, batch: number): void {
    const seen = new Uint8Array(this.dSae);
    for (let i = 0; i < indices.length; i++) {
      if (values && !(values[i] > 0)) continue;
      const s = Number(indices[i]);
      seen[s] = 1;
      this.fireCount[s]++;
    }
    this.advance(seen, batch);
  }

  /** Records a batch from per-latent counts of firing tokens [dSae]. */
  fromCounts(counts: Float32Array, batch: number): void {
    const seen = new Uint8Array(this.dSae);
    for (let s = 0; s < this.dSae; s++) {
      if (counts[s] > 0) {
        seen[s] = 1;
        this.fireCount[s] += counts[s];
      }
    }
    this.advance(seen, batch);
  }

  /** 1 for dead latents, 0 otherwise [dSae]. */
  deadMask(): Float32Array {
    return Float32Array.from(this.sinceFired, (t) => (t >= this.window ? 1 : 0));
  }

  /** Number of dead latents. */
  deadCount(): number {
    let n = 0;
    for (const t of this.sinceFired) if (t >= this.window) n++;
    return n;
  }

  /** log10 feature density [dSae] (SAELens's sparsity.safetensors), floored at 1e-10. */
  log10Density(): Float32Array {
    return Float32Array.from(this.fireCount, (c) => Math.log10(c / Math.max(1, this.tokens) + 1e-10));
  }

  private advance(seen: Uint8Array, batch: number): void {
    this.tokens += batch;
    for (let s = 0; s < this.dSae; s++) this.sinceFired[s] = seen[s] ? 0 : this.sinceFired[s] + batch;
  }
}
