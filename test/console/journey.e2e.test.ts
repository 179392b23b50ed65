/**
 * The journey issue 13 names, in one browser session against the demo: sign in, find the cycle,
 * open an edge, read the dry-run report, promote (the gate refuses, then force), and see the
 * now-enforced denials of frontend → inventory arrive in the live tail. Each view is reached
 * through the navigation bar, as a user would.
 */
import type { Page } from 'playwright-core';
import { afterAll, expect, it } from 'vitest';
import { describeConsole } from './_browser.ts';

describeConsole('console journey in Chromium', { timeout: 180_000, rps: 30 }, (f) => {
  let page: Page;
  afterAll(async () => {
    await page?.close();
  }, 60_000);

  const nav = (title: string) => page.click(`header nav a:text-is("${title}")`);

  it('signs in, finds the cycle, opens an edge, promotes and sees the denials live', async () => {
    page = await f.signedIn('graph');

    // The cycle: listed on the graph, with both services.
    await page.waitForSelector('[data-testid=graph-canvas][data-rendered]');
    const cycle = page.locator('[data-testid=graph-cycle]').first();
    await cycle.waitFor();
    const members = (await cycle.textContent()) ?? '';
    expect(members).toContain('shop/orders');
    expect(members).toContain('shop/notifications');

    // An edge: frontend → inventory is the one the dry-run rule would deny.
    await page.fill('[data-testid=graph-search]', 'shop/frontend');
    await page.click('[data-testid=graph-hits] button:text-is("shop/frontend")');
    await page.click('[data-testid=graph-edge-link]:text-is("shop/frontend → shop/inventory")');
    await expect(page.locator('[data-testid=graph-edge-panel] h3').textContent()).resolves.toBe(
      'shop/frontend → shop/inventory',
    );

    // The dry-run report lists it with the rule that would deny it.
    await nav('Rollout');
    await expect
      .poll(
        async () => {
          if ((await page.locator('[data-testid=dry-run-row]').count()) === 0)
            await page.click('[data-testid=rollout-refresh]');
          return page.locator('[data-testid=dry-run-row]').allTextContents();
        },
        { timeout: 60_000, interval: 1_000 },
      )
      .toEqual(expect.arrayContaining([expect.stringContaining('shop/inventory-via-orders#0')]));

    // Promote: the gate refuses while calls would be denied; force after confirming.
    await page.click('[data-testid=promote-run]');
    await page.waitForSelector('[data-testid=promote-blocked]');
    await page.check('[data-testid=promote-confirm]');
    await page.click('[data-testid=promote-force]');
    await page.waitForSelector('[data-testid=promote-done]');

    // The rule is enforced now: frontend's direct stock reads are denied, and the live tail
    // shows them as enforced denials (not dry-run) as they arrive.
    await nav('Live');
    await page.selectOption('[data-testid=live-filter-kind]', 'deny');
    // A row's cells read: time, kind, source, destination, call, rule.
    const enforced = async () => {
      const rows = await page.locator('[data-testid=live-row]').all();
      const cells = await Promise.all(rows.map((row) => row.locator('td').allTextContents()));
      return cells.map(([, kind, source, destination, , rule]) =>
        [kind, source, destination, rule].join(' '),
      );
    };
    await expect
      .poll(enforced, { timeout: 60_000, interval: 500 })
      .toContain('deny shop/frontend shop/inventory shop/inventory-via-orders#0');
  });
});
