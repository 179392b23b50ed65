/** The console's views, in navigation order. */
import type { ComponentType } from 'preact';
import type { ViewProps } from '../app.tsx';
import { FleetView } from './fleet.tsx';
import { GraphView } from './graph.tsx';
import { LiveView } from './live.tsx';
import { PoliciesView } from './policies.tsx';
import { RolloutView } from './rollout.tsx';
import { SecretsView } from './secrets.tsx';

export const VIEWS: { id: string; title: string; component: ComponentType<ViewProps> }[] = [
  { id: 'graph', title: 'Graph', component: GraphView },
  { id: 'rollout', title: 'Rollout', component: RolloutView },
  { id: 'policies', title: 'Policies', component: PoliciesView },
  { id: 'secrets', title: 'Secrets', component: SecretsView },
  { id: 'fleet', title: 'Identity & fleet', component: FleetView },
  { id: 'live', title: 'Live', component: LiveView },
];
