import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CodeScanner,
  type Finding,
  GraphIngest,
  parseGraphJson,
  ServiceNames,
  type Syntax,
  scanText,
  syntaxOf,
} from '../src/index.ts';

/**
 * Issue 11 item 2: dependencies found in code and configuration. The fixture is a small shop in
 * TypeScript, Go, Java, Python, YAML, .properties and .env whose Compose file declares no
 * dependency: every edge below comes from the code.
 */
const fixture = join(import.meta.dirname, 'fixtures', 'scan');

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(relative(fixture, p).split('\\').join('/'));
  }
  return out;
}

/** Scans the fixture as the CLI does: manifests first, then every other file. */
function scanFixture(minConfidence: 'low' | 'medium' | 'high' = 'medium') {
  const files = filesUnder(fixture);
  const scanner = new CodeScanner({ roots: ['.'], files, minConfidence });
  const manifests = new Set(
    files.filter(
      (f) => /\.ya?ml$/.test(f) && scanner.addManifest(f, readFileSync(join(fixture, f), 'utf8')),
    ),
  );
  for (const f of files)
    if (!manifests.has(f)) scanner.scanFile(f, readFileSync(join(fixture, f), 'utf8'));
  return scanner.finish();
}

const EXPECTED = [
  'frontend → inventory',
  'frontend → orders',
  'inventory → orders',
  'inventory → postgres',
  'inventory → redis',
  'orders → payments',
  'orders → postgres',
  'payments → rabbitmq',
];

describe('graph scan over a multi-language fixture', () => {
  const result = scanFixture();

  it('finds every dependency of the shop, and nothing else', () => {
    expect(result.graph.edges.map((e) => `${e.from} → ${e.to}`)).toEqual(EXPECTED);
    expect(result.manifests).toEqual([{ file: 'docker-compose.yml', type: 'compose' }]);
    // Compose `build:` contexts name the service directories.
    expect(result.serviceDirs).toEqual([
      { dir: 'frontend', service: 'frontend' },
      { dir: 'inventory', service: 'inventory' },
      { dir: 'orders', service: 'orders' },
      { dir: 'payments', service: 'payments' },
    ]);
  });

  it('points each edge at the file, line and column of the text that names the service', () => {
    for (const edge of result.graph.edges) {
      expect(edge.provenance).toBe('declared');
      for (const s of edge.sources) {
        expect(s.type).toBe('scan');
        const lines = readFileSync(join(fixture, s.file), 'utf8').split('\n');
        const at = lines[s.line! - 1]!.slice(s.col! - 1);
        const finding = result.findings.find(
          (f) => f.file === s.file && f.line === s.line && f.col === s.col,
        )!;
        expect(at.startsWith(finding.match)).toBe(true);
        expect(finding.to).toBe(edge.to);
      }
    }
    const ordersUrl = result.findings.find((f) => f.match === 'http://orders:8080')!;
    expect(ordersUrl).toMatchObject({
      file: 'frontend/src/api.ts',
      line: 3,
      col: 54,
      from: 'frontend',
      to: 'orders',
      evidence: 'url',
      confidence: 'high',
      port: 8080,
    });
  });

  it('grades evidence: env var with a default naming the service is high, without medium', () => {
    const env = (match: string) => result.findings.find((f) => f.match === match)!;
    expect(env('REDIS_HOST')).toMatchObject({ evidence: 'env-var', confidence: 'high' });
    expect(env('ORDERS_SERVICE_URL')).toMatchObject({ evidence: 'env-var', confidence: 'high' });
    expect(env('PAYMENTS_SERVICE_ADDR')).toMatchObject({
      evidence: 'env-var',
      confidence: 'medium',
    });
    expect(env('rabbitmq')).toMatchObject({ evidence: 'config-key', confidence: 'high' });
    // The strongest finding of a line is the one the edge keeps.
    const redis = result.graph.edges.find((e) => e.to === 'redis')!;
    expect(redis.sources[0]).toMatchObject({ evidence: 'env-var', confidence: 'high' });
  });

  it('ignores comments, public hosts and strings that only name a service', () => {
    const matches = result.findings.map((f) => `${f.file}:${f.match}`);
    expect(matches.filter((m) => m.includes('payments:9000'))).toEqual([
      'orders/main.go:payments:9000',
    ]);
    expect(matches.some((m) => m.includes('redis:6379'))).toBe(false);
    expect(matches.some((m) => m.includes('orders:8080') && m.startsWith('payments'))).toBe(false);
    expect(matches.some((m) => m.includes('rabbitmq:5672'))).toBe(false);
    expect(matches.some((m) => m.includes('example.com'))).toBe(false);
    // `sql.Open("postgres", …)`: the driver name is a low finding, under the default bar.
    const low = result.findings.find((f) => f.file === 'orders/main.go' && f.match === 'postgres')!;
    expect(low.confidence).toBe('low');
    expect(result.stats.belowConfidence).toBe(1);
  });

  it('reads back as a Ward graph that merges with other inputs', () => {
    const json = JSON.parse(JSON.stringify({ graph: result.graph }));
    const parsed = parseGraphJson(json, 'scan.json');
    expect(parsed.edges.length).toBe(EXPECTED.length);
    const ingest = new GraphIngest();
    ingest.add('graph-json', 'scan.json', JSON.stringify({ graph: result.graph }));
    const { graph } = ingest.finish();
    expect(graph.edges.map((e) => `${e.from} → ${e.to}`)).toEqual(EXPECTED);
    expect(graph.edges[0]!.sources[0]).toMatchObject({ type: 'scan', evidence: 'url' });
  });

  it('with --min-confidence high keeps only high edges; low adds the driver name', () => {
    const high = scanFixture('high');
    expect(high.graph.edges.map((e) => `${e.from} → ${e.to}`)).toEqual(EXPECTED);
    for (const e of high.graph.edges)
      expect(e.sources.every((s) => s.confidence === 'high')).toBe(true);
    expect(scanFixture('low').stats.belowConfidence).toBe(0);
  });
});

describe('service names', () => {
  const names = new ServiceNames();
  for (const n of ['cartservice', 'productcatalogservice', 'customers-service', 'ad', 'redis-cart'])
    names.add(n);

  it('maps environment-variable names to services', () => {
    expect(names.resolveEnv('CART_SERVICE_ADDR')).toEqual({ name: 'cartservice', via: 'name' });
    expect(names.resolveEnv('PRODUCT_CATALOG_SERVICE_HOST')?.name).toBe('productcatalogservice');
    expect(names.resolveEnv('CUSTOMERS_SERVICE_URL')?.name).toBe('customers-service');
    expect(names.resolveEnv('REDIS_ADDR')).toEqual({ name: 'redis-cart', via: 'alias' });
    // No address word at the end, or nothing known: no match.
    expect(names.resolveEnv('CART_SERVICE')).toBeUndefined();
    expect(names.resolveEnv('LOG_LEVEL_HOST')).toBeUndefined();
  });

  it('maps hosts to services, but not public domains', () => {
    expect(names.resolveHost('cartservice')).toBe('cartservice');
    expect(names.resolveHost('cartservice.shop')).toBe('cartservice');
    expect(names.resolveHost('cartservice.shop.svc.cluster.local')).toBe('cartservice');
    expect(names.resolveHost('cartservice.com')).toBeUndefined();
    expect(names.resolveHost('cart')).toBeUndefined();
  });

  it('names a spring-petclinic-style directory after the known service it ends with', () => {
    const scanner = new CodeScanner({
      roots: ['repo'],
      files: [
        'repo/spring-petclinic-vets-service/pom.xml',
        'repo/spring-petclinic-vets-service/src/main/resources/application.yml',
        'repo/pom.xml',
      ],
      services: ['vets-service', 'config-server'],
    });
    const found = scanner.scanFile(
      'repo/spring-petclinic-vets-service/src/main/resources/application.yml',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a Spring placeholder, not a template
      'spring:\n  config:\n    import: optional:configserver:${CONFIG_SERVER_URL:http://config-server:8888/}\n',
    );
    expect(found.map((f) => [f.from, f.to, f.evidence, f.confidence, f.match])).toEqual([
      ['vets-service', 'config-server', 'url', 'high', 'http://config-server:8888'],
      ['vets-service', 'config-server', 'env-var', 'high', 'CONFIG_SERVER_URL'],
    ]);
    expect(scanner.finish().serviceDirs).toEqual([
      { dir: 'repo/spring-petclinic-vets-service', service: 'vets-service' },
    ]);
  });

  it('gives test code no owner: a harness under test/ is not a service', () => {
    const files = [
      'test/telemetry/package.json',
      'test/telemetry/run.js',
      'cart/go.mod',
      'cart/tests/cart_test.go',
    ];
    const scanner = new CodeScanner({ roots: ['.'], files, services: ['checkout', 'valkey-cart'] });
    expect(
      scanner.scanFile('test/telemetry/run.js', "get('http://checkout:8080/')\n")[0]?.from,
    ).toBeUndefined();
    expect(
      scanner.scanFile('cart/tests/cart_test.go', 'x := "checkout:8080"\n')[0]?.from,
    ).toBeUndefined();
    // Valkey is named by technology, like Redis: VALKEY_ADDR → the one valkey service.
    expect(scanner.scanFile('cart/main.go', 'a := os.Getenv("VALKEY_ADDR")\n')[0]).toMatchObject({
      from: 'cart',
      to: 'valkey-cart',
      confidence: 'medium',
    });
    const r = scanner.finish();
    expect(r.serviceDirs).toEqual([{ dir: 'cart', service: 'cart' }]);
    expect(r.stats.unowned).toBe(2);
  });

  it('reads Compose build contexts and Dockerfile paths, but not a context shared by several', () => {
    const compose = [
      'services:',
      '  ad:',
      '    build: { context: ./, dockerfile: src/ad/Dockerfile }',
      '  cart:',
      '    build: { context: ./ }',
      '  quote:',
      '    build: { context: ./ }',
      '  shipping:',
      '    build: ./svc/ship',
      '  redis:',
      '    image: redis:7',
    ].join('\n');
    const files = ['src/ad/Main.java', 'svc/ship/main.rs', 'src/cart/x.cs', 'src/quote/y.php'];
    const scanner = new CodeScanner({ roots: ['.'], files });
    expect(scanner.addManifest('compose.yaml', compose)).toBe(true);
    // `image: redis:7` and `FROM redis:7` are image tags, not addresses; a URL still counts.
    expect(scanner.scanFile('svc/ship/values.yaml', 'image: redis:7\n')).toEqual([]);
    expect(scanner.scanFile('svc/ship/Dockerfile', 'FROM redis:7\n')).toEqual([]);
    expect(scanner.scanFile('svc/ship/app.yaml', 'cache: redis:6379\n')[0]?.to).toBe('redis');
    // `src/ad` from its Dockerfile path, `svc/ship` from its context; `src/cart` and `src/quote`
    // (whose shared context names no directory) because they are named like known services.
    expect(scanner.finish().serviceDirs).toEqual([
      { dir: 'src/ad', service: 'ad' },
      { dir: 'src/cart', service: 'cart' },
      { dir: 'src/quote', service: 'quote' },
      { dir: 'svc/ship', service: 'shipping' },
    ]);
  });

  it('records a manifest that does not parse as skipped, with its line, and adds nothing', () => {
    const scanner = new CodeScanner({ roots: ['.'], files: ['k8s/bad.yaml'] });
    const bad = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n {{ .Values }}\n';
    expect(scanner.addManifest('k8s/bad.yaml', bad)).toBe(false);
    const r = scanner.finish();
    expect(r.skipped).toHaveLength(1);
    expect(r.skipped[0]!.reason).toMatch(/^not read as kubernetes: line \d+/);
    expect(r.graph.services).toEqual([]);
  });
});

/** Every finding lies inside the file and its `match` is the text at its line and column. */
function positionsHold(text: string, findings: Finding[]): void {
  const lines = text.split('\n');
  // One assertion for all findings: half a megabyte of input has tens of thousands of them.
  const bad = findings.filter(
    (f) =>
      f.line < 1 ||
      f.line > lines.length ||
      f.col < 1 ||
      lines[f.line - 1]!.slice(f.col - 1, f.col - 1 + f.match.length) !== f.match,
  );
  expect(bad).toEqual([]);
}

describe('scan of untrusted files (properties)', () => {
  const names = new ServiceNames();
  for (const n of ['orders', 'cart', 'redis', 'payments-service']) names.add(n);
  const syntaxes: Syntax[] = ['c', 'python', 'config'];
  const piece = fc.constantFrom(
    'orders',
    'cart',
    'ORDERS_HOST',
    'CART_SERVICE_ADDR',
    'PAYMENTS_SERVICE_URL',
    'http://',
    '://',
    ':8080',
    ':99999',
    ':',
    '.svc.cluster.local',
    '${',
    '}',
    ':-',
    '"',
    "'",
    '`',
    '"""',
    '//',
    '/*',
    '*/',
    '#',
    '=',
    '\n',
    '\r\n',
    ' ',
    '\\',
    '-',
    '.',
    '@',
    'é',
    '\u0000',
  );
  const source = fc
    .array(fc.oneof(piece, fc.string({ maxLength: 6 })), { maxLength: 80 })
    .map((a) => a.join(''));

  it('never throws, and every position points at its match', () => {
    fc.assert(
      fc.property(source, fc.constantFrom(...syntaxes), (text, syntax) => {
        positionsHold(text, scanText('f', text, syntax, names));
      }),
      { numRuns: 600 },
    );
  });

  it('finds a URL to a known service wherever it sits in a string', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', ' ', '/', '?', '='), maxLength: 20 }),
        fc.integer({ min: 1, max: 65535 }),
        (pad, port) => {
          const text = `x = "${pad} http://orders:${port}/p"\n`;
          const hits = scanText('f.py', text, 'python', names).filter((f) => f.evidence === 'url');
          expect(hits).toHaveLength(1);
          expect(hits[0]!.match).toBe(`http://orders:${port}`);
          positionsHold(text, hits);
        },
      ),
    );
  });

  it('stays linear on adversarial input: half a megabyte of the worst lines scans in seconds', () => {
    // Bound, stated: each input is ~500 KB, which a linear scan reads in well under a second on
    // a loaded machine; a quadratic one (~10^11 steps) would take minutes. 5 s is generous.
    const attacks = [
      (n: number) => 'a:'.repeat(n),
      (n: number) => '${A_B'.repeat(n),
      (n: number) => `"${'orders.'.repeat(n)}`,
      (n: number) => '://'.repeat(n),
      (n: number) => `x = "${'a-'.repeat(n)}"`,
      (n: number) => '"\\'.repeat(n),
      (n: number) => `'${'a'.repeat(n)}`,
      (n: number) => 'ORDERS_HOST "orders" '.repeat(n),
    ];
    for (const attack of attacks) {
      const text = attack(Math.ceil(500_000 / attack(1).length));
      for (const syntax of syntaxes) {
        const t0 = performance.now();
        positionsHold(text, scanText('f', text, syntax, names));
        expect(performance.now() - t0, `${attack(1)} as ${syntax}`).toBeLessThan(5000);
      }
    }
  });

  it('a whole scan of random trees never throws, and edges start at service directories', () => {
    const segment = fc.constantFrom('src', 'orders', 'cart', 'test', 'app', '..', '.', 'a b', 'x');
    const leaf = fc.constantFrom(
      'main.go',
      'app.py',
      'index.ts',
      'Dockerfile',
      'package.json',
      'compose.yaml',
      'k8s.yaml',
      '.env',
      'a.properties',
      'logo.png',
    );
    const file = fc
      .tuple(fc.array(segment, { maxLength: 4 }), leaf)
      .map(([dirs, name]) => ['root', ...dirs, name].join('/'));
    const manifest = fc.constantFrom(
      'services:\n  orders:\n    build: ./orders\n  cart:\n    image: cart\n',
      'services:\n  a:\n    depends_on: [nope]\n',
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: cart\n',
      'apiVersion: v1\nkind: [\n',
      '',
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(file, { maxLength: 12 }),
        source,
        manifest,
        (files, text, yaml) => {
          const scanner = new CodeScanner({ roots: ['root'], files, services: ['orders'] });
          for (const f of files) if (/\.ya?ml$/.test(f)) scanner.addManifest(f, yaml);
          for (const f of files) positionsHold(text, scanner.scanFile(f, text));
          const r = scanner.finish();
          const owners = new Set(r.serviceDirs.map((d) => d.service));
          for (const e of r.graph.edges)
            if (e.sources.some((x) => x.type === 'scan')) expect(owners.has(e.from)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('tells syntaxes from file names and skips what it does not read', () => {
    expect(syntaxOf('a/b/main.go')).toBe('c');
    expect(syntaxOf('a/app.py')).toBe('python');
    expect(syntaxOf('a/.env')).toBe('config');
    expect(syntaxOf('a/.env.local')).toBe('config');
    expect(syntaxOf('a/Dockerfile')).toBe('config');
    expect(syntaxOf('a/application.properties')).toBe('config');
    expect(syntaxOf('a/logo.png')).toBeUndefined();
    expect(syntaxOf('a/README')).toBeUndefined();
  });
});
