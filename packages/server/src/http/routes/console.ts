/**
 * The web console: the built single-page app of `@ward/console`, served at `/` with its hashed
 * assets under `/assets/`. Every file is read once at start into memory: the set is small and
 * fixed at build time, and a request names a key of that map, never a filesystem path, so no
 * request can reach outside the build. The app authenticates to the API with a Ward token the
 * user types in; these routes themselves hold nothing secret and are public.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { consoleAssetsDir, consoleBuilt } from '@ward/console';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ServerError } from '../../errors.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

/**
 * No inline script or style element, nothing from another origin, no framing: stored text shown
 * by the console (names, labels, YAML, log samples) cannot run as code even if a view failed to
 * escape it. `style-src` allows attributes set from script (the graph canvas sizes itself).
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  type: string;
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const type = TYPES[extname(entry.name)];
    if (!type) continue;
    assets.set(`/${relative(dir, path).split('\\').join('/')}`, {
      body: readFileSync(path),
      type,
    });
  }
  return assets;
}

function send(reply: FastifyReply, asset: Asset, immutable: boolean): FastifyReply {
  return reply
    .header('content-type', asset.type)
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    .send(asset.body);
}

export async function consoleRoutes(
  app: FastifyInstance,
  options: { dir?: string | undefined } = {},
): Promise<void> {
  // `dir` points at another build (tests of a missing or a different console).
  const built =
    options.dir === undefined ? consoleBuilt() : existsSync(join(options.dir, 'index.html'));
  const dir = options.dir ?? consoleAssetsDir();
  const assets = built ? loadAssets(dir) : new Map<string, Asset>();
  const page = { config: { auth: 'public' as const }, schema: { hide: true } };

  app.get('/', page, async (_request, reply) => {
    const index = assets.get('/index.html');
    if (!index) {
      throw new ServerError(
        'API_UNAVAILABLE',
        'the web console is not built; run `npm run build:console` (npm start builds it)',
      );
    }
    return send(reply, index, false);
  });

  app.get<{ Params: { file: string } }>('/assets/:file', page, async (request, reply) => {
    const asset = assets.get(`/assets/${request.params.file}`);
    if (!asset) throw new ServerError('API_NOT_FOUND', 'no such console asset');
    // Asset names carry a content hash: a name never changes meaning, so caches may keep it.
    return send(reply, asset, true);
  });
}
