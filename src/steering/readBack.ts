/**
 * A sweep's read-back in blocks: the clean twins' hook values, one token per
 * twin per decoding step, gathered and encoded through the SAE a block of
 * tokens at a time. Encoding each step's dozen rows on its own read the whole
 * encoder for them (a GEMM bound by memory bandwidth); a block of a hundred
 * rows and more is bound by compute.
 */
import type { Tensor } from '../tensor/tensor.ts';

/**
 * Tokens of hook values encoded through the SAE together. Measured on the
 * GPT-2 sweep of `npm run bench -- sweep` (18 rows, TopK SAE of 24,576
 * latents): 2.7 generations/s encoding each step alone, 3.96 with blocks of
 * 128 (peak 1215 MiB), 3.89 with 512 (1353 MiB: the block's dense codes).
 */
export const READS_AT_ONCE = 128;

/** Hook values of twins' tokens gathered into [n, dIn] blocks for the SAE, each encoded once full. */
export class ReadBack {
  private x: Float32Array;
  private owners: number[] = [];
  private readonly pending: Promise<void>[] = [];

  constructor(private readonly dIn: number, private readonly cap: number, private readonly encode: (owners: readonly number[], x: Tensor<'float32'>) => Promise<void>) {
    this.x = new Float32Array(cap * dIn);
  }

  /** Adds one token's hook value, with the number of the twin that read it (handed back to the encoder with its row; a full block is sent first). */
  push(owner: number, value: Float32Array): void {
    if (this.owners.length >= this.cap) this.flush();
    this.x.set(value, this.owners.length * this.dIn);
    this.owners.push(owner);
  }

  /** Encodes what is left and waits for every block (an encoder's error surfaces here). */
  async done(): Promise<void> {
    this.flush();
    await Promise.all(this.pending);
  }

  /** Sends the gathered block to the encoder (the block starts anew: the encoder may read it later). */
  private flush(): void {
    const n = this.owners.length;
    if (n === 0) return;
    const x: Tensor<'float32'> = { dtype: 'float32', shape: [n, this.dIn], data: this.x.subarray(0, n * this.dIn) };
    const owners = this.owners;
    this.owners = [];
    this.x = new Float32Array(this.cap * this.dIn);
    const p = this.encode(owners, x);
    // Handled in done(); until then a failed block must not be an unhandled rejection.
    p.catch(() => undefined);
    this.pending.push(p);
  }
}
