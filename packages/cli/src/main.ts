import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.ts';
import { CliError } from './errors.ts';
import { EXIT_USAGE } from './options.ts';
import { guardOutput } from './output.ts';

/** Builds the `ward` program; exported for tests that run it in-process. */
export function buildProgram(): Command {
  const program = new Command('ward')
    .description('Ward secures the dependencies between microservices.')
    .version('0.1.0')
    // Options belong to the command they follow: `ward server reseal --data-dir x` gives
    // --data-dir to `reseal`, not to `server`, which has an option of the same name.
    .enablePositionalOptions()
    .exitOverride();
  registerCommands(program);
  for (const command of allCommands(program)) oneLineErrors(command);
  return program;
}

/** Every command of the tree, the program first (tests walk it too). */
export function allCommands(root: Command): Command[] {
  return [root, ...root.commands.flatMap((c) => allCommands(c))];
}

/** `ward graph analyze`: the words a user types to reach `command`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Commander's usage errors as one line, like every other `ward` error, with where to look:
 * `ward: unknown option '--bogus' (see ward graph analyze --help)`. No help dump: in a CI log the
 * error is what must be seen.
 */
function oneLineErrors(command: Command): void {
  const hint = `(see ${commandPath(command)} --help)`;
  command.configureOutput({
    outputError: (text, write) => {
      const message = text
        .replace(/^error: /, '')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .join(' ');
      write(`ward: ${message} ${hint}\n`);
    },
  });
}

/**
 * Runs the CLI and returns its exit code: 0 ok, 1 a finding or a failure, 2 usage. Expected
 * failures are `CliError`s printed as one clear message; nothing prints a stack trace unless
 * WARD_DEBUG is set.
 */
export async function main(argv: string[]): Promise<number> {
  // Every byte printed passes the terminal-safety filter (see output.ts), errors included.
  const restore = guardOutput();
  try {
    const program = buildProgram();
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    return reportError(error);
  } finally {
    restore();
  }
}

function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander already printed the help or the usage error. Its errors (unknown option or
    // command, missing argument, bad choice, a group without its subcommand) are all usage.
    return error.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (error instanceof CliError) {
    if (error.message) process.stderr.write(`ward: ${error.message}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`ward: ${message}\n`);
  if (process.env.WARD_DEBUG && error instanceof Error && error.stack) {
    process.stderr.write(`${error.stack}\n`);
  }
  return 1;
}
