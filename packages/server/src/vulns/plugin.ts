/**
 * The vulns plugin (issue 17): `POST /v1/vulns/scan` runs `@ward/vulns`'s `scan` on the lockfiles
 * a team sends, against the advisory set the server loaded at start, with the service's exposure
 * read from the graph `GET /v1/graph` serves; `POST /v1/vulns/reload` (admin) loads the set again.
 *
 * The plugin reads no files itself: `load` does (`ward server --vulns-osv DIR|ZIP` passes the
 * CLI's own loader), so the server and `ward vulns` read OSV, EPSS and KEV files one way. Without
 * `load` the routes answer 503 saying how to configure them. Register it after `ingestPlugin()`:
 * the graph comes from the ingest tables.
 */
import type { AdvisoryDatabase, EpssEntry, KevEntry } from '@ward/vulns';
import type { FastifyInstance } from 'fastify';
import { ServerError } from '../errors.ts';
import type { WardPlugin } from '../http/app.ts';
import { vulnsRoutes } from './routes.ts';

/** What the scans run against: the advisories and, when given, the exploit signals. */
export interface VulnsData {
  advisories: AdvisoryDatabase;
  epss?: ReadonlyMap<string, EpssEntry>;
  kev?: ReadonlyMap<string, KevEntry>;
}

export interface VulnsPluginOptions {
  /**
   * Loads the advisory set: once when the server starts (a failure stops the start) and again on
   * `POST /v1/vulns/reload` (a failure keeps the set in use). Absent: not configured.
   */
  load?: () => VulnsData | Promise<VulnsData>;
  /** Largest request body of a scan (the lockfiles' JSON). Default 8 MiB; beyond, 413. */
  maxBodyBytes?: number;
  /** Clock (epoch ms): suppression expiry and the graph window. */
  now?: () => number;
}

export const DEFAULT_VULNS_BODY_BYTES = 8 * 1024 * 1024;

/** How to turn the routes on, said by every 503 of an unconfigured server. */
export const NOT_CONFIGURED =
  'no advisories are loaded on this server: start it with `ward server --vulns-osv DIR|ZIP [--vulns-epss FILE] [--vulns-kev FILE]`';

/** The advisory set in use, swapped whole by a reload (a scan keeps the one it started with). */
export class VulnsState {
  #data: VulnsData | undefined;
  private readonly load: VulnsPluginOptions['load'];
  constructor(load: VulnsPluginOptions['load']) {
    this.load = load;
  }

  get configured(): boolean {
    return this.load !== undefined;
  }

  /** The set in use; 503 when the server was started without one. */
  data(): VulnsData {
    if (this.#data === undefined) throw new ServerError('API_UNAVAILABLE', NOT_CONFIGURED);
    return this.#data;
  }

  async reload(): Promise<VulnsData> {
    if (this.load === undefined) throw new ServerError('API_UNAVAILABLE', NOT_CONFIGURED);
    this.#data = await this.load();
    return this.#data;
  }
}

/**
 * Creates the vulns plugin.
 *
 * @example
 * ```ts
 * import { ingestPlugin, startServer, vulnsPlugin } from '@ward/server';
 * const server = await startServer({ plugins: [ingestPlugin(), vulnsPlugin({ load })] });
 * ```
 */
export function vulnsPlugin(options: VulnsPluginOptions = {}): WardPlugin {
  return {
    name: 'vulns',
    async register(app: FastifyInstance) {
      if (!app.wardRoutes.some((r) => r.url === '/v1/graph')) {
        throw new ServerError(
          'SERVER_CONFIG_INVALID',
          'register vulnsPlugin() after ingestPlugin(): exposure comes from its graph',
        );
      }
      const state = new VulnsState(options.load);
      if (state.configured) await state.reload();
      vulnsRoutes(app, {
        state,
        now: options.now ?? Date.now,
        maxBodyBytes: options.maxBodyBytes ?? DEFAULT_VULNS_BODY_BYTES,
      });
    },
  };
}
