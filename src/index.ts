/** saescope's library entry: load models, run them with hooks, generate. */
export { loadModel, loadHfFolder, type LoadOptions } from './model/load.ts';
export { HookedModel, type ModelInput, type RunOptions, type RunResult } from './model/hookedModel.ts';
export type { GenerateOptions, GenerateResult } from './model/generate.ts';
export type { ModelSpec } from './model/spec.ts';
export type { Intervention, AddIntervention, ReplaceIntervention } from './hooks/interventions.ts';
export type { HookPoint } from './hooks/points.ts';
export { SafetensorsFile, writeSafetensors } from './io/safetensors.ts';
export { resolveHfModel, downloadModel, hubCacheDir } from './io/hub.ts';
export type { Tensor } from './tensor/tensor.ts';
