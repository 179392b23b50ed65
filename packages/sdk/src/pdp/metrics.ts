import { Counter, Gauge, Registry } from 'prom-client';

/** What the metrics read from the PDP when Prometheus scrapes. */
export interface PdpMetricsSource {
  revision(): number | null;
  bundleIssuedAt(): number | null;
  connected(): boolean;
  /** Rejected bundles by code, since start. */
  rejected(): ReadonlyMap<string, number>;
  /**
   * Decisions since start, indexed `(effect === 'allow' ? 1 : 0) | (enforced ? 2 : 0)`. Plain
   * numbers incremented in `decide()`: a prom-client `inc()` with labels per decision hashes the
   * label set each time, so the counter is brought up to date only when scraped.
   */
  decisionCounts(): ArrayLike<number>;
}

/**
 * Registers the PDP's metrics in `registry`. Every value is computed at scrape time from the
 * PDP's own state, so nothing on the decision path touches prom-client.
 */
export function registerPdpMetrics(registry: Registry, source: PdpMetricsSource): void {
  new Gauge({
    name: 'ward_pdp_bundle_revision',
    help: 'Revision of the policy bundle the PDP decides with (-1 before the first bundle).',
    registers: [registry],
    collect() {
      this.set(source.revision() ?? -1);
    },
  });
  new Gauge({
    name: 'ward_pdp_bundle_age_seconds',
    help: 'Seconds since the control plane issued the bundle in use (-1 before the first bundle).',
    registers: [registry],
    collect() {
      const issued = source.bundleIssuedAt();
      this.set(issued === null ? -1 : Math.max(0, (Date.now() - issued) / 1000));
    },
  });
  new Gauge({
    name: 'ward_pdp_watch_connected',
    help: '1 while a watch stream to a control plane is open, else 0.',
    registers: [registry],
    collect() {
      this.set(source.connected() ? 1 : 0);
    },
  });
  new Counter({
    name: 'ward_pdp_bundle_rejected_total',
    help: 'Bundles refused (bad signature, rollback, wrong service, corrupt cache, …) by code.',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, count] of source.rejected()) this.inc({ code }, count);
    },
  });
  const labels = [
    { effect: 'deny', enforced: 'false' },
    { effect: 'allow', enforced: 'false' },
    { effect: 'deny', enforced: 'true' },
    { effect: 'allow', enforced: 'true' },
  ] as const;
  new Counter({
    name: 'ward_pdp_decisions_total',
    help: 'Decisions made, by effect and by whether the effect was enforced.',
    labelNames: ['effect', 'enforced'],
    registers: [registry],
    collect() {
      const counts = source.decisionCounts();
      this.reset();
      for (let i = 0; i < labels.length; i++) {
        const n = counts[i] ?? 0;
        if (n > 0) this.inc(labels[i]!, n);
      }
    },
  });
}

/** A fresh registry holding only the PDP's metrics. */
export function createPdpRegistry(source: PdpMetricsSource): Registry {
  const registry = new Registry();
  registerPdpMetrics(registry, source);
  return registry;
}
