/**
 * The part of @yarnpkg/lockfile (which ships no type declarations) that the yarn classic reader
 * uses.
 */
declare module '@yarnpkg/lockfile' {
  export interface ParseResult {
    type: 'success' | 'merge' | 'conflict';
    object: Record<string, unknown>;
  }
  export function parse(text: string): ParseResult;
  export function stringify(object: unknown): string;
  const lockfile: { parse: typeof parse; stringify: typeof stringify };
  export default lockfile;
}
