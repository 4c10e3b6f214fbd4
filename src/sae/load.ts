/**
 * Loads an SAE from any layout people publish, detecting which:
 * - SAELens (`cfg.json` + `sae_weights.safetensors`), every cfg layout
 *   (config.ts), with `activation_scaler.json`, decoder-norm, scaling-factor
 *   and `topk_threshold` folds;
 * - Gemma Scope (`params.npz`: W_enc, W_dec, b_enc, b_dec, threshold, or a
 *   `w_` prefix), JumpReLU with apply_b_dec_to_input false, hook from the
 *   release path (res, mlp, att, embedding; `layer_N`), embedding SAEs
 *   rescaled by sqrt(d_model) (SAELens pretrained_sae_loaders.py:373-522);
 * - Llama Scope (`hyperparams.json` + `checkpoints/final.safetensors`):
 *   encoder/decoder transposed, a scalar `jump_relu_threshold`, the dataset
 *   norm sqrt(d)/norm_in folded into the weights and the threshold
 *   (pretrained_sae_loaders.py:526-651);
 * - EleutherAI sparsify (`cfg.json` + `sae.safetensors` in a hookpoint
 *   folder): `encoder.weight [n, d]`, `encoder.bias`, `W_dec [n, d]`,
 *   `b_dec`; it subtracts b_dec and takes the top k of the ReLU
 *   (sparsify/sparse_coder.py), which is SAELens's topk; W_dec is used as it
 *   is (SAELens's converter transposes it: the fidelity review shows that is
 *   wrong);
 * - pickled PyTorch files (`.pt`, `.pth`, `.ckpt`, `.pkl`) are refused: no
 *   pickle is ever executed.
 * `hook` overrides the SAE's hook (every command with `--sae` has `--hook`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NpzFile } from '../io/npy.ts';
import { readJsonFile } from '../io/json.ts';
import { SafetensorsFile } from '../io/safetensors.ts';
import type { RuntimeOptions } from '../runtime/session.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { parseSaeConfig, type SaeConfig } from './config.ts';
import { filled, foldDecoderNorm, foldInputScale, foldLatentScale, transpose2d } from './folds.ts';
import { Sae } from './sae.ts';
import { recoverSaeSwap } from './saelensFormat.ts';

/** Options of `loadSae`. */
export interface SaeLoadOptions {
  /** ONNX Runtime settings. */
  readonly runtime?: RuntimeOptions;
  /** Reads this hook instead of the one the SAE names (TransformerLens name). */
  readonly hook?: string;
  /**
   * The input scale of an `expected_average_only_in` SAE whose folder has no
   * activation_scaler.json (SAELens's yaml `norm_scaling_factor`).
   */
  readonly normScalingFactor?: number;
}

type Weights = Record<string, Tensor<'float32'>>;

const PICKLE = /\.(pt|pth|ckpt|pkl|bin)$/i;

/** Loads an SAE folder or file in any supported layout. */
export function loadSae(target: string, opts: SaeLoadOptions = {}): Sae {
  // A save a crash interrupted between its two renames is finished first (saelensFormat.ts).
  if (!fs.existsSync(target)) recoverSaeSwap(path.resolve(target));
  if (!fs.existsSync(target)) throw new Error(`${target}: no such SAE folder or file`);
  const isFile = fs.statSync(target).isFile();
  if (isFile && target.endsWith('.npz')) return gemmaScope(target, opts);
  if (isFile && PICKLE.test(target)) refusePickle(target);
  if (isFile) throw new Error(`${target}: not an SAE folder (give the folder with cfg.json, or a Gemma Scope params.npz)`);
  const has = (f: string) => fs.existsSync(path.join(target, f));
  if (has('cfg.json') && has('sae_weights.safetensors')) return saeLens(target, opts);
  if (has('params.npz')) return gemmaScope(path.join(target, 'params.npz'), opts);
  if (has('hyperparams.json') && has(path.join('checkpoints', 'final.safetensors'))) return llamaScope(target, opts);
  if (has('cfg.json') && has('sae.safetensors')) return sparsify(target, opts);
  const entries = fs.readdirSync(target);
  const pickled = entries.find((e) => PICKLE.test(e) && !e.endsWith('.safetensors'));
  if (pickled && !entries.some((e) => e.endsWith('.safetensors'))) refusePickle(path.join(target, pickled));
  const hookpoints = entries.filter((e) => fs.existsSync(path.join(target, e, 'sae.safetensors')));
  if (hookpoints.length) throw new Error(`${target}: a sparsify run with ${hookpoints.length} hookpoints; give one of its folders: ${hookpoints.slice(0, 8).join(', ')}`);
  if (has('cfg.json')) throw new Error(`${target}: cfg.json but no sae_weights.safetensors (SAELens) or sae.safetensors (sparsify)`);
  throw new Error(`${target}: no SAE found (expected SAELens cfg.json + sae_weights.safetensors, Gemma Scope params.npz, Llama Scope hyperparams.json, or sparsify cfg.json + sae.safetensors)`);
}

function refusePickle(file: string): never {
  throw new Error(
    `${file}: a pickled PyTorch file; saescope never unpickles (it can run code). Convert it once in Python to SAELens format, e.g. ` +
      "`sae = SAE.load_from_disk(...)` or, for dictionary_learning/OpenAI files, load the state dict with torch.load(weights_only=True) and " +
      'save W_enc [d_in, d_sae], b_enc, W_dec [d_sae, d_in], b_dec with safetensors.torch.save_file plus a cfg.json',
  );
}

function readSafetensors(file: string): Weights {
  const f = SafetensorsFile.open(file);
  const w: Weights = {};
  for (const name of f.tensors.keys()) w[name] = f.readF32(name);
  return w;
}

function withHook(cfg: SaeConfig, opts: SaeLoadOptions, folds: string[]): SaeConfig {
  if (!opts.hook || opts.hook === cfg.hookName) return cfg;
  folds.push(`hook ${cfg.hookName || '(none)'} overridden by ${opts.hook}`);
  return { ...cfg, hookName: opts.hook };
}

/** SAELens folders, with every fold SAELens's loaders apply. */
function saeLens(dir: string, opts: SaeLoadOptions): Sae {
  const cfgPath = path.join(dir, 'cfg.json');
  const raw = readJsonFile(cfgPath);
  const { folds: wanted, ...parsed } = parseSaeConfig(raw, cfgPath);
  let cfg: SaeConfig = parsed;
  const wPath = path.join(dir, 'sae_weights.safetensors');
  let w = readSafetensors(wPath);
  const folds: string[] = wanted.hookNote ? [wanted.hookNote] : [];
  // A batchtopk checkpoint stores one float64 threshold (SAELens batchtopk_sae.py:99-125): infer as jumprelu.
  if (w.topk_threshold && !w.threshold) {
    if (w.topk_threshold.data.length !== 1) throw new Error(`${wPath}: topk_threshold must be a scalar`);
    w.threshold = filled(cfg.dSae, w.topk_threshold.data[0]);
    folds.push(`topk_threshold ${w.topk_threshold.data[0]} as a jumprelu threshold`);
    cfg = { ...cfg, architecture: 'jumprelu', k: undefined };
  }
  delete w.topk_threshold;
  if (w.scaling_factor || w.finetuning_scaling_factor) {
    const s = (w.scaling_factor ?? w.finetuning_scaling_factor).data;
    if (s.some((v) => v !== 1)) {
      w = foldLatentScale(w, s);
      folds.push('scaling_factor folded into W_dec');
    }
    delete w.scaling_factor;
    delete w.finetuning_scaling_factor;
  }
  if (wanted.decoderNorm) {
    w = foldDecoderNorm(w);
    folds.push('rescale_acts_by_decoder_norm: decoder norms folded into W_enc and b_enc');
  }
  if (cfg.normalizeActivations === 'expected_average_only_in') {
    const scalerPath = path.join(dir, 'activation_scaler.json');
    const fromFile = fs.existsSync(scalerPath) ? readJsonFile(scalerPath).scaling_factor : undefined;
    const s = typeof fromFile === 'number' ? fromFile : opts.normScalingFactor;
    if (s === undefined) {
      throw new Error(`${cfgPath}: normalize_activations is expected_average_only_in but ${dir} has no activation_scaler.json; pass the scale (SAELens's norm_scaling_factor) with --norm-scale`);
    }
    w = foldInputScale(w, s);
    folds.push(`activation scale ${s} folded into W_enc, W_dec and b_dec`);
    cfg = { ...cfg, normalizeActivations: 'none' };
  }
  const wanted2 = ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold'];
  const extra = Object.keys(w).filter((k) => !wanted2.includes(k));
  if (extra.length) throw new Error(`${wPath}: unexpected SAE tensors ${extra.join(', ')} (SAELens would refuse them in load_state_dict)`);
  if (cfg.architecture !== 'jumprelu' && cfg.architecture !== 'batchtopk') delete w.threshold;
  cfg = withHook(cfg, opts, folds);
  return new Sae(cfg, w, opts.runtime, wPath, { format: 'saelens', folds });
}

const GEMMA_MODELS: readonly [string, string][] = [
  ['2b-it', 'google/gemma-2-2b-it'], ['9b-it', 'google/gemma-2-9b-it'], ['27b-it', 'google/gemma-2-27b-it'],
  ['2b', 'google/gemma-2-2b'], ['9b', 'google/gemma-2-9b'], ['27b', 'google/gemma-2-27b'],
];

/** Gemma Scope `params.npz`. */
function gemmaScope(file: string, opts: SaeLoadOptions): Sae {
  const npz = NpzFile.open(file);
  const w: Weights = {};
  for (const name of npz.names()) w[name.startsWith('w_') ? `W_${name.slice(2)}` : name] = npz.read(name);
  for (const need of ['W_enc', 'W_dec', 'b_enc', 'b_dec', 'threshold']) {
    if (!w[need]) throw new Error(`${file}: missing array '${need}' (a Gemma Scope params.npz has W_enc, W_dec, b_enc, b_dec, threshold; found ${npz.names().join(', ')})`);
  }
  if (w.W_enc.shape.length !== 2) throw new Error(`${file}: W_enc has shape (${w.W_enc.shape.join(', ')}), expected (d_in, d_sae)`);
  const [dIn, dSae] = w.W_enc.shape;
  const folds: string[] = [];
  const where = file.split(path.sep).join('/');
  const layer = /(?:^|\/)layer_(\d+)(?:\/|$)/.exec(where)?.[1];
  const release = where.split('/').find((s) => /gemma-scope/.test(s)) ?? '';
  const embedding = /embedding/.test(where);
  let hook = opts.hook;
  if (!hook) {
    if (embedding) hook = 'hook_embed';
    else if (layer !== undefined && /-res(-|$)/.test(release)) hook = `blocks.${layer}.hook_resid_post`;
    else if (layer !== undefined && /-mlp(-|$)/.test(release)) hook = `blocks.${layer}.hook_mlp_out`;
    else if (layer !== undefined && /-att(-|$)/.test(release)) hook = `blocks.${layer}.attn.hook_z`;
    else throw new Error(`${file}: cannot tell the hook from the path (expected a gemma-scope-*-res|mlp|att release folder and layer_N); pass --hook`);
  } else folds.push(`hook ${hook} from --hook`);
  const weights: Weights = { W_enc: w.W_enc, W_dec: w.W_dec, b_enc: w.b_enc, b_dec: w.b_dec, threshold: w.threshold };
  if (w.scaling_factor && w.scaling_factor.data.some((v) => v !== 1)) throw new Error(`${file}: scaling_factor is not all ones (SAELens refuses this too)`);
  if (embedding) {
    // TransformerLens's hook_embed includes Gemma's sqrt(d_model); these SAEs saw the unscaled embedding.
    const r = Math.sqrt(dIn);
    weights.W_enc = { ...w.W_enc, data: w.W_enc.data.map((v) => v / r) };
    weights.W_dec = { ...w.W_dec, data: w.W_dec.data.map((v) => v * r) };
    folds.push('embedding SAE: W_enc / sqrt(d_model), W_dec * sqrt(d_model)');
  }
  const modelName = GEMMA_MODELS.find(([k]) => release.includes(`-${k}-`) || release.endsWith(`-${k}`))?.[1] ?? '';
  const cfg: SaeConfig = {
    architecture: 'jumprelu', dIn, dSae, applyBDecToInput: false, normalizeActivations: 'none', hookName: hook,
    modelName, contextSize: 1024, prependBos: true, datasetPath: 'monology/pile-uncopyrighted', dtype: 'float32',
  };
  return new Sae(cfg, weights, opts.runtime, file, { format: 'gemma-scope', folds });
}

/** Llama Scope: hyperparams.json + checkpoints/final.safetensors. */
function llamaScope(dir: string, opts: SaeLoadOptions): Sae {
  const hpPath = path.join(dir, 'hyperparams.json');
  const hp = readJsonFile(hpPath);
  const num = (k: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${hpPath}: '${k}' must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const dIn = num('d_model', hp.d_model);
  const dSae = num('d_sae', hp.d_sae);
  if (hp.hook_point_out !== undefined && hp.hook_point_out !== hp.hook_point_in) {
    throw new Error(`${hpPath}: a transcoder (${String(hp.hook_point_in)} -> ${String(hp.hook_point_out)}); only SAEs are supported`);
  }
  const norms = (hp.dataset_average_activation_norm ?? {}) as Record<string, unknown>;
  const s = Math.sqrt(dIn) / num('dataset_average_activation_norm.in', norms.in);
  const wPath = path.join(dir, 'checkpoints', 'final.safetensors');
  const raw = readSafetensors(wPath);
  for (const need of ['encoder.weight', 'encoder.bias', 'decoder.weight', 'decoder.bias']) {
    if (!raw[need]) throw new Error(`${wPath}: missing tensor '${need}'`);
  }
  const folds = [`dataset norm sqrt(d)/${String(norms.in)} = ${s} folded into W_enc, W_dec, b_dec and the threshold`];
  let w: Weights = {
    W_enc: transpose2d(raw['encoder.weight']),
    W_dec: transpose2d(raw['decoder.weight']),
    b_enc: raw['encoder.bias'],
    b_dec: raw['decoder.bias'],
    threshold: filled(dSae, num('jump_relu_threshold', hp.jump_relu_threshold) * s),
  };
  w = foldInputScale(w, s);
  let cfg: SaeConfig = {
    architecture: 'jumprelu', dIn, dSae, applyBDecToInput: false, normalizeActivations: 'none',
    hookName: String(hp.hook_point_in ?? ''), modelName: 'meta-llama/Llama-3.1-8B', contextSize: 1024, prependBos: true,
    datasetPath: 'cerebras/SlimPajama-627B', dtype: 'float32',
  };
  if (!cfg.hookName && !opts.hook) throw new Error(`${hpPath}: no hook_point_in; pass --hook`);
  cfg = withHook(cfg, opts, folds);
  return new Sae(cfg, w, opts.runtime, wPath, { format: 'llama-scope', folds });
}

/** sparsify hookpoint names to TransformerLens hooks (module outputs). */
export function sparsifyHook(hookpoint: string): string | undefined {
  const hp = hookpoint.replace(/^(model|gpt_neox|transformer|base_model\.model)\./, '');
  if (/^(embed_tokens|wte|embed_in)$/.test(hp)) return 'hook_embed';
  const m = /^(?:layers|h)\.(\d+)(?:\.(mlp|self_attn|attn|attention|mlp\.act))?$/.exec(hp);
  if (!m) return undefined;
  const sub = m[2];
  if (!sub) return `blocks.${m[1]}.hook_resid_post`;
  if (sub === 'mlp') return `blocks.${m[1]}.hook_mlp_out`;
  if (sub === 'mlp.act') return `blocks.${m[1]}.mlp.hook_post`;
  return `blocks.${m[1]}.hook_attn_out`;
}

/** An EleutherAI sparsify hookpoint folder. */
function sparsify(dir: string, opts: SaeLoadOptions): Sae {
  const cfgPath = path.join(dir, 'cfg.json');
  const c = readJsonFile(cfgPath);
  for (const flag of ['transcode', 'skip_connection', 'signed']) if (c[flag] === true) throw new Error(`${cfgPath}: sparsify '${flag}' SAEs are not supported`);
  if (c.activation !== undefined && c.activation !== 'topk') throw new Error(`${cfgPath}: sparsify activation '${String(c.activation)}' is not supported (topk)`);
  const wPath = path.join(dir, 'sae.safetensors');
  const raw = readSafetensors(wPath);
  for (const need of ['encoder.weight', 'encoder.bias', 'W_dec', 'b_dec']) if (!raw[need]) throw new Error(`${wPath}: missing tensor '${need}'`);
  const [dSae, dIn] = raw['encoder.weight'].shape;
  if (typeof c.d_in === 'number' && c.d_in !== dIn) throw new Error(`${cfgPath}: d_in ${c.d_in} but encoder.weight is [${raw['encoder.weight'].shape.join(', ')}]`);
  const k = c.k;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > dSae) throw new Error(`${cfgPath}: 'k' must be an integer in [1, ${dSae}], got ${JSON.stringify(k)}`);
  const folds: string[] = [];
  let hook = opts.hook;
  const hookpoint = path.basename(path.resolve(dir));
  if (!hook) {
    hook = sparsifyHook(hookpoint);
    if (!hook) throw new Error(`${dir}: cannot map sparsify hookpoint '${hookpoint}' to a TransformerLens hook; pass --hook`);
    folds.push(`hookpoint ${hookpoint} read as ${hook}`);
  } else folds.push(`hook ${hook} from --hook`);
  const cfg: SaeConfig = {
    architecture: 'topk', dIn, dSae, k, applyBDecToInput: true, normalizeActivations: 'none', hookName: hook,
    modelName: '', contextSize: 2048, prependBos: true, datasetPath: '', dtype: 'float32',
  };
  const w: Weights = { W_enc: transpose2d(raw['encoder.weight']), b_enc: raw['encoder.bias'], W_dec: raw.W_dec, b_dec: raw.b_dec };
  return new Sae(cfg, w, opts.runtime, wPath, { format: 'sparsify', folds });
}
