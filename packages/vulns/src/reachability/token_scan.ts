/**
 * A tolerant import scanner for TypeScript (which the JavaScript parser cannot read) and for
 * JavaScript the parser refuses: a lexer that skips comments, strings, template literals and regular expressions,
 * then patterns over the tokens. It never throws; anything it cannot read is skipped.
 */

import {
  addUsage,
  type DynamicSite,
  type ImportSite,
  markAll,
  names,
  type ScanResult,
} from './sites.ts';

interface Token {
  /** id: identifier or keyword; str: a string or a template without substitutions; tpl: a template with them; p: punctuation. */
  t: 'id' | 'str' | 'tpl' | 'num' | 'p';
  v: string;
  line: number;
}

const ID_START = /[A-Za-z_$\u0080-\uffff]/;
const ID_PART = /[\w$\u0080-\uffff]/;
/** After these keywords a `/` starts a regular expression. */
const REGEX_AFTER_KEYWORD = new Set([
  'return',
  'typeof',
  'instanceof',
  'in',
  'of',
  'new',
  'delete',
  'void',
  'throw',
  'case',
  'do',
  'else',
  'yield',
  'await',
]);

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  /** Brace depth inside each open template substitution. */
  const templates: number[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;

  const readTemplate = (): void => {
    // i is just after '`' or the '}' closing a substitution.
    let value = '';
    while (i < n) {
      const c = text[i];
      if (c === '\\') {
        value += text.slice(i, i + 2);
        if (text[i + 1] === '\n') line++;
        i += 2;
      } else if (c === '`') {
        i++;
        tokens.push({ t: 'str', v: value, line });
        return;
      } else if (c === '$' && text[i + 1] === '{') {
        i += 2;
        tokens.push({ t: 'tpl', v: value, line });
        templates.push(0);
        return;
      } else {
        if (c === '\n') line++;
        value += c;
        i++;
      }
    }
    tokens.push({ t: 'str', v: value, line });
  };

  while (i < n) {
    const c = text[i] as string;
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      for (let k = i; k < stop; k++) if (text[k] === '\n') line++;
      i = stop;
    } else if (c === '"' || c === "'") {
      let value = '';
      i++;
      while (i < n && text[i] !== c && text[i] !== '\n') {
        if (text[i] === '\\') {
          const next = text[i + 1];
          if (next === '\n') line++;
          value += next ?? '';
          i += 2;
        } else {
          value += text[i];
          i++;
        }
      }
      i++;
      tokens.push({ t: 'str', v: value, line });
    } else if (c === '`') {
      i++;
      readTemplate();
    } else if (c === '}' && templates.length > 0 && templates[templates.length - 1] === 0) {
      templates.pop();
      i++;
      readTemplate();
    } else if (c === '/' && startsRegex(tokens[tokens.length - 1])) {
      let inClass = false;
      i++;
      while (i < n && text[i] !== '\n') {
        const d = text[i];
        if (d === '\\') i++;
        else if (d === '[') inClass = true;
        else if (d === ']') inClass = false;
        else if (d === '/' && !inClass) break;
        i++;
      }
      i++;
      while (i < n && ID_PART.test(text[i] as string)) i++;
      tokens.push({ t: 'num', v: 're', line });
    } else if (ID_START.test(c)) {
      const start = i;
      while (i < n && ID_PART.test(text[i] as string)) i++;
      tokens.push({ t: 'id', v: text.slice(start, i), line });
    } else if (c >= '0' && c <= '9') {
      while (i < n && /[\w.]/.test(text[i] as string)) i++;
      tokens.push({ t: 'num', v: '0', line });
    } else {
      if (templates.length > 0) {
        const top = templates.length - 1;
        if (c === '{') templates[top] = (templates[top] as number) + 1;
        else if (c === '}') templates[top] = (templates[top] as number) - 1;
      }
      tokens.push({ t: 'p', v: c, line });
      i++;
    }
  }
  return tokens;
}

function startsRegex(prev: Token | undefined): boolean {
  if (prev === undefined) return true;
  if (prev.t === 'str' || prev.t === 'num' || prev.t === 'tpl') return false;
  if (prev.t === 'id') return REGEX_AFTER_KEYWORD.has(prev.v);
  return prev.v !== ')' && prev.v !== ']' && prev.v !== '}';
}

const MAX_EVAL_DEPTH = 3;

/** Scans TypeScript or JavaScript text for its loads. Never throws. */
export function scanTokens(text: string, depth = 0): ScanResult {
  const tokens = tokenize(text);
  const imports: ImportSite[] = [];
  const dynamic: DynamicSite[] = [];
  /** Default, namespace and `x = require()` bindings whose member accesses tell the usage. */
  const bindings = new Map<string, ImportSite>();
  /** Token indexes that declare a binding (not uses of it). */
  const declared = new Set<number>();
  const at = (k: number): Token | undefined => tokens[k];
  const is = (k: number, v: string): boolean => {
    const tok = tokens[k];
    return tok !== undefined && tok.t !== 'str' && tok.t !== 'tpl' && tok.v === v;
  };
  const isStr = (k: number): boolean => at(k)?.t === 'str';
  const isId = (k: number): boolean => at(k)?.t === 'id';
  const afterDot = (k: number): boolean => is(k - 1, '.') && !is(k - 2, '.');

  const site = (
    specifier: string,
    line: number,
    kind: 'import' | 'require',
    usage = names(),
  ): ImportSite => {
    const s: ImportSite = { specifier, line, kind, usage, inferred: false };
    imports.push(s);
    return s;
  };

  const dynamicAt = (k: number, what: string): void => {
    const tok = at(k);
    const d: DynamicSite = { line: tok?.line ?? 0, what };
    if ((tok?.t === 'str' && is(k + 1, '+')) || tok?.t === 'tpl') d.prefix = tok.v;
    dynamic.push(d);
  };

  /** `{ a, b as c, type d, default as e }` from index k (at '{'); returns names and the index after '}'. */
  const braceList = (k: number, local: boolean): { list: string[]; end: number } => {
    const list: string[] = [];
    let j = k + 1;
    let entry: Token[] = [];
    const flush = (): void => {
      const parts = entry.filter((tok) => tok.t === 'id' || tok.t === 'str');
      entry = [];
      if (parts.length === 0) return;
      if (parts[0]?.v === 'type' && parts.length > 1 && parts[1]?.v !== 'as') return;
      const name = local ? parts[parts.length - 1]?.v : parts[0]?.v;
      if (name !== undefined) list.push(name);
    };
    for (; j < tokens.length && j < k + 2000; j++) {
      if (is(j, '}')) {
        flush();
        return { list, end: j + 1 };
      }
      if (is(j, ',')) flush();
      else entry.push(at(j) as Token);
    }
    return { list, end: j };
  };

  // `const req = createRequire(import.meta.url)` gives another name to require.
  const requireAliases = new Set<string>();
  for (let k = 0; k < tokens.length; k++) {
    if (!is(k, 'createRequire') || !is(k + 1, '(')) continue;
    let m = k - 1;
    if (is(m, '.')) m -= 2;
    if (is(m, '=') && isId(m - 1)) requireAliases.add(at(m - 1)?.v as string);
  }

  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k] as Token;
    if (tok.t === 'id' && requireAliases.has(tok.v) && !afterDot(k) && is(k + 1, '(')) {
      requireCall(k);
      continue;
    }
    if (tok.t !== 'id' || afterDot(k)) {
      if (tok.t === 'id' && tok.v === 'require' && is(k - 2, 'module') && is(k + 1, '(')) {
        requireCall(k);
      }
      continue;
    }
    switch (tok.v) {
      case 'import':
        importStatement(k);
        break;
      case 'export':
        exportStatement(k);
        break;
      case 'require':
        // `import x = require('y')` is read with the import statement
        if (!is(k - 1, 'function') && !(is(k - 1, '=') && isId(k - 2) && is(k - 3, 'import')))
          requireCall(k);
        break;
      case 'eval':
        if (is(k + 1, '(') && !is(k - 1, 'function')) evalCall(k + 2, ')', 'eval');
        break;
      case 'Function':
        if (is(k + 1, '(') && !is(k - 1, 'function') && !is(k - 1, 'class'))
          evalCall(k + 2, ')', 'new Function');
        break;
    }
  }

  function importStatement(k: number): void {
    const line = (at(k) as Token).line;
    if (is(k + 1, '.')) return; // import.meta
    if (is(k + 1, '(')) {
      if (is(k - 1, 'typeof')) return; // a type query loads nothing
      if (isStr(k + 2) && (is(k + 3, ')') || is(k + 3, ','))) {
        site(at(k + 2)?.v as string, line, 'import', { kind: 'all', why: 'import()' });
      } else dynamicAt(k + 2, 'import(expr)');
      return;
    }
    if (isStr(k + 1)) {
      site(at(k + 1)?.v as string, line, 'import');
      return;
    }
    let j = k + 1;
    if (is(j, 'type') && !is(j + 1, 'from') && !is(j + 1, ',') && !is(j + 1, '=')) return;
    const named: string[] = [];
    const objects: { name: string; index: number; isDefault: boolean }[] = [];
    for (; j < tokens.length && j < k + 2000; j++) {
      if (is(j, 'from') && isStr(j + 1)) {
        const s = site(at(j + 1)?.v as string, line, 'import', names(...named));
        for (const o of objects) {
          if (o.isDefault) addUsage(s, 'default');
          bindings.set(o.name, s);
          declared.add(o.index);
        }
        return;
      }
      if (is(j, '{')) {
        const { list, end } = braceList(j, false);
        named.push(...list);
        j = end - 1;
      } else if (is(j, '*') && is(j + 1, 'as') && isId(j + 2)) {
        objects.push({ name: at(j + 2)?.v as string, index: j + 2, isDefault: false });
        j += 2;
      } else if (isId(j) && is(j + 1, '=')) {
        // import x = require('y')
        if (is(j + 2, 'require') && is(j + 3, '(') && isStr(j + 4)) {
          const s = site(at(j + 4)?.v as string, line, 'require');
          bindings.set(at(j)?.v as string, s);
          declared.add(j);
        }
        return;
      } else if (isId(j)) {
        objects.push({ name: at(j)?.v as string, index: j, isDefault: true });
      } else if (!is(j, ',')) return;
    }
  }

  function exportStatement(k: number): void {
    const line = (at(k) as Token).line;
    const j = k + 1;
    if (is(j, 'type')) return;
    if (is(j, '*')) {
      let m = j + 1;
      if (is(m, 'as')) m += 2;
      if (is(m, 'from') && isStr(m + 1)) {
        site(at(m + 1)?.v as string, line, 'import', {
          kind: 'all',
          why: 'export * re-exports it',
        });
      }
      return;
    }
    if (is(j, '{')) {
      const { list, end } = braceList(j, false);
      if (is(end, 'from') && isStr(end + 1))
        site(at(end + 1)?.v as string, line, 'import', names(...list));
    }
  }

  function requireCall(k: number): void {
    const line = (at(k) as Token).line;
    if (is(k + 1, '.') && is(k + 2, 'resolve') && is(k + 3, '(')) {
      if (isStr(k + 4) && (is(k + 5, ')') || is(k + 5, ','))) {
        site(at(k + 4)?.v as string, line, 'require', {
          kind: 'all',
          why: 'require.resolve() hands its path on',
        });
      } else dynamicAt(k + 4, 'require.resolve(expr)');
      return;
    }
    if (!is(k + 1, '(')) return;
    if (!(isStr(k + 2) && is(k + 3, ')'))) {
      dynamicAt(k + 2, is(k - 2, 'module') ? 'module.require(expr)' : 'require(expr)');
      return;
    }
    const s = site(at(k + 2)?.v as string, line, 'require');
    const start = is(k - 2, 'module') ? k - 2 : k;
    if (is(k + 4, '.') && isId(k + 5)) {
      addUsage(s, at(k + 5)?.v as string);
      s.inferred = true;
    } else if (is(start - 1, '=') && isId(start - 2) && isDeclKeyword(start - 3)) {
      bindings.set(at(start - 2)?.v as string, s);
      declared.add(start - 2);
    } else if (is(start - 1, '=') && is(start - 2, '}')) {
      // const { a, b: c } = require('x')
      let open = start - 2;
      while (open > 0 && open > start - 2000 && !is(open, '{')) open--;
      if (!isDeclKeyword(open - 1)) {
        markAll(s, 'assigned by a pattern');
        return;
      }
      const { list } = braceList(open, false);
      for (const name of list) {
        if (name.startsWith('...')) markAll(s, 'a rest pattern takes every export');
        else addUsage(s, name);
      }
      // A `...rest` entry lexes as '.' tokens then the id: braceList keeps the id only.
      for (let m = open; m < start - 2; m++) {
        if (is(m, '.') && is(m + 1, '.') && is(m + 2, '.')) markAll(s, 'a rest pattern');
      }
    } else if (
      (start === 0 || is(start - 1, ';') || is(start - 1, '{') || is(start - 1, '}')) &&
      (is(k + 4, ';') || at(k + 4) === undefined || (at(k + 4)?.line ?? 0) > line)
    ) {
      // a bare statement: loaded for its side effects
    } else markAll(s, 'the module object is used as a value');
  }

  function evalCall(k: number, _close: string, what: string): void {
    // Literal code is scanned like the file; anything else is a dynamic site.
    const bodies: string[] = [];
    let j = k;
    while (isStr(j)) {
      bodies.push(at(j)?.v as string);
      if (is(j + 1, ',')) j += 2;
      else break;
    }
    if (bodies.length > 0 && is(j + 1, ')') && depth < MAX_EVAL_DEPTH) {
      const inner = scanTokens(bodies[bodies.length - 1] as string, depth + 1);
      const line = at(k)?.line ?? 0;
      for (const s of inner.imports) imports.push({ ...s, line });
      for (const d of inner.dynamic) dynamic.push({ ...d, line });
      return;
    }
    if (is(k, ')')) return; // new Function() with no body
    dynamicAt(k, what);
  }

  function isDeclKeyword(k: number): boolean {
    return is(k, 'const') || is(k, 'let') || is(k, 'var');
  }

  // Member accesses on default, namespace and require bindings.
  if (bindings.size > 0) {
    for (let k = 0; k < tokens.length; k++) {
      const tok = tokens[k] as Token;
      if (tok.t !== 'id' || declared.has(k) || afterDot(k)) continue;
      const s = bindings.get(tok.v);
      if (s === undefined) continue;
      let m = k + 1;
      if (is(m, '?') && is(m + 1, '.')) m++;
      if (is(m, '.') && isId(m + 1)) {
        addUsage(s, at(m + 1)?.v as string);
        s.inferred = true;
      } else if (is(k + 1, '(')) {
        addUsage(s, 'default');
      } else if (is(m, '[') && isStr(m + 1) && is(m + 2, ']')) {
        addUsage(s, at(m + 1)?.v as string);
        s.inferred = true;
      } else if (is(k + 1, ':') && (is(k - 1, '{') || is(k - 1, ','))) {
        // an object key (`{ x: 1 }`): not a use of the binding
      } else markAll(s, `\`${tok.v}\` is used as a value (line ${tok.line})`);
    }
  }

  return { imports, dynamic, method: 'scanner' };
}
