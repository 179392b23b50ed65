/**
 * Where the built console lives, for the control plane to serve. The web app itself is in
 * `web/` (built by Vite into `dist/web`); this module has no import-time side effects.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The directory holding the built console (`index.html` and `assets/`). */
export function consoleAssetsDir(): string {
  // From src/ (source mode) and from dist/ (built), `../dist/web` is the same directory.
  return fileURLToPath(new URL('../dist/web/', import.meta.url));
}

/** Whether the console has been built (`npm run build:console`). */
export function consoleBuilt(): boolean {
  return existsSync(`${consoleAssetsDir()}index.html`);
}
