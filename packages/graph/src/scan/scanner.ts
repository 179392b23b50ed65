/**
 * `ward graph scan`: dependencies found in source code and configuration. The caller (the CLI)
 * walks directories and hands over paths and contents; this core finds references to known
 * services — URLs and `host:port` literals, cluster DNS names, environment-variable names with
 * their defaults, service names beside client constructors — and turns them into declared edges
 * from the service owning the file, each with its file, line, column, evidence and confidence.
 *
 * Known services come from the Kubernetes and Compose manifests among the files (read with the
 * graph's own readers, whose edges join the result), from the caller's list, and from service
 * directories. Pure: no I/O.
 */

import { GraphError } from '../errors.ts';
import { type DependencyGraph, GraphBuilder, type SourceRef } from '../model.ts';
import { readCompose } from '../readers/compose.ts';
import { detectInputType } from '../readers/detect.ts';
import { readKubernetes } from '../readers/kubernetes.ts';
import { parseYamlDocuments } from '../readers/yaml-docs.ts';
import { isObject } from '../util.ts';
import { findDsnHosts, findHosts } from './hosts.ts';
import { lineStarts, type Syntax, syntaxOf, type Token, tokenize } from './lexer.ts';
import { isEnvName, joinPath, Owners, ServiceNames, squash } from './names.ts';

export type Confidence = 'high' | 'medium' | 'low';
export type Evidence =
  | 'url'
  | 'host-port'
  | 'dns'
  | 'dsn'
  | 'env-var'
  | 'config-key'
  | 'client-call'
  | 'name';

export interface Finding {
  file: string;
  /** 1-based line and column (UTF-16 code units) of `match` in the file. */
  line: number;
  col: number;
  /** The text found, exactly as in the file. */
  match: string;
  /** The service owning the file; absent when no service directory contains it. */
  from?: string;
  to: string;
  evidence: Evidence;
  confidence: Confidence;
  port?: number;
}

export interface ScanOptions {
  /** Directories being scanned (paths as the files are named under them). */
  roots: readonly string[];
  /** Every file path the caller will pass to `scanFile` (for service directories). */
  files: readonly string[];
  /** Extra known service names (`--services`). */
  services?: readonly string[];
  /** Least confidence a finding needs to become an edge. Default `medium`. */
  minConfidence?: Confidence;
  trustDomain?: string;
}

export interface ScanResult {
  graph: DependencyGraph;
  /** Every finding, including those under the confidence bar and those no service owns. */
  findings: Finding[];
  /** Service directories found and the service each stands for. */
  serviceDirs: { dir: string; service: string }[];
  /** Manifests read for service names and declared edges. */
  manifests: { file: string; type: 'kubernetes' | 'compose' }[];
  /** Files the scan could not use, and why. */
  skipped: { file: string; reason: string }[];
  stats: {
    files: number;
    bytes: number;
    findings: number;
    unowned: number;
    belowConfidence: number;
    edges: number;
  };
}

const RANK: Record<Confidence, number> = { low: 0, medium: 1, high: 2 };

/** Identifiers that construct a client or make a call: a service name beside one is a target. */
const CLIENT_IDENTS = new Set([
  'Dial',
  'DialContext',
  'NewClient',
  'createClient',
  'createConnection',
  'createPool',
  'connect',
  'MongoClient',
  'Redis',
  'StrictRedis',
  'RestTemplate',
  'WebClient',
  'FeignClient',
  'HttpClient',
  'OkHttpClient',
  'axios',
  'fetch',
  'request',
  'requests',
  'urlopen',
  'insecure_channel',
  'secure_channel',
  'ConnectionParameters',
  'BlockingConnection',
  'Jedis',
  'JedisPool',
  'KafkaProducer',
  'KafkaConsumer',
  'NewRequest',
  'forAddress',
  'forTarget',
  'ManagedChannelBuilder',
  'mongoose',
  'Sequelize',
  'knex',
  'Pool',
]);

/** Words in a key or identifier that say its value is an address. */
const ADDRESS_WORDS = [
  'host',
  'addr',
  'url',
  'uri',
  'endpoint',
  'server',
  'broker',
  'dsn',
  'target',
  'upstream',
  'proxypass',
  'service',
];

export class CodeScanner {
  private readonly options: ScanOptions;
  private readonly builder = new GraphBuilder();
  private readonly names = new ServiceNames();
  private owners: Owners | undefined;
  private readonly findings: Finding[] = [];
  private readonly manifests: ScanResult['manifests'] = [];
  private readonly skipped: ScanResult['skipped'] = [];
  private readonly built = new Map<string, string>();
  private files = 0;
  private bytes = 0;

  constructor(options: ScanOptions) {
    this.options = options;
    for (const s of options.services ?? []) this.names.add(s);
  }

  /**
   * Offers a YAML file as a manifest. Kubernetes and Compose files are read (their services
   * become known names, their edges join the graph) and true is returned; the caller then
   * does not scan them as plain configuration. Must come before any `scanFile`.
   */
  addManifest(file: string, text: string): boolean {
    if (this.owners) throw new Error('addManifest after scanFile');
    if (!/\.ya?ml$/i.test(file)) return false;
    let type: string;
    try {
      type = detectInputType(file, text.slice(0, 64 * 1024));
    } catch {
      return false;
    }
    if (type !== 'kubernetes' && type !== 'compose') return false;
    // Read into a scratch builder first so a file that fails halfway adds nothing.
    const scratch = new GraphBuilder();
    try {
      if (type === 'kubernetes')
        readKubernetes(text, file, scratch, { trustDomain: this.options.trustDomain });
      else readCompose(text, file, scratch);
    } catch (error) {
      const message = error instanceof GraphError ? error.message : String(error);
      // The message starts with the file name, which the skipped entry already carries.
      const reason = message.startsWith(`${file}:`) ? message.slice(file.length + 1) : message;
      this.skipped.push({ file, reason: `not read as ${type}: line ${reason.trim()}` });
      return false;
    }
    if (type === 'kubernetes')
      readKubernetes(text, file, this.builder, { trustDomain: this.options.trustDomain });
    else readCompose(text, file, this.builder);
    for (const s of scratch.build().services) this.names.add(s.name);
    if (type === 'compose') this.noteBuildContexts(file, text);
    this.manifests.push({ file, type });
    return true;
  }

  /**
   * Compose `build: DIR`, `build: {context: DIR}` or `build: {dockerfile: DIR/Dockerfile}`: that
   * directory's code is that service. A directory several services build from (a shared
   * context such as `./`) names none of them.
   */
  private noteBuildContexts(file: string, text: string): void {
    const slash = file.lastIndexOf('/');
    const dir = slash < 0 ? '.' : file.slice(0, slash);
    // Parsed already by readCompose without error; the first document holds the services.
    const [doc] = parseYamlDocuments(text, file, 'Compose');
    if (!doc || !isObject(doc.data) || !isObject(doc.data.services)) return;
    const literal = (v: unknown): v is string =>
      typeof v === 'string' && v !== '' && !v.includes('://') && !v.includes('$');
    const seen = new Map<string, string[]>();
    for (const [name, svc] of Object.entries(doc.data.services)) {
      if (!isObject(svc)) continue;
      const build = svc.build;
      const context = typeof build === 'string' ? build : isObject(build) ? build.context : '.';
      if (!literal(context)) continue;
      let where = joinPath(dir, context);
      if (isObject(build) && literal(build.dockerfile) && build.dockerfile.includes('/')) {
        const df = joinPath(where, build.dockerfile);
        where = df.slice(0, Math.max(0, df.lastIndexOf('/')));
      } else if (build === undefined) continue;
      seen.set(where, [...(seen.get(where) ?? []), name]);
    }
    for (const [where, names] of seen) if (names.length === 1) this.built.set(where, names[0]!);
  }

  /** Scans one source or configuration file; returns its findings (also kept for `finish`). */
  scanFile(file: string, text: string): Finding[] {
    const owners = this.ownersNow();
    const syntax = syntaxOf(file);
    this.files++;
    this.bytes += text.length;
    if (!syntax) return [];
    const found = scanText(file, text, syntax, this.names);
    const from = owners.of(file);
    const kept: Finding[] = [];
    for (const f of found) {
      if (from === f.to) continue;
      if (from !== undefined) f.from = from;
      kept.push(f);
      this.findings.push(f);
    }
    return kept;
  }

  /** Notes a file the caller did not read (too large, binary, unreadable). */
  skip(file: string, reason: string): void {
    this.skipped.push({ file, reason });
  }

  finish(): ScanResult {
    const owners = this.ownersNow();
    const min = RANK[this.options.minConfidence ?? 'medium'];
    let unowned = 0;
    let below = 0;
    for (const [, service] of owners.entries()) this.builder.service(service, { virtual: false });
    // Strongest first: an edge keeps one source per line, so it should be the surest one.
    const ordered = [...this.findings].sort((a, b) => RANK[b.confidence] - RANK[a.confidence]);
    for (const f of ordered) {
      if (f.from === undefined) unowned++;
      else if (RANK[f.confidence] < min) below++;
      else {
        const source: SourceRef = {
          type: 'scan',
          file: f.file,
          line: f.line,
          col: f.col,
          evidence: f.evidence,
          confidence: f.confidence,
        };
        this.builder.declare(
          f.from,
          f.to,
          'runtime',
          source,
          f.port === undefined ? {} : { port: f.port },
        );
      }
    }
    const graph = this.builder.build();
    return {
      graph,
      findings: this.findings,
      serviceDirs: owners.entries().map(([dir, service]) => ({ dir, service })),
      manifests: this.manifests,
      skipped: this.skipped,
      stats: {
        files: this.files,
        bytes: this.bytes,
        findings: this.findings.length,
        unowned,
        belowConfidence: below,
        edges: graph.edges.length,
      },
    };
  }

  private ownersNow(): Owners {
    if (!this.owners) {
      this.owners = new Owners(this.options.roots, this.options.files, this.names, this.built);
      for (const [, service] of this.owners.entries()) this.names.add(service);
    }
    return this.owners;
  }
}

/**
 * The findings of one file against `names`, with no owner set. Exported for the property
 * tests: it must never throw, report positions inside the file, and stay linear.
 */
export function scanText(
  file: string,
  text: string,
  syntax: Syntax,
  names: ServiceNames,
): Finding[] {
  if (names.size === 0) return [];
  const starts = lineStarts(text);
  const tokens = tokenize(text, syntax);
  const out: Finding[] = [];
  let i = 0;
  let prevEnv: { name: string; line: number } | undefined;
  while (i < tokens.length) {
    let j = i;
    const line = tokens[i]!.line;
    while (j < tokens.length && tokens[j]!.line === line) j++;
    prevEnv = scanLine(file, text, starts, tokens.slice(i, j), syntax, names, out, prevEnv);
    i = j;
  }
  return out;
}

interface EnvRef {
  name: string;
  start: number;
  end: number;
  /** Offsets of a default given with it (`${NAME:default}`). */
  def?: [number, number];
}

function scanLine(
  file: string,
  text: string,
  starts: readonly number[],
  tokens: Token[],
  syntax: Syntax,
  names: ServiceNames,
  out: Finding[],
  prevEnv: { name: string; line: number } | undefined,
): { name: string; line: number } | undefined {
  const line = tokens[0]!.line;
  const add = (
    start: number,
    end: number,
    to: string,
    evidence: Evidence,
    confidence: Confidence,
    port?: number,
  ): void => {
    const f: Finding = {
      file,
      line: line + 1,
      col: start - starts[line]! + 1,
      match: text.slice(start, end),
      to,
      evidence,
      confidence,
    };
    if (port !== undefined) f.port = port;
    out.push(f);
  };
  let addressy = false;
  let client = false;
  for (const t of tokens) {
    if (t.kind === 'ident' || t.kind === 'key') {
      const word = text.slice(t.start, t.end);
      if (t.kind === 'ident' && CLIENT_IDENTS.has(word)) client = true;
      const sq = squash(word);
      if (ADDRESS_WORDS.some((w) => sq.includes(w))) addressy = true;
    }
  }
  // Services each value on the line names, for judging env-var defaults.
  const valueTargets = new Set<string>();
  const envs: EnvRef[] = [];
  let key: string | undefined;
  for (const t of tokens) {
    if (t.kind === 'key') {
      key = text.slice(t.start, t.end);
      if (isEnvName(key)) envs.push({ name: key, start: t.start, end: t.end });
      continue;
    }
    if (t.kind === 'ident') {
      const word = text.slice(t.start, t.end);
      if (isEnvName(word)) envs.push({ name: word, start: t.start, end: t.end });
      continue;
    }
    // A string literal or a configuration value.
    for (const h of [...findHosts(text, t.start, t.end), ...findDsnHosts(text, t.start, t.end)]) {
      const to = names.resolveHost(h.host);
      if (to === undefined) continue;
      // `image: redis:7`, `FROM redis:7`: an image tag, not an address.
      if (h.evidence === 'host-port' && isImageRef(text, t, key)) continue;
      valueTargets.add(to);
      add(h.start, h.end, to, h.evidence, 'high', h.port);
    }
    placeholders(text, t.start, t.end, envs);
    let s = t.start;
    let e = t.end;
    while (s < e && text.charCodeAt(s) === 32) s++;
    while (e > s && text.charCodeAt(e - 1) === 32) e--;
    const whole = text.slice(s, e);
    if (isEnvName(whole)) envs.push({ name: whole, start: s, end: e });
    else if (whole.length <= 253 && names.has(whole) && whole === whole.toLowerCase()) {
      valueTargets.add(whole);
      if (t.kind === 'value' && key !== undefined && addressy)
        add(s, e, whole, 'config-key', 'high');
      else if (t.kind === 'value' && key === 'value' && prevEnv?.line === line - 1)
        add(s, e, whole, 'env-var', 'high');
      else if (client) add(s, e, whole, 'client-call', 'medium');
      else if (addressy) add(s, e, whole, 'name', 'medium');
      else add(s, e, whole, 'name', 'low');
    }
  }
  let nextPrev: { name: string; line: number } | undefined;
  for (const env of envs) {
    const hit = names.resolveEnv(env.name);
    if (!hit) continue;
    nextPrev = { name: env.name, line };
    let withDefault = valueTargets.has(hit.name);
    if (env.def) {
      const [ds, de] = env.def;
      withDefault =
        names.has(text.slice(ds, de).trim()) ||
        findHosts(text, ds, de).some((h) => names.resolveHost(h.host) === hit.name);
    }
    const confidence: Confidence = hit.via === 'name' && withDefault ? 'high' : 'medium';
    add(env.start, env.end, hit.name, 'env-var', confidence);
  }
  // A YAML `- name: CART_HOST` line: its `value:` on the next line is the default.
  if (!nextPrev && syntax === 'config' && key === 'name') {
    const v = tokens.find((t) => t.kind === 'value');
    if (v && isEnvName(text.slice(v.start, v.end))) {
      const hit = names.resolveEnv(text.slice(v.start, v.end));
      if (hit) {
        add(v.start, v.end, hit.name, 'env-var', 'medium');
        nextPrev = { name: hit.name, line };
      }
    }
  }
  return nextPrev;
}

/**
 * `${NAME}`, `${NAME:default}` and `${NAME:-default}` inside `text[start, end)`. Every loop
 * stays inside the token, so the cost is linear in its length.
 */
function placeholders(text: string, start: number, end: number, envs: EnvRef[]): void {
  let i = start;
  while (i + 2 < end) {
    if (text.charCodeAt(i) !== 36 || text.charCodeAt(i + 1) !== 123) {
      i++;
      continue;
    }
    let j = i + 2;
    while (j < end && isUpperWord(text.charCodeAt(j))) j++;
    const name = text.slice(i + 2, j);
    let next = j;
    if (isEnvName(name)) {
      const env: EnvRef = { name, start: i + 2, end: j };
      if (j < end && text.charCodeAt(j) === 58) {
        const ds = j + 1 < end && text.charCodeAt(j + 1) === 45 ? j + 2 : j + 1;
        let de = ds;
        while (de < end && text.charCodeAt(de) !== 125) de++;
        env.def = [ds, de];
        next = de;
      }
      envs.push(env);
    }
    i = Math.max(next, i + 2);
  }
}

/** A configuration value naming a container image: `image: NAME:TAG` or `FROM NAME:TAG`. */
function isImageRef(text: string, t: Token, key: string | undefined): boolean {
  if (t.kind !== 'value') return false;
  if (key !== undefined) return key.toLowerCase() === 'image';
  return /^from\s/i.test(text.slice(t.start, Math.min(t.end, t.start + 5)));
}

function isUpperWord(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}
