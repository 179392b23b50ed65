/**
 * Alerts: conditions the control plane watches for and delivers to webhooks and Alertmanager.
 * A source evaluates one kind of condition; the engine (alerts/engine.ts) polls the sources,
 * keeps what is firing, and sends each alert when it starts and when it resolves.
 */

/** The alert names Ward raises (Alertmanager's `alertname` label). */
export type AlertName =
  | 'WardUnapprovedEdge'
  | 'WardDenialSpike'
  | 'WardPdpStale'
  | 'WardSvidExpiring';

/** One firing alert, as a source reports it. */
export interface AlertInstance {
  name: AlertName;
  /** Identifies this alert among those of its name (the same key on every evaluation). */
  key: string;
  severity: 'info' | 'warning' | 'critical';
  /** Extra labels for routing (e.g. `service`, `source`, `destination`, `instance`). */
  labels: Record<string, string>;
  /** One line for a human. */
  summary: string;
  description?: string;
  /** When the condition began (ISO 8601), if the source knows; else the first evaluation. */
  startsAt?: string;
}

/** A condition the engine evaluates every interval. */
export interface AlertSource {
  readonly name: string;
  /** What is firing now; an alert missing from the answer has resolved. */
  evaluate(now: number): Promise<AlertInstance[]>;
}
