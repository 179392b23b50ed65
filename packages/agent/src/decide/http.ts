/**
 * `POST /v1/decide` and `POST /v1/decide/batch`: the local decision API's HTTP/1.1 handler,
 * the same for the agent's Unix socket and its optional loopback port (they differ only in how
 * the caller is identified: `callerOf`).
 *
 * Who may ask what: a caller asks only about calls INTO its own services — each destination's
 * bundle names its SPIFFE ID, which must be one of the caller's identities (403 otherwise, before
 * anything is decided). The answer is the SDK Enforcer's, on the canonical request, with the
 * passport verified with the bundle's keys, and its decision-log entry recorded. Hot path: no
 * logging per request, one small object per answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  DECIDE_BATCH_PATH,
  DECIDE_PATH,
  type DecideResponseV1,
  PROBLEM_MEDIA_TYPE,
  problemBody,
} from '@ward/api-types';
import { PASSPORT_HEADER, type Rejection, ruleName, type WardContext } from '@ward/sdk';
import type { AgentErrorCode } from '../errors.ts';
import {
  BodyProblem,
  type DecideInput,
  MAX_BATCH_BODY,
  MAX_DECIDE_BODY,
  parseDecideBatch,
  parseDecideInput,
  parseJson,
} from './body.ts';
import type { LocalPdps } from './local-pdps.ts';

/** The identities of the workload asking (its registration entries' SPIFFE IDs). */
export interface DecideCaller {
  readonly spiffeIds: ReadonlySet<string>;
}

/** An answer other than decisions: the status, code and detail of a problem body. */
export class DecideProblem {
  readonly status: number;
  readonly code: AgentErrorCode;
  readonly detail: string;
  readonly field: string | undefined;
  constructor(status: number, code: AgentErrorCode, detail: string, field?: string) {
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.field = field;
  }
}

export interface DecideHandlerOptions {
  pdps: LocalPdps;
  /** Fetches a service's bundle the stream has not brought yet (the feed's `ensure`). */
  ensure(service: string): Promise<unknown>;
  /** Who asks, or why they may not (401). */
  callerOf(req: IncomingMessage): DecideCaller | DecideProblem;
}

const JSON_TYPE = 'application/json';

/** The request listener of the decision API. */
export function decideHandler(
  options: DecideHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const batch = req.url === DECIDE_BATCH_PATH;
    if (!batch && req.url !== DECIDE_PATH) {
      return refuse(res, new DecideProblem(404, 'AGENT_DECIDE_NOT_FOUND', `no route ${req.url}`));
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return refuse(
        res,
        new DecideProblem(405, 'AGENT_DECIDE_NOT_FOUND', `${req.url} takes POST only`),
      );
    }
    const caller = options.callerOf(req);
    if (caller instanceof DecideProblem) return refuse(res, caller);
    readBody(req, res, batch ? MAX_BATCH_BODY : MAX_DECIDE_BODY, (text) => {
      const json = parseJson(text);
      const parsed =
        json instanceof BodyProblem
          ? json
          : batch
            ? parseDecideBatch(json)
            : parseDecideInput(json);
      if (parsed instanceof BodyProblem) {
        return refuse(
          res,
          new DecideProblem(
            400,
            'AGENT_DECIDE_BAD_REQUEST',
            `${parsed.field} ${parsed.message}`,
            parsed.field,
          ),
        );
      }
      const inputs = Array.isArray(parsed) ? parsed : [parsed];
      const refusal = authorize(options, caller, inputs);
      const answer = () => {
        // After a wait for a bundle, another destination's PDP may have closed (its service
        // left the node): no decision then, never a throw in a promise callback.
        const gone = inputs.find((i) => options.pdps.enforcerFor(i.destination) === undefined);
        if (gone !== undefined) {
          return refuse(
            res,
            new DecideProblem(
              503,
              'AGENT_DECIDE_NOT_READY',
              `no PDP for ${gone.destination} on this node now`,
            ),
          );
        }
        return batch
          ? send(res, 200, { decisions: inputs.map((i) => decide(options.pdps, i)) })
          : send(res, 200, decide(options.pdps, inputs[0]!));
      };
      if (refusal === undefined) return answer();
      refusal.then(
        (problem) => (problem ? refuse(res, problem) : answer()),
        () => refuse(res, new DecideProblem(503, 'AGENT_DECIDE_NOT_READY', 'no bundle yet')),
      );
    });
  };
}

/**
 * Undefined when the caller may ask about every destination of `inputs` and each has a PDP
 * ready; else (a promise of) the problem, fetching the bundles the stream has not brought yet.
 */
function authorize(
  options: DecideHandlerOptions,
  caller: DecideCaller,
  inputs: readonly DecideInput[],
): Promise<DecideProblem | undefined> | undefined {
  let missing: string[] | undefined;
  let last = '';
  for (const { destination } of inputs) {
    if (destination === last) continue; // batches mostly repeat one destination
    last = destination;
    const problem = scopeProblem(options.pdps, caller, destination);
    if (problem === 'missing') {
      missing ??= [];
      missing.push(destination);
    } else if (problem) return Promise.resolve(problem);
  }
  if (missing === undefined) return undefined;
  if (caller.spiffeIds.size === 0) return Promise.resolve(notRegistered());
  return (async () => {
    for (const service of new Set(missing)) {
      try {
        await options.ensure(service);
      } catch (error) {
        if ((error as { status?: number }).status === 403) {
          return forbidden(`${service} is not a service of this node`);
        }
        return new DecideProblem(
          503,
          'AGENT_DECIDE_NOT_READY',
          `no bundle for ${service} yet: ${(error as Error).message}`,
        );
      }
      const problem = scopeProblem(options.pdps, caller, service);
      if (problem === 'missing') {
        return new DecideProblem(503, 'AGENT_DECIDE_NOT_READY', `no bundle for ${service} yet`);
      }
      if (problem) return problem;
    }
    return undefined;
  })();
}

/** Why `caller` may not ask about `service` now; `missing` when its bundle is not held. */
function scopeProblem(
  pdps: LocalPdps,
  caller: DecideCaller,
  service: string,
): DecideProblem | 'missing' | undefined {
  const spiffeId = pdps.spiffeIdOf(service);
  if (spiffeId === undefined) return 'missing';
  if (!caller.spiffeIds.has(spiffeId)) {
    return caller.spiffeIds.size === 0
      ? notRegistered()
      : forbidden(
          `this workload is not service ${service}: it may ask only about calls to its own services`,
        );
  }
  const pdp = pdps.pdpFor(service);
  // `revision()` first: `status()` builds a snapshot, too much for every request.
  if (pdp === undefined || !(pdp.revision() > 0 || pdp.status().ready)) {
    const why = pdp?.status().lastError?.message;
    return new DecideProblem(
      503,
      'AGENT_DECIDE_NOT_READY',
      `no verified bundle for ${service} yet${why ? `: ${why}` : ''}`,
    );
  }
  return undefined;
}

const notRegistered = () =>
  new DecideProblem(403, 'AGENT_DECIDE_FORBIDDEN', 'no identity is registered for this workload');
const forbidden = (detail: string) =>
  new DecideProblem(403, 'AGENT_DECIDE_FORBIDDEN', detail, '/destination');

/** One decision, by the service's Enforcer (authorize() saw it exists). */
function decide(pdps: LocalPdps, input: DecideInput): DecideResponseV1 {
  const enforcer = pdps.enforcerFor(input.destination)!;
  const revision = pdps.pdpFor(input.destination)?.revision() ?? 0;
  const { request } = input;
  const url = request.query === undefined ? request.path : `${request.path}?${request.query}`;
  let headers = request.headers;
  if (input.passport !== undefined) headers = { ...headers, [PASSPORT_HEADER]: input.passport };
  const outcome = enforcer.checkAs(input.source, request.method, url, headers, input.route);
  return answerOf(outcome, revision);
}

/** The wire answer of an Enforcer outcome. */
export function answerOf(outcome: WardContext | Rejection, revision: number): DecideResponseV1 {
  const decision = outcome.decision;
  if ('identity' in outcome) {
    return {
      allowed: true,
      effect: decision!.effect,
      enforced: decision!.enforced,
      dryRunDenied: outcome.dryRunDenied,
      rule: ruleName(decision!),
      reason: decision!.reason,
      revision,
      status: 200,
    };
  }
  return {
    allowed: false,
    effect: 'deny',
    enforced: decision?.enforced ?? true,
    dryRunDenied: false,
    rule: decision ? ruleName(decision) : null,
    reason: outcome.problem.reason,
    revision,
    status: outcome.status,
    problem: outcome.problem as unknown as Record<string, unknown>,
  };
}

/** Reads the body up to `limit` bytes (413 beyond, without reading the rest). */
function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
  done: (text: string) => void,
): void {
  const tooLarge = () => {
    // The rest of the body is not kept: the connection closes after the answer.
    res.setHeader('connection', 'close');
    refuse(
      res,
      new DecideProblem(413, 'AGENT_DECIDE_TOO_LARGE', `the body is larger than ${limit} bytes`),
    );
  };
  const declared = declaredLength(req.rawHeaders);
  if (declared > limit) {
    tooLarge();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      if (!res.headersSent) tooLarge();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > limit) return;
    done(
      chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'),
    );
  });
}

/**
 * The declared content-length (NaN when none), from the raw header list: `req.headers` would
 * build an object of every header on each request for this one value.
 */
function declaredLength(raw: readonly string[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length') return Number(raw[i + 1]);
  }
  return Number.NaN;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  // A flat header list: node:http takes it without walking an object's keys.
  res.writeHead(status, ['content-type', JSON_TYPE, 'content-length', Buffer.byteLength(text)]);
  res.end(text);
}

/** Answers a problem body (problemBody, as every Ward error). */
export function refuse(res: ServerResponse, problem: DecideProblem): void {
  const text = JSON.stringify(
    problemBody({
      status: problem.status,
      code: problem.code,
      detail: problem.detail,
      ...(problem.field ? { errors: [{ field: problem.field, message: problem.detail }] } : {}),
    }),
  );
  res.writeHead(problem.status, {
    'content-type': PROBLEM_MEDIA_TYPE,
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
