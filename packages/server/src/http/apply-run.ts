/**
 * How a route runs a write through the apply pipeline (apply, rollback, document create/replace/
 * delete): timed under its operation, refusals included, and the server told when the store
 * changed so bundles and watchers follow.
 */
import type { WardContext } from './context.ts';

export async function timedApply<T extends { changed: boolean; dryRun?: boolean }>(
  ward: WardContext,
  operation: string,
  dryRun: boolean,
  run: () => Promise<T>,
): Promise<T> {
  return ward.metrics.timeApply(operation, dryRun, async () => {
    const result = await run();
    if (result.changed) await ward.changed();
    return result;
  });
}

/** The answer a client sees: the commit's internals (revision bookkeeping) stay in the server. */
export function withoutCommit<T extends { commit?: unknown }>(result: T): Omit<T, 'commit'> {
  const { commit: _commit, ...rest } = result;
  return rest;
}
