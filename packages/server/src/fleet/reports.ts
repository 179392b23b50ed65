/**
 * Status reports of PDPs and node agents: the untrusted bodies of `POST /v1/status/pdp` and
 * `POST /v1/status/agent`, screened into what the store keeps. The route's JSON schema already
 * bounds types and sizes (and feeds OpenAPI); this screen is the one authority, run again on
 * every body so the stored text is safe to show in a terminal or the console whatever the
 * validator let through: well-formed Unicode, no control characters, bounded lengths and counts.
 */
import type {
  AgentStatusReportV1 as AgentReport,
  PdpStatusReportV1 as PdpReport,
} from '@ward/api-types';
import { canonicalServiceKey, MAX_SERVICE_KEY_LENGTH } from '@ward/spiffe';
import { badText } from '../ingest/text-check.ts';

/** Most workloads and bundle entries one agent report may list. */
export const MAX_AGENT_ITEMS = 1000;

/** A refused report: the field at fault and why. */
export interface ReportProblem {
  field: string;
  message: string;
}

/** Longest service key: a namespace (63) and `/` and a name (253). */
const MAX_KEY = MAX_SERVICE_KEY_LENGTH;
const INSTANCE = /^[A-Za-z0-9._:-]{1,64}$/;
const SERIAL = /^[0-9A-Fa-f]{1,64}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

class Refused extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

function record(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Refused(field, 'must be an object');
  }
  return value as Record<string, unknown>;
}

function text(value: unknown, field: string, max: number, pattern?: RegExp): string {
  if (typeof value !== 'string') throw new Refused(field, 'must be a string');
  if (value.length > max) throw new Refused(field, `must be at most ${max} characters`);
  const bad = badText(value);
  if (bad) throw new Refused(field, bad);
  if (pattern && !pattern.test(value)) throw new Refused(field, `must match ${pattern.source}`);
  return value;
}

function count(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new Refused(field, 'must be an integer >= 0');
  }
  return value as number;
}

function time(value: unknown, field: string): string {
  const s = text(value, field, 40, ISO);
  if (!Number.isFinite(Date.parse(s))) throw new Refused(field, 'is not a date');
  return new Date(Date.parse(s)).toISOString();
}

/** A service key, `name` or `namespace/name`; `default/x` is stored as its key `x`. */
function service(value: unknown, field: string): string {
  const key = canonicalServiceKey(text(value, field, MAX_KEY));
  if (key === undefined) {
    throw new Refused(field, 'must be a service name or namespace/name (lower-case DNS labels)');
  }
  return key;
}

function interval(value: unknown): { intervalMs?: number } {
  return value === undefined ? {} : { intervalMs: count(value, 'body.intervalMs') };
}

function screen<T>(build: () => T): T | ReportProblem {
  try {
    return build();
  } catch (error) {
    if (error instanceof Refused) return { field: error.field, message: error.message };
    throw error;
  }
}

/** The screened PDP report, or the first problem found. */
export function screenPdpReport(body: unknown): PdpReport | ReportProblem {
  return screen(() => {
    const b = record(body, 'body');
    const d = record(b.decisions, 'body.decisions');
    if (typeof b.connected !== 'boolean') throw new Refused('body.connected', 'must be a boolean');
    return {
      instance: text(b.instance, 'body.instance', 64, INSTANCE),
      service: service(b.service, 'body.service'),
      revision: count(b.revision, 'body.revision'),
      bundleAt: b.bundleAt === null ? null : time(b.bundleAt, 'body.bundleAt'),
      connected: b.connected,
      version: text(b.version, 'body.version', 64),
      startedAt: time(b.startedAt, 'body.startedAt'),
      label: b.label === undefined ? '' : text(b.label, 'body.label', 128),
      decisions: {
        allowed: count(d.allowed, 'body.decisions.allowed'),
        denied: count(d.denied, 'body.decisions.denied'),
        dryRunDenied: count(d.dryRunDenied, 'body.decisions.dryRunDenied'),
      },
      ...interval(b.intervalMs),
    };
  });
}

/** The screened agent report, or the first problem found. */
export function screenAgentReport(body: unknown): AgentReport | ReportProblem {
  return screen(() => {
    const b = record(body, 'body');
    const list = (value: unknown, field: string): unknown[] => {
      if (!Array.isArray(value)) throw new Refused(field, 'must be an array');
      if (value.length > MAX_AGENT_ITEMS) {
        throw new Refused(field, `must list at most ${MAX_AGENT_ITEMS} items`);
      }
      return value;
    };
    return {
      node: text(b.node, 'body.node', 253, /^[A-Za-z0-9._-]+$/),
      version: text(b.version, 'body.version', 64),
      workloads: list(b.workloads, 'body.workloads').map((w, i) => {
        const r = record(w, `body.workloads[${i}]`);
        return {
          spiffeId: text(r.spiffeId, `body.workloads[${i}].spiffeId`, 2048, /^spiffe:\/\/\S+$/),
          serial: text(r.serial, `body.workloads[${i}].serial`, 64, SERIAL),
          notAfter: time(r.notAfter, `body.workloads[${i}].notAfter`),
        };
      }),
      bundles: list(b.bundles, 'body.bundles').map((x, i) => {
        const r = record(x, `body.bundles[${i}]`);
        return {
          service: service(r.service, `body.bundles[${i}].service`),
          revision: count(r.revision, `body.bundles[${i}].revision`),
        };
      }),
      ...interval(b.intervalMs),
    };
  });
}

/** Whether a screen's answer is a refusal. */
export function isProblem(value: unknown): value is ReportProblem {
  return typeof (value as ReportProblem).field === 'string' && 'message' in (value as object);
}
