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
import { architecture } from './architectures/registry.ts';
import { hfModuleHook, parseSaeConfig, type SaeConfig } from './config.ts';
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
  if (isFile && /(^|[\\/])layer_\d+\.safetensors$/.test(target)) return perLayerTranscoder(target, opts);
  if (isFile && PICKLE.test(target)) refusePickle(target);
  if (isFile) throw new Error(`${target}: not an SAE folder (give the folder with cfg.json, or a Gemma Scope params.npz)`);
  const has = (f: string) => fs.existsSync(path.join(target, f));
  if (has('cfg.json') && has('sae_weights.safetensors')) return saeLens(target, opts);
  if (has('config.json') && has('params.safetensors')) return gemmaScope2(target, opts);
  if (has('params.npz')) return gemmaScope(path.join(target, 'params.npz'), opts);
  if (has('hyperparams.json') && has(path.join('checkpoints', 'final.safetensors'))) return llamaScope(target, opts);
  if (has('cfg.json') && has('sae.safetensors')) return sparsify(target, opts);
  const entries = fs.readdirSync(target);
  const pickled = entries.find((e) => PICKLE.test(e) && !e.endsWith('.safetensors'));
  if (pickled && !entries.some((e) => e.endsWith('.safetensors'))) refusePickle(path.join(target, pickled));
  const hookpoints = entries.filter((e) => fs.existsSync(path.join(target, e, 'sae.safetensors')));
  if (hookpoints.length) throw new Error(`${target}: a sparsify run with ${hookpoints.length} hookpoints; give one of its folders: ${hookpoints.slice(0, 8).join(', ')}`);
  if (has('cfg.json')) throw new Error(`${target}: cfg.json but no sae_weights.safetensors (SAELens) or sae.safetensors (sparsify)`);
  throw new Error(`${target}: no SAE found (expected SAELens cfg.json + sae_weights.safetensors, Gemma Scope params.npz, Gemma Scope 2 config.json + params.safetensors, Llama Scope hyperparams.json, or sparsify cfg.json + sae.safetensors)`);
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
    // SAELens 6.18 (read_sae_components_from_disk) drops an all-ones scaling_factor, and refuses any other
    // unless the config's finetuning_scaling_factor is true; then it multiplies the latents, folded here into W_dec.
    if (s.some((v) => v !== 1) && w.scaling_factor && raw.finetuning_scaling_factor !== true) {
      throw new Error(`${wPath}: scaling_factor is not all ones but cfg.json's finetuning_scaling_factor is not true; SAELens 6.18 refuses such a folder ("Scaling factor is present but finetuning_scaling_factor is False")`);
    }
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
  const wanted2 = ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold', ...(cfg.skip ? ['W_skip'] : [])];
  const extra = Object.keys(w).filter((k) => !wanted2.includes(k));
  if (extra.length) throw new Error(`${wPath}: unexpected SAE tensors ${extra.join(', ')} (SAELens would refuse them in load_state_dict)`);
  if (!architecture(cfg.architecture).extraWeights.includes('threshold')) delete w.threshold;
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
  // Transcoders (gemma-scope-2b-pt-transcoders): the MLP's input to its output, d_out = d_in.
  const transcoder = /-transcoders?(-|$)/.test(release);
  if (transcoder) {
    if (layer === undefined) throw new Error(`${file}: a Gemma Scope transcoder needs layer_N in its path`);
    if (w.W_dec.shape[1] !== dIn) throw new Error(`${file}: W_dec has shape (${w.W_dec.shape.join(', ')}), expected (d_sae, ${dIn})`);
  }
  if (!hook) {
    if (transcoder) hook = `blocks.${layer}.mlp.hook_in`;
    else if (embedding) hook = 'hook_embed';
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
    ...(transcoder ? { hookNameOut: `blocks.${layer}.hook_mlp_out`, dOut: dIn } : {}),
  };
  if (transcoder) folds.push(`transcoder: reads ${hook} (the MLP's input, after the pre-MLP norm), writes blocks.${layer}.hook_mlp_out`);
  return new Sae(cfg, weights, opts.runtime, file, { format: 'gemma-scope', folds });
}

/**
 * Gemma Scope 2 (`{site}/layer_{L}_width_{W}_l0_{level}/params.safetensors`
 * with `config.json`): JumpReLU SAEs on resid_post, attn_out and mlp_out,
 * and transcoders; lowercase `w_enc` [d_in, d_sae], `w_dec` [d_sae, d_out],
 * `b_enc`, `b_dec`, `threshold`; b_dec is never subtracted from the input
 * and nothing is normalized (as SAELens's gemma_3 loader reads them). The
 * hooks come from the config's HF module names (`hf_hook_point_in`,
 * `hf_hook_point_out`) where it has them, else from the site folder and
 * `layer_N` in the path; HF cache snapshot paths work the same.
 */
function gemmaScope2(dir: string, opts: SaeLoadOptions): Sae {
  const cfgPath = path.join(dir, 'config.json');
  const raw = readJsonFile(cfgPath);
  const wPath = path.join(dir, 'params.safetensors');
  const p = readSafetensors(wPath);
  const arch = String(raw.architecture ?? 'jump_relu');
  if (arch !== 'jump_relu' && arch !== 'jumprelu') throw new Error(`${cfgPath}: architecture '${arch}' is not a Gemma Scope 2 JumpReLU (jump_relu)`);
  // Affine transcoders (`affine_connection` in config.json, `_affine` folders) add x @ affine_skip_connection.
  const affine = raw.affine_connection === true || p.affine_skip_connection !== undefined;
  const need = ['w_enc', 'w_dec', 'b_enc', 'b_dec', 'threshold', ...(affine ? ['affine_skip_connection'] : [])];
  for (const n of need) if (!p[n]) throw new Error(`${wPath}: missing tensor '${n}' (Gemma Scope 2 has ${need.join(', ')}; found ${Object.keys(p).join(', ')})`);
  const extra = Object.keys(p).filter((k) => !need.includes(k));
  if (extra.length) throw new Error(`${wPath}: unexpected tensors ${extra.join(', ')} (Gemma Scope 2 has ${need.join(', ')})`);
  if (p.w_enc.shape.length !== 2 || p.w_dec.shape.length !== 2) throw new Error(`${wPath}: w_enc and w_dec must be matrices`);
  const [dIn, dSae] = p.w_enc.shape;
  const dOut = p.w_dec.shape[1];
  const where = path.resolve(dir).split(path.sep).join('/');
  const layer = /(?:^|\/)layer_(\d+)(?:_|\/|$)/.exec(where)?.[1];
  const site = where.split('/').reverse().find((s) => /^(resid_post|attn_out|mlp_out|transcoder|clt|crosscoder)/.test(s)) ?? '';
  if (/^(clt|crosscoder)/.test(site)) throw new Error(`${dir}: Gemma Scope 2 ${site} dictionaries span several layers; saescope reads its per-layer SAEs and transcoders`);
  const transcoder = site.startsWith('transcoder') || (typeof raw.hf_hook_point_out === 'string' && raw.hf_hook_point_out !== raw.hf_hook_point_in);
  const folds: string[] = [];
  const fromHf = (k: string) => (typeof raw[k] === 'string' && raw[k] ? hfModuleHook(raw[k] as string) : undefined);
  const bySite = (): string | undefined => {
    if (layer === undefined) return undefined;
    if (site.startsWith('resid_post')) return `blocks.${layer}.hook_resid_post`;
    if (site.startsWith('mlp_out')) return `blocks.${layer}.hook_mlp_out`;
    if (site.startsWith('attn_out')) return `blocks.${layer}.attn.hook_z`;
    if (site.startsWith('transcoder')) return `blocks.${layer}.mlp.hook_in`;
    return undefined;
  };
  const hook = opts.hook ?? fromHf('hf_hook_point_in') ?? bySite();
  if (!hook) throw new Error(`${dir}: cannot tell the hook (no hf_hook_point_in in config.json, and no resid_post|attn_out|mlp_out|transcoder folder with layer_N in the path); pass --hook`);
  if (opts.hook) folds.push(`hook ${hook} from --hook`);
  const out = transcoder ? (fromHf('hf_hook_point_out') ?? (layer !== undefined ? `blocks.${layer}.hook_mlp_out` : undefined)) : undefined;
  if (transcoder && !out) throw new Error(`${dir}: a transcoder without hf_hook_point_out or layer_N in its path; cannot tell where it writes`);
  if (!transcoder && dOut !== dIn) throw new Error(`${wPath}: w_dec writes ${dOut} values but w_enc reads ${dIn}: not an SAE`);
  if (affine && !transcoder) throw new Error(`${wPath}: an affine skip connection on an SAE (not a transcoder)`);
  const weights: Weights = { W_enc: p.w_enc, W_dec: p.w_dec, b_enc: p.b_enc, b_dec: p.b_dec, threshold: p.threshold };
  if (affine) {
    const s = p.affine_skip_connection.shape;
    if (s.length !== 2 || s[0] !== dIn || s[1] !== dOut) throw new Error(`${wPath}: affine_skip_connection is [${s.join(', ')}], expected [${dIn}, ${dOut}]`);
    // Google's Gemma Scope 2 tutorial adds input @ affine_skip_connection ([d_in, d_out]); saescope's W_skip is SAELens's [d_out, d_in].
    weights.W_skip = transpose2d(p.affine_skip_connection);
    folds.push('affine_skip_connection [d_in, d_out] read as W_skip [d_out, d_in] (transposed)');
  }
  const name = String(raw.model_name ?? '');
  const modelName = name && !name.includes('/') ? `google/${name}` : name;
  const npId = gemmaScope2NeuronpediaId(where, site, layer, affine);
  if (!npId && /gemma-scope-2-/.test(where)) folds.push('no Neuronpedia id: Neuronpedia hosts l0_medium SAEs and l0_small_affine transcoders of Gemma Scope 2, not this variant');
  const cfg: SaeConfig = {
    architecture: 'jumprelu', dIn, dSae, applyBDecToInput: false, normalizeActivations: 'none', hookName: hook,
    modelName, contextSize: 1024, prependBos: true, datasetPath: '', dtype: 'float32',
    ...(transcoder ? { hookNameOut: out, dOut, ...(affine ? { skip: true } : {}) } : {}),
    ...(npId ? { extraMetadata: { neuronpedia_id: npId } } : {}),
  };
  folds.push(transcoder ? `Gemma Scope 2 ${affine ? 'affine ' : ''}transcoder: reads ${hook}, writes ${out}` : `Gemma Scope 2 ${site || 'SAE'} on ${hook}`);
  return new Sae(cfg, weights, opts.runtime, wPath, { format: 'gemma-scope-2', folds });
}

/**
 * Neuronpedia's id for a Gemma Scope 2 dictionary, from its path in the
 * release (`gemma-scope-2-1b-pt/resid_post/layer_13_width_16k_l0_medium`):
 * `gemma-3-1b/13-gemmascope-2-res-16k`, with `mlp`, `att` and `transcoder`
 * for the other sites. Neuronpedia hosts one variant per layer and width: the
 * `l0_medium` SAEs, and the `l0_small_affine` transcoders (circuit-tracer's
 * gemma-scope-2 transcoder sets name those files); other L0 levels get no id,
 * so Neuronpedia's explanations never attach to other weights.
 */
export function gemmaScope2NeuronpediaId(where: string, site: string, layer: string | undefined, affine: boolean): string | undefined {
  const release = /gemma-scope-2-(\d+[mb])-(pt|it)/.exec(where);
  const m = /width_(\d+[km])_l0_([a-z]+)(_affine)?(?:\/|$)/.exec(where);
  if (!release || !m || layer === undefined) return undefined;
  const [, width, level] = m;
  const kind = site.startsWith('resid_post') ? 'res' : site.startsWith('mlp_out') ? 'mlp' : site.startsWith('attn_out') ? 'att' : site.startsWith('transcoder') ? 'transcoder' : undefined;
  if (!kind) return undefined;
  const hosted = kind === 'transcoder' ? level === 'small' && affine : level === 'medium' && !m[3];
  if (!hosted) return undefined;
  return `gemma-3-${release[1]}${release[2] === 'it' ? '-it' : ''}/${layer}-gemmascope-2-${kind}-${width}`;
}

/**
 * A per-layer transcoder file (`layer_N.safetensors`, the layout SAELens's
 * mwhanna_transcoder loader reads, as circuit-tracing tools publish them for
 * Qwen3 and Llama-3.2-1B): `W_enc` [d_sae, d_in] (transposed on load),
 * `W_dec` [d_sae, d_out], `b_enc`, `b_dec`, optional `W_skip` [d_out, d_in];
 * a ReLU transcoder from `blocks.N.mlp.hook_in` to `blocks.N.hook_mlp_out`.
 */
function perLayerTranscoder(file: string, opts: SaeLoadOptions): Sae {
  const w = readSafetensors(file);
  const layer = /layer_(\d+)\.safetensors$/.exec(file)![1];
  for (const n of ['W_enc', 'W_dec', 'b_enc', 'b_dec']) if (!w[n]) throw new Error(`${file}: missing tensor '${n}' (a per-layer transcoder has W_enc, W_dec, b_enc, b_dec and maybe W_skip)`);
  const extra = Object.keys(w).filter((k) => !['W_enc', 'W_dec', 'b_enc', 'b_dec', 'W_skip', 'threshold'].includes(k));
  if (extra.length) throw new Error(`${file}: unexpected tensors ${extra.join(', ')}`);
  const [dSae, dIn] = w.W_enc.shape;
  const dOut = w.W_dec.shape[1];
  const folds = ['W_enc stored [d_sae, d_in]: transposed'];
  const hook = opts.hook ?? `blocks.${layer}.mlp.hook_in`;
  const cfg: SaeConfig = {
    architecture: w.threshold ? 'jumprelu' : 'standard', dIn, dSae, applyBDecToInput: false, normalizeActivations: 'none', hookName: hook,
    hookNameOut: `blocks.${layer}.hook_mlp_out`, dOut, ...(w.W_skip ? { skip: true } : {}),
    modelName: '', contextSize: 1024, prependBos: true, datasetPath: '', dtype: 'float32',
  };
  const weights: Weights = { W_enc: transpose2d(w.W_enc), W_dec: w.W_dec, b_enc: w.b_enc, b_dec: w.b_dec };
  if (w.W_skip) weights.W_skip = w.W_skip;
  if (w.threshold) weights.threshold = w.threshold;
  return new Sae(cfg, weights, opts.runtime, file, { format: 'saelens', folds });
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
  // A transcoder (hook_point_out differs): its output was scaled by its own dataset norm.
  const transcoder = typeof hp.hook_point_out === 'string' && hp.hook_point_out !== hp.hook_point_in;
  const norms = (hp.dataset_average_activation_norm ?? {}) as Record<string, unknown>;
  const s = Math.sqrt(dIn) / num('dataset_average_activation_norm.in', norms.in);
  const sOut = transcoder ? Math.sqrt(dIn) / num('dataset_average_activation_norm.out', norms.out) : s;
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
  if (transcoder) {
    // foldInputScale divided the output side by the input's scale; the output's own scale replaces it.
    const r = s / sOut;
    w = { ...w, W_dec: { ...w.W_dec, data: w.W_dec.data.map((v) => v * r) }, b_dec: { ...w.b_dec, data: w.b_dec.data.map((v) => v * r) } };
    folds.push(`transcoder output: dataset norm sqrt(d)/${String(norms.out)} = ${sOut} folded into W_dec and b_dec`);
  }
  let cfg: SaeConfig = {
    architecture: 'jumprelu', dIn, dSae, applyBDecToInput: false, normalizeActivations: 'none',
    hookName: String(hp.hook_point_in ?? ''), modelName: 'meta-llama/Llama-3.1-8B', contextSize: 1024, prependBos: true,
    datasetPath: 'cerebras/SlimPajama-627B', dtype: 'float32',
    ...(transcoder ? { hookNameOut: String(hp.hook_point_out), dOut: w.W_dec.shape[1] } : {}),
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

/**
 * An EleutherAI sparsify hookpoint folder (sparse_coder.py). A `transcode`
 * one reads its module's input and writes its output, without b_dec on the
 * input; `skip_connection` adds `x @ W_skip.mT`. Hooks come from the
 * hookpoint folder's name, or from the `saescope_hook_name(_out)` keys a
 * TopK transcoder saescope saved carries (sparsifyFormat.ts).
 */
function sparsify(dir: string, opts: SaeLoadOptions): Sae {
  const cfgPath = path.join(dir, 'cfg.json');
  const c = readJsonFile(cfgPath);
  if (c.signed === true) throw new Error(`${cfgPath}: sparsify 'signed' SAEs are not supported`);
  if (c.multi_topk === true) throw new Error(`${cfgPath}: sparsify 'multi_topk' SAEs are not supported (they infer with the top 4k latents)`);
  const transcode = c.transcode === true;
  const skip = c.skip_connection === true;
  if (skip && !transcode) throw new Error(`${cfgPath}: a sparsify skip connection on an SAE (not a transcoder) is not supported`);
  if (c.activation !== undefined && c.activation !== 'topk') throw new Error(`${cfgPath}: sparsify activation '${String(c.activation)}' is not supported (topk)`);
  const wPath = path.join(dir, 'sae.safetensors');
  const raw = readSafetensors(wPath);
  const need = ['encoder.weight', 'encoder.bias', 'W_dec', 'b_dec', ...(skip ? ['W_skip'] : [])];
  for (const n of need) if (!raw[n]) throw new Error(`${wPath}: missing tensor '${n}'`);
  const unexpected = Object.keys(raw).filter((k) => !need.includes(k));
  if (unexpected.length) throw new Error(`${wPath}: unexpected tensors ${unexpected.join(', ')} (sparsify has ${need.join(', ')})`);
  const [dSae, dIn] = raw['encoder.weight'].shape;
  if (typeof c.d_in === 'number' && c.d_in !== dIn) throw new Error(`${cfgPath}: d_in ${c.d_in} but encoder.weight is [${raw['encoder.weight'].shape.join(', ')}]`);
  const k = c.k;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > dSae) throw new Error(`${cfgPath}: 'k' must be an integer in [1, ${dSae}], got ${JSON.stringify(k)}`);
  const folds: string[] = [];
  const str = (key: string): string | undefined => (typeof c[key] === 'string' && c[key] ? (c[key] as string) : undefined);
  const saved = str('saescope_hook_name');
  let hook = opts.hook ?? saved;
  let hookOut = transcode ? str('saescope_hook_name_out') : undefined;
  const hookpoint = path.basename(path.resolve(dir));
  if (!hook) {
    hook = sparsifyHook(hookpoint);
    if (!hook) throw new Error(`${dir}: cannot map sparsify hookpoint '${hookpoint}' to a TransformerLens hook; pass --hook`);
    if (transcode) {
      // A transcoder reads its module's input and writes its output: for an MLP, the MLP's input and hook_mlp_out.
      const mlp = /^blocks\.(\d+)\.hook_mlp_out$/.exec(hook);
      if (!mlp) throw new Error(`${dir}: a sparsify transcoder on '${hookpoint}': saescope reads transcoders on MLP hookpoints (layers.N.mlp), whose input is blocks.N.mlp.hook_in`);
      hookOut = hook;
      hook = `blocks.${mlp[1]}.mlp.hook_in`;
    }
    folds.push(transcode ? `hookpoint ${hookpoint} read as a transcoder from ${hook} to ${hookOut}` : `hookpoint ${hookpoint} read as ${hook}`);
  } else folds.push(opts.hook ? `hook ${hook} from --hook` : `hook ${hook} from cfg.json (saved by saescope)`);
  if (transcode && !hookOut) throw new Error(`${dir}: a sparsify transcoder whose output hook is unknown (no layers.N.mlp hookpoint folder and no saescope_hook_name_out)`);
  const w: Weights = { W_enc: transpose2d(raw['encoder.weight']), b_enc: raw['encoder.bias'], W_dec: raw.W_dec, b_dec: raw.b_dec };
  if (skip) {
    const s = raw.W_skip.shape;
    if (s.length !== 2 || s[0] !== raw.W_dec.shape[1] || s[1] !== dIn) throw new Error(`${wPath}: W_skip is [${s.join(', ')}], expected [${raw.W_dec.shape[1]}, ${dIn}]`);
    // sparsify adds x @ W_skip.mT: SAELens's W_skip [d_out, d_in] convention, taken as it is.
    w.W_skip = raw.W_skip;
  }
  const meta = c.saescope_metadata && typeof c.saescope_metadata === 'object' ? (c.saescope_metadata as Record<string, unknown>) : undefined;
  const cfg: SaeConfig = {
    architecture: 'topk', dIn, dSae, k, applyBDecToInput: !transcode, normalizeActivations: 'none', hookName: hook,
    modelName: str('saescope_model_name') ?? '', contextSize: typeof c.saescope_context_size === 'number' ? c.saescope_context_size : 2048,
    prependBos: true, datasetPath: str('saescope_dataset_path') ?? '', dtype: 'float32',
    ...(transcode ? { hookNameOut: hookOut, dOut: raw.W_dec.shape[1], ...(skip ? { skip: true } : {}) } : {}),
    ...(meta && Object.keys(meta).length ? { extraMetadata: meta } : {}),
  };
  return new Sae(cfg, w, opts.runtime, wPath, { format: saved && !opts.hook ? 'saescope' : 'sparsify', folds });
}
