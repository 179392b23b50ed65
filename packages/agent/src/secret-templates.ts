/**
 * The agent's secret templates file (issue 16; Vault Agent's `template` blocks are the model):
 * which secret of which service the agent renders to which file, and what it runs when the
 * file changes. YAML or JSON (JSON is read by the same YAML 1.2 parser, so errors carry
 * positions either way):
 *
 * ```yaml
 * templates:
 *   - service: shop/orders          # the reading service (its secrets only)
 *     secret: db-password           # relative to the service's namespace, or ns/name
 *     destination: /run/ward/secrets/db-password   # absolute; its directory on tmpfs
 *     template: "postgres://orders:{{ password }}@db/orders"   # optional
 *     mode: 0o600                   # optional, default 0o600; never any bit for others
 *     command: [/usr/bin/systemctl, reload, orders]  # optional: run (no shell) after a change
 *     # signal: { name: SIGHUP, pidFile: /run/orders.pid }    # or signal a process instead
 *     # allowDisk: true             # permit a destination that is not on tmpfs
 * ```
 *
 * Every error names the file, the field and its line:column, never a value.
 */
import { constants } from 'node:os';
import { isAbsolute, normalize } from 'node:path';
import { secretKeyOf } from '@ward/secrets';
import { canonicalServiceKey, splitServiceKey } from '@ward/spiffe';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { AgentError } from './errors.ts';

/** One file the agent keeps rendered from a secret. */
export interface SecretTemplate {
  /** The reading service's canonical key. */
  service: string;
  /** The secret's canonical key. */
  secret: string;
  /** Absolute, normalized path of the rendered file. */
  destination: string;
  /** Text with `{{ field }}` (a field of the current version) and `{{ version }}` placeholders. */
  template?: string;
  /** File mode; default 0o600. */
  mode?: number;
  /** argv run after a change (no shell). */
  command?: string[];
  /** A signal sent after a change to the process whose pid is in `pidFile`. */
  signal?: { name: NodeJS.Signals; pidFile: string };
  /** Permit a destination whose directory is not on tmpfs (the value then reaches a disk). */
  allowDisk?: boolean;
}

const MAX_FILE = 1 << 20;
const MAX_TEMPLATES = 1000;
const MAX_TEMPLATE_TEXT = 64 * 1024;
const MAX_PATH = 4096;
const MAX_ARGS = 64;
const FIELDS = new Set([
  'service',
  'secret',
  'destination',
  'template',
  'mode',
  'command',
  'signal',
  'allowDisk',
]);
/** A whole placeholder: `{{ name }}`. */
export const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]{0,63})\s*\}\}/g;

/** The placeholders of `text`, or the offset of a `{{` that does not open one. */
export function placeholders(text: string): { names: string[] } | { badAt: number } {
  const names: string[] = [];
  let at = 0;
  for (;;) {
    const open = text.indexOf('{{', at);
    if (open < 0) return { names };
    PLACEHOLDER.lastIndex = open;
    const m = PLACEHOLDER.exec(text);
    if (!m || m.index !== open) return { badAt: open };
    names.push(m[1]!);
    at = open + m[0].length;
  }
}

/**
 * Parses a templates file. Throws `AGENT_SECRET_TEMPLATE` naming `file`, the field and its
 * line:column.
 */
export function parseSecretTemplates(text: string, file: string): SecretTemplate[] {
  const lines = new LineCounter();
  const fail = (node: Node | null | undefined, field: string, why: string): never => {
    const offset = node?.range?.[0];
    const pos =
      offset === undefined
        ? ''
        : (() => {
            const p = lines.linePos(offset);
            return `:${p.line}:${p.col}`;
          })();
    throw new AgentError('AGENT_SECRET_TEMPLATE', `${file}${pos}: ${field}: ${why}`);
  };
  if (text.length > MAX_FILE) fail(undefined, '(file)', `larger than ${MAX_FILE} bytes`);
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const p = lines.linePos(e.pos[0]);
    throw new AgentError(
      'AGENT_SECRET_TEMPLATE',
      `${file}:${p.line}:${p.col}: (file): not valid YAML or JSON (${e.code})`,
    );
  }
  const root = doc.contents;
  if (!isMap(root)) return fail(root, '(file)', 'must be a mapping with a `templates` list');
  for (const pair of root.items) {
    const k = isScalar(pair.key) ? pair.key.value : undefined;
    if (k !== 'templates') fail(pair.key as Node, String(k).slice(0, 40), 'unknown field');
  }
  const list = root.get('templates', true) as Node | undefined;
  if (!isSeq(list)) return fail(list ?? root, 'templates', 'must be a list');
  if (list.items.length > MAX_TEMPLATES) fail(list, 'templates', `more than ${MAX_TEMPLATES}`);
  const out: SecretTemplate[] = [];
  const destinations = new Map<string, number>();
  for (const [i, item] of list.items.entries()) {
    const at = `templates[${i}]`;
    if (!isMap(item)) return fail(item as Node, at, 'must be a mapping');
    const value = (name: string) => item.get(name, true) as Node | undefined;
    for (const pair of item.items) {
      const k = isScalar(pair.key) ? pair.key.value : undefined;
      if (typeof k !== 'string' || !FIELDS.has(k)) {
        fail(pair.key as Node, `${at}.${String(k).slice(0, 40)}`, 'unknown field');
      }
    }
    const str = (name: string, required: boolean, max = MAX_PATH): string | undefined => {
      const node = value(name);
      if (node === undefined || (isScalar(node) && node.value === null && !required)) {
        if (required) fail(item, `${at}.${name}`, 'is required');
        return undefined;
      }
      if (!isScalar(node) || typeof node.value !== 'string')
        return fail(node, `${at}.${name}`, 'must be a string');
      const v = node.value as string;
      if (v.length > max) fail(node, `${at}.${name}`, `longer than ${max} characters`);
      if (v.includes('\0')) fail(node, `${at}.${name}`, 'contains a NUL character');
      return v;
    };
    const serviceText = str('service', true, 300)!;
    const service = canonicalServiceKey(serviceText);
    if (service === undefined)
      fail(value('service'), `${at}.service`, 'not a service name or namespace/name');
    const secretText = str('secret', true, 300)!;
    let secret = '';
    try {
      secret = secretKeyOf(secretText, splitServiceKey(service!).namespace);
    } catch {
      fail(value('secret'), `${at}.secret`, 'not a secret name or namespace/name');
    }
    const destination = str('destination', true)!;
    if (
      !isAbsolute(destination) ||
      normalize(destination) !== destination ||
      destination.endsWith('/')
    ) {
      fail(value('destination'), `${at}.destination`, 'must be an absolute, normalized file path');
    }
    const seen = destinations.get(destination);
    if (seen !== undefined) {
      fail(
        value('destination'),
        `${at}.destination`,
        `already the destination of templates[${seen}]`,
      );
    }
    destinations.set(destination, i);
    const t: SecretTemplate = { service: service!, secret, destination };
    const template = str('template', false, MAX_TEMPLATE_TEXT);
    if (template !== undefined) {
      const p = placeholders(template);
      if ('badAt' in p) {
        fail(
          value('template'),
          `${at}.template`,
          `"{{" at offset ${p.badAt} does not open a {{ field }} placeholder`,
        );
      }
      t.template = template;
    }
    const modeNode = value('mode');
    if (modeNode !== undefined) {
      const raw = isScalar(modeNode) ? modeNode.value : undefined;
      const mode =
        typeof raw === 'number'
          ? raw
          : typeof raw === 'string' && /^0?o?[0-7]{3,4}$/.test(raw)
            ? Number.parseInt(raw.replace(/^0?o?/, ''), 8)
            : Number.NaN;
      if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
        fail(modeNode, `${at}.mode`, 'must be a file mode (0o600, "0640")');
      }
      if (mode & 0o007) fail(modeNode, `${at}.mode`, 'must not give others any access');
      if (!(mode & 0o400)) fail(modeNode, `${at}.mode`, 'must let the owner read');
      t.mode = mode;
    }
    const commandNode = value('command');
    if (commandNode !== undefined) {
      if (
        !isSeq(commandNode) ||
        commandNode.items.length === 0 ||
        commandNode.items.length > MAX_ARGS
      ) {
        fail(
          commandNode,
          `${at}.command`,
          `must be a list of 1..${MAX_ARGS} strings (argv, no shell)`,
        );
      }
      const argv: string[] = [];
      for (const [j, a] of (commandNode as { items: unknown[] }).items.entries()) {
        const v = isScalar(a) ? a.value : undefined;
        if (typeof v !== 'string' || v.length === 0 || v.length > MAX_PATH || v.includes('\0')) {
          fail(a as Node, `${at}.command[${j}]`, 'must be a non-empty string');
        }
        argv.push(v as string);
      }
      t.command = argv;
    }
    const signalNode = value('signal');
    if (signalNode !== undefined) {
      if (t.command) fail(signalNode, `${at}.signal`, 'give a command or a signal, not both');
      if (!isMap(signalNode)) return fail(signalNode, `${at}.signal`, 'must be { name, pidFile }');
      for (const pair of signalNode.items) {
        const k = isScalar(pair.key) ? pair.key.value : undefined;
        if (k !== 'name' && k !== 'pidFile')
          fail(pair.key as Node, `${at}.signal.${String(k).slice(0, 40)}`, 'unknown field');
      }
      const nameNode = signalNode.get('name', true) as Node | undefined;
      const name = isScalar(nameNode) ? nameNode.value : undefined;
      if (typeof name !== 'string' || !Object.hasOwn(constants.signals, name)) {
        fail(nameNode ?? signalNode, `${at}.signal.name`, 'must be a signal name (SIGHUP)');
      }
      const pidNode = signalNode.get('pidFile', true) as Node | undefined;
      const pidFile = isScalar(pidNode) ? pidNode.value : undefined;
      if (
        typeof pidFile !== 'string' ||
        !isAbsolute(pidFile) ||
        pidFile.length > MAX_PATH ||
        pidFile.includes('\0')
      ) {
        fail(pidNode ?? signalNode, `${at}.signal.pidFile`, 'must be an absolute path');
      }
      t.signal = { name: name as NodeJS.Signals, pidFile: pidFile as string };
    }
    const diskNode = value('allowDisk');
    if (diskNode !== undefined) {
      const v = isScalar(diskNode) ? diskNode.value : undefined;
      if (typeof v !== 'boolean') fail(diskNode, `${at}.allowDisk`, 'must be true or false');
      t.allowDisk = v as boolean;
    }
    out.push(t);
  }
  return out;
}
