/**
 * The fleet plugin: PDP and agent status reports, `GET /v1/fleet` and `GET /v1/identity`. Pass it
 * after the CA plugin: `startServer({ plugins: [caPlugin(), fleetPlugin()] })` (without the CA,
 * agents cannot report and the identity view has no trust bundle).
 */
import type { FastifyInstance } from 'fastify';
import type { WardPlugin } from '../http/app.ts';
import { DEFAULT_FLEET_LIMITS, type FleetLimits } from './members.ts';
import { fleetRoutes } from './routes.ts';
import { fleetMigrations } from './tables.ts';

export interface FleetPluginOptions {
  limits?: Partial<FleetLimits>;
  now?: () => number;
}

export function fleetPlugin(options: FleetPluginOptions = {}): WardPlugin {
  const limits: FleetLimits = { ...DEFAULT_FLEET_LIMITS, ...options.limits };
  return {
    name: 'fleet',
    migrations: fleetMigrations(),
    async register(app: FastifyInstance) {
      fleetRoutes(app, limits, options.now ?? Date.now);
    },
  };
}
