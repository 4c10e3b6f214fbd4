/**
 * SAE configuration in SAELens's field names (sae_lens/saes/sae.py,
 * `SAEConfig` and `SAEMetadata`): plain readonly data, validated once when
 * read from `cfg.json`. Both SAELens layouts are read: v6 (hook and model in
 * `metadata`) and the older flat one (`hook_name`/`hook_point` at the top).
 */

/** SAE architectures saescope knows. */
export type SaeArchitecture = 'standard' | 'topk' | 'batchtopk' | 'jumprelu';

/** Activation normalization: none, or scaling inputs to an expected norm of sqrt(d_in). */
export type Normalization = 'none' | 'expected_average_only_in';

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
  /** Activation normalization used in training (folded away at save). */
  readonly normalizeActivations: Normalization;
  /** The hook the SAE reads, in TransformerLens names. */
  readonly hookName: string;
  /** The model's name or path. */
  readonly modelName: string;
  /** Context size of the training rows. */
  readonly contextSize: number;
  /** Whether training rows began with BOS. */
  readonly prependBos: boolean;
  /** The training corpus. */
  readonly datasetPath: string;
  /** Storage dtype name (always float32 when saescope saves). */
  readonly dtype: string;
}

const ARCHS: readonly SaeArchitecture[] = ['standard', 'topk', 'batchtopk', 'jumprelu'];

/** Parses a SAELens `cfg.json` object; throws naming the field at fault. */
export function parseSaeConfig(raw: Record<string, unknown>, where: string): SaeConfig {
  const meta = (raw.metadata ?? {}) as Record<string, unknown>;
  const pick = (k: string) => (meta[k] !== undefined ? meta[k] : raw[k]);
  const arch = String(raw.architecture ?? 'standard');
  if (!ARCHS.includes(arch as SaeArchitecture)) {
    throw new Error(`${where}: unknown SAE architecture '${arch}' (supported: ${ARCHS.join(', ')})`);
  }
  const int = (k: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`${where}: '${k}' must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const norm = String(raw.normalize_activations ?? 'none');
  if (norm !== 'none' && norm !== 'expected_average_only_in') {
    throw new Error(`${where}: normalize_activations '${norm}' is not supported (none, expected_average_only_in)`);
  }
  const hook = pick('hook_name') ?? raw.hook_point;
  if (typeof hook !== 'string' || !hook) throw new Error(`${where}: no hook_name`);
  const cfg: SaeConfig = {
    architecture: arch as SaeArchitecture,
    dIn: int('d_in', raw.d_in),
    dSae: int('d_sae', raw.d_sae),
    k: raw.k === undefined || raw.k === null ? undefined : int('k', raw.k),
    applyBDecToInput: raw.apply_b_dec_to_input !== false,
    normalizeActivations: norm,
    hookName: hook,
    modelName: String(pick('model_name') ?? ''),
    contextSize: Number(pick('context_size') ?? 128),
    prependBos: pick('prepend_bos') !== false,
    datasetPath: String(pick('dataset_path') ?? ''),
    dtype: String(raw.dtype ?? 'float32'),
  };
  if ((cfg.architecture === 'topk' || cfg.architecture === 'batchtopk') && cfg.k === undefined) {
    throw new Error(`${where}: a ${cfg.architecture} SAE needs 'k'`);
  }
  if (cfg.k !== undefined && cfg.k > cfg.dSae) throw new Error(`${where}: k ${cfg.k} exceeds d_sae ${cfg.dSae}`);
  return cfg;
}

/** The SAELens v6 `cfg.json` object for a config. */
export function toSaeLensConfig(cfg: SaeConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {
    architecture: cfg.architecture,
    d_in: cfg.dIn,
    d_sae: cfg.dSae,
    dtype: 'float32',
    device: 'cpu',
    apply_b_dec_to_input: cfg.applyBDecToInput,
    normalize_activations: cfg.normalizeActivations,
    reshape_activations: 'none',
    metadata: {
      model_name: cfg.modelName,
      hook_name: cfg.hookName,
      hook_head_index: null,
      prepend_bos: cfg.prependBos,
      context_size: cfg.contextSize,
      dataset_path: cfg.datasetPath,
      sae_lens_training_version: null,
      ...extra,
    },
  };
  if (cfg.k !== undefined) out.k = cfg.k;
  return out;
}
