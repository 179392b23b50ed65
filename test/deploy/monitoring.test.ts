/**
 * deploy/monitoring (optional, Prometheus Operator): renders offline, its NetworkPolicy validates
 * against the Kubernetes schema, and the ServiceMonitor points at what the base really serves:
 * the control plane's Service (by its labels), its named API port, GET /metrics, with a bearer
 * token from a Secret (never a literal), and the NetworkPolicy admits that port to the pods.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schemaErrors } from './_k8s-schema.ts';
import { render } from './_kustomize.ts';

const deploy = join(import.meta.dirname, '..', '..', 'deploy');
// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are walked field by field
type Any = any;
const monitoring = render(join(deploy, 'monitoring')) as Any[];
const base = render(join(deploy, 'base')) as Any[];
const find = (objects: Any[], kind: string) => objects.filter((o) => o.kind === kind);

describe('deploy/monitoring', () => {
  it('renders a ServiceMonitor and a NetworkPolicy in namespace ward; the policy validates', () => {
    expect(monitoring.map((o) => o.kind).sort()).toEqual(['NetworkPolicy', 'ServiceMonitor']);
    for (const o of monitoring) expect(o.metadata.namespace).toBe('ward');
    for (const p of find(monitoring, 'NetworkPolicy')) expect(schemaErrors(p)).toEqual([]);
  });

  it("scrapes the control plane's Service on its API port at /metrics with a Secret's token", () => {
    const [sm] = find(monitoring, 'ServiceMonitor');
    const service = find(base, 'Service').find((s) => s.metadata.name === 'ward-control-plane');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
      expect(service.metadata.labels[k]).toBe(v);
    const [endpoint] = sm.spec.endpoints;
    expect(service.spec.ports.map((p: Any) => p.name)).toContain(endpoint.port);
    expect(endpoint.path).toBe('/metrics');
    expect(endpoint.authorization).toEqual({
      type: 'Bearer',
      credentials: { name: 'ward-metrics-token', key: 'token' },
    });
    const [policy] = find(monitoring, 'NetworkPolicy');
    const deployment = find(base, 'Deployment').find(
      (d) => d.metadata.name === 'ward-control-plane',
    );
    for (const [k, v] of Object.entries(policy.spec.podSelector.matchLabels))
      expect(deployment.spec.template.metadata.labels[k]).toBe(v);
    const port = service.spec.ports.find((p: Any) => p.name === endpoint.port).port;
    expect(policy.spec.ingress[0].ports).toEqual([{ port, protocol: 'TCP' }]);
  });
});
