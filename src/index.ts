/**
 * saescope's library entry: models and hooks, SAEs (load, save, encode,
 * decode), training, evaluation, scans and dashboards, features and
 * comparisons, steering and sweeps, the dictionary-size ladder, lineage,
 * explanations and the registry. Each symbol's own doc comment says what it
 * does; the CLI (`saescope`) is a thin layer over these.
 */

// Models, hooks and generation.
export { loadModel, loadHfFolder, type LoadOptions } from './model/load.ts';
export { HookedModel, type ModelInput, type RunOptions, type RunResult } from './model/hookedModel.ts';
export type { GenerateOptions, GenerateResult } from './model/generate.ts';
export { generateBatch, type BatchRow, type BatchOptions } from './model/generateBatch.ts';
export type { ModelSpec } from './model/spec.ts';
export type { Intervention, AddIntervention, ReplaceIntervention } from './hooks/interventions.ts';
export { parseHookName, type HookPoint } from './hooks/points.ts';
export { SafetensorsFile, writeSafetensors } from './io/safetensors.ts';
export { resolveHfModel, downloadModel, hubCacheDir } from './io/hub.ts';
export type { Tensor } from './tensor/tensor.ts';

// Corpora.
export { readCorpus } from './data/corpus.ts';
export { packRows, locatePacked, type PackOptions, type PackedOrigin } from './data/pack.ts';

// SAEs: load (SAELens, Gemma Scope, Llama Scope, sparsify), save (SAELens layout), encode and decode.
export { Sae, type SaeWeights } from './sae/sae.ts';
export type { SaeConfig, SaeArchitecture } from './sae/config.ts';
export { loadSae } from './sae/load.ts';
export { saveSae } from './sae/saelensFormat.ts';
export { saeIdentity } from './sae/identity.ts';

// Training (from a model and a corpus, or from rows in memory) and evaluation.
export { trainSaes, trainSaesOnRows, type TrainResult } from './sae/train/trainer.ts';
export type { SaeSpec, TrainOptions, StepMetrics, SaeMetrics } from './sae/train/options.ts';
export { evaluateSae, type EvalOptions, type EvalResult } from './sae/eval/evaluate.ts';
export { modelLadder, rowsLadder, type Ladder, type LadderRung, type LadderOptions } from './analysis/ladder/ladder.ts';

// Feature analysis.
export { scan, mergeScans, type ScanOptions, type ScanResult } from './analysis/scan.ts';
export { buildDashboards, type FeatureDashboard, type ExampleView } from './analysis/dashboard.ts';
export { featuresForText, type Pool, type TextFeatures } from './analysis/textFeatures.ts';
export { compareTexts, compareCorpora, type TextDiff, type CorpusDiff } from './analysis/compare.ts';
export { featureStatistics, weightStatistics } from './analysis/stats.ts';
export { matchSaes, carryNames, type Lineage, type MatchOptions } from './analysis/lineage.ts';

// Steering and magnitude sweeps.
export { steer, steerVariants, steeringInterventions, MAX_STEER_VARIANTS, type FeatureSteer, type SteerOptions, type SteerResult, type SteerPositions, type SteerVariantsOptions, type SteerVariantResult, type SteerStrength } from './steering/steer.ts';
export { sweep, sweepGenerations, sweepBatchSize, type SweepOptions, type SweepResult, type SweepRecord, type SweepJob } from './steering/sweep.ts';

// Naming features with an LLM, and the registry that keeps what was learned.
export { LlmClient } from './interp/llmClient.ts';
export type { LlmConfig } from './interp/config.ts';
export { explainFeatures, scoreFeatures, nameHeuristically, type BatchTarget, type BatchResult } from './interp/batch.ts';
export { Registry, defaultRegistryPath } from './registry/registry.ts';
