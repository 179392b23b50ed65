import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.ts';
import { CliError } from './errors.ts';
import { guardOutput } from './output.ts';

/** Builds the `ward` program; exported for tests that run it in-process. */
export function buildProgram(): Command {
  const program = new Command('ward')
    .description('Ward secures the dependencies between microservices.')
    .version('0.1.0')
    .showHelpAfterError()
    // Options belong to the command they follow: `ward server reseal --data-dir x` gives
    // --data-dir to `reseal`, not to `server`, which has an option of the same name.
    .enablePositionalOptions()
    .exitOverride();
  registerCommands(program);
  return program;
}

/**
 * Runs the CLI and returns its exit code. Expected failures (bad input, failed checks) are
 * `CliError`s printed as one clear message; nothing prints a stack trace unless WARD_DEBUG is set.
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
    // Commander already printed help or the usage error.
    return error.exitCode;
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
