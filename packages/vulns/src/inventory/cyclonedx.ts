import type { Inventory } from '../types.ts';
import { parseNpmPurl } from './purl.ts';
import {
  exactVersion,
  fail,
  isPackageName,
  isRecord,
  type Json,
  own,
  PackageSet,
  parseJson,
} from './shared.ts';

const CODE = 'VULNS_BAD_SBOM';

/**
 * Reads a CycloneDX JSON SBOM (spec 1.4 to 1.6): every component, nested ones included, whose
 * `purl` is an npm one (`pkg:npm/…`); components of other ecosystems are left out. Direct: the
 * described project (`metadata.component`) depends on it in `dependencies`. Development-only:
 * cyclonedx-npm's `cdx:npm:package:development` property, or `scope: excluded`. Path: the
 * `cdx:npm:package:path` property when present, else name@version.
 *
 * @example
 * readCycloneDx(text, 'bom.json').packages; // [{ name: 'uuid', version: '8.3.2', path: 'node_modules/uuid', direct: true, dev: true }, …]
 */
export function readCycloneDx(text: string, file: string): Inventory {
  const doc = parseJson(CODE, text, file);
  if (!isRecord(doc) || own(doc, 'bomFormat') !== 'CycloneDX')
    fail(CODE, file, 'not a CycloneDX JSON document (bomFormat)', 'bomFormat');
  const spec = own(doc, 'specVersion');
  if (typeof spec !== 'string' || !/^1\.\d+$/.test(spec))
    fail(CODE, file, `specVersion ${JSON.stringify(spec) ?? 'missing'} is not 1.x`, 'specVersion');

  const metadata = own(doc, 'metadata');
  const main = isRecord(metadata) ? own(metadata, 'component') : undefined;
  const mainRef = isRecord(main) ? own(main, 'bom-ref') : undefined;
  const direct = new Set<string>();
  const dependencies = own(doc, 'dependencies');
  if (Array.isArray(dependencies) && typeof mainRef === 'string') {
    for (const dep of dependencies) {
      if (!isRecord(dep) || own(dep, 'ref') !== mainRef) continue;
      const on = own(dep, 'dependsOn');
      if (Array.isArray(on)) for (const ref of on) if (typeof ref === 'string') direct.add(ref);
    }
  }

  const out = new PackageSet();
  const walk = (components: unknown, at: string, depth: number): void => {
    if (components === undefined) return;
    if (!Array.isArray(components)) fail(CODE, file, '"components" is not an array', at);
    if (depth > 64) fail(CODE, file, 'components nest too deeply', at);
    components.forEach((component: unknown, i) => {
      const where = `${at}[${i}]`;
      if (!isRecord(component)) fail(CODE, file, 'a component is not an object', where);
      const purl = own(component, 'purl');
      const npm = typeof purl === 'string' ? parseNpmPurl(purl) : undefined;
      if (npm !== undefined) add(component, npm, where);
      walk(own(component, 'components'), `${where}.components`, depth + 1);
    });
  };
  const add = (component: Json, npm: { name: string; version?: string }, where: string): void => {
    if (!isPackageName(npm.name))
      fail(
        CODE,
        file,
        `the purl names no npm package (${JSON.stringify(npm.name)})`,
        `${where}.purl`,
      );
    const version = exactVersion(npm.version ?? own(component, 'version'));
    if (version === undefined)
      fail(CODE, file, `${npm.name} has no exact version`, `${where}.version`);
    const props = properties(component);
    const path = props.get('cdx:npm:package:path');
    const ref = own(component, 'bom-ref');
    out.add({
      name: npm.name,
      version,
      path: path !== undefined && path.length > 0 ? path : `${npm.name}@${version}`,
      direct: typeof ref === 'string' && direct.has(ref),
      dev:
        props.get('cdx:npm:package:development') === 'true' ||
        own(component, 'scope') === 'excluded',
    });
  };
  walk(own(doc, 'components'), 'components', 0);
  return out.inventory('cyclonedx', file);
}

function properties(component: Json): Map<string, string> {
  const out = new Map<string, string>();
  const list = own(component, 'properties');
  if (!Array.isArray(list)) return out;
  for (const p of list) {
    if (!isRecord(p)) continue;
    const name = own(p, 'name');
    const value = own(p, 'value');
    if (typeof name === 'string' && typeof value === 'string') out.set(name, value);
  }
  return out;
}
