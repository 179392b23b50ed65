import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { diag, positionOf } from './position.ts';
import { policySchema } from './schema.ts';
import type { Diagnostic } from './types.ts';

let validator: ValidateFunction | undefined;

/** The compiled schema validator; compiled on first use (ajv compiling costs a few ms). */
function getValidator(): ValidateFunction {
  validator ??= new Ajv({ allErrors: true, strict: false, verbose: true }).compile(policySchema);
  return validator;
}

/**
 * Validates one document against `policySchema` and maps every error back to a source position.
 * `positions` comes from the YAML AST; without it (a bundle's JSON) positions are 1:1.
 */
export function validateSchema(
  value: unknown,
  file: string,
  positions?: ReadonlyMap<string, { line: number; col: number }>,
): Diagnostic[] {
  const validate = getValidator();
  if (validate(value)) return [];
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    // `if`/`then` wrappers only restate the errors of the sub-schema they selected.
    if (error.keyword === 'if') continue;
    const { path, message, keyPath } = describe(error);
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const pos = keyPath
      ? (positions?.get(keyPath) ?? positionOf(positions, path))
      : positionOf(positions, path);
    out.push(diag(file, pos.line, pos.col, 'POLICY_SCHEMA_INVALID', path, message));
  }
  return out;
}

function describe(error: ErrorObject): { path: string; message: string; keyPath?: string } {
  const path = error.instancePath;
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const prop = String(p.additionalProperty);
      const child = `${path}/${prop.replaceAll('~', '~0').replaceAll('/', '~1')}`;
      // JSON quoting: a YAML key may be a whole mapping (`? {...}`) that stringifies over several
      // lines, and a diagnostic is one line.
      return {
        path: child,
        message: `unknown field ${JSON.stringify(prop)}`,
        keyPath: `${child}#key`,
      };
    }
    case 'required':
      return { path, message: `missing required field "${String(p.missingProperty)}"` };
    case 'enum':
      return {
        path,
        message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'const':
      return { path, message: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'type':
      return { path, message: `must be ${article(String(p.type))}` };
    case 'pattern':
      return { path, message: `does not match the pattern ${String(p.pattern)}` };
    case 'minProperties':
    case 'maxProperties':
      return { path, message: propertiesMessage(error) };
    default:
      return { path, message: error.message ?? `fails ${error.keyword}` };
  }
}

function article(type: string): string {
  if (type === 'object') return 'a mapping (object)';
  if (type === 'array') return 'a list (array)';
  if (type === 'integer') return 'an integer';
  return `a ${type}`;
}

function propertiesMessage(error: ErrorObject): string {
  const schema = error.parentSchema as { description?: string } | undefined;
  const hint = schema?.description;
  if (hint) return `must have ${hint.charAt(0).toLowerCase()}${hint.slice(1).replace(/\.$/, '')}`;
  return error.message ?? 'has the wrong number of fields';
}

let inputValidator: ValidateFunction | undefined;

/**
 * Problems with a decision input given as untrusted JSON (CLI, API), as `path: message` strings;
 * empty when it is a valid `DecisionInput`. `decide` itself trusts its caller and does not check.
 */
export function decisionInputProblems(value: unknown): string[] {
  inputValidator ??= new Ajv({ allErrors: true, strict: false, verbose: true }).compile({
    ...policySchema.definitions.DecisionInput,
    definitions: policySchema.definitions,
  });
  if (inputValidator(value)) return [];
  return (inputValidator.errors ?? []).map((e) => {
    const d = describe(e);
    return `${d.path || '/'}: ${d.message}`;
  });
}
