/**
 * The Graph view against the real demo in headless Chromium: the whole map draws (WebGL through
 * SwiftShader), the demo's declared cycle (orders ⇄ notifications at startup) is listed and
 * lights up, selecting a service shows its blast radius, and opening an edge shows its details
 * with the counts the demo's traffic produced.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeConsole } from './_browser.ts';

describeConsole('console Graph view in Chromium', {}, (f) => {
  let page: Page;
  beforeAll(async () => {
    // The demo's PDPs ship decision logs in batches: wait until the edge the tests open has
    // counts, so the page loads a map that has them.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const res = await fetch(`${f.url}/v1/graph/view`, {
        headers: { authorization: `Bearer ${f.adminToken}` },
      });
      const view = (await res.json()) as { edges: { from: string; to: string; calls: number }[] };
      const e = view.edges.find((x) => x.from === 'frontend' && x.to === 'orders');
      if ((e?.calls ?? 0) > 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    page = await f.signedIn('graph');
    await page.waitForSelector('[data-testid=graph-canvas][data-rendered]');
  }, 120_000);
  afterAll(async () => {
    await page?.close();
  }, 60_000);

  it('draws every service of the map on the WebGL canvas', async () => {
    const drawn = Number(await page.getAttribute('[data-testid=graph-canvas]', 'data-rendered'));
    expect(drawn).toBeGreaterThanOrEqual(5);
    expect(await page.locator('[data-testid=graph-canvas] canvas').count()).toBeGreaterThan(0);
    await expect(page.textContent('[data-testid=graph-summary]')).resolves.toMatch(
      /services, \d+ of \d+ edges/,
    );
    await expect(page.textContent('[data-testid=graph-legend]')).resolves.toContain('dry-run');
  });

  it('lists the declared cycle and highlights it', async () => {
    const cycle = page.locator('[data-testid=graph-cycle]').first();
    const text = (await cycle.textContent()) ?? '';
    expect(text).toContain('orders');
    expect(text).toContain('notifications');
    await cycle.click();
    await expect(cycle.getAttribute('class')).resolves.toContain('active');
  });

  it('shows the blast radius of a selected service', async () => {
    await page.fill('[data-testid=graph-search]', 'inventory');
    await page.click('[data-testid=graph-hits] button:text-is("inventory")');
    const panel = page.locator('[data-testid=graph-node-panel]');
    await expect(panel.locator('h3').textContent()).resolves.toBe('inventory');
    // frontend and orders call inventory (declared): both break when it breaks.
    const dependents = (await page.textContent('[data-testid=graph-dependents]')) ?? '';
    expect(dependents).toContain('frontend');
    expect(dependents).toContain('orders');
  });

  it('opens an edge with its states and counts', async () => {
    await page.fill('[data-testid=graph-search]', 'frontend');
    await page.click('[data-testid=graph-hits] button:text-is("frontend")');
    await page.click('[data-testid=graph-edge-link]:text-is("frontend → orders")');
    const panel = page.locator('[data-testid=graph-edge-panel]');
    await expect(panel.locator('h3').textContent()).resolves.toBe('frontend → orders');
    const states = (await page.textContent('[data-testid=graph-edge-states]')) ?? '';
    expect(states).toContain('declared');
    expect(states).toContain('approved');
    expect(Number(await page.textContent('[data-testid=graph-edge-calls]'))).toBeGreaterThan(0);
    expect(await page.textContent('[data-testid=graph-edge-rule]')).not.toBe('—');
  });

  it('keeps the selection in the URL, so a link opens the same edge', async () => {
    expect(decodeURIComponent(page.url())).toContain('edge=frontend\u2192orders');
    const linked = await f.signedIn(`graph?edge=${encodeURIComponent('orders\u2192payments')}`);
    try {
      await linked.waitForSelector('[data-testid=graph-edge-panel]');
      await expect(linked.textContent('[data-testid=graph-edge-panel] h3')).resolves.toBe(
        'orders \u2192 payments',
      );
    } finally {
      await linked.close();
    }
  });

  it('filters by edge state and namespace', async () => {
    const summary = async () => (await page.textContent('[data-testid=graph-summary]')) ?? '';
    const shownEdges = async () => Number(/(\d+) of \d+ edges/.exec(await summary())?.[1]);
    const before = await shownEdges();
    await page.uncheck('[data-testid=graph-state-declared]');
    await page.uncheck('[data-testid=graph-state-observed]');
    await page.uncheck('[data-testid=graph-state-approved]');
    expect(await shownEdges()).toBeLessThan(before);
    await page.check('[data-testid=graph-state-declared]');
    await page.check('[data-testid=graph-state-observed]');
    await page.check('[data-testid=graph-state-approved]');
    expect(await shownEdges()).toBe(before);
    await page.selectOption('[data-testid=graph-namespace]', 'shop');
    expect(await summary()).toMatch(/^\d+ of \d+ services/);
  });

  it('reloads the map for another observation window', async () => {
    await page.selectOption('[data-testid=graph-since]', '1h');
    await page.waitForSelector('[data-testid=graph-canvas][data-rendered]');
    await expect(page.textContent('[data-testid=graph-summary]')).resolves.toMatch(/services/);
    await expect(page.inputValue('[data-testid=graph-since]')).resolves.toBe('1h');
  });

  it('renders a hostile owner as text, never as markup', async () => {
    const owner = '<img src=x onerror="document.body.dataset.pwned=1"><b>team</b>';
    const doc = {
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name: 'lookalike' },
      spec: { owner },
    };
    const res = await fetch(`${f.url}/v1/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${f.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ files: [{ name: 'x.yaml', content: JSON.stringify(doc) }] }),
    });
    expect(res.status).toBe(200);
    const fresh = await f.signedIn('graph');
    try {
      await fresh.waitForSelector('[data-testid=graph-canvas][data-rendered]');
      await fresh.fill('[data-testid=graph-search]', 'lookalike');
      await fresh.click('[data-testid=graph-hits] button:text-is("lookalike")');
      const panel = fresh.locator('[data-testid=graph-node-panel]');
      await expect(panel.textContent()).resolves.toContain(owner);
      expect(await panel.locator('img, b').count()).toBe(0);
      const options = await fresh.locator('[data-testid=graph-team] option').allTextContents();
      expect(options).toContain(owner);
      expect(await fresh.evaluate('document.body.dataset.pwned ?? null')).toBeNull();
    } finally {
      await fresh.close();
    }
  });
});
