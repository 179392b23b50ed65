/**
 * One destination's resilience pipeline, cockatiel's policies from the outside in:
 *
 *   deadline (timeout, aggressive) → bulkhead → retry (exponential backoff, decorrelated jitter)
 *     → circuit breaker (consecutive failures) → attempt timeout (cooperative) → one HTTP attempt
 *
 * The deadline is outermost so that nothing (a queue wait, a backoff, a half-open wait) holds the
 * caller past it. The bulkhead holds a slot for the whole call, retries included, so it bounds
 * the work a destination can pull in. The breaker sees every attempt: a destination that fails
 * attempts fails fast for everyone. Written by hand, where cockatiel has nothing: the retry
 * budget (./budget.ts), endpoint choice and ejection (./balancer.ts), `Retry-After`.
 *
 * The deadline and the bulkhead end when the response headers arrive: the body is read after
 * `call` returned, bounded only by the per-chunk `timeoutMs` (undici's bodyTimeout) and the
 * caller. Only the endpoint's `inFlight` is held until the body closes (docs/sdk.md).
 */
import { performance } from 'node:perf_hooks';
import {
  BrokenCircuitError,
  type BulkheadPolicy,
  BulkheadRejectedError,
  bulkhead,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IBackoff,
  type IBackoffFactory,
  type RetryPolicy,
  retry,
  TaskCancelledError,
  type TimeoutPolicy,
  TimeoutStrategy,
  timeout,
} from 'cockatiel';
import { parseRetryAfter } from '../pdp/control-plane.ts';
import type { PdpLogger } from '../pdp/options.ts';
import { Balancer, type Endpoint } from './balancer.ts';
import { RetryBudget } from './budget.ts';
import { ClientError } from './errors.ts';
import { startHealthChecks } from './health.ts';
import type { CallOutcome, DestinationMetrics } from './metrics.ts';
import type { ResolvedDestination } from './options.ts';
import type { ClientResponse, PreparedRequest } from './request.ts';
import { childTrace } from './trace.ts';
import { isMisuse, isPeerRejection, type Transport } from './transport.ts';

/** State of one call across its attempts. */
interface CallState {
  attempts: number;
  readonly tried: Set<Endpoint>;
  /** The `Retry-After` of the answer being retried, for the next backoff. */
  retryAfterMs: number | undefined;
}

/** Errors of an attempt that another attempt may cure. */
const retryableErrors = new WeakSet<object>();

export class Destination {
  readonly options: ResolvedDestination;
  readonly balancer: Balancer;
  readonly #transport: Transport;
  readonly #metrics: DestinationMetrics;
  readonly #breaker: CircuitBreakerPolicy | undefined;
  readonly #bulkhead: BulkheadPolicy | undefined;
  readonly #attemptTimeout: TimeoutPolicy;
  /** The deadline policy for `options.deadlineMs`; a call with its own deadline makes its own. */
  readonly #deadline: TimeoutPolicy;
  readonly #budget: RetryBudget | undefined;
  readonly #retry: RetryPolicy | undefined;
  /**
   * The call each attempt outcome (a response, a ClientError) belongs to: the retry policy is
   * built once per destination, and its filter and backoff see only the outcome.
   */
  readonly #calls = new WeakMap<object, CallState>();
  readonly #stopHealth: (() => void) | undefined;

  constructor(
    options: ResolvedDestination,
    transport: Transport,
    metrics: DestinationMetrics,
    logger: PdpLogger | undefined,
  ) {
    this.options = options;
    this.#transport = transport;
    this.#metrics = metrics;
    const destination = options.key;
    this.balancer = new Balancer(options, (e, ms) => {
      metrics.ejection();
      logger?.warn({ destination, endpoint: e.origin, ms }, 'endpoint ejected');
    });
    // Cooperative: the attempt's signal aborts the undici request, which frees its connection.
    // abortOnReturn false: the response body is read after the policy returned.
    this.#attemptTimeout = timeout(options.timeoutMs, {
      strategy: TimeoutStrategy.Cooperative,
      abortOnReturn: false,
    });
    this.#deadline = deadlinePolicy(options.deadlineMs);
    if (options.breaker) {
      const breaker = circuitBreaker(
        handleWhen((e) => e instanceof ClientError && retryableErrors.has(e)).orWhenResult(
          (r) => (r as ClientResponse).statusCode >= 500,
        ),
        {
          halfOpenAfter: options.breaker.halfOpenAfterMs,
          breaker: new ConsecutiveBreaker(options.breaker.consecutiveFailures),
        },
      );
      breaker.onStateChange((state) => {
        const name =
          state === CircuitState.Open || state === CircuitState.Isolated
            ? 'open'
            : state === CircuitState.HalfOpen
              ? 'half_open'
              : 'closed';
        metrics.breaker(name);
        logger?.[name === 'open' ? 'warn' : 'info']?.({ destination }, `circuit ${name}`);
      });
      this.#breaker = breaker;
    }
    if (options.bulkhead) {
      this.#bulkhead = bulkhead(options.bulkhead.maxConcurrent, options.bulkhead.maxQueue);
    }
    const r = options.retry;
    if (r) {
      this.#budget = new RetryBudget(r.ratio, r.minPerSec);
      const again = (outcome: unknown) => this.#shouldRetry(outcome);
      this.#retry = retry(handleWhen(again).orWhenResult(again), {
        maxAttempts: r.maxAttempts - 1,
        backoff: this.#honourRetryAfter(
          new ExponentialBackoff({ initialDelay: r.initialDelayMs, maxDelay: r.maxDelayMs }),
        ),
      });
    }
    if (options.healthCheck) {
      this.#stopHealth = startHealthChecks(
        options.healthCheck,
        this.balancer.endpoints,
        transport,
        (e, healthy) =>
          logger?.[healthy ? 'info' : 'warn']?.(
            { destination, endpoint: e.origin },
            healthy ? 'endpoint healthy' : 'endpoint failed its health check',
          ),
      );
    }
  }

  /** Makes the call; see the module comment for the order of the policies. */
  async call(p: PreparedRequest): Promise<ClientResponse> {
    const state: CallState = { attempts: 0, tried: new Set(), retryAfterMs: undefined };
    const deadline = p.deadlineMs === undefined ? this.#deadline : deadlinePolicy(p.deadlineMs);
    let outcome: CallOutcome = 'unavailable';
    try {
      const res = await deadline.execute(
        ({ signal }) =>
          this.#bulkhead
            ? this.#bulkhead.execute(({ signal: s }) => this.#retried(p, state, s), signal)
            : this.#retried(p, state, signal),
        p.signal,
      );
      outcome = res.statusCode >= 500 ? 'error_status' : 'success';
      return res;
    } catch (error) {
      const [o, thrown] = this.#failure(error, p, state);
      outcome = o;
      throw thrown;
    } finally {
      this.#metrics.call(outcome);
    }
  }

  /** Counts a call the egress guard refused. */
  denied(): void {
    this.#metrics.call('denied');
  }

  close(): void {
    this.#stopHealth?.();
  }

  #failure(error: unknown, p: PreparedRequest, state: CallState): [CallOutcome, unknown] {
    const key = this.options.key;
    if (p.signal?.aborted) return ['aborted', p.signal.reason ?? error];
    if (error instanceof TaskCancelledError) {
      const e = new ClientError(
        'CLIENT_TIMEOUT',
        key,
        `${key}: no answer within the call's deadline`,
        { attempts: state.attempts },
      );
      return ['timeout', e];
    }
    if (error instanceof BulkheadRejectedError) {
      return [
        'bulkhead_full',
        new ClientError('CLIENT_BULKHEAD_FULL', key, `${key}: too many calls in progress`),
      ];
    }
    if (error instanceof ClientError) {
      error.attempts = state.attempts;
      const o: CallOutcome =
        error.code === 'CLIENT_CIRCUIT_OPEN'
          ? 'circuit_open'
          : error.code === 'CLIENT_TIMEOUT'
            ? 'timeout'
            : 'unavailable';
      return [o, error];
    }
    return ['unavailable', error];
  }

  #retried(p: PreparedRequest, state: CallState, signal: AbortSignal): Promise<ClientResponse> {
    this.#budget?.deposit();
    if (!this.#retry || !p.retryable) return this.#attempt(p, state, signal);
    return this.#retry.execute(({ signal: s }) => this.#attempt(p, state, s), signal);
  }

  /** Decides whether a failed attempt is retried; counts the retry. */
  #shouldRetry(outcome: unknown): boolean {
    const r = this.options.retry!;
    const state = typeof outcome === 'object' && outcome ? this.#calls.get(outcome) : undefined;
    if (state === undefined || state.attempts >= r.maxAttempts) return false;
    // An open circuit answers the retry with CLIENT_CIRCUIT_OPEN; the caller learns more from
    // the failure that opened it.
    if (this.#breaker?.state === CircuitState.Open) return false;
    let retryAfterMs: number | undefined;
    if (outcome instanceof Error) {
      if (!retryableErrors.has(outcome)) return false;
    } else {
      const res = outcome as ClientResponse;
      if (res.statusCode !== 502 && res.statusCode !== 503 && res.statusCode !== 504) return false;
      retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      // Asked to come back later than we would wait: give the caller this answer instead.
      if (retryAfterMs !== undefined && retryAfterMs > r.maxDelayMs) return false;
    }
    if (!this.#budget!.withdraw()) {
      this.#metrics.budgetExhausted();
      return false;
    }
    if (!(outcome instanceof Error)) {
      // The discarded answer's body must be read off, or its connection stays busy.
      (outcome as ClientResponse).body.dump().catch(() => {});
    }
    state.retryAfterMs = retryAfterMs;
    this.#metrics.retry();
    return true;
  }

  async #attempt(
    p: PreparedRequest,
    state: CallState,
    signal: AbortSignal,
  ): Promise<ClientResponse> {
    if (signal.aborted) throw new TaskCancelledError();
    const endpoint = this.balancer.pick(state.tried);
    state.tried.add(endpoint);
    const send = () =>
      this.#attemptTimeout.execute(({ signal: s }) => this.#send(p, endpoint, state, s), signal);
    if (!this.#breaker) return send();
    try {
      return await this.#breaker.execute(send, signal);
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        throw new ClientError(
          'CLIENT_CIRCUIT_OPEN',
          this.options.key,
          `${this.options.key}: circuit open after repeated failures; failing fast`,
        );
      }
      throw error;
    }
  }

  async #send(
    p: PreparedRequest,
    endpoint: Endpoint,
    state: CallState,
    signal: AbortSignal,
  ): Promise<ClientResponse> {
    // Counted here, past the breaker: `attempts` are what reached the network.
    state.attempts++;
    const started = performance.now();
    endpoint.inFlight++;
    let held = true;
    const release = () => {
      if (held) {
        held = false;
        endpoint.inFlight--;
      }
    };
    try {
      const res = await this.#transport.for(endpoint.url).request({
        origin: endpoint.origin,
        path: p.path,
        method: p.method as never,
        // A new span per attempt, in the caller's trace.
        headers: { ...p.headers, ...childTrace(p.traceparent, p.tracestate) },
        body: p.body,
        signal,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      });
      this.#metrics.attempt((performance.now() - started) / 1000);
      this.balancer.succeeded(endpoint);
      res.body.once('close', release);
      const response: ClientResponse = {
        statusCode: res.statusCode,
        headers: res.headers,
        body: res.body,
        endpoint: endpoint.origin,
        attempts: state.attempts,
      };
      this.#calls.set(response, state);
      return response;
    } catch (error) {
      release();
      this.#metrics.attempt((performance.now() - started) / 1000);
      const thrown = this.#attemptError(error, endpoint, p, signal);
      if (thrown instanceof ClientError) this.#calls.set(thrown, state);
      throw thrown;
    }
  }

  /** What a failed attempt throws: the caller's abort and misuse as they are, else coded. */
  #attemptError(error: unknown, endpoint: Endpoint, p: PreparedRequest, signal: AbortSignal) {
    if (p.signal?.aborted || isMisuse(error)) return error;
    const key = this.options.key;
    let e: ClientError;
    const code = (error as { code?: unknown } | null)?.code;
    if (signal.aborted || code === 'UND_ERR_HEADERS_TIMEOUT') {
      e = new ClientError(
        'CLIENT_TIMEOUT',
        key,
        `${key}: ${endpoint.origin} did not answer within ${this.options.timeoutMs} ms`,
        { cause: error },
      );
    } else if (isPeerRejection(error)) {
      this.balancer.failed(endpoint);
      e = new ClientError(
        'CLIENT_PEER_REJECTED',
        key,
        `${key}: ${endpoint.origin} failed the TLS identity checks: ${(error as Error).message}`,
        { cause: error },
      );
    } else {
      this.balancer.failed(endpoint);
      e = new ClientError(
        'CLIENT_UNAVAILABLE',
        key,
        `${key}: ${endpoint.origin}: ${(error as Error)?.message ?? String(error)}`,
        { cause: error },
      );
    }
    retryableErrors.add(e);
    return e;
  }

  /** The exponential backoff, except after an answer with `Retry-After`: then exactly that. */
  #honourRetryAfter(inner: IBackoffFactory<unknown>): IBackoffFactory<unknown> {
    const wrap = (b: IBackoff<unknown>, ctx: unknown): IBackoff<unknown> => {
      const { result } = ctx as { result: { error?: unknown; value?: unknown } };
      const outcome = 'error' in result ? result.error : result.value;
      const state =
        typeof outcome === 'object' && outcome !== null ? this.#calls.get(outcome) : undefined;
      const asked = state?.retryAfterMs;
      if (state) state.retryAfterMs = undefined;
      return { duration: asked ?? b.duration, next: (c) => wrap(b.next(c), c) };
    };
    return { next: (ctx) => wrap(inner.next(ctx), ctx) };
  }
}

/** Aggressive: the caller gets its answer at the deadline even if an inner step ignores it. */
function deadlinePolicy(ms: number): TimeoutPolicy {
  return timeout(ms, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });
}
