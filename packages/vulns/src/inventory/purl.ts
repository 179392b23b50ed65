/** An npm package URL's name and version (`pkg:npm/%40scope/name@1.0.0?…#…`), else undefined. */
export function parseNpmPurl(purl: string): { name: string; version?: string } | undefined {
  if (!/^pkg:\/*npm\//i.test(purl)) return undefined;
  let rest = purl.replace(/^pkg:\/*npm\//i, '');
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const query = rest.indexOf('?');
  if (query >= 0) rest = rest.slice(0, query);
  const at = rest.lastIndexOf('@');
  // `@` in a namespace is written %40; a literal one at the start is tolerated.
  const path = at > 0 ? rest.slice(0, at) : rest;
  const version = at > 0 ? rest.slice(at + 1) : undefined;
  try {
    const name = path
      .split('/')
      .filter((s) => s.length > 0)
      .map(decodeURIComponent)
      .join('/');
    return version === undefined ? { name } : { name, version: decodeURIComponent(version) };
  } catch {
    return undefined;
  }
}
