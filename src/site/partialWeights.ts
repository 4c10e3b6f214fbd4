/**
 * A quantized site's float weights: the tensors kept as floats (norms, biases)
 * from a safetensors file, and the quantized ones declared by name, shape and
 * stored dtype only (their data is in the quantized file), so the model's
 * shape checks and adapters see the whole checkpoint.
 */
import type { WeightSource } from '../io/weights.ts';
import type { Tensor } from '../tensor/tensor.ts';

/** A tensor present only as quantized data. */
export interface DeclaredTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
}

export class PartialWeights implements WeightSource {
  private readonly declared: ReadonlyMap<string, DeclaredTensor>;

  constructor(private readonly floats: WeightSource, declared: readonly DeclaredTensor[]) {
    this.declared = new Map(declared.map((d) => [d.name, d]));
  }

  names(): string[] {
    return [...this.floats.names(), ...this.declared.keys()];
  }

  has(name: string): boolean {
    return this.floats.has(name) || this.declared.has(name);
  }

  shape(name: string): readonly number[] {
    return this.declared.get(name)?.shape ?? this.floats.shape(name);
  }

  dtype(name: string): string {
    return this.declared.get(name)?.dtype ?? this.floats.dtype(name);
  }

  get(name: string): Tensor<'float32'> {
    if (this.declared.has(name)) throw new Error(`tensor '${name}' is only in the site's quantized weights (this site was exported with --weights int8)`);
    return this.floats.get(name);
  }

  identity(): string {
    return this.floats.identity();
  }
}
