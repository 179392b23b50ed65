/**
 * Errors of the demo. Expected failures (a bad option, a port in use, a control plane that
 * refuses the demo's setup) carry a `DEMO_*` code and a message a person can act on.
 */

export type DemoErrorCode =
  | 'DEMO_BAD_OPTION'
  | 'DEMO_ADDRESS_IN_USE'
  | 'DEMO_SETUP_FAILED'
  | 'DEMO_TOKEN_FILE_UNSAFE';

/** Every code of {@link DemoError}. */
export type AnyDemoErrorCode = DemoErrorCode;

/** An expected failure of the demo. */
export class DemoError extends Error {
  readonly code: DemoErrorCode;

  constructor(code: DemoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = this.constructor.name;
    this.code = code;
  }
}
