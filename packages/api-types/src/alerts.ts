/** The answer of `GET /v1/alerts` (read by the console's Live view). */

/** One alert firing now. */
export interface FiringAlertV1 {
  /** `WardUnapprovedEdge`, `WardDenialSpike`, `WardPdpStale`, `WardSvidExpiring`. */
  name: string;
  /** Identifies the alert among those of its name. */
  key: string;
  severity: 'info' | 'warning' | 'critical';
  labels: Record<string, string>;
  summary: string;
  description?: string;
  /** ISO 8601: when it started firing. */
  startsAt: string;
}

export interface AlertsAnswerV1 {
  alerts: FiringAlertV1[];
}
