/**
 * Rollout: what the dry-run rules would deny, which observed edges no rule approves, which
 * approved edges nobody uses, and promote. A team token reads every report the API gives it,
 * and by default the view keeps the edges that touch its own services.
 */
import { useState } from 'preact/hooks';
import type { ViewProps } from '../app.tsx';
import { owns } from '../ownership.ts';
import { PromotePanel } from '../rollout/promote.tsx';
import { DryRunTable, type EdgeFilter, UnapprovedTable, UnusedTable } from '../rollout/reports.tsx';
import { Check, Choice } from '../ui/controls.tsx';

const WINDOWS = ['15m', '1h', '6h', '24h', '7d'];

export function RolloutView(props: ViewProps) {
  const { api, me } = props;
  const [since, setSince] = useState(props.params.get('since') ?? '1h');
  const [mine, setMine] = useState(me.scope === 'team');
  const [tick, setTick] = useState(0);
  const filter: EdgeFilter = (e) => !mine || owns(me, e.destination) || owns(me, e.source);
  return (
    <div class="pol">
      <div class="pol-actions">
        <Choice
          caption="Window"
          testid="rollout-window"
          value={since}
          onChange={setSince}
          choices={WINDOWS.map((w) => [w, w] as const)}
        />
        {me.scope === 'team' && (
          <Check testid="only-mine" checked={mine} onChange={setMine}>
            Only edges of my services ({me.services.join(', ')})
          </Check>
        )}
        <button type="button" data-testid="rollout-refresh" onClick={() => setTick((t) => t + 1)}>
          Refresh
        </button>
      </div>
      <PromotePanel api={api} me={me} window={since} onPromoted={() => setTick((t) => t + 1)} />
      <DryRunTable api={api} since={since} filter={filter} tick={tick} />
      <UnapprovedTable api={api} filter={filter} tick={tick} />
      <UnusedTable api={api} filter={filter} tick={tick} />
    </div>
  );
}
