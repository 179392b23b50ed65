/**
 * The Secrets view against the real demo (control plane with secretsPlugin) in Chromium: a team
 * token sees the secrets of its service, opens one, rotates it and rolls it back through the
 * confirmations; a refusal shows the API's problem; another team sees none of it. The page never
 * asks for a value (no request to `…/value`) and its DOM never holds one.
 */
import type { Page } from 'playwright-core';
import { beforeAll, expect, it } from 'vitest';
import { describeConsole } from './_browser.ts';

const SECRET = 'shop/console-e2e-key';
const PATH = `/v1/secrets/${encodeURIComponent(SECRET)}`;

describeConsole('console Secrets view', {}, (f) => {
  let owner = '';
  let stranger = '';
  const value = `console-e2e-${crypto.randomUUID()}`;

  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
  async function api(method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${f.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${f.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    expect(res.status, `${method} ${path}: ${res.status}`).toBeLessThan(300);
    return res.status === 204 ? undefined : res.json();
  }
  async function apply(doc: Record<string, unknown>): Promise<void> {
    await api('POST', '/v1/apply', { files: [{ name: 'doc.json', content: JSON.stringify(doc) }] });
  }
  const secretDoc = {
    apiVersion: 'ward.dev/v1',
    kind: 'Secret',
    metadata: { name: 'console-e2e-key', namespace: 'shop' },
    spec: {
      owner: 'vault-e2e',
      readers: ['orders', 'vault-e2e'],
      type: 'random',
      random: { length: 40, alphabet: 'base64url' },
      rotation: { every: '12h', activation: '0s', grace: '1h' },
    },
  };

  /** Every value the secret has had, read through the API (never through the page). */
  async function values(): Promise<string[]> {
    const versions = (await api('GET', `${PATH}/versions`)).items as { version: number }[];
    const out: string[] = [];
    for (const v of versions) {
      out.push((await api('GET', `${PATH}/value?version=${v.version}`)).data.value);
    }
    return out;
  }

  /** A page signed in with `token` that records every path it requests. */
  async function open(view: string, token: string): Promise<{ page: Page; paths: string[] }> {
    const page = await f.signedIn(view, token);
    const paths: string[] = [];
    page.on('request', (r) => paths.push(new URL(r.url()).pathname));
    return { page, paths };
  }

  async function expectNoValue(page: Page, paths: string[]): Promise<void> {
    const html = await page.content();
    const text = (await page.locator('body').textContent()) ?? '';
    const known = await values();
    expect(known).toContain(value);
    for (const v of known) {
      expect(html).not.toContain(v);
      expect(text).not.toContain(v);
    }
    expect(paths.filter((p) => p.endsWith('/value'))).toEqual([]);
  }

  beforeAll(async () => {
    await apply({
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name: 'vault-e2e', namespace: 'shop' },
      spec: { owner: 'team-vault' },
    });
    await apply(secretDoc);
    await api('PUT', PATH, { data: { value } });
    owner = await f.teamToken('team-vault', ['shop/vault-e2e']);
    stranger = await f.teamToken('team-stranger', ['shop/notifications']);
  }, 120_000);

  it('lists the secret, opens it, rotates it through the confirmation, and never shows a value', async () => {
    const { page, paths } = await open('secrets', owner);
    try {
      const row = page.locator(`[data-testid=secret-row][data-secret="${SECRET}"]`);
      await row.waitFor();
      const rowText = (await row.textContent()) ?? '';
      expect(rowText).toContain('shop/vault-e2e');
      expect(rowText).toContain('random');
      expect(rowText).toContain('shop/orders');
      expect(await row.locator('[data-testid=secret-current]').textContent()).toBe('v1');
      expect(await row.locator('a[href="#/graph?node=shop%2Forders"]').count()).toBe(1);
      expect(await page.textContent('[data-testid=secrets-note]')).toContain(
        'ward secret get --reveal',
      );

      await row.locator('[data-testid=secret-open]').click();
      await page.waitForSelector(
        '[data-testid=secret-version][data-version="1"][data-state=current]',
      );
      expect(page.url()).toContain('#/secrets?secret=shop%2Fconsole-e2e-key');
      const facts = (await page.textContent('[data-testid=secret-facts]')) ?? '';
      expect(facts).toContain('every 12h');

      // Rotate asks first; cancelling writes nothing.
      await page.click('[data-testid=secret-rotate]');
      await page.click('[data-testid=secret-cancel]');
      expect(await page.locator('[data-testid=secret-confirm-box]').count()).toBe(0);
      expect((await api('GET', PATH)).currentVersion).toBe(1);

      await page.click('[data-testid=secret-rotate]');
      await page.click('[data-testid=secret-confirm]');
      expect(await page.textContent('[data-testid=secret-done]')).toContain('wrote version 2');
      await page.waitForSelector('[data-testid=secret-version][data-version="2"]');
      expect(
        await page
          .locator('[data-testid=secret-version][data-version="2"] td')
          .nth(4)
          .textContent(),
      ).toBe('rotate');
      const detail = await api('GET', PATH);
      expect(detail.currentVersion).toBe(2);
      expect(detail.versions.find((v: { version: number }) => v.version === 2).createdBy).toBe(
        'team-vault',
      );

      await expectNoValue(page, paths);
    } finally {
      await page.close();
    }
  });

  it('rolls back to a version after confirmation, as a new version holding its value', async () => {
    const before = (await api('GET', PATH)).versions.length as number;
    const { page, paths } = await open('secrets?secret=shop%2Fconsole-e2e-key', owner);
    try {
      await page.click('[data-testid=secret-rollback][data-version="1"]');
      expect(await page.textContent('[data-testid=secret-confirm-box]')).toContain(
        'Roll back shop/console-e2e-key to version 1',
      );
      await page.click('[data-testid=secret-confirm]');
      await page.waitForSelector(`[data-testid=secret-version][data-version="${before + 1}"]`);
      const answer = await api('GET', `${PATH}/value?version=${before + 1}`);
      expect(answer.data.value).toBe(value);
      await expectNoValue(page, paths);
    } finally {
      await page.close();
    }
  });

  it("shows the API's problem when it refuses an action", async () => {
    const { page } = await open('secrets?secret=shop%2Fconsole-e2e-key', owner);
    try {
      await page.waitForSelector('[data-testid=secret-version]');
      await page.click('[data-testid=secret-rotate]');
      // The Secret document goes away while the confirmation is on screen: the API refuses.
      await api('DELETE', '/v1/secretpolicies/shop%2Fconsole-e2e-key');
      await page.click('[data-testid=secret-confirm]');
      const problem = (await page.textContent('[data-testid=secret-problem]')) ?? '';
      expect(problem).toContain('SECRET_NOT_DECLARED');
      expect(problem).toContain('shop/console-e2e-key');
    } finally {
      await page.close();
      await apply(secretDoc);
    }
  });

  it('shows another team none of it, and refuses its detail with the API’s reason', async () => {
    const { page } = await open('secrets', stranger);
    try {
      await page.waitForSelector('[data-testid=secrets-table], [data-testid=secrets-empty]');
      expect(await page.locator(`[data-testid=secret-row][data-secret="${SECRET}"]`).count()).toBe(
        0,
      );
      await page.evaluate("location.hash = '#/secrets?secret=shop%2Fconsole-e2e-key'");
      const problem = (await page.textContent('[data-testid=problem]')) ?? '';
      expect(problem).toContain('API_FORBIDDEN');
      expect(await page.locator('[data-testid=secret-rotate]').count()).toBe(0);
      // A URL naming no secret key asks the API nothing.
      await page.evaluate("location.hash = '#/secrets?secret=..'");
      expect(await page.textContent('[data-testid=secret-bad-key]')).toContain('Not a secret name');
    } finally {
      await page.close();
    }
  });
});
