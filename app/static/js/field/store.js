/* The field app's storage on the phone: IndexedDB, written before anything is shown
 * as saved, so closing the app or a flat battery loses nothing.
 *
 *   routes   user|date → the route as downloaded (stops, outcomes, reminders, limits)
 *   visits   user|task → what this phone did at that door (check-in, outcome,
 *            check-out, with each event's id and the server's answer once known)
 *   outbox   seq (in the order things happened) → an event {type, task_id,
 *            client_event_id, …body} or a recording blob, waiting for the server
 *   log      client_event_id / recording id → what the server answered, for the agent
 *   parts    recording id → a recording being made (its chunks live in `chunks`)
 *   chunks   seq → {part, blob}: a recording is kept as it is made, a few seconds at a time
 *   meta     key → value (the day last shown, seq_high: the highest outbox number handed out, …)
 *
 * The store's logic (makeStore) runs over a backend with one method, ``tx(names, mode,
 * work)``: IndexedDB in the phone (indexedDbBackend), an in-memory one with the same
 * object-store calls in the Node tests (tests/js/memory-backend.mjs). */

const NAME = "fieldcollect-field";
const VERSION = 1;

/** The object stores: key path, whether keys are handed out, and the indexes. */
export const SCHEMA = {
  meta: {},
  routes: { keyPath: "key" },
  visits: { keyPath: "key", indexes: ["user"] },
  outbox: { keyPath: "seq", autoIncrement: true, indexes: ["user"] },
  log: { keyPath: "id", indexes: ["user"] },
  parts: { keyPath: "id", indexes: ["user"] },
  chunks: { keyPath: "seq", autoIncrement: true, indexes: ["part"] },
};

/** An IDBRequest's result as a promise (a backend that answers with promises passes through). */
export function done(request) {
  if (request && typeof request.then === "function") return request;
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** IndexedDB, opened on first use. */
export function indexedDbBackend(name = NAME, factory = () => globalThis.indexedDB) {
  let opening = null;

  function open() {
    if (opening) return opening;
    opening = new Promise((resolve, reject) => {
      const request = factory().open(name, VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        for (const [store, { keyPath, autoIncrement, indexes }] of Object.entries(SCHEMA)) {
          const options = keyPath ? { keyPath, autoIncrement: !!autoIncrement } : undefined;
          const created = db.createObjectStore(store, options);
          for (const index of indexes || []) created.createIndex(index, index);
        }
      };
      request.onsuccess = () => {
        const db = request.result;
        db.onversionchange = () => db.close();  // a newer app in another tab upgrades the schema
        resolve(db);
      };
      request.onerror = () => { opening = null; reject(request.error); };
    });
    return opening;
  }

  /** Run ``work(stores)`` in one transaction; resolves with its result once the
   * transaction has committed (durably), rejects if any part of it failed. */
  async function tx(names, mode, work) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const t = db.transaction(names, mode, { durability: "strict" });
      const stores = {};
      for (const store of names) stores[store] = t.objectStore(store);
      let result;
      t.oncomplete = () => resolve(result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new Error("transaction aborted"));
      Promise.resolve().then(() => work(stores)).then((value) => { result = value; }, (error) => {
        try { t.abort(); } catch (e) { /* already finished */ }
        reject(error);
      });
    });
  }

  return { open, tx };
}

/** The store the app uses, over ``backend``; ``storage`` keeps this phone's id. */
export function makeStore(backend, { storage = () => globalThis.localStorage } = {}) {
  const read = (names, work) => backend.tx(names, "readonly", work);
  const write = (names, work) => backend.tx(names, "readwrite", work);

  const store = {
    open: backend.open,
    done,
    read,
    write,
    get: (name, key) => read([name], (s) => done(s[name].get(key))),
    put: (name, value, key) => write([name], (s) => done(key === undefined ? s[name].put(value) : s[name].put(value, key))),
    del: (name, key) => write([name], (s) => done(s[name].delete(key))),
    byUser: (name, user) => read([name], (s) => done(s[name].index("user").getAll(user))),
    meta: {
      get: (key) => store.get("meta", key),
      set: (key, value) => store.put("meta", value, key),
    },

    /** This phone's own id, made once and kept (the server keeps its clock offset by it). */
    deviceId() {
      let id = storage().getItem("fc.device");
      if (!id) {
        id = `phone-${crypto.randomUUID()}`;
        storage().setItem("fc.device", id);
      }
      return id;
    },

    /** What every request says about this phone: its id, its clock, and the highest outbox
     * number handed out so far (an action numbered above it was queued after this request). */
    async deviceHeaders() {
      const high = await store.meta.get("seq_high").catch(() => null);
      return { "X-Device-Id": store.deviceId(), "X-Device-Time": new Date().toISOString(), "X-Device-Seq": String(high || 0) };
    },
  };
  return store;
}

/** The phone's store: IndexedDB (opened on first use, so importing this opens nothing). */
export const store = makeStore(indexedDbBackend());
