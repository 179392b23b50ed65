import type { BundleV1, PassportKeyV1, SignedBundleV1 } from '@ward/api-types';
import type { PolicySet } from '@ward/policy';
// A namespace import: the SDK's other modules keep loading even with an engine build that lacks
// `compile` (then only bundle loading fails, with PDP_COMPILE_FAILED).
import * as engine from '@ward/policy';
import { PdpError } from './errors.ts';

/** A verified, compiled bundle: everything `decide()` needs, swapped in as one reference. */
export interface LoadedBundle {
  readonly envelope: SignedBundleV1;
  readonly bundle: BundleV1;
  readonly policy: PolicySet;
  /** `cache`, or the control-plane URL it came from. */
  readonly source: string;
  /** Epoch ms of `bundle.issuedAt` (NaN-safe: the load time when issuedAt does not parse). */
  readonly issuedAt: number;
  readonly loadedAt: number;
  readonly passportKeys: readonly PassportKeyV1[];
}

/**
 * Compiles a verified bundle. Runs on the event loop but never inside `decide()`: the PDP keeps
 * deciding with the old bundle until this returns, then swaps. A bundle that does not compile is
 * refused with `PDP_COMPILE_FAILED` (the control plane validated it, so this means the engine
 * versions disagree).
 */
export function loadBundle(
  envelope: SignedBundleV1,
  bundle: BundleV1,
  source: string,
): LoadedBundle {
  let policy: PolicySet;
  try {
    policy = engine.compile(bundle.documents, { trustDomain: bundle.trustDomain });
  } catch (error) {
    throw new PdpError(
      'PDP_COMPILE_FAILED',
      `bundle revision ${bundle.revision} does not compile: ${(error as Error)?.message ?? error}`,
      { cause: error },
    );
  }
  const now = Date.now();
  const issued = Date.parse(bundle.issuedAt);
  return Object.freeze({
    envelope,
    bundle,
    policy,
    source,
    issuedAt: Number.isFinite(issued) ? issued : now,
    loadedAt: now,
    passportKeys: Object.freeze(bundle.passportKeys.map((k) => Object.freeze({ ...k }))),
  });
}
