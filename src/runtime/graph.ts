/**
 * A small ONNX graph builder: inputs, initializers, nodes and outputs, then a
 * serialized ModelProto (through onnx-proto's protobufjs classes) that ONNX
 * Runtime loads from memory. Small constants are inline initializers; large
 * ones are graph inputs fed from one shared copy (model weights) or external
 * data in a file beside the graph (quantized weights, which ORT prepacks).
 */
import onnxProto from 'onnx-proto';
import type { Tensor } from '../tensor/tensor.ts';

const { onnx } = onnxProto;

/** A float attribute (plain numbers are ints, so floats are marked). */
export interface FloatAttr {
  readonly float: number;
}

/** Attribute values: int, float, string or int list. */
export type Attr = number | FloatAttr | string | readonly number[];

/** Marks a number as a float attribute. */
export function float(x: number): FloatAttr {
  return { float: x };
}

/** Element types of graph inputs and outputs. */
export type ElemType = 'float32' | 'int64' | 'int32' | 'uint8' | 'int8';

const ELEM: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  uint8: onnx.TensorProto.DataType.UINT8,
  int8: onnx.TensorProto.DataType.INT8,
};

/** An initializer whose bytes live in a file (ONNX external data). */
export interface ExternalRef {
  /** File name, relative to the folder the session is told about. */
  readonly location: string;
  /** Byte offset in the file. */
  readonly offset: number;
  /** Byte length. */
  readonly length: number;
}

/** A dimension: a fixed size or a symbolic name. */
export type Dim = number | string;

/** Opset of the default domain; Gelu with `approximate` needs 20. */
export const OPSET = 20;

/** Builds one ONNX graph. Value names must be unique; `fresh` makes them so. */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inits: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;
  private readonly usesMs = { value: false };

  /** A new unique value name with a readable prefix. */
  fresh(prefix: string): string {
    let n = `${prefix}_${this.counter++}`;
    while (this.names.has(n)) n = `${prefix}_${this.counter++}`;
    this.names.add(n);
    return n;
  }

  /** Whether a value name is taken. */
  has(name: string): boolean {
    return this.names.has(name);
  }

  /** Declares a graph input. */
  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declares a graph output (the value must be produced by a node). */
  output(name: string, type: ElemType, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** Adds a float32 initializer; the tensor's bytes are referenced, not copied. */
  weight(name: string, t: Tensor<'float32'>): string {
    this.claim(name);
    const d = t.data;
    this.inits.push({
      name,
      dataType: onnx.TensorProto.DataType.FLOAT,
      dims: [...t.shape],
      rawData: new Uint8Array(d.buffer, d.byteOffset, d.byteLength),
    });
    return name;
  }

  /** An initializer stored as external data (read, and prepacked, by ORT at session creation). */
  external(name: string, type: ElemType, dims: readonly number[], ref: ExternalRef): string {
    this.claim(name);
    this.inits.push({
      name,
      dataType: ELEM[type],
      dims: [...dims],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: ref.location },
        { key: 'offset', value: String(ref.offset) },
        { key: 'length', value: String(ref.length) },
      ],
    });
    return name;
  }

  /** An int64 constant (axes, shapes, indices). */
  ints(values: readonly number[], scalar = false): string {
    const name = this.fresh('c');
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.inits.push({
      name,
      dataType: onnx.TensorProto.DataType.INT64,
      dims: scalar ? [] : [values.length],
      rawData: new Uint8Array(data.buffer),
    });
    return name;
  }

  /** A float32 constant (a scalar unless a shape is given). */
  floats(values: readonly number[], shape: readonly number[] = []): string {
    const name = this.fresh('c');
    const data = Float32Array.from(values);
    this.inits.push({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims: [...shape], rawData: new Uint8Array(data.buffer) });
    return name;
  }

  /** Adds a node with one output; returns the output's name. */
  op(type: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, opts: { out?: string; domain?: string } = {}): string {
    return this.opN(type, inputs, 1, attrs, opts.out ? [opts.out] : undefined, opts.domain)[0];
  }

  /** Adds a node with `n` outputs; returns their names. */
  opN(type: string, inputs: readonly string[], n: number, attrs: Record<string, Attr> = {}, outNames?: readonly string[], domain?: string): string[] {
    const outs = outNames ? outNames.map((o) => this.claim(o)) : Array.from({ length: n }, () => this.fresh(type.toLowerCase()));
    if (domain === 'com.microsoft') this.usesMs.value = true;
    this.nodes.push({
      opType: type,
      domain: domain ?? '',
      input: [...inputs],
      output: outs,
      name: outs[0],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** Serializes the graph as an ONNX ModelProto (one protobuf: at most 2 GB of inline initializers). */
  toBytes(graphName = 'saescope'): Uint8Array {
    const bytes = this.inits.reduce((n, t) => n + (t.rawData?.length ?? 0), 0);
    if (bytes >= 2 ** 31 - 2 ** 24) {
      throw new Error(`the graph's weights take ${(bytes / 2 ** 30).toFixed(2)} GiB, past the 2 GiB a single ONNX protobuf can hold; pass large tensors as graph inputs or external data`);
    }
    const opsetImport = [{ domain: '', version: OPSET }];
    if (this.usesMs.value) opsetImport.push({ domain: 'com.microsoft', version: 1 });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'saescope',
      opsetImport,
      graph: { name: graphName, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`graph value name '${name}' is already used`);
    this.names.add(name);
    return name;
  }
}

function valueInfo(name: string, type: ElemType, dims: readonly Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute '${name}': ${v} is not an int; wrap floats with float()`);
    return { name, type: T.INT, i: v };
  }
  if (Array.isArray(v)) return { name, type: T.INTS, ints: [...(v as number[])] };
  return { name, type: T.FLOAT, f: (v as FloatAttr).float };
}
