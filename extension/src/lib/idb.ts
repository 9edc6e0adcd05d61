/**
 * Minimal promise helpers over IndexedDB requests and cursors.
 *
 * Only IndexedDB requests are awaited inside a transaction (never other
 * promises), so the transaction stays active between steps.
 */

/** Resolve with a request's result, reject with its error. */
export function req<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB request failed"));
  });
}

/** Resolve when the transaction commits, reject when it aborts or fails. */
export function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
  });
}

/**
 * Walk a cursor, calling `step` synchronously for each record until it returns false.
 * `step` may call `cursor.update` / `cursor.delete` on the record it is given.
 */
export function walk(
  source: IDBObjectStore | IDBIndex,
  range: IDBKeyRange | null,
  step: (cursor: IDBCursorWithValue) => boolean,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = source.openCursor(range);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB cursor failed"));
    request.onsuccess = () => {
      const cursor = request.result;
      if (cursor === null) return resolve();
      if (step(cursor)) cursor.continue();
      else resolve();
    };
  });
}

/** Open (and create or upgrade) a database. */
export function openDb(
  factory: IDBFactory,
  name: string,
  version: number,
  upgrade: (db: IDBDatabase, oldVersion: number) => void,
): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name, version);
    request.onupgradeneeded = (ev) => upgrade(request.result, ev.oldVersion);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error(`cannot open ${name}`));
    request.onblocked = () => reject(new Error(`${name} is held open by an older version`));
  });
}
