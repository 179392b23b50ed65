import type { Inventory } from '../types.ts';
import { readCycloneDx } from './cyclonedx.ts';
import { readNpmLockfile } from './npm.ts';
import { readPnpmLockfile } from './pnpm.ts';
import { fail } from './shared.ts';
import { readSpdx } from './spdx.ts';
import { readYarnBerryLockfile } from './yarn_berry.ts';
import { readYarnClassicLockfile } from './yarn_classic.ts';

/** The formats `readInventory` tells apart. */
export type InventoryFormat = 'npm' | 'pnpm' | 'yarn-classic' | 'yarn-berry' | 'cyclonedx' | 'spdx';

const READERS: Record<InventoryFormat, (text: string, file: string) => Inventory> = {
  npm: readNpmLockfile,
  pnpm: readPnpmLockfile,
  'yarn-classic': readYarnClassicLockfile,
  'yarn-berry': readYarnBerryLockfile,
  cyclonedx: readCycloneDx,
  spdx: readSpdx,
};

/**
 * Tells an input's format from its file name (`package-lock.json`, `npm-shrinkwrap.json`,
 * `pnpm-lock.yaml`, `yarn.lock`, `*.cdx.json`, `*.spdx.json`), else from its first bytes; undefined
 * when neither says.
 */
export function detectInventoryFormat(text: string, file: string): InventoryFormat | undefined {
  const base = (file.split(/[\\/]/).at(-1) ?? file).toLowerCase();
  const head = text.slice(0, 4096);
  const jsonHead = head.trimStart().startsWith('{');
  if (base.endsWith('package-lock.json') || base.endsWith('npm-shrinkwrap.json')) return 'npm';
  if (base.endsWith('pnpm-lock.yaml') || base.endsWith('pnpm-lock.yml')) return 'pnpm';
  if (base.endsWith('yarn.lock')) return /^__metadata:/m.test(text) ? 'yarn-berry' : 'yarn-classic';
  if (base.endsWith('.cdx.json') || (base.endsWith('bom.json') && !base.endsWith('spdx.json')))
    return 'cyclonedx';
  if (base.endsWith('.spdx.json')) return 'spdx';
  if (jsonHead) {
    if (/"bomFormat"\s*:\s*"CycloneDX"/.test(text)) return 'cyclonedx';
    if (/"spdxVersion"\s*:/.test(text)) return 'spdx';
    if (/"lockfileVersion"\s*:/.test(text)) return 'npm';
    return undefined;
  }
  if (/^['"]?lockfileVersion['"]?\s*:/m.test(head)) return 'pnpm';
  if (/^__metadata:/m.test(head)) return 'yarn-berry';
  if (/^# yarn lockfile v1/m.test(head)) return 'yarn-classic';
  return undefined;
}

/**
 * Reads what a lockfile or SBOM says is installed: npm lockfiles v1 to v3, pnpm-lock.yaml (5.x,
 * 6.x, 9.x), yarn classic and berry yarn.lock, CycloneDX JSON (1.4 to 1.6) and SPDX JSON (2.2,
 * 2.3). The format is told from the file name, else from the content.
 *
 * @throws VulnsError `VULNS_BAD_LOCKFILE` or `VULNS_BAD_SBOM`, naming the file and the entry or line.
 * @example
 * const inv = readInventory(readFileSync('package-lock.json', 'utf8'), 'package-lock.json');
 * inv.format; // 'npm-v3'
 */
export function readInventory(text: string, file: string): Inventory {
  const format = detectInventoryFormat(text, file);
  if (format === undefined) {
    return fail(
      'VULNS_BAD_LOCKFILE',
      file,
      'not a known lockfile or SBOM (package-lock.json, pnpm-lock.yaml, yarn.lock, CycloneDX or SPDX JSON)',
    );
  }
  return READERS[format](text, file);
}
