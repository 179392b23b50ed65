/**
 * The one grammar of every `ward` command (docs/cli.md), as helpers each command adds to itself
 * so the flags mean the same everywhere:
 *
 * - `-f, --filename FILE` — an input; repeatable; `-` reads stdin; directories are walked
 *   ({@link collectFiles}, the one walker).
 * - `-o, --output FORMAT` — how the result is printed: `text`, `json`, `yaml`, plus formats a
 *   command has of its own (`dot`, `mermaid`, `sarif`, `csv`). A value outside the list is a
 *   usage error from commander itself.
 * - `--server URL` — a control plane: a URL, or `HOST:PORT` (scheme http by default).
 * - Exit codes: 0 ok; 1 a finding or a failure; 2 usage (commander's own errors included).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { stringify } from 'yaml';
import { CliError } from './errors.ts';

/** Exit code of a finding or a failure. */
export const EXIT_FAILURE = 1;
/** Exit code of a usage error: an unknown flag, a missing argument, a bad value. */
export const EXIT_USAGE = 2;

/** A usage error: one line on stderr, exit 2. */
export function usageError(message: string, code = 'CLI_USAGE'): CliError {
  return new CliError(code, message, EXIT_USAGE);
}

/**
 * Resolves at the first SIGINT or SIGTERM, for a command that serves until stopped. Listening
 * starts at the call: call it before announcing readiness, so a supervisor (or a test) that
 * reads the first line and stops the process at once gets a clean shutdown, not the default kill.
 */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Collects a repeatable option's values in order. */
export const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];

/** `-` as a filename: standard input. */
export const STDIN = '-';

/**
 * Adds `-f, --filename <file>` (repeatable; `-` for stdin; directories walked). Required unless
 * `required: false`, in which case the command decides what no file means.
 */
export function addFileOption(
  command: Command,
  what = 'input file or directory',
  { required = true }: { required?: boolean } = {},
): Command {
  const option = new Option(
    '-f, --filename <file>',
    `${what} (repeatable; - reads stdin; directories are walked)`,
  ).argParser(collect);
  if (required) option.makeOptionMandatory();
  else option.default([]);
  return command.addOption(option);
}

/** The default walk: the documents Ward reads (policies, services, manifests). */
export const DOCUMENT_FILES = /\.(ya?ml|json)$/i;

/**
 * The files under `paths`, in order: a file named directly is taken whatever its extension; a
 * directory is walked recursively in name order for files matching `extensions`, skipping
 * dot-entries and node_modules. `-` passes through (stdin). A path that does not exist is a
 * usage error naming it.
 */
export function collectFiles(
  paths: readonly string[],
  extensions: RegExp = DOCUMENT_FILES,
): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const entry of entries) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (extensions.test(entry.name)) out.push(path);
    }
  };
  let stdin = 0;
  for (const p of paths) {
    if (p === STDIN) {
      if (++stdin > 1) throw usageError('-f -: stdin can be read only once');
      out.push(p);
      continue;
    }
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      throw usageError(`-f ${p}: no such file or directory`, 'CLI_FILE_NOT_FOUND');
    }
    if (isDir) walk(p);
    else out.push(p);
  }
  return out;
}

/** A file's text (`-`: all of stdin); an unreadable file is a usage error naming it. */
export function readText(path: string): string {
  try {
    return readFileSync(path === STDIN ? 0 : path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code;
    throw usageError(`cannot read ${path === STDIN ? 'stdin' : path}: ${why}`, 'CLI_INPUT');
  }
}

/** Output formats every command that prints data offers. */
export const DATA_FORMATS = ['text', 'json', 'yaml'] as const;

/**
 * Adds `-o, --output <format>` with the allowed `formats` (commander refuses any other value,
 * exit 2). When `json` is one of them, a hidden `--json` stays as a deprecated alias of `-o json`
 * that warns on stderr, so scripts written against the old flag keep working for a release.
 */
export function addOutputOption(
  command: Command,
  formats: readonly string[] = DATA_FORMATS,
  defaultFormat: string = formats[0]!,
): Command {
  command.addOption(
    new Option('-o, --output <format>', 'output format').choices(formats).default(defaultFormat),
  );
  if (!formats.includes('json')) return command;
  command.addOption(new Option('--json', 'deprecated: use -o json').hideHelp());
  return command.hook('preAction', (_self, action) => {
    if (action !== command || action.getOptionValue('json') !== true) return;
    if (
      action.getOptionValueSource('output') === 'cli' &&
      action.getOptionValue('output') !== 'json'
    )
      throw usageError(`--json and -o ${action.getOptionValue('output')} contradict each other`);
    process.stderr.write('ward: --json is deprecated; use -o json\n');
    action.setOptionValue('output', 'json');
  });
}

/**
 * Prints `value` in `format`: `json` and `yaml` print the data itself, `text` prints what `text`
 * renders. One place, so every command's JSON and YAML look alike.
 */
export function printResult(format: string, value: unknown, text: () => string): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (format === 'yaml') process.stdout.write(stringify(value));
  else process.stdout.write(text());
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * A control-plane address as a URL: `http(s)://host[:port][/prefix]`, or `HOST:PORT` / `HOST`
 * (scheme `https` when `tls` is set, else `http`). Anything else — another scheme, credentials
 * in the URL, a query, spaces — is a usage error naming where the value came from (`--server`,
 * `WARD_SERVER`), not the runtime's "Invalid URL".
 */
export function parseServer(text: string, from = '--server', { tls = false } = {}): string {
  const bad = (why: string): CliError =>
    usageError(
      `${from} ${JSON.stringify(text)}: ${why}; expected a URL like http://127.0.0.1:8181 or HOST:PORT`,
      'CLI_BAD_SERVER',
    );
  const trimmed = text.trim();
  if (trimmed === '') throw bad('empty');
  if (/[\s\\]/.test(trimmed)) throw bad('contains a space or backslash');
  const scheme = SCHEME.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https')
    throw bad(`scheme ${scheme} is not http or https`);
  let url: URL;
  try {
    url = new URL(scheme ? trimmed : `${tls ? 'https' : 'http'}://${trimmed}`);
  } catch {
    throw bad('not a valid address');
  }
  if (url.hostname === '') throw bad('no host');
  if (url.username !== '' || url.password !== '')
    throw bad('credentials do not belong in the URL (use --token)');
  if (url.search !== '' || url.hash !== '') throw bad('a query or fragment is not allowed');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The bundle key: text, `@file`, required. */
export function readKey(value: string | undefined): string {
  if (value === undefined || value.trim() === '') {
    throw usageError(
      '--public-key (or WARD_BUNDLE_PUBLIC_KEY) is required: PDPs verify every bundle',
      'CLI_BAD_OPTION',
    );
  }
  if (!value.startsWith('@')) return value;
  try {
    return readFileSync(value.slice(1), 'utf8').trim();
  } catch (cause) {
    throw usageError(
      `--public-key: cannot read ${value.slice(1)}: ${(cause as Error).message}`,
      'CLI_INPUT',
    );
  }
}
