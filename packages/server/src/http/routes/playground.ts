/**
 * `POST /v1/playground/evaluate`: decide one input against the stored policy set, a past
 * revision of it, or the stored set with some documents edited, and explain every rule
 * considered (the console's Policies playground, like `ward policy eval --explain`). Nothing is
 * stored and nothing is audited: it reads what `GET /v1/services|intentions|history` already
 * show the same tokens. Edited text is untrusted: it goes through the policy parser, whose
 * diagnostics come back with file, line and column; CEL evaluation keeps the policy package's
 * cost bounds, and the body, document count and sizes are bounded here.
 */
import {
  canonicalDecisionInput,
  canonicalInputNames,
  type DecisionInput,
  type Diagnostic,
  decisionInputProblems,
  documentKey,
  type PolicyDocument,
  parseDocuments,
  type SourcedDocument,
  tryCompile,
} from '@ward/policy';
import type { FastifyInstance } from 'fastify';
import { diagnosticErrors } from '../../apply/apply.ts';
import { ServerError } from '../../errors.ts';
import { documentsAt } from '../../store/revision-state.ts';
import { bearer, problemResponses } from '../schemas.ts';

/** An edited set is a handful of files in practice; 1 MiB leaves room and bounds parsing. */
export const PLAYGROUND_BODY_LIMIT = 1024 * 1024;
export const PLAYGROUND_MAX_DOCUMENTS = 50;

interface PlaygroundBody {
  input: unknown;
  documents?: { name: string; content: string }[];
  at?: number;
}

const ruleRef = {
  type: 'object',
  properties: {
    policy: { type: 'string' },
    index: { type: 'integer' },
    action: { type: 'string' },
    mode: { type: 'string' },
  },
} as const;

const decisionSchema = {
  type: 'object',
  required: ['effect', 'enforced', 'allowed', 'rule', 'reason'],
  properties: {
    effect: { type: 'string', enum: ['allow', 'deny'] },
    enforced: { type: 'boolean' },
    allowed: { type: 'boolean' },
    rule: { anyOf: [{ type: 'null' }, ruleRef] },
    reason: { type: 'string' },
  },
} as const;

const diagnosticSchema = {
  type: 'object',
  properties: {
    code: { type: 'string' },
    severity: { type: 'string', enum: ['error', 'warning'] },
    file: { type: 'string' },
    line: { type: 'integer' },
    col: { type: 'integer' },
    path: { type: 'string' },
    message: { type: 'string' },
  },
} as const;

const responseSchema = {
  type: 'object',
  required: ['revision', 'decision', 'explanation', 'diagnostics'],
  properties: {
    revision: { type: 'integer', description: 'The stored revision the set was built on' },
    edited: {
      type: 'array',
      items: { type: 'string' },
      description: 'Kind/name replaced or added',
    },
    decision: decisionSchema,
    explanation: {
      type: 'object',
      properties: {
        considered: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              rule: ruleRef,
              matched: { type: 'boolean' },
              detail: { type: 'string' },
              description: { type: 'string' },
              file: { type: 'string' },
              line: { type: 'integer' },
            },
          },
        },
      },
    },
    diagnostics: { type: 'array', items: diagnosticSchema },
  },
} as const;

export async function playgroundRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: PlaygroundBody }>(
    '/v1/playground/evaluate',
    {
      config: { auth: ['admin', 'team'] },
      bodyLimit: PLAYGROUND_BODY_LIMIT,
      schema: {
        tags: ['playground'],
        summary:
          'Decide one input against the stored policy set, a past revision, or edited documents, with the explanation (nothing is stored)',
        security: bearer,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['input'],
          properties: {
            input: { type: 'object', description: 'A DecisionInput (ward policy schema)' },
            documents: {
              type: 'array',
              maxItems: PLAYGROUND_MAX_DOCUMENTS,
              description: 'YAML or JSON files whose documents replace or add to the set',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['name', 'content'],
                properties: {
                  name: { type: 'string', minLength: 1, maxLength: 256 },
                  content: { type: 'string', maxLength: 256 * 1024 },
                },
              },
            },
            at: { type: 'integer', minimum: 1, description: 'Evaluate against this revision' },
          },
        },
        response: { 200: responseSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { store, db } = app.ward;
      const input = checkedInput(request.body.input);
      const { revision: current } = await store.revision();
      const at = request.body.at ?? current;
      if (at > current) {
        throw new ServerError(
          'API_NOT_FOUND',
          `revision ${at} does not exist (current ${current})`,
          {
            errors: [{ field: '/at', message: `must be at most ${current}` }],
          },
        );
      }
      const base =
        request.body.at === undefined
          ? (await store.listDocuments()).map((d) => ({
              kind: d.kind,
              name: d.name,
              document: d.document,
            }))
          : await documentsAt(db, at);

      const edited: SourcedDocument[] = [];
      const diagnostics: Diagnostic[] = [];
      for (const file of request.body.documents ?? []) {
        const parsed = parseDocuments(file.content, file.name);
        edited.push(...parsed.documents);
        diagnostics.push(...parsed.diagnostics);
      }
      failOnErrors(diagnostics);
      const editedKeys = new Set(edited.map((d) => keyOf(d.document)));
      const merged: SourcedDocument[] = [
        ...base
          .filter((d) => !editedKeys.has(`${d.kind}/${d.name}`))
          .map((d, index) => ({
            document: d.document,
            file: `<stored ${d.kind} ${d.name}>`,
            index,
          })),
        ...edited,
      ];
      const compiled = tryCompile(merged, { trustDomain: store.trustDomain });
      diagnostics.push(...compiled.diagnostics);
      failOnErrors(diagnostics);
      const set = compiled.policySet!;
      const explained = set.explain(input);
      const rules = new Map(
        set.rules(input.destination).map((r) => [`${r.ref.policy}#${r.ref.index}`, r]),
      );
      return {
        revision: at,
        edited: [...editedKeys].sort(),
        decision: explained.decision,
        explanation: {
          considered: explained.considered.map((c) => {
            const info = rules.get(`${c.rule.policy}#${c.rule.index}`);
            return {
              ...c,
              ...(info?.description ? { description: info.description } : {}),
              ...(info?.file ? { file: info.file } : {}),
              ...(info?.line ? { line: info.line } : {}),
            };
          }),
        },
        diagnostics,
      };
    },
  );
}

/** Matches the store's row names: kind and document key (namespace/name, default elided). */
const keyOf = (d: PolicyDocument) => `${d.kind}/${documentKey(d)}`;

function failOnErrors(diagnostics: readonly Diagnostic[]): void {
  const errors = diagnosticErrors(diagnostics);
  if (errors.length === 0) return;
  throw new ServerError(
    'API_DOCUMENT_INVALID',
    `the policy set does not compile: ${errors.length} error(s)`,
    { errors },
  );
}

/** Validates untrusted JSON as a DecisionInput and puts its request in the canonical form. */
function checkedInput(value: unknown): DecisionInput {
  const problems = decisionInputProblems(value);
  if (problems.length > 0) {
    throw new ServerError('API_VALIDATION', 'the input is not a decision input', {
      errors: problems.map((p) => {
        const at = p.indexOf(': ');
        const path = at < 0 ? '/' : p.slice(0, at);
        return {
          field: `/input${path === '/' ? '' : path}`,
          message: at < 0 ? p : p.slice(at + 2),
        };
      }),
    });
  }
  // The same canonical method, path and query the middleware decides on, as `ward policy eval`.
  try {
    return canonicalInputNames(canonicalDecisionInput(value as DecisionInput));
  } catch (error) {
    const e = error as { code?: string; message: string };
    throw new ServerError('API_VALIDATION', `the input's request: ${e.message}`, {
      errors: [{ field: '/input/request', message: `${e.code ?? 'invalid'}: ${e.message}` }],
    });
  }
}
