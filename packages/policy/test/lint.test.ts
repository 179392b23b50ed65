import { describe, expect, it } from 'vitest';
import { formatDiagnostic, lintPolicy, parseDocuments } from '../src/index.ts';

const lint = (text: string) =>
  lintPolicy(parseDocuments(text, 'l.yaml').documents).map(formatDiagnostic);

describe('lintPolicy', () => {
  it('reports shadowed rules, overridden allows and unknown services', () => {
    const text = `apiVersion: ward.dev/v1
kind: Service
metadata: {name: orders}
spec:
  dependencies: [{service: ledger, kind: startup}]
---
apiVersion: ward.dev/v1
kind: Service
metadata: {name: web}
spec: {}
---
apiVersion: ward.dev/v1
kind: Intention
metadata: {name: orders}
spec:
  destination: orders
  rules:
    - {sources: ["*"], action: allow}
    - {sources: [web], action: allow, permissions: [{http: {methods: [GET]}}]}
    - {sources: [spiffe://ward.local/ns/default/sa/legacy], action: deny}
    - {sources: [legacy], action: allow}
    - {sources: [web], action: allow, when: 'request.method == "GET"'}
---
apiVersion: ward.dev/v1
kind: Intention
metadata: {name: ghost}
spec:
  destination: ghost
  rules:
    - {sources: [web], action: allow}
`;
    expect(lint(text)).toEqual([
      'l.yaml:5:28: warning LINT_UNKNOWN_SERVICE /spec/dependencies/0/service: dependency "ledger" is not a declared Service',
      'l.yaml:19:7: warning LINT_SHADOWED_RULE /spec/rules/1: rule orders#1 is unreachable: orders#0 always matches first',
      'l.yaml:21:7: warning LINT_SHADOWED_RULE /spec/rules/3: rule orders#3 is unreachable: orders#0 always matches first',
      'l.yaml:21:18: warning LINT_UNKNOWN_SERVICE /spec/rules/3/sources/0: source "legacy" is not a declared Service',
      'l.yaml:22:7: warning LINT_SHADOWED_RULE /spec/rules/4: rule orders#4 is unreachable: orders#0 always matches first',
      'l.yaml:28:16: warning LINT_UNKNOWN_SERVICE /spec/destination: destination "ghost" is not a declared Service',
    ]);
  });

  it('reports an allow that an unconditional deny always overrides', () => {
    const text = `apiVersion: ward.dev/v1
kind: Intention
metadata: {name: i}
spec:
  destination: d
  rules:
    - {sources: ["web-*"], action: allow, permissions: [{http: {methods: [GET]}}]}
    - {sources: [web-1, "spiffe://ward.local/ns/default/sa/web-2"], action: deny}
    - {sources: [web-1], action: allow}
    - {sources: ["spiffe://ward.local/**"], action: deny, mode: enforce}
`;
    // A name glob is not known to be covered by a SPIFFE glob (no Service documents): no warning
    // for i#0. The last rule has a schema error (mode belongs to spec), so only the first document counts.
    expect(lint(text)).toEqual([]);
    const ok = text.replace(', mode: enforce', '');
    expect(lint(ok)).toEqual([
      'l.yaml:9:7: warning LINT_OVERRIDDEN_ALLOW /spec/rules/2: allow rule i#2 never permits: deny rule i#1 always overrides it',
    ]);
  });

  it("warns when a condition trusts a label the caller's own team can set", () => {
    const text = `apiVersion: ward.dev/v1
kind: Intention
metadata: {name: i}
spec:
  destination: d
  rules:
    - sources: ["*"]
      action: allow
      when: source.labels.?role.orValue("") == "monitoring"
    - sources: ["*"]
      action: allow
      when: source.labels[?"ward.dev/role"].orValue("") == "monitoring" && "ward.dev/tier" in source.labels
    - sources: ["*"]
      action: allow
      when: source.labels.exists(k, k == "x") || source.labels["team"] == "a"
`;
    expect(lint(text)).toEqual([
      'l.yaml:9:13: warning LINT_TEAM_LABEL /spec/rules/0/when: condition trusts the label "role" that the calling service\'s own team can set; authorize on labels under ward.dev/ (set only by an admin) instead (at character 8)',
      "l.yaml:15:13: warning LINT_TEAM_LABEL /spec/rules/2/when: condition reads source.labels as a whole or by a computed key, so it may trust labels that the calling service's own team can set; authorize on labels under ward.dev/ (set only by an admin) instead (at character 8)",
      'l.yaml:15:13: warning LINT_TEAM_LABEL /spec/rules/2/when: condition trusts the label "team" that the calling service\'s own team can set; authorize on labels under ward.dev/ (set only by an admin) instead (at character 45)',
    ]);
  });
});
