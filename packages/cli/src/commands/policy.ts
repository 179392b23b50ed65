import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CompileOptions,
  canonicalMethod,
  canonicalRequest,
  checkPolicyTests,
  type DecisionInput,
  type Diagnostic,
  decisionInputProblems,
  formatDiagnostic,
  type LoadResult,
  lintPolicy,
  loadPolicy,
  policySchema,
  ruleId,
  runPolicyTests,
  sortDiagnostics,
} from '@ward/policy';
import { trustDomainProblem } from '@ward/spiffe';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';

/**
 * `ward policy check|eval|test|schema`: validate and lint policy files, decide one input, run
 * policy tests (the equivalent of `opa test`), print the JSON Schema.
 */
export function register(program: Command): void {
  const policy = program.command('policy').description('validate, evaluate and test policies');

  policy
    .command('check')
    .description(
      'validate and lint policy files (directories are walked for *.yaml, *.yml, *.json)',
    )
    .argument('<paths...>', 'files or directories')
    .option('--json', 'print diagnostics as a JSON array')
    .option('--trust-domain <domain>', 'trust domain for default SPIFFE IDs', 'ward.local')
    .option('--env <key=value...>', 'static values visible to CEL as env')
    .action((paths: string[], opts: CommonOptions & { json?: boolean }) => {
      const loaded = load(paths, opts);
      const warnings = loaded.policySet ? lintPolicy(loaded.documents, compileOptions(opts)) : [];
      const tests = loaded.policySet ? checkPolicyTests(loaded.policySet, loaded.tests) : [];
      const all = sortDiagnostics([...loaded.diagnostics, ...tests, ...warnings]);
      const errors = all.filter((d) => d.severity === 'error').length;
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
      } else {
        for (const d of all) process.stdout.write(`${formatDiagnostic(d)}\n`);
        const docs = loaded.documents.length + loaded.tests.length;
        process.stderr.write(
          `${docs} document(s): ${errors} error(s), ${all.length - errors} warning(s)\n`,
        );
      }
      if (errors > 0) process.exitCode = 1;
    });

  policy
    .command('eval')
    .description('decide one input (JSON) against policy files')
    .requiredOption('-f, --file <paths...>', 'policy files or directories')
    .requiredOption(
      '--input <json>',
      'the decision input as JSON, or @file to read it from a file; request.method and request.path are put in the canonical form the middleware decides on (query dropped, escapes and dot segments resolved, HEAD as GET)',
    )
    .option('--explain', 'also list every rule considered and why it matched or not')
    .option('--trust-domain <domain>', 'trust domain for default SPIFFE IDs', 'ward.local')
    .option('--env <key=value...>', 'static values visible to CEL as env')
    .action((opts: CommonOptions & { file: string[]; input: string; explain?: boolean }) => {
      const input = readInput(opts.input);
      const loaded = load(opts.file, opts);
      const set = requireCompiled(loaded);
      const result = opts.explain ? set.explain(input) : set.decide(input);
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    });

  policy
    .command('test')
    .description('run PolicyTest cases found in the given paths against the policies there')
    .argument('<paths...>', 'directories or files holding policies and PolicyTest documents')
    .option('-v, --verbose', 'print the reason of every decision')
    .option('--trust-domain <domain>', 'trust domain for default SPIFFE IDs', 'ward.local')
    .option('--env <key=value...>', 'static values visible to CEL as env')
    .action((paths: string[], opts: CommonOptions & { verbose?: boolean }) => {
      const loaded = load(paths, opts);
      const set = requireCompiled(loaded);
      if (loaded.tests.length === 0)
        throw new CliError('POLICY_NO_TESTS', 'no PolicyTest documents found');
      const unknown = checkPolicyTests(set, loaded.tests);
      for (const d of unknown) process.stderr.write(`${formatDiagnostic(d)}\n`);
      const report = runPolicyTests(set, loaded.tests);
      for (const r of report.results) {
        const where = r.location ? ` (${r.location.file}:${r.location.line})` : '';
        process.stdout.write(`${r.passed ? 'PASS' : 'FAIL'}: ${r.name}${where}\n`);
        for (const f of r.failures) process.stdout.write(`  ${f}\n`);
        if (opts.verbose || !r.passed) {
          process.stdout.write(`  decided by ${ruleId(r.decision)}: ${r.decision.reason}\n`);
        }
      }
      process.stdout.write(`${'-'.repeat(60)}\n`);
      const total = report.results.length;
      process.stdout.write(
        `PASS: ${report.passed}/${total}${report.failed ? `, FAIL: ${report.failed}/${total}` : ''}\n`,
      );
      const rules = report.covered.length + report.uncovered.length;
      process.stdout.write(
        `coverage: ${report.covered.length}/${rules} rules exercised` +
          (report.uncovered.length ? `; never exercised: ${report.uncovered.join(', ')}` : '') +
          '\n',
      );
      if (report.failed > 0 || unknown.length > 0) process.exitCode = 1;
    });

  policy
    .command('schema')
    .description('print the JSON Schema of policy documents (docs/policy-schema.json)')
    .action(() => {
      process.stdout.write(`${JSON.stringify(policySchema, null, 2)}\n`);
    });
}

interface CommonOptions {
  trustDomain: string;
  env?: string[];
}

function compileOptions(opts: CommonOptions): CompileOptions {
  const env: Record<string, string> = {};
  for (const pair of opts.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError('CLI_BAD_OPTION', `--env expects key=value, got "${pair}"`, 2);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const problem = trustDomainProblem(opts.trustDomain);
  if (problem !== undefined) {
    throw new CliError(
      'CLI_BAD_OPTION',
      `invalid --trust-domain "${opts.trustDomain}": ${problem}`,
      2,
    );
  }
  return { trustDomain: opts.trustDomain, env };
}

/** Files named directly are read whatever their extension; directories are walked. */
export function collectFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ya?ml|json)$/.test(e.name)) out.push(p);
    }
  };
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      throw new CliError('CLI_FILE_NOT_FOUND', `no such file or directory: ${p}`);
    }
    if (isDir) walk(p);
    else out.push(p);
  }
  return out;
}

function load(paths: string[], opts: CommonOptions): LoadResult {
  const files = collectFiles(paths);
  if (files.length === 0) throw new CliError('CLI_FILE_NOT_FOUND', 'no policy files found');
  return loadPolicy(
    files.map((file) => ({ file, text: readFileSync(file, 'utf8') })),
    compileOptions(opts),
  );
}

function requireCompiled(loaded: LoadResult): NonNullable<LoadResult['policySet']> {
  if (loaded.policySet) return loaded.policySet;
  const errors: Diagnostic[] = loaded.diagnostics.filter((d) => d.severity === 'error');
  for (const d of errors) process.stderr.write(`${formatDiagnostic(d)}\n`);
  throw new CliError('POLICY_COMPILE_FAILED', `policy does not compile: ${errors.length} error(s)`);
}

function readInput(arg: string): DecisionInput {
  let text = arg;
  if (arg.startsWith('@')) {
    try {
      text = readFileSync(arg.slice(1), 'utf8');
    } catch {
      throw new CliError('CLI_FILE_NOT_FOUND', `cannot read input file ${arg.slice(1)}`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliError(
      'CLI_BAD_INPUT',
      `--input is not valid JSON: ${(error as Error).message}`,
      2,
    );
  }
  const problems = decisionInputProblems(value);
  if (problems.length > 0) {
    throw new CliError(
      'CLI_BAD_INPUT',
      `--input is not a decision input: ${problems.join('; ')}`,
      2,
    );
  }
  return canonicalInput(value as DecisionInput);
}

/**
 * The input as the middleware would decide it: the same canonical method and path
 * (`canonicalRequest`), so `eval` answers what a service would.
 */
function canonicalInput(input: DecisionInput): DecisionInput {
  const request = input.request;
  if (request === undefined || (request.method === undefined && request.path === undefined)) {
    return input;
  }
  try {
    if (request.path === undefined) {
      return { ...input, request: { ...request, method: canonicalMethod(request.method!) } };
    }
    const canonical = canonicalRequest(request.method ?? 'GET', request.path);
    return {
      ...input,
      request: {
        ...request,
        method: request.method === undefined ? undefined : canonical.method,
        path: canonical.path,
      },
    };
  } catch (error) {
    const e = error as { code?: string; message: string };
    throw new CliError('CLI_BAD_INPUT', `--input request: ${e.code}: ${e.message}`, 2);
  }
}
