/**
 * undici, the SDK's HTTP client, loaded at first use rather than at import. Loading undici fills
 * Node's global dispatcher slot (`Symbol.for('undici.globalDispatcher.1'/'.2')`, the one Node's
 * own `fetch` fills on first use) when nothing has yet; deferring the load keeps `import
 * '@ward/sdk'` from changing globals. undici is CommonJS, so the load is synchronous.
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

let loaded: typeof Undici | undefined;

export function undici(): typeof Undici {
  loaded ??= createRequire(import.meta.url)('undici') as typeof Undici;
  return loaded;
}
