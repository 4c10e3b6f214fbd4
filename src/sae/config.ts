/**
 * SAE configuration in SAELens's field names (sae_lens/saes/sae.py,
 * `SAEConfig` and `SAEMetadata`): plain readonly data, validated once when
 * read from `cfg.json`. Every SAELens layout is read as SAELens 6.18 reads it
 * (sae_lens/loading/pretrained_sae_loaders.py, `handle_config_defaulting` and
 * `handle_pre_6_0_config`): v6 (hook and model in `metadata`), v5 (`topk`
 * with k in `activation_fn_kwargs`) and pre-v5 (`architecture` standard or
 * absent with `activation_fn: "topk"`, `hook_point`).
 */
import { architectureNames, needsK } from './architectures/registry.ts';

/** SAE architectures saescope knows. */
export type SaeArchitecture = 'standard' | 'topk' | 'batchtopk' | 'jumprelu';

/**
 * Activation normalization (SAELens sae.py:287-335): none; scaling inputs to
 * an expected norm of sqrt(d_in) with a fixed factor (folded into the weights
 * at load); per-row rescaling to norm sqrt(d_in) (`constant_norm_rescale`);
 * per-row standardization (`layer_norm`). The last two run in the graph and
 * are undone on the reconstruction.
 */
export type Normalization = 'none' | 'expected_average_only_in' | 'constant_norm_rescale' | 'layer_norm';

/** An SAE's configuration. */
export interface SaeConfig {
  /** Architecture. */
  readonly architecture: SaeArchitecture;
  /** Input width (the hook's last dimension). */
  readonly dIn: number;
  /** Number of latents. */
  readonly dSae: number;
  /** Active latents per token (topk) or per token on average (batchtopk). */
  readonly k?: number;
  /** Subtract b_dec from the input before encoding. */
  readonly applyBDecToInput: boolean;
  /** Activation normalization (expected_average_only_in is folded away once loaded). */
  readonly normalizeActivations: Normalization;
  /** Subtract each row's mean before encoding (the model was run with TransformerLens's center_writing_weights). */
  readonly centerInput?: boolean;
  /** The hook the SAE reads, in TransformerLens names. */
  readonly hookName: string;
  /**
   * A transcoder's output hook: it reads `hookName` and writes here (e.g. the
   * MLP's input to `hook_mlp_out`). Absent for an SAE, which reconstructs
   * the hook it reads.
   */
  readonly hookNameOut?: string;
  /** A transcoder's output width (d_out; absent: d_in). */
  readonly dOut?: number;
  /** A transcoder's affine skip connection: W_skip [d_out, d_in] adds W_skip x to the output (SAELens skip_transcoder). */
  readonly skip?: boolean;
  /** The model's HF id (or name). */
  readonly modelName: string;
  /** Context size of the training rows. */
  readonly contextSize: number;
  /** Whether training rows began with BOS. */
  readonly prependBos: boolean;
  /** The training corpus. */
  readonly datasetPath: string;
  /** Storage dtype name (always float32 when saescope saves). */
  readonly dtype: string;
  /** Metadata fields saescope does not interpret, carried through a save unchanged. */
  readonly extraMetadata?: Readonly<Record<string, unknown>>;
}

const OTHER_ARCHS = ['gated', 'matryoshka_batchtopk'];
/** SAELens's transcoder architectures, as saescope's activation plus the transcoder's parts. */
const TRANSCODERS: Readonly<Record<string, { arch: SaeArchitecture; skip: boolean }>> = {
  transcoder: { arch: 'standard', skip: false },
  skip_transcoder: { arch: 'standard', skip: true },
  jumprelu_transcoder: { arch: 'jumprelu', skip: false },
  // Gemma Scope 2's affine transcoders in SAELens (saes/transcoder.py after 6.18; W_skip [d_out, d_in] as in skip_transcoder).
  jumprelu_skip_transcoder: { arch: 'jumprelu', skip: true },
};

/** Whether the config is a transcoder (reads one hook, writes another). */
export function isTranscoder(cfg: SaeConfig): boolean {
  return cfg.hookNameOut !== undefined;
}

/** The hook a dictionary's decoder writes to: a transcoder's output hook, else the hook it reads. */
export function writeHook(cfg: SaeConfig): string {
  return cfg.hookNameOut ?? cfg.hookName;
}

/** The decoder's output width: d_out for a transcoder, else d_in. */
export function outWidth(cfg: SaeConfig): number {
  return cfg.dOut ?? cfg.dIn;
}

/** What the config asks the loader to do to the weights (`folds.ts`). */
export interface ConfigFolds {
  /** `rescale_acts_by_decoder_norm`: fold decoder norms into the encoder. */
  readonly decoderNorm: boolean;
  /** How `hf_hook_name` decided the hook, when it did. */
  readonly hookNote?: string;
}

/** Keys `parseSaeConfig` interprets; every other metadata key is carried as `extraMetadata`. */
const KNOWN_META = new Set([
  'model_name', 'hook_name', 'hook_point', 'hook_head_index', 'prepend_bos', 'context_size', 'dataset_path',
  'sae_lens_version', 'sae_lens_training_version', 'model_from_pretrained_kwargs', 'model_class_name', 'hook_point_layer',
  'hook_name_out', 'hook_point_out', 'hf_hook_name_out', 'hook_head_index_out', 'hook_point_head_index',
]);
const KNOWN_TOP = new Set([
  'architecture', 'd_in', 'd_sae', 'k', 'apply_b_dec_to_input', 'normalize_activations', 'reshape_activations', 'dtype', 'device',
  'metadata', 'activation_fn', 'activation_fn_str', 'activation_fn_kwargs', 'rescale_acts_by_decoder_norm', 'topk_threshold',
  'finetuning_scaling_factor', 'hook_name', 'hook_point', 'hook_head_index', 'model_name', 'context_size', 'prepend_bos',
  'dataset_path', 'sae_lens_version', 'sae_lens_training_version', 'model_from_pretrained_kwargs', 'hook_point_layer',
  'model_class_name', 'd_out', 'hook_name_out', 'hook_point_out', 'hf_hook_name_out', 'hook_head_index_out', 'hook_point_head_index',
]);

/**
 * Hooks TransformerLens's center_writing_weights leaves mean-zero per row:
 * it centres every weight that writes to the residual stream (W_E, W_pos,
 * W_O, W_out), so the residual stream and the attention and MLP outputs are
 * centred (it does so on LayerNorm models only; see `checkSaeFitsModel`).
 */
export function isResidualHook(hook: string): boolean {
  return /(^|\.)hook_(resid_(pre|mid|post)|attn_out|mlp_out)$/.test(hook) || hook === 'hook_embed' || hook === 'hook_pos_embed';
}

/** Parses a SAELens `cfg.json` object; throws naming the field at fault. */
export function parseSaeConfig(raw: Record<string, unknown>, where: string): SaeConfig & { readonly folds: ConfigFolds } {
  const meta = (raw.metadata ?? {}) as Record<string, unknown>;
  const pick = (k: string) => (meta[k] !== undefined ? meta[k] : raw[k]);
  const fnKwargs = (raw.activation_fn_kwargs ?? {}) as Record<string, unknown>;
  const fn = raw.activation_fn ?? raw.activation_fn_str;
  let arch = String(raw.architecture ?? 'standard');
  const tc = TRANSCODERS[arch];
  if (tc) arch = tc.arch;
  if (OTHER_ARCHS.includes(arch)) throw new Error(`${where}: SAE architecture '${arch}' is not supported (supported: ${architectureNames().join(', ')})`);
  if (!architectureNames().includes(arch as SaeArchitecture)) {
    throw new Error(`${where}: unknown SAE architecture '${arch}' (supported: ${architectureNames().join(', ')})`);
  }
  // Pre-v5 layout: a "standard" SAE whose activation function is topk (handle_pre_6_0_config).
  if (fn !== undefined && fn !== null) {
    if (fn === 'topk' && arch === 'standard') arch = 'topk';
    else if (fn !== 'relu' && fn !== 'topk') throw new Error(`${where}: activation_fn '${String(fn)}' is not supported (relu, topk)`);
  }
  const int = (k: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`${where}: '${k}' must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const normRaw = raw.normalize_activations ?? 'none';
  // SAELens maps the old booleans (pretrained_sae_loaders.py:243-254).
  const norm = normRaw === false ? 'none' : normRaw === true ? 'expected_average_only_in' : String(normRaw);
  if (!['none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'].includes(norm)) {
    throw new Error(`${where}: normalize_activations '${norm}' is not supported (none, expected_average_only_in, constant_norm_rescale, layer_norm)`);
  }
  const tlHook = pick('hook_name') ?? pick('hook_point');
  const hfHook = pick('hf_hook_name');
  const fromHf = typeof hfHook === 'string' && hfHook ? hfModuleHook(hfHook) : undefined;
  let hookNote: string | undefined;
  if (fromHf && fromHf !== tlHook) hookNote = `hf_hook_name ${String(hfHook)} read as ${fromHf}${typeof tlHook === 'string' ? ` (hook_name ${tlHook} set aside)` : ''}`;
  const hook = fromHf ?? tlHook;
  if (typeof hook !== 'string' || !hook) {
    if (typeof hfHook === 'string' && hfHook) throw new Error(`${where}: hf_hook_name '${hfHook}' names no TransformerLens hook saescope knows, and there is no hook_name; pass --hook`);
    throw new Error(`${where}: no hook_name (metadata.hook_name, hook_point or hf_hook_name)`);
  }
  // Pre-v5 configs call it hook_point_head_index (SAELens's handle_pre_6_0_config renames it).
  const head = pick('hook_head_index') ?? pick('hook_point_head_index');
  if (head !== undefined && head !== null) {
    throw new Error(`${where}: hook_head_index ${JSON.stringify(head)}: per-head SAEs (one head of ${hook}) are not supported`);
  }
  const kRaw = raw.k ?? fnKwargs.k;
  const kwargs = (pick('model_from_pretrained_kwargs') ?? {}) as Record<string, unknown>;
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(meta)) if (!KNOWN_META.has(k)) extra[k] = v;
  for (const [k, v] of Object.entries(raw)) if (!KNOWN_TOP.has(k) && !k.startsWith('saescope_')) extra[k] = v;
  const cfg = {
    architecture: arch as SaeArchitecture,
    dIn: int('d_in', raw.d_in),
    dSae: int('d_sae', raw.d_sae),
    k: kRaw === undefined || kRaw === null ? undefined : int('k', kRaw),
    applyBDecToInput: tc ? false : raw.apply_b_dec_to_input !== false,
    normalizeActivations: norm as Normalization,
    centerInput: kwargs.center_writing_weights === true && isResidualHook(hook) ? true : undefined,
    hookName: hook,
    modelName: String(pick('model_name') ?? ''),
    contextSize: contextSize(pick('context_size'), where),
    prependBos: pick('prepend_bos') !== false,
    datasetPath: String(pick('dataset_path') ?? ''),
    dtype: String(raw.dtype ?? 'float32'),
    extraMetadata: Object.keys(extra).length ? extra : undefined,
    folds: { decoderNorm: raw.rescale_acts_by_decoder_norm === true, hookNote },
  };
  if (tc) return { ...cfg, ...transcoderFields(raw, pick, cfg, tc.skip, where) };
  if (needsK(cfg.architecture) && cfg.k === undefined) {
    throw new Error(`${where}: a ${cfg.architecture} SAE needs 'k' (or activation_fn_kwargs.k)`);
  }
  if (cfg.k !== undefined && cfg.k > cfg.dSae) throw new Error(`${where}: k ${cfg.k} exceeds d_sae ${cfg.dSae}`);
  return cfg;
}

/** A SAELens transcoder's output hook, width and skip, checked as SAELens's TranscoderConfig checks them. */
function transcoderFields(raw: Record<string, unknown>, pick: (k: string) => unknown, cfg: SaeConfig, skip: boolean, where: string): Pick<SaeConfig, 'hookNameOut' | 'dOut' | 'skip'> {
  const out = pick('hook_name_out') ?? pick('hook_point_out');
  const hfOut = pick('hf_hook_name_out');
  const hookOut = (typeof hfOut === 'string' && hfOut ? hfModuleHook(hfOut) : undefined) ?? out;
  if (typeof hookOut !== 'string' || !hookOut) throw new Error(`${where}: a transcoder needs its output hook (hook_name_out)`);
  const dOut = raw.d_out ?? cfg.dIn;
  if (typeof dOut !== 'number' || !Number.isInteger(dOut) || dOut <= 0) throw new Error(`${where}: 'd_out' must be a positive integer, got ${JSON.stringify(dOut)}`);
  // transcoder.py: b_dec has the output's width, so it is never subtracted from the input.
  if (raw.apply_b_dec_to_input === true) throw new Error(`${where}: apply_b_dec_to_input is not supported for transcoders (SAELens refuses it too)`);
  if (cfg.normalizeActivations !== 'none') throw new Error(`${where}: a transcoder with normalize_activations '${cfg.normalizeActivations}' is not supported (none only)`);
  return { hookNameOut: hookOut, dOut, ...(skip ? { skip: true } : {}) };
}

/**
 * An HF module path as SAELens's `hf_hook_name` records it (the module's
 * output unless it ends in `.input`) to the TransformerLens hook that holds
 * the same tensor, or undefined when none does. `hf_hook_name` wins over
 * `hook_name` where both are given: for Gemma Scope 2 transcoders TL's
 * `hook_mlp_in` is the pre-norm residual while the SAE read the norm's output
 * (shared/research/architectures.md, section 2).
 */
export function hfModuleHook(name: string): string | undefined {
  const input = name.endsWith('.input');
  const mod = name.replace(/\.(output|input)$/, '').replace(/^(base_model\.model\.|model\.language_model\.|language_model\.)/, '');
  const m = /^(model\.layers|transformer\.h|gpt_neox\.layers)\.(\d+)(?:\.(.+))?$/.exec(mod);
  if (!m) return undefined;
  const [, family, l, sub] = m;
  if (!sub) return input ? `blocks.${l}.hook_resid_pre` : `blocks.${l}.hook_resid_post`;
  if (input && /^(self_attn\.o_proj|attn\.c_proj|attention\.dense)$/.test(sub)) return `blocks.${l}.attn.hook_z`;
  if (input && /^mlp\.(down_proj|c_proj|dense_4h_to_h)$/.test(sub)) return `blocks.${l}.mlp.hook_post`;
  // What the MLP reads: its own input, or Gemma 2/3's pre-MLP norm's output (Gemma Scope 2 transcoders).
  if (input && sub === 'mlp') return `blocks.${l}.mlp.hook_in`;
  if (!input && sub === 'pre_feedforward_layernorm') return `blocks.${l}.mlp.hook_in`;
  if (input) return undefined;
  if (sub === 'post_feedforward_layernorm') return `blocks.${l}.hook_mlp_out`;
  // GPT-2 and GPT-NeoX have no norms after their sublayers; in model.layers.* (llama, Gemma 2) the
  // attention and MLP outputs may come before a post-norm, and post_attention_layernorm means
  // different things per family, so those are left to hook_name or --hook.
  if (family !== 'model.layers' && sub === 'mlp') return `blocks.${l}.hook_mlp_out`;
  if (family !== 'model.layers' && /^(attn|attention)$/.test(sub)) return `blocks.${l}.hook_attn_out`;
  return undefined;
}

/** context_size: a positive integer up to 2^20 (absent: 128). */
function contextSize(v: unknown, where: string): number {
  if (v === undefined || v === null) return 128;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1 << 20) throw new Error(`${where}: 'context_size' must be an integer in [1, ${1 << 20}], got ${JSON.stringify(v)}`);
  return v;
}


/**
 * The SAELens v6 `cfg.json` object for a config (SAELens 6.18 reads it with
 * every field: `sae_lens_version` marks the v6 layout, sae.py:553-558).
 * BatchTopK infers as SAELens's `jumprelu`; attention-z SAEs reshape.
 */
export function toSaeLensConfig(cfg: SaeConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  if (/\.attn\.hook_[qkv]$/.test(cfg.hookName)) {
    throw new Error(`cannot save an SAE on ${cfg.hookName} in SAELens format: SAELens reshapes only hook_z activations (sae.py:366-371)`);
  }
  if (cfg.normalizeActivations === 'expected_average_only_in') throw new Error('internal: fold the activation scale before saving');
  let architecture: string = cfg.architecture === 'batchtopk' ? 'jumprelu' : cfg.architecture;
  if (isTranscoder(cfg)) {
    // SAELens's transcoder classes (transcoder.py): ReLU or JumpReLU, each optionally with a skip.
    if (architecture === 'standard') architecture = cfg.skip ? 'skip_transcoder' : 'transcoder';
    else if (architecture === 'jumprelu') architecture = cfg.skip ? 'jumprelu_skip_transcoder' : 'jumprelu_transcoder';
    else throw new Error(`cannot save a ${cfg.architecture}${cfg.skip ? ' skip' : ''} transcoder in SAELens format: SAELens has ReLU and JumpReLU transcoders only (saveSae writes TopK transcoders in sparsify's layout)`);
  }
  const out: Record<string, unknown> = {
    architecture,
    d_in: cfg.dIn,
    d_sae: cfg.dSae,
    dtype: 'float32',
    device: 'cpu',
    apply_b_dec_to_input: cfg.applyBDecToInput,
    normalize_activations: cfg.normalizeActivations,
    reshape_activations: cfg.hookName.endsWith('hook_z') ? 'hook_z' : 'none',
    metadata: {
      sae_lens_version: '6.18.0',
      sae_lens_training_version: null,
      model_name: cfg.modelName,
      hook_name: cfg.hookName,
      hook_head_index: null,
      prepend_bos: cfg.prependBos,
      context_size: cfg.contextSize,
      dataset_path: cfg.datasetPath,
      model_from_pretrained_kwargs: { center_writing_weights: cfg.centerInput === true },
      ...cfg.extraMetadata,
      ...extra,
    },
  };
  if (cfg.k !== undefined && cfg.architecture === 'topk') out.k = cfg.k;
  if (isTranscoder(cfg)) {
    out.d_out = outWidth(cfg);
    (out.metadata as Record<string, unknown>).hook_name_out = cfg.hookNameOut;
  }
  return out;
}
