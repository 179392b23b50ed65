/**
 * An expected failure of a command: printed as one line (`ward: <message>`), no stack trace,
 * and the process exits with `exitCode`.
 */
export class CliError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}
