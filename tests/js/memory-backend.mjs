// An in-memory backend for the field app's store (app/static/js/field/store.js): the
// object-store calls the app makes (add, put, get, delete, getAll, getAllKeys, and the
// same on an index), with IndexedDB's rules that matter to it — key paths, handed-out
// keys, add refusing a key it has, values stored as copies, and a transaction that is
// all or nothing (a failure inside it leaves every store as it was). Transactions run
// one at a time, as IndexedDB runs overlapping read-write ones.
import { SCHEMA } from "../../app/static/js/field/store.js";

function compare(a, b) {
  if (typeof a !== typeof b) return typeof a === "number" ? -1 : 1;  // numbers sort before strings
  return a < b ? -1 : a > b ? 1 : 0;
}

const copy = (value) => (value === undefined ? undefined : structuredClone(value));

class MemoryObjectStore {
  constructor(name, spec, rows, counters) {
    Object.assign(this, { name, spec, rows, counters });
  }

  keyOf(value, key) {
    const { keyPath, autoIncrement } = this.spec;
    if (!keyPath) {
      if (key === undefined) throw new Error(`${this.name}: a key is needed`);
      return key;
    }
    if (value[keyPath] === undefined && autoIncrement) {
      this.counters[this.name] = (this.counters[this.name] || 0) + 1;
      value[keyPath] = this.counters[this.name];
    }
    if (value[keyPath] === undefined) throw new Error(`${this.name}: no ${keyPath}`);
    if (autoIncrement && typeof value[keyPath] === "number") {
      this.counters[this.name] = Math.max(this.counters[this.name] || 0, value[keyPath]);
    }
    return value[keyPath];
  }

  sorted(filter) {
    return [...this.rows.entries()].filter(([, v]) => !filter || filter(v)).sort(([a], [b]) => compare(a, b));
  }

  async add(value, key) {
    const stored = copy(value);
    const k = this.keyOf(stored, key);
    if (this.rows.has(k)) {
      const error = new Error(`${this.name}: key ${k} exists`);
      error.name = "ConstraintError";
      throw error;
    }
    this.rows.set(k, stored);
    return k;
  }

  async put(value, key) {
    const stored = copy(value);
    const k = this.keyOf(stored, key);
    this.rows.set(k, stored);
    return k;
  }

  async get(key) { return copy(this.rows.get(key)); }

  async delete(key) { this.rows.delete(key); }

  async getAll() { return this.sorted().map(([, v]) => copy(v)); }

  async getAllKeys() { return this.sorted().map(([k]) => k); }

  index(field) {
    if (!(this.spec.indexes || []).includes(field)) throw new Error(`${this.name}: no index ${field}`);
    const match = (value) => (v) => v[field] === value;
    return {
      getAll: async (value) => this.sorted(match(value)).map(([, v]) => copy(v)),
      getAllKeys: async (value) => this.sorted(match(value)).map(([k]) => k),
    };
  }
}

export function memoryBackend(schema = SCHEMA) {
  const data = Object.fromEntries(Object.keys(schema).map((name) => [name, new Map()]));
  const counters = {};
  let queue = Promise.resolve();
  const backend = {
    data,
    transactions: 0,
    /** Stops every transaction from here on with ``error`` (a full disk, say); null lifts it. */
    failWith: null,
    tx(names, mode, work) {
      const run = async () => {
        backend.transactions += 1;
        const before = Object.fromEntries(names.map((n) => [n, new Map(data[n])]));
        const countersBefore = { ...counters };
        const stores = Object.fromEntries(names.map((n) => [n, new MemoryObjectStore(n, schema[n], data[n], counters)]));
        if (mode === "readonly") {
          for (const store of Object.values(stores)) store.add = store.put = store.delete = () => {
            throw new Error("read-only transaction");
          };
        }
        try {
          if (backend.failWith) throw backend.failWith;
          return await work(stores);
        } catch (error) {
          for (const n of names) { data[n].clear(); for (const [k, v] of before[n]) data[n].set(k, v); }
          for (const k of Object.keys(counters)) delete counters[k];
          Object.assign(counters, countersBefore);
          throw error;
        }
      };
      const result = queue.then(run, run);
      queue = result.catch(() => {});
      return result;
    },
  };
  return backend;
}
