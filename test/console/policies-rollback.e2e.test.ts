/**
 * "Roll back to this revision" in the Policies view's History tab, against the real demo in
 * Chromium: the dry-run diff first (stored text shown as text, never markup), then the
 * confirmation rolls back as a new revision; a change made while the diff is on screen makes the
 * confirmation fail with 412 and shows the new diff; a team token may pick only its services.
 */
import type { Page } from 'playwright-core';
import { beforeAll, expect, it } from 'vitest';
import { describeConsole } from './_browser.ts';

describeConsole('console History: roll back to a revision', {}, (f) => {
  let team = '';

  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
  async function api(method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${f.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${f.adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    expect(res.status, path).toBe(200);
    return res.json();
  }
  const revision = async (): Promise<number> => (await api('GET', '/v1/revision')).revision;
  /** Rewrites the notifications intention's description; returns the revision before. */
  async function describeNotifications(text: string): Promise<number> {
    const before = await revision();
    const stored = await api('GET', '/v1/intentions/shop%2Fnotifications');
    const doc = structuredClone(stored.document);
    doc.spec.rules[0].description = text;
    await api('POST', '/v1/apply', { files: [{ name: 'n.json', content: JSON.stringify(doc) }] });
    return before;
  }
  async function openRollback(page: Page, to: number): Promise<void> {
    await page.click(`[data-testid=rb-open][data-revision="${to}"]`);
    await page.waitForSelector('[data-testid=rb-plan], [data-testid=rb-nothing]');
  }

  beforeAll(async () => {
    team = await f.teamToken('team-warehouse', ['shop/inventory']);
  }, 120_000);

  it('shows the diff first, as text, then rolls back on confirmation', async () => {
    const original = (await api('GET', '/v1/intentions/shop%2Fnotifications')).document;
    const hostile = '<img src=x data-testid=injected onerror=alert(1)>';
    const to = await describeNotifications(hostile);
    const page = await f.signedIn('policies?tab=history');
    try {
      await openRollback(page, to);
      const doc = page.locator('[data-testid=rb-doc][data-key="Intention/shop/notifications"]');
      const text = (await doc.textContent()) ?? '';
      expect(text).toContain('updated');
      expect(text).toContain('/spec/rules/0/description');
      expect(text).toContain(hostile);
      expect(await page.locator('[data-testid=injected]').count()).toBe(0);
      expect(await revision()).toBe(to + 1);

      await page.click('[data-testid=rb-confirm]');
      const done = await page.waitForSelector('[data-testid=rb-done]');
      expect(await done.textContent()).toContain(`now at revision ${to + 2}`);
      expect((await api('GET', '/v1/intentions/shop%2Fnotifications')).document).toEqual(original);
      const entry = await api('GET', `/v1/history/${to + 2}`);
      expect(entry.operation).toBe('rollback');
    } finally {
      await page.close();
    }
  });

  it('refuses (412) a rollback whose documents changed while its diff was shown, and shows the new diff', async () => {
    const to = await describeNotifications('first edit');
    const page = await f.signedIn('policies?tab=history');
    try {
      await openRollback(page, to);
      await describeNotifications('second edit, made while the diff is on screen');
      const changed = await revision();
      await page.click('[data-testid=rb-confirm]');
      const problem = await page.waitForSelector('[data-testid=rb-problem]');
      expect(await problem.textContent()).toContain('API_PRECONDITION_FAILED');
      await page.waitForSelector('[data-testid=rb-plan] >> text=second edit');
      expect(await revision()).toBe(changed);
    } finally {
      await page.close();
    }
  });

  it('lets a team token roll back only its own services', async () => {
    const page = await f.signedIn('policies?tab=history', team);
    try {
      await page.waitForSelector('[data-testid=rb-open]');
      const first = await page
        .locator('[data-testid=rb-open]')
        .first()
        .getAttribute('data-revision');
      await openRollback(page, Number(first));
      const options = await page
        .locator('[data-testid=rb-scope] option')
        .evaluateAll((els) => els.map((e) => e.getAttribute('value')));
      expect(options).toEqual(['shop/inventory']);
    } finally {
      await page.close();
    }
  });
});
