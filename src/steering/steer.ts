/**
 * Steered generation with SAE features (Templeton et al. 2024; Neuronpedia
 * and Qwen-Scope steering): add strength x W_dec[f] at the SAE's hook, or
 * clamp a feature to a value keeping the SAE's error term (value 0 ablates),
 * at the prompt, the generated tokens, or all positions; beside the
 * unsteered generation from the same seed. Everything runs with the KV cache.
 */
import type { AddIntervention, ClampIntervention, FeatureEncoder } from '../hooks/interventions.ts';
import type { GenerateOptions, GenerateResult } from '../model/generate.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import { generateBatch } from '../model/generateBatch.ts';
import type { RecordKeys, RegistryReader } from '../registry/types.ts';
import { checkSaeFitsModel } from '../sae/compat.ts';
import type { Sae } from '../sae/sae.ts';
import { architecture } from '../sae/architectures/registry.ts';
import { isTranscoder, outWidth, writeHook } from '../sae/config.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkFeature, PRESETS, presetMultiples, typicalMax, type Preset, type PresetCalibration } from './presets.ts';

/** How to steer one feature: a raw strength, a preset, or a clamp value. */
export interface FeatureSteer {
  readonly feature: number;
  /** Added as strength x W_dec[f]. */
  readonly strength?: number;
  /** A multiple of the feature's typical maximum activation. */
  readonly preset?: Preset;
  /** Clamp the activation to this value (0 ablates). */
  readonly clamp?: number;
}

/** Where steering applies. */
export type SteerPositions = 'prompt' | 'generated' | 'all';

/** Options of steered generation. */
export interface SteerOptions extends Omit<GenerateOptions, 'interventions' | 'returnLogits' | 'onToken'> {
  /** Wrap the prompt as a user turn of the model's chat template, with the assistant's turn opened. */
  readonly chat?: boolean;
  readonly features: readonly FeatureSteer[];
  /** Default `all`. */
  readonly positions?: SteerPositions;
  /** Registry with scans (typical maxima for presets). */
  readonly registry?: RegistryReader;
  /** The model's and SAE's identities in the registry (without them the registry is not read). */
  readonly keys?: RecordKeys;
  /** Streams the steered tokens. */
  readonly onToken?: (id: number, text: string) => void;
  /** Streams the unsteered tokens. */
  readonly onUnsteeredToken?: (id: number, text: string) => void;
}

/** Steered and unsteered outputs side by side. */
export interface SteerResult {
  readonly unsteered: GenerateResult;
  readonly steered: GenerateResult;
  /** The additive strengths used, per feature (after presets, with where the preset came from). */
  readonly strengths: readonly SteerStrength[];
}

/** The encoder view of an SAE for in-graph clamps. */
export function featureEncoder(sae: Sae): FeatureEncoder {
  const w = sae.weights;
  const arch = architecture(sae.cfg.architecture);
  const extra: Record<string, Tensor<'float32'>> = {};
  for (const name of arch.extraWeights) extra[name] = w[name];
  return {
    id: `${sae.source || 'sae'}#${sae.cfg.dSae}`, architecture: sae.cfg.architecture, k: sae.cfg.k, applyBDecToInput: sae.cfg.applyBDecToInput,
    centerInput: sae.cfg.centerInput, normalization: sae.cfg.normalizeActivations,
    W_enc: w.W_enc, b_enc: w.b_enc, b_dec: w.b_dec, W_dec: w.W_dec, extra,
    activation: (g, pre, weight) => arch.activation(g, pre, sae.cfg, weight), perLatent: arch.perLatent,
  };
}

/** What one feature was steered with. */
export interface SteerStrength {
  readonly feature: number;
  readonly strength?: number;
  readonly clamp?: number;
  readonly preset?: Preset;
  /** Whether the preset came from the feature's applied sweep calibration or the default multiples. */
  readonly presetSource?: 'calibration' | 'default';
  /** The multiple of the typical maximum the preset used, and why the defaults were used when they were. */
  readonly multiple?: number;
  readonly presetReason?: string;
}

/** Interventions for a steering request; presets resolve through `typicalMax`. */
export async function steeringInterventions(model: HookedModel, sae: Sae, features: readonly FeatureSteer[], positions: SteerPositions, promptLength: number, o: { registry?: RegistryReader; keys?: RecordKeys } = {}) {
  checkSaeFitsModel(sae, model);
  if (features.length === 0) throw new Error('no features to steer');
  for (const s of features) {
    checkFeature(sae, s.feature);
    const given = [s.strength, s.preset, s.clamp].filter((x) => x !== undefined).length;
    if (given !== 1) throw new Error(`feature ${s.feature}: give exactly one of strength, preset or clamp`);
    if (s.strength !== undefined && !Number.isFinite(s.strength)) throw new Error(`feature ${s.feature}: strength ${s.strength} is not a finite number`);
    if (s.clamp !== undefined && !Number.isFinite(s.clamp)) throw new Error(`feature ${s.feature}: clamp value ${s.clamp} is not a finite number`);
    if (s.preset !== undefined && !(s.preset in PRESETS)) throw new Error(`feature ${s.feature}: unknown preset '${s.preset}' (light, medium, strong)`);
  }
  const presetFeatures = features.filter((s) => s.preset).map((s) => s.feature);
  const maxes = presetFeatures.length ? (await typicalMax(model, sae, presetFeatures, o)).values : new Map<number, number>();
  const pos = positionsFor(positions, promptLength, model.spec.nCtx);
  // Decoder rows are added where the decoder writes: a transcoder's output hook.
  const dIn = outWidth(sae.cfg);
  const hook = writeHook(sae.cfg);
  const vector = new Float32Array(dIn);
  const strengths: SteerStrength[] = [];
  const clampF: number[] = [];
  const clampV: number[] = [];
  for (const s of features) {
    if (s.clamp !== undefined) {
      clampF.push(s.feature);
      clampV.push(s.clamp);
      strengths.push({ feature: s.feature, clamp: s.clamp });
      continue;
    }
    let strength = s.strength;
    if (strength === undefined) {
      // A sweep's calibration (in the registry) places the presets between onset and breakpoint.
      const cal = o.keys ? o.registry?.calibration<PresetCalibration>(o.keys.model, o.keys.sae, s.feature) : undefined;
      const p = presetMultiples(cal);
      strength = p.multiples[s.preset!] * maxes.get(s.feature)!;
      strengths.push({ feature: s.feature, strength, preset: s.preset, presetSource: p.source, multiple: p.multiples[s.preset!], ...(p.reason ? { presetReason: p.reason } : {}) });
    } else strengths.push({ feature: s.feature, strength });
    const row = sae.weights.W_dec.data.subarray(s.feature * dIn, (s.feature + 1) * dIn);
    for (let i = 0; i < dIn; i++) vector[i] += strength * row[i];
  }
  const interventions: (AddIntervention | ClampIntervention)[] = [];
  if (strengths.some((s) => s.strength !== undefined)) interventions.push({ kind: 'add', hook, vector, positions: pos });
  if (clampF.length && isTranscoder(sae.cfg)) throw new Error(`clamping is for SAEs: a transcoder reads ${sae.cfg.hookName} and writes ${sae.cfg.hookNameOut}, so its features are steered by strength or preset`);
  if (clampF.length) interventions.push({ kind: 'clamp', hook, encoder: featureEncoder(sae), features: clampF, values: clampV, positions: pos });
  return { interventions, strengths };
}

/** Absolute positions for a steering scope (undefined = every position). */
export function positionsFor(p: SteerPositions, promptLength: number, nCtx: number): number[] | undefined {
  if (p === 'all') return undefined;
  if (p === 'prompt') return Array.from({ length: promptLength }, (_, i) => i);
  if (p === 'generated') return Array.from({ length: Math.max(0, nCtx - promptLength) }, (_, i) => promptLength + i);
  throw new Error(`positions must be prompt, generated or all, got '${p}'`);
}

/** Generates steered and unsteered text from the same prompt and seed, side by side in one batch. */
export async function steer(model: HookedModel, sae: Sae, prompt: string, o: SteerOptions): Promise<SteerResult> {
  const { features, onToken, ...rest } = o;
  const r = await steerVariants(model, sae, prompt, { ...rest, variants: [features], onToken: onToken && ((_v, id, text) => onToken(id, text)) });
  return { unsteered: r.unsteered, steered: r.variants[0].result, strengths: r.variants[0].strengths };
}

/** Most steering variants compared in one call. */
export const MAX_STEER_VARIANTS = 16;

/** Options of `steerVariants`: several steerings of one prompt, compared side by side. */
export interface SteerVariantsOptions extends Omit<SteerOptions, 'features' | 'onToken'> {
  /** Each variant's features (e.g. one feature at several strengths, or several features one at a time). */
  readonly variants: readonly (readonly FeatureSteer[])[];
  /** Streams each variant's tokens (its index in `variants`). */
  readonly onToken?: (variant: number, id: number, text: string) => void;
}

/** One steered variant's output and the strengths it used. */
export interface SteerVariantResult {
  readonly features: readonly FeatureSteer[];
  readonly strengths: readonly SteerStrength[];
  readonly result: GenerateResult;
}

/**
 * Generates the unsteered text and each variant's steered text from the
 * same prompt and seed, all rows of one batch: the prompt is prefilled once
 * for the rows that steer only generated tokens, and every row's greedy
 * output equals generating it alone.
 */
export async function steerVariants(model: HookedModel, sae: Sae, prompt: string, o: SteerVariantsOptions): Promise<{ unsteered: GenerateResult; variants: SteerVariantResult[] }> {
  if (o.variants.length === 0 || o.variants.length > MAX_STEER_VARIANTS) throw new Error(`give 1 to ${MAX_STEER_VARIANTS} steering variants, got ${o.variants.length}`);
  const promptIds = o.chat ? model.chatPrompt(prompt) : model.toTokens(prompt, o.prependBos ?? true)[0];
  const plans = [];
  for (const features of o.variants) plans.push({ features, ...(await steeringInterventions(model, sae, features, o.positions ?? 'all', promptIds.length, o)) });
  const { variants: _v, positions: _p, registry: _r, keys: _k, onToken, onUnsteeredToken, ...gen } = o;
  const rows = [{ ...gen, prompt: promptIds }, ...plans.map((p) => ({ ...gen, prompt: promptIds, interventions: p.interventions }))];
  const [unsteered, ...steered] = await generateBatch(model, rows, {
    onToken: (row, id, text) => (row === 0 ? onUnsteeredToken?.(id, text) : onToken?.(row - 1, id, text)),
  });
  return { unsteered, variants: plans.map((p, i) => ({ features: p.features, strengths: p.strengths, result: steered[i] })) };
}
