/**
 * The wire shapes the web console reads (`@ward/api-types/console`; the main entry re-exports
 * all of it): modules that need neither Node's types nor `@ward/policy`, so the browser build
 * (packages/console/tsconfig.web.json, no Node types) typechecks them as source.
 */
export * from './alerts.ts';
export * from './audit.ts';
export * from './decision-log.ts';
export * from './fleet.ts';
export * from './graph-view.ts';
export * from './live-tail.ts';
export * from './rollout.ts';
export * from './secret-info.ts';
