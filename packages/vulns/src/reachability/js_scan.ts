/**
 * Loads of a JavaScript module, from its ESTree syntax tree (meriyah parses, acorn-walk walks):
 * static imports and re-exports, `import()` and `require()` of literals, and which exports the
 * importing code uses.
 */

import type { AnyNode as EsNode, Node } from 'acorn';
import {
  fullAncestor,
  make,
  type RecursiveVisitors,
  simple,
  type WalkerCallback,
} from 'acorn-walk';
import { parse } from 'meriyah';
import {
  addUsage,
  type DynamicSite,
  type ImportSite,
  markAll,
  names,
  type ScanResult,
} from './sites.ts';
import { scanTokens } from './token_scan.ts';

// ESTree nodes (acorn's types), loosely: the fields this file reads.
// biome-ignore lint/suspicious/noExplicitAny: ESTree nodes are read structurally
type AnyNode = Node & Record<string, any>;

/**
 * Parses as a module, then as a script; undefined when neither parses.
 *
 * meriyah, not acorn: on the 2,342 files parse-server's analysis parses (11.7 MB) acorn took
 * 1,480 ms of CPU and meriyah 520 ms (best of 6, same process, same files), the same files
 * failing in both. Its ESTree output is walked by acorn-walk as acorn's is. Lines come from
 * offsets (lineIndex) for the few nodes reported, not from locations on every node.
 */
export function parseJs(text: string): AnyNode | undefined {
  for (const sourceType of ['module', 'script'] as const) {
    try {
      return parse(text, {
        sourceType,
        ranges: { start: true, end: true, range: false },
        // Annex B syntax (`<!--` comments, legacy octal escapes) as Node accepts in scripts.
        webcompat: true,
        globalReturn: sourceType === 'script',
      }) as unknown as AnyNode;
    } catch {
      // try the next source type
    }
  }
  return undefined;
}

function literalString(node: AnyNode | undefined): string | undefined {
  if (node === undefined || node === null) return undefined;
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'TemplateLiteral' && node.expressions.length === 0) {
    return node.quasis[0]?.value?.cooked ?? undefined;
  }
  return undefined;
}

/** The literal start of a computed specifier (`'./x/' + y`, `` `./x/${y}` ``). */
function literalPrefix(node: AnyNode | undefined): string | undefined {
  if (node === undefined || node === null) return undefined;
  if (node.type === 'BinaryExpression' && node.operator === '+') {
    return literalString(node.left) ?? literalPrefix(node.left);
  }
  if (node.type === 'TemplateLiteral') {
    const head = node.quasis[0]?.value?.cooked;
    return typeof head === 'string' && head !== '' ? head : undefined;
  }
  return undefined;
}

function keyName(prop: AnyNode): string | undefined {
  if (prop.computed) return literalString(prop.key);
  if (prop.key?.type === 'Identifier') return prop.key.name;
  return literalString(prop.key);
}

const MAX_EVAL_DEPTH = 3;

/**
 * Words without which a file can load nothing and run no computed code: a file with none of
 * them is not parsed (a fifth of the files of a typical node_modules tree).
 */
const LOADS_OR_EVAL = /\b(?:require|import|export|eval|Function)\b/;

/** 1-based line of `offset`, counting line terminators as ECMAScript does. */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  const terminator = /\r\n?|\n|\u2028|\u2029/g;
  for (let m = terminator.exec(text); m !== null; m = terminator.exec(text))
    starts.push(m.index + m[0].length);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

/**
 * A walker that skips every statement and expression whose text holds none of `words`: the
 * nodes the scan reads (a `require` call, an `import`, a use of a binding) contain one of
 * them. Walking every node cost as much as parsing (parse-server: ~500 ms of CPU each).
 * A name spelled with a Unicode escape (`\\u0072equire`) is missed, as by LOADS_OR_EVAL.
 */
function pruned(text: string, words: Iterable<string>): RecursiveVisitors<unknown> {
  const alternatives = [...words].map((w) => w.replace(/[$]/g, '\\$')).join('|');
  const word = new RegExp(`(?<![\\w$])(?:${alternatives})(?![\\w$])`, 'g');
  const at: number[] = [];
  for (let m = word.exec(text); m !== null; m = word.exec(text)) at.push(m.index);
  const holdsWord = (node: EsNode, st: unknown, c: WalkerCallback<unknown>): void => {
    let lo = 0;
    let hi = at.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((at[mid] as number) < node.start) lo = mid + 1;
      else hi = mid;
    }
    if (lo < at.length && (at[lo] as number) < node.end) c(node, st);
  };
  return make({ Statement: holdsWord, Expression: holdsWord });
}

/** Scans JavaScript text; falls back to the token scanner when it cannot be parsed. */
export function scanJs(text: string, depth = 0): ScanResult {
  if (!LOADS_OR_EVAL.test(text)) return { imports: [], dynamic: [], method: 'parser' };
  const ast = parseJs(text);
  if (ast === undefined) return scanTokens(text, depth);

  const imports: ImportSite[] = [];
  const dynamic: DynamicSite[] = [];
  const bindings = new Map<string, ImportSite>();
  const requireNames = new Set(['require']);

  // createRequire(import.meta.url) gives another name to require.
  if (text.includes('createRequire'))
    simple(ast, {
      VariableDeclarator(node: AnyNode) {
        const init = node.init as AnyNode | null;
        if (init?.type !== 'CallExpression' || node.id.type !== 'Identifier') return;
        const callee = init.callee as AnyNode;
        const name = callee.type === 'Identifier' ? callee.name : callee.property?.name;
        if (name === 'createRequire' || name === 'createRequireFromPath')
          requireNames.add(node.id.name);
      },
    });

  let lineOf: ((offset: number) => number) | undefined;
  const line = (node: AnyNode): number => {
    lineOf ??= lineIndex(text);
    return lineOf(node.start);
  };
  const site = (
    specifier: string,
    node: AnyNode,
    kind: 'import' | 'require',
    usage = names(),
  ): ImportSite => {
    const s: ImportSite = { specifier, line: line(node), kind, usage, inferred: false };
    imports.push(s);
    return s;
  };
  const dynamicSite = (node: AnyNode, what: string, arg: AnyNode | undefined): void => {
    const d: DynamicSite = { line: line(node), what };
    const prefix = literalPrefix(arg);
    if (prefix !== undefined) d.prefix = prefix;
    dynamic.push(d);
  };
  const literalCode = (node: AnyNode, args: AnyNode[], what: string): void => {
    const body = args.length > 0 ? literalString(args[args.length - 1]) : undefined;
    if (args.length === 0) return;
    if (
      body !== undefined &&
      args.every((a) => literalString(a) !== undefined) &&
      depth < MAX_EVAL_DEPTH
    ) {
      const inner = scanJs(body, depth + 1);
      for (const s of inner.imports) imports.push({ ...s, line: line(node) });
      for (const d of inner.dynamic) dynamic.push({ ...d, line: line(node) });
      return;
    }
    dynamicSite(node, what, undefined);
  };

  /** `require` handed on (`const r = require`, `load(require)`) can load anything. */
  const requireAsValue = (node: AnyNode, parent: AnyNode | undefined): void => {
    if (parent?.type === 'CallExpression' && parent.callee === node) return;
    if (parent?.type === 'MemberExpression' && parent.object === node) return;
    if (parent?.type === 'UnaryExpression' && parent.operator === 'typeof') return;
    if (parent?.type === 'BinaryExpression' || parent?.type === 'LogicalExpression') return;
    if (parent?.type === 'IfStatement' || parent?.type === 'ConditionalExpression') return;
    dynamic.push({ line: line(node), what: `\`${node.name}\` handed on as a value` });
  };

  /** How the value of a `require()`/`await import()` expression is used, from its parent. */
  const usageFromParent = (
    s: ImportSite,
    node: AnyNode,
    ancestors: AnyNode[],
    at: number,
  ): void => {
    let child = node;
    let parent = ancestors[at];
    if (parent?.type === 'AwaitExpression') {
      child = parent;
      parent = ancestors[at - 1];
    }
    if (parent?.type === 'VariableDeclarator' && parent.init === child) {
      if (parent.id.type === 'Identifier') {
        bindings.set(parent.id.name, s);
        return;
      }
      if (parent.id.type === 'ObjectPattern') {
        for (const prop of parent.id.properties as AnyNode[]) {
          const name = prop.type === 'Property' ? keyName(prop) : undefined;
          if (name === undefined) {
            markAll(s, 'a rest or computed pattern takes any export');
            return;
          }
          addUsage(s, name);
        }
        return;
      }
    }
    if (parent?.type === 'MemberExpression' && parent.object === child) {
      const name = parent.computed ? literalString(parent.property) : parent.property.name;
      if (name !== undefined) {
        addUsage(s, name);
        s.inferred = true;
        return;
      }
    }
    if (parent?.type === 'ExpressionStatement') return; // side effects only
    markAll(s, 'the module object is used as a value');
  };

  const loadWords = ['require', 'import', 'export', 'eval', 'Function', ...requireNames];
  fullAncestor(
    ast,
    (n, _state, ancestors, type) => {
      const node = n as AnyNode;
      const parents = ancestors as AnyNode[];
      // Identifiers visited as patterns (declarations, assignment targets) are not references.
      if (type !== node.type) return;
      switch (node.type) {
        case 'ImportDeclaration': {
          if (node.importKind === 'type') return;
          const s = site(node.source.value, node, 'import');
          for (const spec of node.specifiers as AnyNode[]) {
            if (spec.type === 'ImportSpecifier') {
              addUsage(
                s,
                spec.imported.type === 'Identifier' ? spec.imported.name : spec.imported.value,
              );
            } else {
              if (spec.type === 'ImportDefaultSpecifier') addUsage(s, 'default');
              bindings.set(spec.local.name, s);
            }
          }
          return;
        }
        case 'ExportNamedDeclaration': {
          if (node.source) {
            const list = (node.specifiers as AnyNode[]).map((spec) =>
              spec.local.type === 'Identifier' ? spec.local.name : spec.local.value,
            );
            site(node.source.value, node, 'import', names(...list));
          } else {
            for (const spec of node.specifiers as AnyNode[]) {
              const s =
                spec.local.type === 'Identifier' ? bindings.get(spec.local.name) : undefined;
              if (s !== undefined)
                markAll(s, `re-exported as \`${spec.exported.name ?? spec.exported.value}\``);
            }
          }
          return;
        }
        case 'ExportAllDeclaration':
          site(node.source.value, node, 'import', { kind: 'all', why: 'export * re-exports it' });
          return;
        case 'ImportExpression': {
          const spec = literalString(node.source);
          if (spec === undefined) {
            dynamicSite(node, 'import(expr)', node.source);
            return;
          }
          const s = site(spec, node, 'import');
          usageFromParent(s, node, parents, parents.length - 2);
          return;
        }
        case 'CallExpression': {
          const callee = node.callee as AnyNode;
          const arg = node.arguments[0] as AnyNode | undefined;
          if (callee.type === 'Identifier' && requireNames.has(callee.name)) {
            const spec = literalString(arg);
            if (spec === undefined) {
              if (arg !== undefined) dynamicSite(node, 'require(expr)', arg);
              return;
            }
            const s = site(spec, node, 'require');
            usageFromParent(s, node, parents, parents.length - 2);
            return;
          }
          if (callee.type === 'MemberExpression' && !callee.computed) {
            const object = callee.object as AnyNode;
            const prop = callee.property.name as string;
            if (
              object.type === 'Identifier' &&
              requireNames.has(object.name) &&
              prop === 'resolve'
            ) {
              const spec = literalString(arg);
              if (spec === undefined) dynamicSite(node, 'require.resolve(expr)', arg);
              else
                site(spec, node, 'require', {
                  kind: 'all',
                  why: 'require.resolve() hands its path on',
                });
              return;
            }
            if (object.type === 'MetaProperty' && prop === 'resolve') {
              const spec = literalString(arg);
              if (spec === undefined) dynamicSite(node, 'import.meta.resolve(expr)', arg);
              else
                site(spec, node, 'import', {
                  kind: 'all',
                  why: 'import.meta.resolve() hands its path on',
                });
              return;
            }
            if (object.type === 'Identifier' && object.name === 'module' && prop === 'require') {
              const spec = literalString(arg);
              if (spec === undefined) dynamicSite(node, 'module.require(expr)', arg);
              else usageFromParent(site(spec, node, 'require'), node, parents, parents.length - 2);
              return;
            }
          }
          if (callee.type === 'Identifier' && callee.name === 'eval') {
            literalCode(node, node.arguments, 'eval');
            return;
          }
          if (callee.type === 'Identifier' && callee.name === 'Function') {
            literalCode(node, node.arguments, 'Function()');
          }
          return;
        }
        case 'NewExpression':
          if (node.callee.type === 'Identifier' && node.callee.name === 'Function') {
            literalCode(node, node.arguments, 'new Function');
          }
          return;
        case 'Identifier':
          if (requireNames.has(node.name)) requireAsValue(node, parents[parents.length - 2]);
          return;
      }
    },
    pruned(text, loadWords),
  );

  // A second walk, after the first has found every binding, so uses before a binding's
  // declaration (hoisting) count too.
  const references: { node: AnyNode; parent: AnyNode | undefined }[] = [];
  if (bindings.size > 0)
    fullAncestor(
      ast,
      (node, _state, ancestors, type) => {
        if (type !== 'Identifier' || !bindings.has((node as AnyNode).name)) return;
        references.push({ node: node as AnyNode, parent: (ancestors as AnyNode[]).at(-2) });
      },
      pruned(text, bindings.keys()),
    );
  for (const { node, parent } of references) {
    const s = bindings.get(node.name);
    if (s === undefined) continue;
    if (parent?.type === 'MemberExpression' && parent.object === node) {
      const name = parent.computed ? literalString(parent.property) : parent.property.name;
      if (name !== undefined) {
        addUsage(s, name);
        s.inferred = true;
        continue;
      }
      markAll(s, `\`${node.name}[…]\` at line ${line(node)} reads a computed export`);
      continue;
    }
    if (parent?.type === 'CallExpression' && parent.callee === node) {
      // calling the default export (or a CommonJS module's function)
      addUsage(s, 'default');
      continue;
    }
    markAll(s, `\`${node.name}\` is used as a value at line ${line(node)}`);
  }

  return { imports, dynamic, method: 'parser' };
}
