/**
 * The read-only view of a project the reachability analysis works through (the caller gives
 * one over the disk, an archive or memory), and the POSIX path arithmetic it needs.
 */

/** Read-only files. Paths are absolute and `/`-separated. */
export interface FileSystem {
  /** The text of a file, or undefined when there is none (or it cannot be read). */
  readFile(path: string): string | undefined;
  /** Whether a regular file is there. */
  isFile(path: string): boolean;
  /** Names in a directory (optional; unused today). */
  list?(dir: string): string[];
}

/** `/a/./b/../c/` → `/a/c`; never goes above `/`. */
export function normalizePath(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

export function joinPath(...parts: string[]): string {
  return normalizePath(parts.join('/'));
}

export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Whether `path` is `root` or inside it (both normalized). */
export function isInside(root: string, path: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

/** `root`-relative form of `path` for messages. */
export function relativeTo(root: string, path: string): string {
  if (path === root) return '.';
  return isInside(root, path) ? path.slice(root === '/' ? 1 : root.length + 1) : path;
}

/**
 * The package a file belongs to, from its last `node_modules/` segment (`@scope/name` or
 * `name`), with the package's directory; undefined for the project's own files.
 */
export function packageOf(path: string): { name: string; dir: string } | undefined {
  const i = path.lastIndexOf('/node_modules/');
  if (i < 0) return undefined;
  const rest = path.slice(i + '/node_modules/'.length).split('/');
  const first = rest[0] ?? '';
  if (first === '') return undefined;
  const name = first.startsWith('@') && rest.length > 1 ? `${first}/${rest[1]}` : first;
  return { name, dir: `${path.slice(0, i)}/node_modules/${name}` };
}
