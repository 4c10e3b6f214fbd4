/** Loads a model for a command, drawing download progress bars when the hub is used. */
import { loadModel } from '../model/load.ts';
import type { HookedModel } from '../model/hookedModel.ts';
import { downloadBars } from './progress.ts';

export async function loadForCli(pathOrId: string): Promise<HookedModel> {
  const bars = downloadBars();
  try {
    return await loadModel(pathOrId, { onProgress: bars.onProgress });
  } finally {
    bars.stop();
  }
}
