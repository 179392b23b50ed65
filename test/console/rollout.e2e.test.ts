/**
 * The Rollout view against the real demo in Chromium: the dry-run denials the demo's
 * `inventory-via-orders` rule produces (frontend → inventory, with samples), unapproved and
 * unused edges, promote refused by the gate with what blocks it, then forced only after the
 * confirmation; and a team token that sees its own edges and may promote only its services.
 */
import type { Page } from 'playwright-core';
import { beforeAll, expect, it } from 'vitest';
import { describeConsole } from './_browser.ts';

/** Refreshes until the demo's shippers have delivered a dry-run denial (they flush every second). */
async function waitForDryRun(page: Page): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if ((await page.locator('[data-testid=dry-run-row]').count()) > 0) return;
    await page.click('[data-testid=rollout-refresh]');
    await page.waitForTimeout(500);
  }
  throw new Error('no dry-run denial reached the report');
}

describeConsole('console Rollout view in Chromium', {}, (f) => {
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    for (const [name, services] of [
      ['team-warehouse', ['shop/inventory']],
      ['team-checkout', ['shop/orders', 'shop/notifications']],
    ] as const) {
      tokens[name] = await f.teamToken(name, services);
    }
  }, 120_000);

  it('shows the dry-run denials with samples, unapproved and unused edges', async () => {
    const page = await f.signedIn('rollout');
    try {
      await waitForDryRun(page);
      const row = page.locator('[data-testid=dry-run-row]').first();
      const text = (await row.textContent()) ?? '';
      expect(text).toContain('shop/frontend → shop/inventory');
      expect(text).toContain('shop/inventory-via-orders#0');
      expect(text).toMatch(/GET \/stock/);
      // notifications has no rule for monitoring's scrapes; payments never mails.
      await page.waitForSelector('[data-testid=unapproved-row]');
      expect(
        (await page.locator('[data-testid=unapproved-row]').allTextContents()).join('\n'),
      ).toContain('monitoring/prometheus → shop/notifications');
      await page.waitForSelector('[data-testid=unused-row]');
      expect(
        (await page.locator('[data-testid=unused-row]').allTextContents()).join('\n'),
      ).toContain('shop/payments → shop/notifications');
    } finally {
      await page.close();
    }
  });

  it('a team token sees only edges of its services and cannot promote another team’s', async () => {
    const page = await f.signedIn('rollout', tokens['team-checkout']);
    try {
      await page.waitForSelector('[data-testid=promote-service]');
      // inventory's dry-run intention belongs to team-warehouse: promote is disabled here.
      expect(await page.inputValue('[data-testid=promote-service]')).toBe('shop/inventory');
      expect(await page.isDisabled('[data-testid=promote-run]')).toBe(true);
      await page.waitForSelector('[data-testid=unapproved-row], [data-testid=unused-row]');
      const edges = await page
        .locator(
          '[data-testid=unapproved-row] td:first-child, [data-testid=unused-row] td:first-child',
        )
        .allTextContents();
      expect(edges.length).toBeGreaterThan(0);
      for (const e of edges) expect(e).toMatch(/orders|notifications/);
      // The frontend → inventory denials (the test before saw them) are not this team's.
      await page.waitForSelector('[data-testid=dry-run-empty]');
      expect(await page.locator('[data-testid=dry-run-row]').count()).toBe(0);
      // The API refuses another team's promote with its own words.
      const res = await page.evaluate(async () => {
        const token = sessionStorage.getItem('ward.token');
        const r = await fetch('/v1/services/shop%2Finventory/promote', {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: '{}',
        });
        return r.status;
      });
      expect(res).toBe(403);
    } finally {
      await page.close();
    }
    // The owner sees them, and may promote.
    const owner = await f.signedIn('rollout', tokens['team-warehouse']);
    try {
      await waitForDryRun(owner);
      expect(await owner.textContent('[data-testid=dry-run-row]')).toContain(
        'shop/frontend → shop/inventory',
      );
      expect(await owner.isDisabled('[data-testid=promote-run]')).toBe(false);
    } finally {
      await owner.close();
    }
  });

  it('promote is blocked by the gate, then forced only after the confirmation', async () => {
    const page = await f.signedIn('rollout');
    try {
      await waitForDryRun(page);
      expect(await page.inputValue('[data-testid=promote-service]')).toBe('shop/inventory');
      await page.click('[data-testid=promote-run]');
      const blocked = await page.waitForSelector('[data-testid=promote-blocked]');
      const why = (await blocked.textContent()) ?? '';
      expect(why).toMatch(/would be denied once enforced/);
      expect(why).toContain('shop/frontend → shop/inventory');
      expect(why).toContain('API_CONFLICT');
      expect(await page.isDisabled('[data-testid=promote-force]')).toBe(true);
      await page.check('[data-testid=promote-confirm]');
      await page.click('[data-testid=promote-force]');
      const done = await page.waitForSelector('[data-testid=promote-done]');
      expect(await done.textContent()).toMatch(
        /shop\/inventory: enforcing shop\/inventory-via-orders at revision \d+ \(forced: \d+ call\(s\)/,
      );
      // shop/inventory has no intention left in dry-run (the demo's Python service, shop/reviews,
      // stays in dry-run by design when python3 is there), and the audit log names the promotion.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const none = (await page.locator('[data-testid=promote-none]').count()) > 0;
        const offered = await page
          .locator('[data-testid=promote-service] option')
          .evaluateAll((options) => options.map((o) => o.getAttribute('value') ?? ''));
        if (none || (offered.length > 0 && !offered.includes('shop/inventory'))) break;
        if (Date.now() > deadline) throw new Error(`still offered for promotion: ${offered}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const audit = await fetch(`${f.url}/v1/audit?limit=5`, {
        headers: { authorization: `Bearer ${f.adminToken}` },
      });
      const items = (
        (await audit.json()) as { items: { action: string; detail: { force?: boolean } }[] }
      ).items;
      expect(items.find((i) => i.action === 'service.promote')?.detail.force).toBe(true);
    } finally {
      await page.close();
    }
  });
});
