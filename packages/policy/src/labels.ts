/**
 * Who may set which label. A team token may set the labels of its own Service documents, so a
 * rule that trusts such a label trusts that team: `source.labels.role == "monitoring"` let any team
 * grant itself the monitoring permissions by labelling its service. Labels under the reserved
 * prefix `ward.dev/` (e.g. `ward.dev/role`, `ward.dev/tier`, `ward.dev/criticality`) are set only
 * with an admin token (the control plane enforces it); rules that authorize on labels should read
 * those, and `lintPolicy` warns about rules that read any other.
 */

export const RESERVED_LABEL_PREFIX = 'ward.dev/';

/** True when only a platform admin may set `key` on a Service. */
export function isReservedLabel(key: string): boolean {
  return key.startsWith(RESERVED_LABEL_PREFIX);
}

/** The reserved labels of a label map, as a sorted list of [key, value]. */
export function reservedLabels(
  labels: Readonly<Record<string, string>> | undefined,
): [string, string][] {
  return Object.entries(labels ?? {})
    .filter(([k]) => isReservedLabel(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

interface Node {
  op: string;
  args: unknown;
  pos?: number;
}

const isNode = (v: unknown): v is Node =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as Node).op === 'string';

const constantString = (n: unknown): string | undefined =>
  isNode(n) && n.op === 'value' && typeof n.args === 'string' ? n.args : undefined;

/** `source.labels` itself. */
function isSourceLabels(n: Node): boolean {
  if (n.op !== '.' || !Array.isArray(n.args)) return false;
  const [target, field] = n.args as [Node, unknown];
  return field === 'labels' && isNode(target) && target.op === 'id' && target.args === 'source';
}

/** The label key `parent` reads from `labels` (its child `source.labels`), or undefined. */
function keyRead(parent: Node | undefined, labels: Node): string | undefined {
  if (!parent || !Array.isArray(parent.args)) return undefined;
  const [a, b] = parent.args as [unknown, unknown];
  if ((parent.op === '.' || parent.op === '.?') && a === labels && typeof b === 'string') return b;
  if ((parent.op === '[]' || parent.op === '[?]') && a === labels) return constantString(b);
  if (parent.op === 'in' && b === labels) return constantString(a);
  return undefined;
}

/**
 * Every read of `source.labels` in a condition's AST (cel-js nodes `{op, args, pos}`): the key when
 * it is a constant, or undefined when the condition reads the map as a whole or by a computed key.
 */
export function labelReads(ast: unknown): { key: string | undefined; offset: number }[] {
  const out: { key: string | undefined; offset: number }[] = [];
  const walk = (node: unknown, parent: Node | undefined): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n, parent);
      return;
    }
    if (!isNode(node)) return;
    if (isSourceLabels(node)) {
      out.push({ key: keyRead(parent, node), offset: node.pos ?? 0 });
      return;
    }
    if (node.op !== 'value') walk(node.args, node);
  };
  walk(ast, undefined);
  return out;
}
