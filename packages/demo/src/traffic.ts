/**
 * The traffic loop: simulated end users at a bounded rate through the gateway (each with a real
 * access token from the demo's OpenID provider), and the
 * monitoring tool scraping every service's /metrics. No burst: one request per tick, and ticks
 * are skipped while too many requests are still in flight.
 */
import { request } from 'undici';
import { SKUS, USERS } from './handlers.ts';
import type { Caller } from './service.ts';

export interface TrafficStats {
  /** End-user requests sent to the frontend, and how they were answered. */
  requests: number;
  ok: number;
  refused: number;
  failed: number;
  /** Monitoring scrapes sent, and those its egress guard refused. */
  scrapes: number;
  scrapesRefused: number;
}

const MAX_IN_FLIGHT = 64;

export interface Traffic {
  readonly stats: TrafficStats;
  /** Stops the loops and waits for the requests in flight. */
  stop(): Promise<void>;
}

/** Starts the loops: `rps` end-user requests per second, a scrape round every 2 s. */
export function startTraffic(opts: {
  /** The gateway; the shop is under `/shop/`. */
  gatewayUrl: string;
  /** A current access token for a user. */
  token: (user: string) => Promise<string>;
  rps: number;
  monitoring: Caller;
  scrapeTargets: readonly string[];
}): Traffic {
  const stats: TrafficStats = {
    requests: 0,
    ok: 0,
    refused: 0,
    failed: 0,
    scrapes: 0,
    scrapesRefused: 0,
  };
  const inFlight = new Set<Promise<void>>();
  const users = Object.keys(USERS);
  const placed = new Map<string, string[]>();
  let n = 0;
  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const userRequest = async (): Promise<void> => {
    const user = users[n % users.length]!;
    const sku = SKUS[(n * 7) % SKUS.length]!;
    const pick = n++ % 20;
    let method = 'GET';
    let path = `/products/${sku}`;
    let body: string | undefined;
    const mine = placed.get(user) ?? [];
    if (pick >= 7 && pick < 13) {
      method = 'POST';
      path = '/checkout';
      body = JSON.stringify({ sku, qty: 1 + (n % 3) });
    } else if (pick >= 13 && pick < 17) {
      path = '/orders';
    } else if (pick >= 17 && mine.length > 0 && USERS[user]!.role === 'customer') {
      method = 'DELETE';
      path = `/orders/${mine.shift()}`;
    }
    stats.requests++;
    try {
      const token = await opts.token(user);
      const res = await request(`${opts.gatewayUrl}/shop${path}`, {
        method: method as 'GET',
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const text = await res.body.text();
      if (res.statusCode < 400) stats.ok++;
      else if (res.statusCode === 403) stats.refused++;
      else stats.failed++;
      if (method === 'POST' && res.statusCode === 201) {
        const id = (JSON.parse(text) as { id: string }).id;
        placed.set(user, [...mine, id].slice(-10));
      }
    } catch {
      stats.failed++;
    }
  };

  const scrape = async (): Promise<void> => {
    await Promise.all(
      opts.scrapeTargets.map(async (target) => {
        stats.scrapes++;
        try {
          const r = await opts.monitoring(target, 'GET', '/metrics');
          if (r.refused) stats.scrapesRefused++;
        } catch {
          // A scrape that fails is just a gap in monitoring.
        }
      }),
    );
  };

  const userTimer = setInterval(() => {
    if (inFlight.size < MAX_IN_FLIGHT) track(userRequest());
  }, 1000 / opts.rps);
  const scrapeTimer = setInterval(() => track(scrape()), 2000);
  track(scrape());

  return {
    stats,
    async stop() {
      clearInterval(userTimer);
      clearInterval(scrapeTimer);
      await Promise.allSettled([...inFlight]);
    },
  };
}
