/** Loads one thing from the API for a view, with its failure, and a way to load it again. */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { type Failure, failureOf } from './problem.tsx';

export interface Loaded<T> {
  data: T | null;
  failure: Failure | null;
  loading: boolean;
  reload: () => void;
}

export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load()
      .then((d) => {
        if (!live) return;
        setData(d);
        setFailure(null);
      })
      .catch((e) => {
        if (!live) return;
        setFailure(failureOf(e));
      })
      .finally(() => {
        if (live) setLoading(false);
      });
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, failure, loading, reload };
}
