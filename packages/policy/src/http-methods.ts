/**
 * The HTTP methods rules and routes may name. One list for intentions' permissions and the
 * gateway's routes, so an edge route and the rule guarding it agree on what a method is.
 */
export const HTTP_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

/** Why `method` is not a known upper-case HTTP method, or undefined. */
export function methodProblem(method: string): string | undefined {
  if (HTTP_METHODS.has(method)) return undefined;
  const upper = method.toUpperCase();
  const hint = HTTP_METHODS.has(upper) ? ` (methods are upper case: ${upper})` : '';
  return `unknown HTTP method "${method}"${hint}`;
}
