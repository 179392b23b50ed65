/** Package URLs of npm packages (purl spec: the `@` of a scope is percent-encoded). */
export function npmPurl(name: string, version: string): string {
  const enc = (s: string): string => encodeURIComponent(s);
  const slash = name.startsWith('@') ? name.indexOf('/') : -1;
  const path = slash > 0 ? `${enc(name.slice(0, slash))}/${enc(name.slice(slash + 1))}` : enc(name);
  return `pkg:npm/${path}@${enc(version)}`;
}
