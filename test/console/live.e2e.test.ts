/**
 * The Live view in Chromium against the real demo: the demo's traffic includes dry-run denials
 * (frontend calling inventory directly, refused by the dry-run intention) and denials (the
 * monitoring tool's scrapes), and they appear in the tail as they arrive; pausing holds new rows;
 * the kind filter narrows the table; the firing alerts list renders.
 */
import { expect, it } from 'vitest';
import { describeConsole } from './_browser.ts';

describeConsole('console Live view in Chromium', {}, (f) => {
  it('shows denials arriving live, pauses, filters by kind, lists alerts', async () => {
    const page = await f.signedIn('live');
    try {
      await page.waitForSelector('[data-testid=live-status]:text("live")');
      // The alerts list loaded (the demo runs the alerts plugin): either rows or "nothing".
      await page.waitForSelector(
        '[data-testid=alerts] :is([data-testid=alert-row], p:text("Nothing is firing"))',
      );
      expect(await page.locator('[data-testid=alerts] .error').count()).toBe(0);
      // Rows keep arriving from the demo's traffic: wait for the table to grow past what it held.
      await page.waitForSelector('[data-testid=live-row]', { timeout: 60_000 });
      const first = await page.locator('[data-testid=live-row]').count();
      await expect
        .poll(() => page.locator('[data-testid=live-row]').count(), { timeout: 60_000 })
        .toBeGreaterThan(first);
      const text = await page.textContent('[data-testid=live-table]');
      expect(text).toMatch(/deny|dry-run/);

      // Paused: the table stays as it is while new denials are held.
      await page.click('[data-testid=live-pause]');
      const frozen = await page.locator('[data-testid=live-row]').allTextContents();
      await page.waitForSelector('[data-testid=live-pause]:text("new")', { timeout: 60_000 });
      expect(await page.locator('[data-testid=live-row]').allTextContents()).toEqual(frozen);
      await page.click('[data-testid=live-pause]');
      await expect
        .poll(() => page.locator('[data-testid=live-row]').count())
        .toBeGreaterThan(frozen.length);

      // Kind filter: only dry-run denials remain.
      await page.selectOption('[data-testid=live-filter-kind]', 'dry-run-deny');
      const kinds = () => page.locator('[data-testid=live-row] td:nth-child(2)').allTextContents();
      await expect
        .poll(
          async () => {
            const k = await kinds();
            return k.length > 0 && k.every((x) => x === 'dry-run');
          },
          { timeout: 60_000 },
        )
        .toBe(true);
    } finally {
      await page.close();
    }
  });
});
