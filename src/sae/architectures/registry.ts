/** The SAE architecture registry, filled here once; a duplicate throws. */
import type { SaeArchitecture } from '../config.ts';
import type { SaeArchitectureImpl } from './architecture.ts';
import { batchtopk } from './batchtopk.ts';
import { jumprelu } from './jumprelu.ts';
import { standard } from './standard.ts';
import { topk } from './topk.ts';

const REGISTRY = new Map<SaeArchitecture, SaeArchitectureImpl>();

function register(a: SaeArchitectureImpl): void {
  if (REGISTRY.has(a.name)) throw new Error(`SAE architecture '${a.name}' is registered twice`);
  REGISTRY.set(a.name, a);
}

register(standard);
register(topk);
register(batchtopk);
register(jumprelu);

/** The implementation of an architecture. */
export function architecture(name: SaeArchitecture): SaeArchitectureImpl {
  const a = REGISTRY.get(name);
  if (!a) throw new Error(`unknown SAE architecture '${name}' (supported: ${[...REGISTRY.keys()].join(', ')})`);
  return a;
}

/** Whether an architecture needs `k` (its sparsity is a count of active latents). */
export function needsK(name: SaeArchitecture): boolean {
  return architecture(name).training.needsK;
}

/** The registered architectures' names. */
export function architectureNames(): SaeArchitecture[] {
  return [...REGISTRY.keys()];
}
