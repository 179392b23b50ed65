/**
 * The console's Identity & fleet view in Chromium against the real demo: the demo's PDPs (SDK,
 * default reporting) appear SYNCED at their service's revision; filters narrow the table; a team
 * token sees its own service's PDPs only; the trust bundle shows its active root.
 */
import { expect, it } from 'vitest';
import { describeConsole } from './_browser.ts';

interface Item {
  kind: string;
  instance: string;
  service: string | null;
  revision: number;
  desiredRevision: number | null;
  state: string;
}

describeConsole('console fleet view in Chromium', { rps: 5 }, (f) => {
  const api = async <T>(path: string, init: RequestInit = {}, token?: string): Promise<T> => {
    const res = await fetch(`${f.url}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${token ?? f.adminToken}`,
        'content-type': 'application/json',
      },
    });
    return (await res.json()) as T;
  };

  it('shows the demo PDPs SYNCED at their service revision', async () => {
    // The PDPs report right after their first bundle, then every 5 s in the demo.
    let pdps: Item[] = [];
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      pdps = (await api<{ items: Item[] }>('/v1/fleet')).items.filter((i) => i.kind === 'pdp');
      if (
        pdps.length >= 3 &&
        pdps.every((p) => p.state === 'SYNCED' && p.revision === p.desiredRevision)
      )
        break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(pdps.length).toBeGreaterThanOrEqual(3);
    const page = await f.signedIn('fleet');
    try {
      await page.waitForSelector('[data-testid=fleet-table]');
      const first = pdps[0]!;
      const row = page.locator(`[data-testid=fleet-row][data-instance="${first.instance}"]`);
      await row.waitFor();
      await expect(row.getAttribute('data-state')).resolves.toBe('SYNCED');
      await expect(row.locator('[data-testid=fleet-revision]').textContent()).resolves.toBe(
        String(first.desiredRevision),
      );
      await expect(row.locator('[data-testid=fleet-scope]').textContent()).resolves.toBe(
        first.service,
      );
      // Every PDP row is SYNCED (no STALE or LOST in a healthy demo).
      const states = await page
        .locator('[data-testid=fleet-row]')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-state')));
      expect(states.length).toBeGreaterThanOrEqual(pdps.length);
      expect(new Set(states)).toEqual(new Set(['SYNCED']));

      // Filters: LOST leaves nothing; a service name leaves only its rows.
      await page.selectOption('[data-testid=filter-state]', 'LOST');
      await page.waitForSelector('[data-testid=fleet-empty]');
      await page.selectOption('[data-testid=filter-state]', '');
      await page.fill('[data-testid=filter-text]', first.service!);
      const scopes = page.locator('[data-testid=fleet-scope]');
      await expect
        .poll(
          async () => new Set(await scopes.evaluateAll((cells) => cells.map((c) => c.textContent))),
        )
        .toEqual(new Set([first.service]));

      // The trust bundle: one active root, rotation idle.
      await page.waitForSelector('[data-testid=root-row]');
      await expect(page.textContent('[data-testid=roots]')).resolves.toContain('active');
      await expect(page.textContent('[data-testid=rotation]')).resolves.toContain('idle');
    } finally {
      await page.close();
    }
  });

  it('shows a team token only its own service', async () => {
    const pdps = (await api<{ items: Item[] }>('/v1/fleet')).items.filter((i) => i.kind === 'pdp');
    const mine = pdps[0]!.service!;
    const { token } = await api<{ token: string }>('/v1/tokens', {
      method: 'POST',
      body: JSON.stringify({ name: 'fleet-e2e-team', scope: 'team', services: [mine] }),
    });
    const page = await f.signedIn('fleet', token);
    try {
      await page.waitForSelector('[data-testid=fleet-row]');
      const scopes = await page
        .locator('[data-testid=fleet-scope]')
        .evaluateAll((cells) => cells.map((c) => c.textContent));
      expect(new Set(scopes)).toEqual(new Set([mine]));
    } finally {
      await page.close();
    }
  });

  it('shows a reported label as text, never as markup', async () => {
    const { token } = await api<{ token: string }>('/v1/tokens', {
      method: 'POST',
      body: JSON.stringify({ name: 'fleet-e2e-pdp', scope: 'pdp', services: ['shop/orders'] }),
    });
    const label = '<img src=x data-testid=injected onerror=alert(1)>';
    const res = await fetch(`${f.url}/v1/status/pdp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        instance: 'html-label',
        service: 'shop/orders',
        revision: 1,
        bundleAt: null,
        connected: false,
        version: '0',
        startedAt: new Date().toISOString(),
        label,
        decisions: { allowed: 0, denied: 0, dryRunDenied: 0 },
      }),
    });
    expect(res.status).toBe(204);
    const page = await f.signedIn('fleet');
    try {
      const row = page.locator('[data-testid=fleet-row][data-instance="html-label"]');
      await row.waitFor();
      await expect(row.textContent()).resolves.toContain(label);
      expect(await page.locator('[data-testid=injected]').count()).toBe(0);
    } finally {
      await page.close();
    }
  });

  it('counts down the SVID expiry of the workloads the demo agent serves', async () => {
    interface W {
      spiffeId: string;
      serial: string | null;
    }
    let held: W[] = [];
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      held = (await api<{ workloads: W[] }>('/v1/identity')).workloads.filter((w) => w.serial);
      if (held.length > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (held.length === 0) {
      console.warn('!!! the demo ran without its node agent (fallback identity): no SVID to show');
      return;
    }
    const page = await f.signedIn('fleet');
    try {
      const expiry = page.locator('[data-testid=workload-expiry]').first();
      await page.waitForSelector('[data-testid=workload-row]');
      await expect
        .poll(async () => expiry.textContent())
        .toMatch(/^(\d+h \d{2}m|\d+m \d{2}s|\d+s)$/);
      await expect(page.textContent('[data-testid=workloads]')).resolves.toContain(
        held[0]!.serial!,
      );
    } finally {
      await page.close();
    }
  });
});
