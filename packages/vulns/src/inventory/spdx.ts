import type { Inventory } from '../types.ts';
import { parseNpmPurl } from './purl.ts';
import {
  exactVersion,
  fail,
  isPackageName,
  isRecord,
  own,
  PackageSet,
  parseJson,
} from './shared.ts';

const CODE = 'VULNS_BAD_SBOM';

/**
 * Reads an SPDX JSON SBOM (2.2, 2.3): every package with an npm `purl` external reference;
 * others are left out, and so is the package the document describes (the project itself).
 * Direct: a described package depends on it (`DEPENDS_ON`, `DEPENDENCY_OF`, `DEV_DEPENDENCY_OF`
 * and the like). Development-only: only development relationships (`DEV_DEPENDENCY_OF`,
 * `DEV_DEPENDENCY`) lead to it. Path: `packageFileName` (npm writes the node_modules path), else
 * name@version.
 *
 * @example
 * readSpdx(text, 'sbom.spdx.json').packages; // [{ name: 'lodash', version: '4.17.21', path: 'node_modules/lodash', direct: true }]
 */
export function readSpdx(text: string, file: string): Inventory {
  const doc = parseJson(CODE, text, file);
  if (!isRecord(doc)) fail(CODE, file, 'not an SPDX JSON document');
  const version = own(doc, 'spdxVersion');
  if (typeof version !== 'string' || !/^SPDX-2\.\d+$/.test(version)) {
    fail(
      CODE,
      file,
      `spdxVersion ${JSON.stringify(version) ?? 'missing'} is not SPDX-2.x`,
      'spdxVersion',
    );
  }
  const described = new Set<string>();
  const documentId = own(doc, 'SPDXID');
  const describes = own(doc, 'documentDescribes');
  if (Array.isArray(describes))
    for (const id of describes) if (typeof id === 'string') described.add(id);
  const relationships = own(doc, 'relationships');
  const rels: { from: string; type: string; to: string }[] = [];
  if (relationships !== undefined) {
    if (!Array.isArray(relationships))
      fail(CODE, file, '"relationships" is not an array', 'relationships');
    for (const r of relationships) {
      if (!isRecord(r)) continue;
      const from = own(r, 'spdxElementId');
      const type = own(r, 'relationshipType');
      const to = own(r, 'relatedSpdxElement');
      if (typeof from === 'string' && typeof type === 'string' && typeof to === 'string')
        rels.push({ from, type, to });
    }
  }
  for (const r of rels) {
    if (r.from === documentId && r.type === 'DESCRIBES') described.add(r.to);
    if (r.to === documentId && r.type === 'DESCRIBED_BY') described.add(r.from);
  }
  const direct = new Set<string>();
  const prodEdge = new Set<string>();
  const devEdge = new Set<string>();
  for (const r of rels) {
    // [dependency, dependent, development?] of each kind of dependency relationship.
    const edge: [string, string, boolean] | undefined =
      r.type === 'DEPENDS_ON'
        ? [r.to, r.from, false]
        : r.type === 'DEPENDENCY_OF' ||
            r.type === 'OPTIONAL_DEPENDENCY_OF' ||
            r.type === 'RUNTIME_DEPENDENCY_OF'
          ? [r.from, r.to, false]
          : r.type === 'DEV_DEPENDENCY_OF'
            ? [r.from, r.to, true]
            : r.type === 'DEV_DEPENDENCY'
              ? [r.to, r.from, true]
              : undefined;
    if (edge === undefined) continue;
    const [dependency, dependent, dev] = edge;
    if (described.has(dependent)) direct.add(dependency);
    (dev ? devEdge : prodEdge).add(dependency);
  }

  const packages = own(doc, 'packages');
  if (packages !== undefined && !Array.isArray(packages))
    fail(CODE, file, '"packages" is not an array', 'packages');
  const out = new PackageSet();
  (packages ?? []).forEach((pkg: unknown, i: number) => {
    const at = `packages[${i}]`;
    if (!isRecord(pkg)) fail(CODE, file, 'a package is not an object', at);
    const id = own(pkg, 'SPDXID');
    if (typeof id === 'string' && described.has(id)) return;
    const refs = own(pkg, 'externalRefs');
    if (!Array.isArray(refs)) return;
    let npm: { name: string; version?: string } | undefined;
    for (const ref of refs) {
      if (!isRecord(ref) || own(ref, 'referenceType') !== 'purl') continue;
      const locator = own(ref, 'referenceLocator');
      npm = typeof locator === 'string' ? parseNpmPurl(locator) : undefined;
      if (npm !== undefined) break;
    }
    if (npm === undefined) return;
    if (!isPackageName(npm.name))
      fail(
        CODE,
        file,
        `the purl names no npm package (${JSON.stringify(npm.name)})`,
        `${at}.externalRefs`,
      );
    const version = exactVersion(npm.version ?? own(pkg, 'versionInfo'));
    if (version === undefined)
      fail(CODE, file, `${npm.name} has no exact version`, `${at}.versionInfo`);
    const key = typeof id === 'string' ? id : '';
    // npm's own `npm sbom` writes the node_modules path as packageFileName.
    const fileName = own(pkg, 'packageFileName');
    const entry: { name: string; version: string; path: string; direct?: boolean; dev?: boolean } =
      {
        name: npm.name,
        version,
        path:
          typeof fileName === 'string' && fileName.length > 0 ? fileName : `${npm.name}@${version}`,
      };
    if (rels.length > 0) {
      entry.direct = direct.has(key);
      if (devEdge.has(key) && !prodEdge.has(key)) entry.dev = true;
    }
    out.add(entry);
  });
  return out.inventory('spdx', file);
}
