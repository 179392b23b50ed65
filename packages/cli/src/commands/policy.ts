import {
  type CompileOptions,
  canonicalDecisionInput,
  canonicalInputNames,
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
import {
  addFileOption,
  addOutputOption,
  collectFiles,
  printResult,
  readText,
  STDIN,
  usageError,
} from '../options.ts';

/**
 * `ward policy check|eval|test|schema -f FILE…`: validate and lint policy files, decide one
 * input, run policy tests (the equivalent of `opa test`), print the JSON Schema.
 */
export function register(program: Command): void {
  const policy = program.command('policy').description('validate, evaluate and test policies');

  addOutputOption(
    addFileOption(
      policy
        .command('check')
        .description(
          'validate and lint policy files (directories are walked for *.yaml, *.yml, *.json)',
        ),
      'policy file or directory',
    )
      .option('--trust-domain <domain>', 'trust domain for default SPIFFE IDs', 'ward.local')
      .option('--env <key=value...>', 'static values visible to CEL as env'),
  ).action((opts: CommonOptions & { output: string }) => {
    const loaded = load(opts.filename, opts);
    const warnings = loaded.policySet ? lintPolicy(loaded.documents, compileOptions(opts)) : [];
    const tests = loaded.policySet ? checkPolicyTests(loaded.policySet, loaded.tests) : [];
    const all = sortDiagnostics([...loaded.diagnostics, ...tests, ...warnings]);
    const errors = all.filter((d) => d.severity === 'error').length;
    if (opts.output !== 'text') {
      printResult(opts.output, all, () => '');
    } else {
      for (const d of all) process.stdout.write(`${formatDiagnostic(d)}\n`);
      const docs = loaded.documents.length + loaded.tests.length;
      process.stderr.write(
        `${docs} document(s): ${errors} error(s), ${all.length - errors} warning(s)\n`,
      );
    }
    if (errors > 0) process.exitCode = 1;
  });

  addOutputOption(
    addFileOption(
      policy.command('eval').description('decide one input (JSON) against policy files'),
      'policy file or directory',
    )
      .requiredOption(
        '--input <json>',
        'the decision input as JSON, or @file to read it from a file; request.method and request.path are put in the canonical form the middleware decides on (query dropped, escapes and dot segments resolved, HEAD as GET)',
      )
      .option('--explain', 'also list every rule considered and why it matched or not')
      .option('--trust-domain <domain>', 'trust domain for default SPIFFE IDs', 'ward.local')
      .option('--env <key=value...>', 'static values visible to CEL as env'),
    ['json', 'yaml'],
  ).action((opts: CommonOptions & { input: string; explain?: boolean; output: string }) => {
    // `default/payments` is `payments`: the engine compares canonical keys.
    const input = canonicalInputNames(readInput(opts.input, opts.filename));
    const loaded = load(opts.filename, opts);
    const set = requireCompiled(loaded);
    const result = opts.explain ? set.explain(input) : set.decide(input);
    printResult(opts.output, result, () => '');
  });

  addOutputOption(
    addFileOption(
      policy
        .command('test')
        .description('run PolicyTest cases found in the given files against the policies there'),
      'file or directory holding policies and PolicyTest documents',
    )
      .option('-v, --verbose', 'print the reason of every decision')
      .option('--trust-domain <domain>', 'trust domain for default SPIFFE IDs', 'ward.local')
      .option('--env <key=value...>', 'static values visible to CEL as env'),
  ).action((opts: CommonOptions & { verbose?: boolean; output: string }) => {
    const loaded = load(opts.filename, opts);
    const set = requireCompiled(loaded);
    if (loaded.tests.length === 0)
      throw new CliError('POLICY_NO_TESTS', 'no PolicyTest documents found');
    const unknown = checkPolicyTests(set, loaded.tests);
    for (const d of unknown) process.stderr.write(`${formatDiagnostic(d)}\n`);
    const report = runPolicyTests(set, loaded.tests);
    if (report.failed > 0 || unknown.length > 0) process.exitCode = 1;
    if (opts.output !== 'text') {
      printResult(opts.output, report, () => '');
      return;
    }
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
  });

  addOutputOption(
    policy
      .command('schema')
      .description('print the JSON Schema of policy documents (docs/policy-schema.json)'),
    ['json', 'yaml'],
  ).action((opts: { output: string }) => {
    printResult(opts.output, policySchema, () => '');
  });
}

interface CommonOptions {
  filename: string[];
  trustDomain: string;
  env?: string[];
}

function compileOptions(opts: CommonOptions): CompileOptions {
  const env: Record<string, string> = {};
  for (const pair of opts.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usageError(`--env expects key=value, got "${pair}"`, 'CLI_BAD_OPTION');
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

function load(paths: string[], opts: CommonOptions): LoadResult {
  const files = collectFiles(paths);
  if (files.length === 0)
    throw usageError(`no policy files under ${paths.join(', ')}`, 'CLI_FILE_NOT_FOUND');
  return loadPolicy(
    files.map((file) => ({ file: file === STDIN ? '<stdin>' : file, text: readText(file) })),
    compileOptions(opts),
  );
}

function requireCompiled(loaded: LoadResult): NonNullable<LoadResult['policySet']> {
  if (loaded.policySet) return loaded.policySet;
  const errors: Diagnostic[] = loaded.diagnostics.filter((d) => d.severity === 'error');
  for (const d of errors) process.stderr.write(`${formatDiagnostic(d)}\n`);
  throw new CliError('POLICY_COMPILE_FAILED', `policy does not compile: ${errors.length} error(s)`);
}

function readInput(arg: string, filenames: string[]): DecisionInput {
  let text = arg;
  if (arg.startsWith('@')) {
    const file = arg.slice(1);
    // Both the policies (-f -) and the input (@-) cannot come from the one stdin.
    if (file === STDIN && filenames.includes(STDIN))
      throw usageError('--input @- and -f -: stdin can be read only once');
    text = readText(file);
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
 * The input as the middleware would decide it: the same canonical method, path and query
 * (`canonicalDecisionInput`: a `path` with `?…` is split), so `eval` answers what a service would.
 */
function canonicalInput(input: DecisionInput): DecisionInput {
  try {
    return canonicalDecisionInput(input);
  } catch (error) {
    const e = error as { code?: string; message: string };
    throw new CliError('CLI_BAD_INPUT', `--input request: ${e.code}: ${e.message}`, 2);
  }
}
