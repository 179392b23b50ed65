/** What scanning one module finds: the modules it loads and the loads no scanner can follow. */

/** Which exports of the loaded module the importing code uses. */
export type Usage =
  /** Named exports (an empty set: loaded for its side effects only). */
  | { kind: 'names'; names: Set<string> }
  /** Possibly every export (a namespace used dynamically, passed around, re-exported). */
  | { kind: 'all'; why: string };

/** One static load of a module. */
export interface ImportSite {
  specifier: string;
  line: number;
  /** ESM (`import`, `export … from`, `import()`) or CommonJS (`require`): picks the condition. */
  kind: 'import' | 'require';
  usage: Usage;
  /** The usage was inferred from member accesses (`x.a`) rather than stated (`{ a }`). */
  inferred: boolean;
}

/** A load whose target is not a literal (`require(name)`, `eval(code)`, `new Function(body)`). */
export interface DynamicSite {
  line: number;
  /** What it is, for the reason (`require(expr)`, `eval`). */
  what: string;
  /**
   * The literal start of the computed specifier (`./locales/` of `require('./locales/' + x)`),
   * when there is one: the load can only reach names that start so.
   */
  prefix?: string;
}

export interface ScanResult {
  imports: ImportSite[];
  dynamic: DynamicSite[];
  /** `parser` (a full parse) or `scanner` (the token scanner: TypeScript, or unparsable JS). */
  method: 'parser' | 'scanner';
}

export function addUsage(site: ImportSite, name: string): void {
  if (site.usage.kind === 'names') site.usage.names.add(name);
}

export function markAll(site: ImportSite, why: string): void {
  if (site.usage.kind !== 'all') site.usage = { kind: 'all', why };
}

export function names(...list: string[]): Usage {
  return { kind: 'names', names: new Set(list) };
}
