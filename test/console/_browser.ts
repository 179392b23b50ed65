/**
 * End-to-end harness of the web console: the real demo (control plane, mesh, traffic) started in
 * this process, and Debian's headless Chromium driven by playwright-core. Each test file gets
 * one demo and one browser; every page signs in through the form, as a user does.
 *
 * Chromium runs with the flags this machine needs (no sandbox as root; no background
 * networking, which the closed network refuses) and SwiftShader for WebGL (no GPU here).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { type RunningDemo, runDemo } from '@ward/demo';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe } from 'vitest';

export const CHROMIUM = process.env.WARD_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null. `.ci/run` installs Chromium. */
export function browserUnavailable(): string | null {
  return existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-swiftshader',
  '--use-angle=swiftshader',
];

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

export interface ConsoleFixture {
  demo: RunningDemo;
  /** The control plane's base URL, which serves the console at `/`. */
  url: string;
  adminToken: string;
  browser: Browser;
  /** A new page signed in with `token` (default: the admin token), at `#/view`. */
  signedIn(view?: string, token?: string): Promise<Page>;
  /** A new team token for `services`. */
  teamToken(name: string, services: readonly string[]): Promise<string>;
  close(): Promise<void>;
}

/** Starts the demo (a few seconds of traffic first, so the graph and reports have data). */
export async function startConsoleFixture(options: { rps?: number } = {}): Promise<ConsoleFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ward-console-e2e-'));
  const out = new PassThrough();
  out.resume();
  // A demo that started but whose browser did not (or a demo that failed half-way) must not
  // outlive the failed start: nothing else holds it to close it.
  let demo: RunningDemo | undefined;
  let browser: Browser;
  try {
    demo = await runDemo({ port: 0, dataDir, rps: options.rps ?? 20, out });
    browser = await launchBrowser();
  } catch (err) {
    await demo?.stop().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const url = demo.info.controlPlane;
  const adminToken = demo.info.adminToken;
  return {
    demo,
    url,
    adminToken,
    browser,
    async signedIn(view = 'graph', token = adminToken) {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.goto(`${url}/#/${view}`);
      await page.fill('#token', token);
      await page.click('form[data-testid=signin] button[type=submit]');
      await page.waitForSelector('[data-testid=whoami]');
      return page;
    },
    async teamToken(name, services) {
      const res = await fetch(`${url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, scope: 'team', services }),
      });
      return ((await res.json()) as { token: string }).token;
    },
    async close() {
      await browser.close().catch(() => {});
      try {
        await demo.stop();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * One test file's browser suite: skipped, loudly, where Chromium is missing; otherwise one demo
 * and browser started before its tests and closed after. `f` is filled in before any `beforeAll`
 * that `body` registers runs, and closed after its `afterAll`s.
 */
export function describeConsole(
  name: string,
  options: { timeout?: number; rps?: number },
  body: (f: ConsoleFixture) => void,
): void {
  const missing = browserUnavailable();
  if (missing) console.warn(`\n!!! SKIPPING the console browser tests: ${missing}.\n`);
  describe.skipIf(missing !== null)(name, { timeout: options.timeout ?? 120_000 }, () => {
    const f = {} as ConsoleFixture;
    beforeAll(async () => {
      Object.assign(f, await startConsoleFixture(options.rps ? { rps: options.rps } : {}));
    }, 120_000);
    afterAll(async () => {
      await f.close?.();
    }, 60_000);
    body(f);
  });
}
