import type { Declared } from './attribute-schema.ts';
import type { AttributeType } from './types.ts';

/**
 * What a condition reads of the open maps `passport.attrs` and `source.labels`, found on the
 * cel-js AST (`{op, args, pos}`), with the offset of each key in the condition's text: the keys
 * an AttributeSchema checks, and the literals compared with declared keys.
 */

interface Node {
  op: string;
  args: unknown;
  pos?: number;
}

const isNode = (v: unknown): v is Node =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as Node).op === 'string';

/** `passport.attrs` or `source.labels` itself. */
function isMapRead(n: Node, variable: string, field: string): boolean {
  if (n.op !== '.' || !Array.isArray(n.args)) return false;
  const [target, f] = n.args as [Node, unknown];
  return f === field && isNode(target) && target.op === 'id' && target.args === variable;
}

/** A read of one key of a map variable: the key (undefined when computed) and where it is. */
export interface KeyRead {
  key: string | undefined;
  offset: number;
}

/**
 * Every read of `variable.field` (e.g. `passport.attrs`) in a cel-js AST (`{op, args, pos}`):
 * `.key`, `.?key`, `["key"]`, `[?"key"]`, `"key" in …` and `has(….key)` give the key and the
 * offset of the key itself; any other use (whole map, computed key) gives key undefined.
 */
export function keyReads(ast: unknown, variable: string, field: string): KeyRead[] {
  const out: KeyRead[] = [];
  const walk = (node: unknown, parent: Node | undefined): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n, parent);
      return;
    }
    if (!isNode(node)) return;
    if (isMapRead(node, variable, field)) {
      out.push(keyOf(parent, node));
      return;
    }
    if (node.op !== 'value') walk(node.args, node);
  };
  walk(ast, undefined);
  return out;
}

function keyOf(parent: Node | undefined, map: Node): KeyRead {
  const whole = { key: undefined, offset: map.pos ?? 0 };
  if (!parent || !Array.isArray(parent.args)) return whole;
  const [a, b] = parent.args as [unknown, unknown];
  if ((parent.op === '.' || parent.op === '.?') && a === map && typeof b === 'string') {
    return { key: b, offset: parent.pos ?? 0 };
  }
  const literal = parent.op === 'in' ? (b === map ? a : undefined) : a === map ? b : undefined;
  if ((parent.op === '[]' || parent.op === '[?]' || parent.op === 'in') && isNode(literal)) {
    if (literal.op === 'value' && typeof literal.args === 'string') {
      return { key: literal.args, offset: literal.pos ?? 0 };
    }
  }
  return whole;
}

/** A literal a condition compares a declared key with, outside the key's declared `enum`. */
export interface EnumFinding {
  what: string;
  value: unknown;
  allowed: readonly unknown[];
  offset: number;
}

/** The declared key `node` reads (`.k`, `.?k`, `["k"]`, `[?"k"]`, any of them `.orValue(…)`). */
function declaredRead(
  node: unknown,
  attrs: Map<string, Declared> | undefined,
  labels: Map<string, Declared> | undefined,
): { what: string; type: AttributeType } | undefined {
  if (!isNode(node) || !Array.isArray(node.args)) return undefined;
  if (node.op === 'rcall' && node.args[0] === 'orValue')
    return declaredRead(node.args[1], attrs, labels);
  const [map, key] = node.args as [unknown, unknown];
  const name =
    node.op === '.' || node.op === '.?'
      ? key
      : (node.op === '[]' || node.op === '[?]') && isNode(key) && key.op === 'value'
        ? key.args
        : undefined;
  if (typeof name !== 'string' || !isNode(map)) return undefined;
  const source = isMapRead(map, 'passport', 'attrs')
    ? attrs
    : isMapRead(map, 'source', 'labels')
      ? labels
      : undefined;
  const declared = source?.get(name);
  if (!declared) return undefined;
  const what = `${source === attrs ? 'passport attribute' : 'label'} ${JSON.stringify(name)}`;
  return { what, type: declared.type };
}

/**
 * Comparisons (`==`, `!=`, `in [literals]`, `"v" in list-attribute`) of a declared key with a
 * literal its `enum` does not allow: never true for a passport or Service that keeps to the
 * schema, so most likely a misspelt value. Reported by lint, not refused: the schema is the
 * platform's, and a team may write a rule for a value before the schema lists it.
 */
export function enumFindings(
  ast: unknown,
  attrs: Map<string, Declared> | undefined,
  labels: Map<string, Declared> | undefined,
): EnumFinding[] {
  const out: EnumFinding[] = [];
  const check = (read: ReturnType<typeof declaredRead>, literal: unknown, element: boolean) => {
    if (!read || !isNode(literal) || literal.op !== 'value') return;
    const allowed = element ? read.type.items?.enum : read.type.enum;
    const value = typeof literal.args === 'bigint' ? Number(literal.args) : literal.args;
    if (allowed && !allowed.includes(value as string)) {
      out.push({ what: read.what, value, allowed, offset: literal.pos ?? 0 });
    }
  };
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (!isNode(node) || node.op === 'value') return;
    if (Array.isArray(node.args) && (node.op === '==' || node.op === '!=' || node.op === 'in')) {
      const [l, r] = node.args as [unknown, unknown];
      if (node.op === 'in') {
        const right = declaredRead(r, attrs, labels);
        if (right?.type.type === 'array') check(right, l, true);
        const left = declaredRead(l, attrs, labels);
        if (left && isNode(r) && r.op === 'list' && Array.isArray(r.args)) {
          for (const v of r.args) check(left, v, false);
        }
      } else {
        check(declaredRead(l, attrs, labels), r, false);
        check(declaredRead(r, attrs, labels), l, false);
      }
    }
    walk(node.args);
  };
  walk(ast);
  return out;
}
