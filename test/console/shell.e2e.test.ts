import { expect, it } from 'vitest';
import { describeConsole } from './_browser.ts';

describeConsole('console shell in Chromium', {}, (f) => {
  it('refuses a wrong token with the server’s reason, then signs in with the admin token', async () => {
    const page = await f.browser.newPage();
    try {
      await page.goto(f.url);
      await page.fill('#token', 'ward_not-a-real-token');
      await page.click('form[data-testid=signin] button[type=submit]');
      await expect(page.textContent('[role=alert]')).resolves.toMatch(/unknown or revoked/);
      await page.fill('#token', f.adminToken);
      await page.click('form[data-testid=signin] button[type=submit]');
      await page.waitForSelector('[data-testid=whoami]');
      await expect(page.textContent('[data-testid=whoami]')).resolves.toContain('admin');
      // The token never lands in the URL.
      expect(page.url()).not.toContain(f.adminToken);
    } finally {
      await page.close();
    }
  });

  it('is served with a CSP that allows no inline script and no other origin', async () => {
    const res = await fetch(`${f.url}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect((await fetch(`${f.url}/assets/..%2f..%2fpackage.json`)).status).toBe(404);
  });
});
