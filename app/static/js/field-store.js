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
 */
(function (global) {
  "use strict";

  const NAME = "fieldcollect-field";
  const VERSION = 1;
  let opening = null;

  function open() {
    if (opening) return opening;
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(NAME, VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("meta");
        db.createObjectStore("routes", { keyPath: "key" });
        db.createObjectStore("visits", { keyPath: "key" }).createIndex("user", "user");
        db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true }).createIndex("user", "user");
        db.createObjectStore("log", { keyPath: "id" }).createIndex("user", "user");
        db.createObjectStore("parts", { keyPath: "id" }).createIndex("user", "user");
        db.createObjectStore("chunks", { keyPath: "seq", autoIncrement: true }).createIndex("part", "part");
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

  function done(request) {
    return new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  /** Run ``work(stores)`` in one transaction; resolves with its result once the
   * transaction has committed (durably), rejects if any part of it failed. */
  async function tx(names, mode, work) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const t = db.transaction(names, mode, { durability: "strict" });
      const stores = {};
      for (const name of names) stores[name] = t.objectStore(name);
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

  const read = (names, work) => tx(names, "readonly", work);
  const write = (names, work) => tx(names, "readwrite", work);

  const store = {
    open,
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
  };

  /** This phone's own id, made once and kept (the server keeps its clock offset by it). */
  function deviceId() {
    let id = localStorage.getItem("fc.device");
    if (!id) {
      id = `phone-${crypto.randomUUID()}`;
      localStorage.setItem("fc.device", id);
    }
    return id;
  }

  /** What every request says about this phone: its id, its clock, and the highest outbox
   * number handed out so far (an action numbered above it was queued after this request). */
  async function deviceHeaders() {
    const high = await store.meta.get("seq_high").catch(() => null);
    return { "X-Device-Id": deviceId(), "X-Device-Time": new Date().toISOString(), "X-Device-Seq": String(high || 0) };
  }

  store.deviceId = deviceId;
  store.deviceHeaders = deviceHeaders;
  global.FCStore = store;
})(window);
