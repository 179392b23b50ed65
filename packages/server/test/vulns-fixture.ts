/** Shared set-up of the vulns tests: the real OSV fixtures of `@ward/vulns` and a small shop. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdvisoryDatabase } from '@ward/vulns';
import { svc } from './helpers.ts';

export const VULNS_FIXTURES = join(import.meta.dirname, '..', '..', 'vulns', 'test', 'fixtures');
export const OSV = join(VULNS_FIXTURES, 'advisories', 'osv');
export const FEATHERS_FILE = join(VULNS_FIXTURES, 'inventory', 'feathers.package-lock.json');
export const FEATHERS = readFileSync(FEATHERS_FILE, 'utf8');

/** The advisory set `ward server --vulns-osv` of the fixture directory holds. */
export function fixtureAdvisories() {
  const records = readdirSync(OSV)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ file: f, text: readFileSync(join(OSV, f), 'utf8') }));
  return { advisories: AdvisoryDatabase.fromRecords(records, { strict: false }) };
}

/** frontend (nothing calls it: an entry point) → orders → payments. */
export const SHOP = [
  svc('frontend', { dependencies: [{ service: 'orders', kind: 'runtime' }] }),
  svc('orders', { dependencies: [{ service: 'payments', kind: 'runtime' }] }),
  svc('payments'),
];

/** orders in SHOP: one hop from the entry point, frontend depends on it. */
export const ORDERS_EXPOSURE = { entryPoint: false, hopsFromEntry: 1, blastRadius: 1 };
