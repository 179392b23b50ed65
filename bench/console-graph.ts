/**
 * `npm run bench -- console-graph [services edges] [--runs=3]`: the console's Graph view (sigma, WebGL)
 * in headless Chromium (SwiftShader: WebGL on the CPU, as this machine has no GPU) on a
 * generated graph — by default 200 services / 2,000 edges, then 1,000 / 10,000. Target: first
 * render of 1,000 / 10,000 under 2 s. Every figure is the median of `--runs` page loads.
 *
 * For each size: `first_render_ms` is navigation start → the first frame drawn with every
 * service (the built console page signs in from sessionStorage, fetches `GET /v1/graph/view`,
 * lays out and draws; `draw_ms` the part from creating the renderer); `pan_fps` is frames the
 * renderer drew per second while a drag pans the map back and forth for ~3 s (a pointer move
 * synthesized in the page every animation frame, each asking for a redraw), `pan_raf_fps` the
 * page's animation-frame rate over the same span (equal when every frame was drawn).
 *
 * Peer, same graph, same positions (the console's layout module run here), same run:
 * Cytoscape.js (canvas) with a preset layout, measured the same way (`peer_*`).
 *
 * The page is served by a small static server here (the built console plus the two API answers
 * it needs), so the figures are the browser's alone, not the control plane's.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EdgeStateV1 as EdgeState, GraphViewV1 as GraphView } from '@ward/api-types';
import { analyze, type DependencyGraph } from '@ward/graph';
import type { Page } from 'playwright-core';
import { layout } from '../packages/console/web/src/graph/layout.ts';
import { edgeColour, nodeColour } from '../packages/console/web/src/graph/model.ts';
import { launchBrowser } from '../test/console/_browser.ts';
import { progress, round } from './_stats.ts';
import { generate } from './graph-analyze.ts';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'packages/console/dist/web');
const PAN_MS = 3_000;

/** The view the control plane would answer for a generated graph (real analysis). */
export function generatedView(n: number, m: number): GraphView {
  const graph: DependencyGraph = generate(n, m, Math.max(2, Math.round(n / 100)));
  const analysis = analyze(graph);
  const waveOf = new Map<string, number>();
  analysis.bootOrder.waves.forEach((w, i) => {
    for (const s of w) waveOf.set(s, i);
  });
  const inCycle = new Set(analysis.components.flat());
  const STATES: EdgeState[][] = [
    ['declared', 'observed', 'approved'],
    ['observed', 'approved'],
    ['declared'],
    ['observed'],
    ['observed', 'dry-run-denied'],
    ['observed', 'denied'],
  ];
  return {
    nodes: graph.services.map((s, i) => ({
      id: s.name,
      name: s.name,
      namespace: `ns-${i % 8}`,
      team: `team-${i % 20}`,
      wave: waveOf.get(s.name) ?? null,
      inCycle: inCycle.has(s.name),
      kind: 'service',
      virtual: false,
    })),
    edges: graph.edges.map((e, i) => ({
      from: e.from,
      to: e.to,
      states: STATES[i % STATES.length]!,
      startup: e.kind === 'startup',
      calls: e.metrics?.calls ?? 0,
      errors: 0,
      denied: i % 6 === 5 ? 3 : 0,
      dryRunDenied: i % 6 === 4 ? 2 : 0,
      firstSeen: '2026-11-30T08:00:00.000Z',
      lastSeen: '2026-11-30T09:00:00.000Z',
      rule: null,
      protocol: 'http',
      ports: [],
      mtls: true,
    })),
    cycles: analysis.cycles.map((c) => c.services),
    components: analysis.components,
    waves: analysis.bootOrder.waves,
    truncated: false,
    totals: { services: graph.services.length, edges: graph.edges.length },
  };
}

/** The Cytoscape page: same positions and colours, no inline script (like the console). */
const PEER_HTML = `<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/peer.css"></head>
<body><div id="cy"></div><script src="/cytoscape.min.js"></script><script src="/peer.js"></script></body></html>`;
const PEER_CSS = 'html,body{margin:0;height:100%}#cy{width:100vw;height:100vh}';
const PEER_JS = `
fetch('/peer-data.json').then(r => r.json()).then(data => {
  const cy = cytoscape({
    container: document.getElementById('cy'),
    elements: data,
    layout: { name: 'preset' },
    // The same trade as the console makes on a large map: no edges while the view moves.
    hideEdgesOnViewport: data.length > 1800,
    style: [
      { selector: 'node', style: { 'background-color': 'data(color)', width: 6, height: 6, label: '' } },
      { selector: 'edge', style: { 'line-color': 'data(color)', width: 1 } },
    ],
  });
  let first = true;
  let frames = 0;
  cy.on('render', () => {
    const el = document.getElementById('cy');
    el.dataset.frames = String(++frames);
    if (!first) return;
    first = false;
    el.dataset.rendered = String(cy.nodes().length);
    el.dataset.paintedAt = String(Math.round(performance.now()));
  });
});`;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

function serve(view: GraphView, peer: unknown): Promise<{ server: Server; url: string }> {
  const viewJson = JSON.stringify(view);
  const peerJson = JSON.stringify(peer);
  const cytoscapeJs = readFileSync(join(dirname(require.resolve('cytoscape')), 'cytoscape.min.js'));
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (type: string, body: string | Buffer) => {
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (path === '/v1/whoami')
      return send(TYPES['.json']!, '{"name":"bench","scope":"admin","services":[],"via":"token"}');
    if (path === '/v1/graph/view') return send(TYPES['.json']!, viewJson);
    if (path === '/peer.html') return send(TYPES['.html']!, PEER_HTML);
    if (path === '/peer.css') return send(TYPES['.css']!, PEER_CSS);
    if (path === '/peer.js') return send(TYPES['.js']!, PEER_JS);
    if (path === '/peer-data.json') return send(TYPES['.json']!, peerJson);
    if (path === '/cytoscape.min.js') return send(TYPES['.js']!, cytoscapeJs);
    const file = normalize(join(DIST, path === '/' ? 'index.html' : path));
    if (!file.startsWith(DIST)) {
      res.writeHead(404).end();
      return;
    }
    try {
      send(TYPES[extname(file)] ?? 'application/octet-stream', readFileSync(file));
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
    });
  });
}

/** Loads `path`, waits for the first full frame, then drags the canvas for PAN_MS. */
async function measure(page: Page, url: string, selector: string) {
  await page.goto(url);
  await page.waitForSelector(`${selector}[data-rendered]`, { timeout: 120_000 });
  const firstRender = Number(await page.getAttribute(selector, 'data-painted-at'));
  const drawMs = await page.getAttribute(selector, 'data-render-ms');
  const box = (await page.locator(selector).boundingBox())!;
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  // Browser-side code as text (the root tsconfig has no DOM types). The drag is synthesized in
  // the page, one pointer move per animation frame, so the input rate never bounds the figure
  // (moves sent from here through the DevTools protocol arrive at only ~10-25/s under load).
  const pan = (await page.evaluate(`new Promise((resolve) => {
    const box = document.querySelector(${JSON.stringify(selector)});
    const target = document.elementFromPoint(${cx}, ${cy});
    const fire = (type, x, y) => {
      const init = { clientX: x, clientY: y, bubbles: true, cancelable: true, button: 0,
        buttons: type === 'up' ? 0 : 1, pointerId: 1, pointerType: 'mouse', isPrimary: true };
      target.dispatchEvent(new PointerEvent('pointer' + type, init));
      target.dispatchEvent(new MouseEvent('mouse' + type, init));
    };
    fire('down', ${cx}, ${cy});
    const before = Number(box.dataset.frames);
    let ticks = 0;
    const t0 = performance.now();
    const tick = (t) => {
      ticks++;
      const dx = 200 * Math.sin((t - t0) / 250);
      fire('move', ${cx} + dx, ${cy} + dx / 3);
      if (t - t0 < ${PAN_MS}) return requestAnimationFrame(tick);
      // Let the last move draw before counting.
      requestAnimationFrame(() => {
        const drawn = Number(box.dataset.frames) - before;
        fire('up', ${cx} + dx, ${cy} + dx / 3);
        resolve({ drawn, ticks, ms: performance.now() - t0 });
      });
    };
    requestAnimationFrame(tick);
  })`)) as { drawn: number; ticks: number; ms: number };
  return {
    first_render_ms: round(firstRender),
    ...(drawMs === null ? {} : { draw_ms: Number(drawMs) }),
    pan_fps: round((pan.drawn * 1000) / pan.ms),
    pan_raf_fps: round((pan.ticks * 1000) / pan.ms),
  };
}

/**
 * What bounds any WebGL frame rate here: requestAnimationFrame callbacks per second on a blank
 * page that only clears a viewport-sized WebGL canvas each frame (SwiftShader fills on the CPU).
 */
async function ceiling(page: Page): Promise<number> {
  await page.setContent('<canvas id="c" width="1400" height="900"></canvas>');
  const fps = await page.evaluate(`new Promise((resolve) => {
    const gl = document.getElementById('c').getContext('webgl2');
    let frames = 0;
    const t0 = performance.now();
    const tick = (t) => {
      frames++;
      gl.clearColor(frames % 2, 0, 0, 1);
      gl.clear(gl.COLOR_BUFFER_BIT);
      if (t - t0 < ${PAN_MS}) requestAnimationFrame(tick);
      else resolve((frames * 1000) / (t - t0));
    };
    requestAnimationFrame(tick);
  })`);
  return round(Number(fps));
}

/** Each figure's median over `runs` loads of the same page (a fresh navigation each time). */
async function measureRuns(page: Page, url: string, selector: string, runs: number) {
  const all: Record<string, number>[] = [];
  for (let r = 0; r < runs; r++) all.push(await measure(page, url, selector));
  const out: Record<string, number> = {};
  for (const key of Object.keys(all[0]!))
    out[key] = all.map((x) => x[key]!).sort((a, b) => a - b)[Math.floor(runs / 2)]!;
  return out as Awaited<ReturnType<typeof measure>>;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const runsArg = args.find((a) => a.startsWith('--runs='));
  const runs = runsArg ? Math.max(1, Number(runsArg.slice(7))) : 3;
  const numbers = args.filter((a) => !a.startsWith('--')).map(Number);
  const sizes: [number, number][] =
    numbers.length >= 2
      ? [[numbers[0]!, numbers[1]!]]
      : [
          [200, 2_000],
          [1_000, 10_000],
        ];
  const { execFileSync } = await import('node:child_process');
  execFileSync(process.execPath, [join(ROOT, 'tools/build-console.ts'), '--if-stale'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const { version: peerVersion } = require('cytoscape') as { version: string };
  const browser = await launchBrowser();
  const results: Record<string, unknown>[] = [];
  let webglCeiling = 0;
  try {
    const blank = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    webglCeiling = await ceiling(blank);
    await blank.close();
    progress(`WebGL clear-only frame rate here: ${webglCeiling} fps`);
    for (const [n, m] of sizes) {
      progress(`generating ${n} services / ${m} edges…`);
      const view = generatedView(n, m);
      const t0 = performance.now();
      const positions = layout(view);
      const layoutMs = performance.now() - t0;
      const peerData = [
        ...view.nodes.map((v) => ({
          data: { id: v.id, color: nodeColour(v) },
          position: { x: positions.get(v.id)!.x, y: -positions.get(v.id)!.y },
        })),
        ...view.edges.map((e) => ({
          data: { id: `${e.from}>${e.to}`, source: e.from, target: e.to, color: edgeColour(e) },
        })),
      ];
      const { server, url } = await serve(view, peerData);
      try {
        const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
        await context.addInitScript(() => sessionStorage.setItem('ward.token', 'bench'));
        const page = await context.newPage();
        progress(`ward (sigma): ${n} / ${m}…`);
        const ward = await measureRuns(page, `${url}/#/graph`, '[data-testid=graph-canvas]', runs);
        progress(`  ${JSON.stringify(ward)}`);
        progress(`peer (cytoscape ${peerVersion}): ${n} / ${m}…`);
        const peer = await measureRuns(page, `${url}/peer.html`, '#cy', runs);
        progress(`  ${JSON.stringify(peer)}`);
        await context.close();
        results.push({
          services: n,
          edges: view.edges.length,
          layout_ms_node: round(layoutMs),
          ...ward,
          peer_first_render_ms: peer.first_render_ms,
          peer_pan_fps: peer.pan_fps,
          peer_pan_raf_fps: peer.pan_raf_fps,
        });
      } finally {
        server.close();
      }
    }
  } finally {
    await browser.close();
  }
  return {
    renderer: 'sigma (WebGL, SwiftShader)',
    peer: `cytoscape ${peerVersion} (canvas, preset layout)`,
    pan_ms: PAN_MS,
    runs,
    webgl_clear_only_fps: webglCeiling,
    target_first_render_ms: 2_000,
    sizes: results,
  };
}
