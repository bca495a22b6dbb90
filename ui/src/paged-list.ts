import { useEffect, useState } from 'preact/hooks';
import { api, qs, type ApiPath, type Page } from './api.js';

/**
 * A list read page by page (keyset cursor): the first page on mount, the next on `more()`,
 * `reload()` from the start. `loaded` tells an empty list from one not read yet.
 */
export function usePagedList<T>(path: ApiPath<'get'> & `/v1/${string}`, limit = 100) {
  const [items, setItems] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);
  const load = async (after?: string) => {
    try {
      const page = await api.get<Page<T>>(`${path}${qs({ cursor: after, limit })}` as ApiPath<'get'>);
      setItems((old) => (after ? [...old, ...page.items] : page.items));
      setCursor(page.nextCursor);
      setLoaded(true);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => void load(), [path]);
  return { items, cursor, error, loaded, reload: () => load(), more: () => (cursor ? load(cursor) : Promise.resolve()) };
}
