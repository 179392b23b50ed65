/**
 * One grammar for every command (docs/cli.md). The table is the program's own command tree, read
 * from commander, so a command added later is checked without anyone listing it here: `--help`
 * exits 0 (and shows `-o` wherever the command prints a result), an unknown option and a bad
 * `-o` value exit 2 with one line on stderr and no stack trace, a group without its subcommand
 * exits 2. The in-process runs go through `main()`, the very function `bin.ts` calls; a few real
 * processes check that the exit code reaches the shell.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Command, Option } from 'commander';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from '../src/errors.ts';
import { allCommands, buildProgram, commandPath, main } from '../src/main.ts';
import { collectFiles, parseServer } from '../src/options.ts';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');

/**
 * Leaf commands that print no result to format, and why. Everything else must take `-o`; an
 * entry here for a command that does take `-o`, or no longer exists, fails the test below.
 */
const NO_OUTPUT: Record<string, string> = {
  'ward passport mint': 'prints the passport itself, a single token for a pipe',
  'ward agent': 'a daemon: serves the Workload API until stopped',
  'ward server reseal': 'an offline maintenance step that reports one sentence',
};

/** Runs `ward ...args` in-process; what it printed and the exit code `bin.ts` would set. */
async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  process.stdout.write = ((chunk: unknown) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown) => {
    err += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'ward', ...args]);
    return { code, out, err };
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
    process.exitCode = undefined;
  }
}

const words = (c: Command): string[] => commandPath(c).split(' ').slice(1);
const isLeaf = (c: Command): boolean => c.commands.length === 0;
/** Whether the command runs itself (`ward server` does, and also has `reseal`). */
const runs = (c: Command): boolean =>
  (c as unknown as { _actionHandler: unknown })._actionHandler != null;
const output = (c: Command): Option | undefined => c.options.find((o) => o.long === '--output');

/** Values for a command's required arguments and options, so only the flag under test is wrong. */
function requiredArgs(c: Command): string[] {
  const args = c.registeredArguments.filter((a) => a.required).map((a) => a.argChoices?.[0] ?? 'x');
  const opts = c.options
    .filter((o) => o.mandatory)
    .flatMap((o) => [o.long!, o.argChoices?.[0] ?? 'x']);
  return [...opts, ...args];
}

const ONE_LINE = /^ward: [^\n]+\n$/;
const commands = allCommands(buildProgram());

describe('every command speaks the one grammar', () => {
  it('walks a tree with every command group', () => {
    // A sanity floor, not a count to keep in step: the walk really reached the leaves.
    const names = commands.map(commandPath);
    for (const c of ['ward graph analyze', 'ward apply', 'ward ca entry create', 'ward start'])
      expect(names).toContain(c);
  });

  it.each(commands.map((c) => [commandPath(c), c] as const))(
    '%s: --help exits 0 and shows -o where a result is printed',
    async (path, c) => {
      const r = await run(...words(c), '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: ${path}`);
      if (!isLeaf(c) && !runs(c)) return;
      if (path in NO_OUTPUT) expect(output(c)).toBeUndefined();
      else expect(r.out).toMatch(/-o, --output <format>/);
    },
  );

  it.each(commands.map((c) => [commandPath(c), c] as const))(
    '%s: an unknown option exits 2 with one line, no stack trace',
    async (path, c) => {
      const r = await run(...words(c), ...(isLeaf(c) ? requiredArgs(c) : []), '--no-such-flag');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(ONE_LINE);
      expect(r.err).toContain("unknown option '--no-such-flag'");
      expect(r.err).toContain(`(see ${path} --help)`);
      expect(r.out).toBe('');
    },
  );

  const withOutput = commands.filter((c) => output(c) !== undefined);
  it.each(withOutput.map((c) => [commandPath(c), c] as const))(
    '%s: a bad -o value exits 2 naming the allowed formats',
    async (_path, c) => {
      const r = await run(...words(c), ...requiredArgs(c), '-o', 'no-such-format');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(ONE_LINE);
      expect(r.err).toContain(`Allowed choices are ${output(c)!.argChoices!.join(', ')}`);
    },
  );

  const groups = commands.filter((c) => !isLeaf(c) && c.parent !== null && !runs(c));
  it.each(groups.map((c) => [commandPath(c), c] as const))(
    '%s: without a subcommand is a usage error (exit 2)',
    async (_path, c) => {
      const r = await run(...words(c));
      expect(r.code).toBe(2);
    },
  );

  it('exempts from -o only commands that exist and print no result', () => {
    const names = new Map(commands.map((c) => [commandPath(c), c]));
    for (const path of Object.keys(NO_OUTPUT)) {
      expect(names.has(path), `${path} no longer exists`).toBe(true);
      expect(output(names.get(path)!), `${path} now takes -o`).toBeUndefined();
    }
  });

  it('keeps --json as a deprecated alias of -o json, with a warning', async () => {
    const policies = join(import.meta.dirname, '..', '..', '..', 'examples', 'policies');
    const r = await run('policy', 'check', '-f', policies, '--json');
    expect(r.err).toBe('ward: --json is deprecated; use -o json\n');
    expect(Array.isArray(JSON.parse(r.out))).toBe(true);
    const both = await run('policy', 'check', '-f', policies, '--json', '-o', 'yaml');
    expect(both.code).toBe(2);
  });

  it('reaches the shell through bin.ts: 2 for usage, 0 for help', () => {
    const usage = spawnSync(process.execPath, [bin, 'get', 'services', '--nope'], {
      encoding: 'utf8',
    });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toBe("ward: unknown option '--nope' (see ward get --help)\n");
    const missing = spawnSync(process.execPath, [bin, 'graph', 'analyze'], { encoding: 'utf8' });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^ward: required option '-f, --filename <file>' not specified/);
    expect(spawnSync(process.execPath, [bin, '--help']).status).toBe(0);
  });
});

describe('--server', () => {
  it.each([
    ['127.0.0.1:8181', 'http://127.0.0.1:8181'],
    ['localhost:8181', 'http://localhost:8181'],
    ['[::1]:8181', 'http://[::1]:8181'],
    ['ward.example.com', 'http://ward.example.com'],
    ['http://127.0.0.1:8181/', 'http://127.0.0.1:8181'],
    ['HTTPS://Ward.Example.com:8443/prefix/', 'https://ward.example.com:8443/prefix'],
  ])('takes %s as %s', (text, url) => {
    expect(parseServer(text)).toBe(url);
  });

  it('uses https for HOST:PORT when TLS options are given', () => {
    expect(parseServer('ward.internal:8443', '--server', { tls: true })).toBe(
      'https://ward.internal:8443',
    );
  });

  it.each([
    '',
    'not a url',
    'ftp://127.0.0.1:21',
    'http://user:secret@127.0.0.1:8181',
    'http://127.0.0.1:8181/?x=1',
    '127.0.0.1:99999',
    ':8181',
    'http://',
  ])('refuses %j as a usage error naming the flag', (text) => {
    try {
      parseServer(text, '--server');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(CliError);
      expect((error as CliError).exitCode).toBe(2);
      expect((error as CliError).message).toMatch(/^--server ".*": .*HOST:PORT$/s);
    }
  });

  it('never throws anything but a usage error, and what it returns is an http(s) URL', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webUrl(), fc.domain()), (text) => {
        let url: string;
        try {
          url = parseServer(text);
        } catch (error) {
          return error instanceof CliError && error.exitCode === 2;
        }
        const parsed = new URL(url);
        return (
          (parsed.protocol === 'http:' || parsed.protocol === 'https:') &&
          parsed.username === '' &&
          parsed.search === '' &&
          !url.endsWith('/')
        );
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the one walker (-f DIR)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-walk-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('walks directories in name order for the given extensions, skipping dot-dirs and node_modules', () => {
    for (const f of [
      'b.yaml',
      'a.json',
      'c.txt',
      '.hidden/x.yaml',
      'node_modules/y.yaml',
      'sub/d.yml',
    ]) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), 'x');
    }
    expect(collectFiles([dir]).map((p) => p.slice(dir.length + 1))).toEqual([
      'a.json',
      'b.yaml',
      'sub/d.yml',
    ]);
    // A file named directly is taken whatever its extension; `-` passes through once.
    expect(collectFiles([join(dir, 'c.txt'), '-'])).toEqual([join(dir, 'c.txt'), '-']);
    expect(() => collectFiles(['-', '-'])).toThrow(/stdin can be read only once/);
    expect(() => collectFiles([join(dir, 'nope')])).toThrow(/no such file or directory/);
  });
});
