/**
 * Scatter-adds TopK gradients into parameter rows, touching only the rows of
 * active latents: for each active (token b, latent s) pair, W_dec[s] gets
 * value * dOut[b] (in the training worker), W_encT[s] gets dPre * sae_in[b],
 * and b_enc[s] gets dPre. In a fixed order, so every run gives the same bits.
 */

/** Per-entry outputs of the TopK graph for one term (main or AuxK). */
export interface EntryGrads {
  /** Latent ids [B, k] (int64). */
  readonly indices: BigInt64Array;
  /** Activations [B, k]. */
  readonly values: Float32Array;
  /** d loss / d pre [B, k]. */
  readonly dPre: Float32Array;
  /** d loss / d reconstruction [B, dIn]. */
  readonly dOut: Float32Array;
}

/**
 * Adds one term's encoder contributions (W_encT rows and b_enc) into the dense
 * gradient buffers; the decoder's (W_dec rows: value x dOut) are added by the
 * training worker (`parallel.ts`) at the same time.
 */
export function scatterEncoderEntries(e: EntryGrads, saeIn: Float32Array, dIn: number, gWencT: Float32Array, gbEnc: Float32Array): void {
  const k = e.values.length / (saeIn.length / dIn);
  for (let i = 0; i < e.values.length; i++) {
    const dp = e.dPre[i];
    if (dp === 0) continue;
    const s = Number(e.indices[i]);
    const row = s * dIn;
    const src = ((i / k) | 0) * dIn;
    gbEnc[s] += dp;
    for (let j = 0; j < dIn; j++) gWencT[row + j] += dp * saeIn[src + j];
  }
}

/**
 * grad b_dec = Σ_b dOut[b] (dOut [B, width]), minus grad_b_enc @ W_encT when
 * b_dec is also subtracted from the encoder's input (`input`: an SAE's; a
 * transcoder's b_dec is only its output's bias).
 */
export function decoderBiasGrad(dOut: Float32Array, input: { readonly gbEnc: Float32Array; readonly WencT: Float32Array; readonly dIn: number } | undefined, width: number): Float32Array {
  const g = new Float32Array(width);
  const B = dOut.length / width;
  for (let b = 0; b < B; b++) for (let j = 0; j < width; j++) g[j] += dOut[b * width + j];
  if (!input) return g;
  const { gbEnc, WencT, dIn } = input;
  for (let s = 0; s < gbEnc.length; s++) {
    const c = gbEnc[s];
    if (c === 0) continue;
    for (let j = 0; j < dIn; j++) g[j] -= c * WencT[s * dIn + j];
  }
  return g;
}
