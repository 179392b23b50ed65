/**
 * The Policies view against the real demo in Chromium: a document's YAML, an edit applied and
 * diffed against the revision before, the audit log with its chain verdict, the playground's
 * allow and deny with the deciding rule and a compile error at its line; and a team token that
 * sees its own services and gets the API's refusal for another team's document and the audit.
 */
import type { Page } from 'playwright-core';
import { beforeAll, expect, it } from 'vitest';
import { describeConsole } from './_browser.ts';

async function openDocument(page: Page, key: string): Promise<void> {
  await page.click(`[data-testid=doc-row][data-key="${key}"]`);
  await page.waitForSelector('[data-testid=doc-yaml]');
}

async function evaluate(page: Page, input: object): Promise<void> {
  await page.fill('[data-testid=pg-input]', JSON.stringify(input));
  await page.click('[data-testid=pg-evaluate]');
  await page.waitForSelector('[data-testid=pg-result], [data-testid=pg-problem]');
}

describeConsole('console Policies view in Chromium', {}, (f) => {
  let team = '';
  beforeAll(async () => {
    team = await f.teamToken('team-warehouse', ['shop/inventory']);
  }, 120_000);

  it('shows a document’s YAML, applies an edit and diffs it against the revision before', async () => {
    const page = await f.signedIn('policies');
    try {
      // Documents by kind and key: the demo's live in namespace `shop`.
      await openDocument(page, 'Intention/shop/inventory');
      const yaml = (await page.textContent('[data-testid=doc-yaml]')) ?? '';
      expect(yaml).toContain('destination: inventory');
      expect(yaml).toContain('description: stock levels');

      await openDocument(page, 'Intention/shop/notifications');
      await page.click('[data-testid=doc-edit-start]');
      const text = await page.inputValue('[data-testid=doc-edit]');
      await page.fill(
        '[data-testid=doc-edit]',
        text.replace('order and payment confirmation mails', 'confirmation mails, edited'),
      );
      await page.click('[data-testid=doc-apply]');
      await expect(
        page.waitForSelector('[data-testid=doc-applied]').then((e) => e.textContent()),
      ).resolves.toMatch(/applied as revision \d+/);

      await page.click('[data-testid=tab-history]');
      await page.waitForSelector('[data-testid=history-row] >> nth=1');
      await page.click('[data-testid=diff-run]');
      const diff = await page.waitForSelector(
        '[data-testid=diff-doc][data-key="Intention/shop/notifications"]',
      );
      const lines = (await diff.textContent()) ?? '';
      expect(lines).toContain('- ');
      expect(lines).toContain('confirmation mails, edited');
      expect(lines).toContain('changed');
    } finally {
      await page.close();
    }
  });

  it('lists audit entries with the chain verdict', async () => {
    const page = await f.signedIn('policies?tab=audit');
    try {
      await page.waitForSelector('[data-testid=audit-row]');
      expect(await page.locator('[data-testid=audit-row]').count()).toBeGreaterThan(0);
      await expect(page.textContent('[data-testid=audit-chain]')).resolves.toMatch(
        /Chain verified/,
      );
    } finally {
      await page.close();
    }
  });

  it('playground: allow and deny with the deciding rule, and a compile error at its line', async () => {
    const page = await f.signedIn('policies?tab=playground');
    try {
      await evaluate(page, {
        destination: 'shop/inventory',
        source: { service: 'shop/orders' },
        request: { method: 'GET', path: '/stock/42' },
      });
      expect(await page.textContent('[data-testid=pg-decision]')).toBe('allow');
      expect(await page.textContent('[data-testid=pg-rule]')).toBe('shop/inventory#0');
      expect(await page.locator('[data-testid=pg-considered-row]').count()).toBeGreaterThan(1);

      // The demo's dry-run rule: it decides deny, not enforced.
      await evaluate(page, {
        destination: 'shop/inventory',
        source: { service: 'shop/frontend' },
        request: { method: 'GET', path: '/stock/42' },
      });
      expect(await page.textContent('[data-testid=pg-decision]')).toBe('deny');
      expect(await page.textContent('[data-testid=pg-rule]')).toBe('shop/inventory-via-orders#0');
      await expect(page.textContent('[data-testid=pg-result]')).resolves.toContain('dry-run');

      await evaluate(page, {
        destination: 'shop/payments',
        source: { service: 'shop/frontend' },
        request: { method: 'POST', path: '/charges' },
      });
      expect(await page.textContent('[data-testid=pg-decision]')).toBe('deny');
      expect(await page.textContent('[data-testid=pg-rule]')).toBe('default');
      await expect(page.textContent('[data-testid=pg-reason]')).resolves.toMatch(/default/);

      // An edited set with a CEL error on line 9.
      await page.check('[data-testid=pg-edit-toggle]');
      await page.waitForSelector('[data-testid=pg-policies]');
      await page.fill(
        '[data-testid=pg-policies]',
        [
          'apiVersion: ward.dev/v1',
          'kind: Intention',
          'metadata: { name: payments, namespace: shop }',
          'spec:',
          '  destination: payments',
          '  rules:',
          '    - sources: [frontend]',
          '      action: allow',
          '      when: request.method ==',
        ].join('\n'),
      );
      await page.click('[data-testid=pg-evaluate]');
      const line = await page.waitForSelector('[data-testid=pg-error-line]');
      expect(await line.getAttribute('data-line')).toBe('9');
      expect(await line.textContent()).toContain('when: request.method ==');
      await expect(page.textContent('[data-testid=pg-problem]')).resolves.toContain(
        'edited.yaml:9',
      );

      // Fixed, the edited rule decides.
      await page.fill(
        '[data-testid=pg-policies]',
        (await page.inputValue('[data-testid=pg-policies]')).replace(
          'request.method ==',
          'request.method == "POST"',
        ),
      );
      await page.click('[data-testid=pg-evaluate]');
      await page.waitForSelector('[data-testid=pg-result]');
      expect(await page.textContent('[data-testid=pg-decision]')).toBe('allow');
      expect(await page.textContent('[data-testid=pg-rule]')).toBe('shop/payments#0');
    } finally {
      await page.close();
    }
  });

  it('a team token sees its services and gets the API’s refusal for another team’s document', async () => {
    const page = await f.signedIn('policies', team);
    try {
      await expect(page.textContent('[data-testid=whoami]')).resolves.toContain('team');
      await page.waitForSelector('[data-testid=doc-row]');
      const keys = await page
        .locator('[data-testid=doc-row]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-key')));
      expect(keys.sort()).toEqual([
        'Intention/shop/inventory',
        'Intention/shop/inventory-via-orders',
        'Service/shop/inventory',
      ]);

      await page.uncheck('[data-testid=only-mine]');
      await openDocument(page, 'Intention/shop/orders');
      await page.click('[data-testid=doc-edit-start]');
      const text = await page.inputValue('[data-testid=doc-edit]');
      await page.fill('[data-testid=doc-edit]', text.replace('lists and places', 'takes'));
      await page.click('[data-testid=doc-apply]');
      const problem = await page.waitForSelector('[data-testid=doc-problem]');
      expect(await problem.textContent()).toMatch(/API_FORBIDDEN|does not own|may not/);

      await page.click('[data-testid=tab-audit]');
      const refused = await page.waitForSelector('[data-testid=audit-problem]');
      expect(await refused.textContent()).toContain('a team token may not GET /v1/audit');
    } finally {
      await page.close();
    }
  });
});
