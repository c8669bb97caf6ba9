import { useEffect, useState } from 'react';
import { toApiError, type ApiError } from '../api/errors';

export interface Loaded<T> {
  loading: boolean;
  error?: ApiError;
  value?: T;
  reload: () => void;
}

/**
 * Runs `load` now, whenever `deps` change, on reload() and every `intervalMs` when given. A
 * refresh keeps the last value of the same deps (a failed refresh does not blank the page); an
 * answer that arrives after a newer request, or after unmount, is dropped.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], intervalMs?: number): Loaded<T> {
  const [reloads, setReloads] = useState(0);
  const [polls, setPolls] = useState(0);
  const depsKey = JSON.stringify(deps);
  const key = `${depsKey}#${reloads}#${polls}`;
  const [state, setState] = useState<{ key?: string; depsKey?: string; error?: ApiError; value?: T }>({});

  useEffect(() => {
    let live = true;
    load().then(
      (value) => {
        if (live) {
          setState({ key, depsKey, value });
        }
      },
      (err) => {
        if (live) {
          setState((s) => ({
            key,
            depsKey,
            error: toApiError(err),
            value: s.depsKey === depsKey ? s.value : undefined,
          }));
        }
      }
    );
    return () => {
      live = false;
    };
    // `load` is a new closure each render; what it reads is in deps (key).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  useEffect(() => {
    if (!intervalMs) {
      return;
    }
    const timer = setInterval(() => setPolls((n) => n + 1), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);

  const same = state.depsKey === depsKey;
  return {
    loading: state.key !== key,
    error: same ? state.error : undefined,
    value: same ? state.value : undefined,
    reload: () => setReloads((n) => n + 1),
  };
}
