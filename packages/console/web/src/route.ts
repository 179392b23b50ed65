/** Hash routing (`#/graph?edge=a→b`): the server serves one page, views own their sub-paths. */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  view: string;
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  const [view = '', query = ''] = hash.split('?', 2);
  return { view: view || 'graph', params: new URLSearchParams(query) };
}

export function navigate(view: string, params: Record<string, string> = {}): void {
  const query = new URLSearchParams(params).toString();
  location.hash = `#/${view}${query ? `?${query}` : ''}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}
