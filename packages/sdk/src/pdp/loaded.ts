import type { BundleV1, PassportKeyV1, SignedBundleV1 } from '@ward/api-types';
import type { PolicyDocument, PolicySet } from '@ward/policy';
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
  /** Every document of the bundle, frozen (`pdp.documents()`). */
  readonly documents: readonly PolicyDocument[];
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
    policy = engine.compile(policyDocuments(bundle.documents), { trustDomain: bundle.trustDomain });
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
    documents: Object.freeze([...bundle.documents]),
  });
}

/**
 * The documents the engine compiles: those of the kinds its schema knows. A bundle also carries
 * documents for other consumers of the PDP (a gateway's `Gateway` and `Route` documents, read
 * through `pdp.documents()`); an engine that predates a kind passes it through rather than
 * refusing the whole bundle. The control plane validated every document before signing.
 */
function policyDocuments(documents: BundleV1['documents']): BundleV1['documents'] {
  const known = knownKinds();
  if (known === undefined) return documents;
  const kept = documents.filter((d) => known.has((d as { kind?: unknown } | null)?.kind));
  return kept.length === documents.length ? documents : kept;
}

let kinds: ReadonlySet<unknown> | undefined;
function knownKinds(): ReadonlySet<unknown> | undefined {
  const list = (engine.policySchema as { properties?: { kind?: { enum?: readonly unknown[] } } })
    ?.properties?.kind?.enum;
  if (!Array.isArray(list)) return undefined;
  kinds ??= new Set(list);
  return kinds;
}
