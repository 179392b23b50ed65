/**
 * Scheduled rotation: on the leader replica (`AdvisoryLeader` role `ward_secrets`; SQLite: the
 * one process), every `intervalMs` each `random`/`keypair` secret with `rotation.every` whose
 * newest version is that old (or that has none yet) gets a new generated version. The same tick
 * runs other leader-only chores (lease reaping).
 */
import { generateValue } from '@ward/secrets';
import type { Leadership } from '../alerts/leader.ts';
import type { Actor } from '../store/store.ts';
import type { SecretStore } from './store.ts';

/** Who scheduled rotations are written by (audit, history). */
export const ROTATION_ACTOR: Actor = { id: 'system', name: 'rotation', scope: 'admin' };

export interface Rotator {
  /** One check (tests call it directly); returns how many secrets it rotated. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

export function startRotation(options: {
  secrets: SecretStore;
  leader: Leadership;
  intervalMs: number;
  log: (message: string) => void;
  /** Leader-only chores run on the same tick. */
  chores: readonly (() => Promise<void>)[];
  /** Told of each scheduled rotation (metrics). */
  rotated?: () => void;
}): Rotator {
  const { secrets, leader } = options;
  let running: Promise<number> | undefined;
  const check = async (): Promise<number> => {
    if (!(await leader.isLeader())) return 0;
    let rotated = 0;
    const now = secrets.now();
    for (const { decl } of await secrets.declarations()) {
      const every = decl.rotation.everyMs;
      if (every === null || (decl.type !== 'random' && decl.type !== 'keypair')) continue;
      const versions = await secrets.versions(decl.key);
      const newest = versions.reduce((m, v) => Math.max(m, v.createdAt), Number.NEGATIVE_INFINITY);
      if (versions.length > 0 && newest + every > now) continue;
      try {
        await secrets.rotate(decl.key, ROTATION_ACTOR, decl, () => generateValue(decl), {
          scheduled: true,
        });
        rotated++;
        options.rotated?.();
      } catch (error) {
        options.log(`scheduled rotation of ${decl.key}: ${(error as Error).message}`);
      }
    }
    for (const chore of options.chores) {
      await chore().catch((error) =>
        options.log(`secrets leader chore: ${(error as Error).message}`),
      );
    }
    return rotated;
  };
  const runOnce = () => {
    running ??= check().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => {
    runOnce().catch((error) => options.log(`scheduled rotation: ${(error as Error).message}`));
  }, options.intervalMs);
  timer.unref();
  return {
    runOnce,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => {});
      await leader.close();
    },
  };
}
