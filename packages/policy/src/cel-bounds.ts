import { compileRegex } from './regex.ts';

/**
 * Compile-time bounds on the cost of a `when` condition, and the two built-in functions whose cost
 * the caller controls, re-bound to bounded implementations. Runs on the type-checked AST of
 * cel-js (nodes `{op, args, pos}`; a method call is `rcall` with args `[name, receiver, args]`,
 * and the comprehension macros are method calls too).
 *
 * The cost model: every AST node is evaluated once per iteration of each comprehension around it.
 * A comprehension over a list or map literal iterates its length; over anything else at most
 * `MAX_COLLECTION` times, because every collection a caller can make larger is capped at that size
 * where it enters CEL (headers, passport attributes; see cel.ts) or where it is made (`split`).
 * A condition whose estimated cost is over `MAX_COST` node evaluations is refused.
 */

export const CEL_BOUNDS = {
  /** Characters of one `when` condition. */
  maxExpressionLength: 4096,
  /** Comprehensions (`all`, `exists`, `exists_one`, `map`, `filter`) nested in one another. */
  maxComprehensionNesting: 2,
  /** Elements of any caller-driven collection a condition can iterate (and of `split` results). */
  maxCollection: 64,
  /** Estimated node evaluations of one condition, comprehensions multiplied out. */
  maxCost: 20_000,
} as const;

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'existsOne', 'map', 'filter']);

interface Node {
  op: string;
  args: unknown;
  pos?: number;
  handle?: (args: unknown[], ev: unknown, ast: unknown) => unknown;
}

export interface BoundsProblem {
  code: 'POLICY_CEL_REGEX' | 'POLICY_CEL_COST';
  message: string;
  offset: number;
}

function isNode(v: unknown): v is Node {
  return (
    v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as Node).op === 'string'
  );
}

/** The child nodes of `node`, in source order. */
function children(node: Node): Node[] {
  if (node.op === 'value') return [];
  const out: Node[] = [];
  const collect = (v: unknown): void => {
    if (isNode(v)) out.push(v);
    else if (Array.isArray(v)) for (const x of v) collect(x);
  };
  collect(node.args);
  return out;
}

/** How many times a comprehension over `range` iterates at most. */
function rangeBound(range: Node): number {
  if ((range.op === 'list' || range.op === 'map') && Array.isArray(range.args)) {
    return range.args.length; // the author's own literal: its real size
  }
  return CEL_BOUNDS.maxCollection;
}

/**
 * Checks `ast` against `CEL_BOUNDS` and rebinds `matches()` (to a precompiled re2js pattern) and
 * `split()` (to a size-capped one) on its call nodes. Returns every problem found; the AST must
 * not be evaluated when any is returned.
 */
export function boundCel(ast: unknown, expression: string): BoundsProblem[] {
  const problems: BoundsProblem[] = [];
  if (expression.length > CEL_BOUNDS.maxExpressionLength) {
    problems.push({
      code: 'POLICY_CEL_COST',
      message: `condition is ${expression.length} characters long; the limit is ${CEL_BOUNDS.maxExpressionLength}`,
      offset: 0,
    });
    return problems;
  }
  let cost = 0;
  const walk = (node: Node, mult: number, depth: number): void => {
    cost += mult;
    if (node.op === 'rcall' && Array.isArray(node.args)) {
      const [name, receiver, args] = node.args as [string, Node, Node[]];
      if (COMPREHENSIONS.has(name)) {
        if (depth + 1 > CEL_BOUNDS.maxComprehensionNesting) {
          problems.push({
            code: 'POLICY_CEL_COST',
            message: `comprehension ${name}() nested ${depth + 1} deep; the limit is ${CEL_BOUNDS.maxComprehensionNesting}`,
            offset: node.pos ?? 0,
          });
          return;
        }
        walk(receiver, mult, depth);
        const inner = mult * rangeBound(receiver);
        for (const a of args) walk(a, inner, depth + 1);
        return;
      }
      if (name === 'matches') bindMatches(node, args, problems);
      if (name === 'split') bindSplit(node);
    }
    for (const c of children(node)) walk(c, mult, depth);
  };
  if (isNode(ast)) walk(ast, 1, 0);
  if (cost > CEL_BOUNDS.maxCost) {
    problems.push({
      code: 'POLICY_CEL_COST',
      message: `condition may evaluate ${cost} expression nodes in one decision (comprehensions multiplied out); the limit is ${CEL_BOUNDS.maxCost}`,
      offset: 0,
    });
  }
  return problems;
}

function evalError(message: string): Error {
  return new TypeError(message);
}

/** `s.matches(p)` with a constant `p`, compiled once now; any other form is refused. */
function bindMatches(node: Node, args: Node[], problems: BoundsProblem[]): void {
  const pattern = args[0];
  if (args.length !== 1 || pattern?.op !== 'value' || typeof pattern.args !== 'string') {
    problems.push({
      code: 'POLICY_CEL_REGEX',
      message:
        'matches() takes a constant string pattern (a pattern computed from request data could not be checked when the policy is applied)',
      offset: pattern?.pos ?? node.pos ?? 0,
    });
    return;
  }
  const compiled = compileRegex(pattern.args);
  if (!compiled.ok) {
    problems.push({
      code: 'POLICY_CEL_REGEX',
      message: compiled.message,
      offset: pattern.pos ?? 0,
    });
    return;
  }
  const re = compiled.regex;
  node.handle = (values) => {
    const s = values[0];
    if (typeof s !== 'string') throw evalError(`matches() needs a string, got ${typeof s}`);
    return re.test(s);
  };
}

/** `split()` as before, but a result over `maxCollection` elements is an evaluation error. */
function bindSplit(node: Node): void {
  const original = node.handle;
  if (original === undefined) return;
  node.handle = (values, ev, ast) => {
    const out = original(values, ev, ast);
    if (Array.isArray(out) && out.length > CEL_BOUNDS.maxCollection) {
      throw evalError(`split() made ${out.length} parts; the limit is ${CEL_BOUNDS.maxCollection}`);
    }
    return out;
  };
}
