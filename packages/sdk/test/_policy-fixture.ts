import { randomBytes } from 'node:crypto';
import type { PassportKeyV1 } from '@ward/api-types';
import { keyringFromBundleKeys, mintPassport } from '@ward/passport';
import { compile, type PolicyDocument, type PolicySet } from '@ward/policy';
import type { Decider } from '../src/index.ts';

/** The passport keys the fixture's bundle carries, as a bundle carries them. */
export const PASSPORT_KEYS: PassportKeyV1[] = [
  { kid: 'k1', alg: 'HS256', key: randomBytes(32).toString('base64url') },
];

/** A real passport minted with the fixture's key (`@ward/passport`), for the default zone. */
export function passport(claims: {
  sub: string;
  attrs?: Record<string, unknown>;
  exp?: number;
  iat?: number;
  aud?: string | string[];
}): string {
  return mintPassport(
    { iss: 'frontend', aud: 'zone:default', ...claims },
    keyringFromBundleKeys(PASSPORT_KEYS),
  );
}

/**
 * A service of the default namespace whose workloads run in Kubernetes namespace `shop`: its key
 * is its bare name (`orders`) and its SPIFFE ID is written out, as the control plane's namespace
 * migration writes services stored before namespaces (server/src/store/migrate-namespaces.ts).
 */
const svc = (name: string): PolicyDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name },
  spec: { spiffeId: `spiffe://ward.test/ns/shop/sa/${name}` },
});

/**
 * The policy every middleware test enforces on `orders`:
 * - `orders-access` (enforce): monitoring denied (#0); frontend may GET/POST under /orders (#1);
 *   payments allowed on anything (#2).
 * - `orders-export-freeze` (dry-run): frontend denied on /orders/export (#0): a would-deny.
 */
export const DOCUMENTS: PolicyDocument[] = [
  svc('orders'),
  svc('frontend'),
  svc('payments'),
  svc('monitoring'),
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'orders-access' },
    spec: {
      destination: 'orders',
      mode: 'enforce',
      rules: [
        { sources: ['monitoring'], action: 'deny' },
        {
          sources: ['frontend'],
          action: 'allow',
          permissions: [{ http: { methods: ['GET', 'POST'], paths: [{ prefix: '/orders' }] } }],
        },
        { sources: ['payments'], action: 'allow' },
      ],
    },
  },
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'orders-export-freeze' },
    spec: {
      destination: 'orders',
      mode: 'dry-run',
      rules: [
        {
          sources: ['frontend'],
          action: 'deny',
          permissions: [{ http: { paths: [{ prefix: '/orders/export' }] } }],
        },
      ],
    },
  },
];

/** The fixture compiled by the real engine (`@ward/policy`), trust domain `ward.test`. */
export function fixturePolicySet(documents: PolicyDocument[] = DOCUMENTS): PolicySet {
  return compile(documents, { trustDomain: 'ward.test' });
}

/**
 * What a PDP gives the middleware: the compiled policy, plus the bundle's passport keys and
 * revision (a PolicySet alone has neither).
 */
export function fixtureDecider(documents: PolicyDocument[] = DOCUMENTS): Decider {
  const policy = fixturePolicySet(documents);
  return {
    decide: (input) => policy.decide(input),
    serviceBySpiffeId: (id) => policy.serviceBySpiffeId(id),
    revision: () => 42,
    passportKeys: () => PASSPORT_KEYS,
  };
}
