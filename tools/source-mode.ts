/**
 * Source mode: inside this repository, `@ward/*` packages resolve to their TypeScript source
 * through the `ward-source` export condition instead of their built `dist/` (which only
 * `npm run build` and `npm pack` produce). Importing this module turns the condition on for
 * the rest of this process (a resolve hook) and for every Node process it spawns
 * (NODE_OPTIONS), so tests, benchmarks and `npx ward` run from source without a build.
 * Published tarballs ship no `src/` and never see the condition.
 */
import { registerHooks } from 'node:module';

export const SOURCE_CONDITION = 'ward-source';
const flag = `--conditions=${SOURCE_CONDITION}`;

/** NODE_OPTIONS with the source condition added once. */
export function withSourceCondition(nodeOptions: string | undefined): string {
  const options = nodeOptions?.trim() ?? '';
  return options.split(/\s+/).includes(flag) ? options : `${options} ${flag}`.trim();
}

process.env.NODE_OPTIONS = withSourceCondition(process.env.NODE_OPTIONS);
registerHooks({
  resolve(specifier, context, nextResolve) {
    const conditions = context.conditions ?? [];
    if (conditions.includes(SOURCE_CONDITION)) return nextResolve(specifier, context);
    return nextResolve(specifier, { ...context, conditions: [...conditions, SOURCE_CONDITION] });
  },
});
