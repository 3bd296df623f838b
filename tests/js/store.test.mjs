// The field app's outbox store (app/static/js/field/store.js) over an in-memory backend
// with IndexedDB's rules (memory-backend.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { makeStore, done, SCHEMA } from "../../app/static/js/field/store.js";
import { memoryBackend } from "./memory-backend.mjs";

globalThis.crypto ??= webcrypto;  // Debian's Node 18 has no global crypto (20 has)

function memoryStorage() {
  const data = new Map();
  return { getItem: (k) => (data.has(k) ? data.get(k) : null), setItem: (k, v) => data.set(k, String(v)) };
}

const fresh = () => {
  const backend = memoryBackend();
  const storage = memoryStorage();
  return { backend, store: makeStore(backend, { storage: () => storage }) };
};

test("the outbox hands out numbers in the order things happened, and each user sees only theirs", async () => {
  const { store } = fresh();
  const seqs = [];
  for (const user of ["ag1", "ag2", "ag1"]) {
    seqs.push(await store.write(["outbox"], (s) => done(s.outbox.add({ user, kind: "event", id: `e-${seqs.length}` }))));
  }
  assert.deepEqual(seqs, [1, 2, 3]);
  assert.deepEqual((await store.byUser("outbox", "ag1")).map((i) => [i.seq, i.id]), [[1, "e-0"], [3, "e-2"]]);
  assert.deepEqual(await store.byUser("outbox", "nobody"), []);
});

test("a write that fails part-way leaves nothing behind", async () => {
  const { store } = fresh();
  await store.meta.set("seq_high", 4);
  await assert.rejects(store.write(["outbox", "meta"], async (s) => {
    const seq = await done(s.outbox.add({ user: "ag1", id: "half" }));
    await done(s.meta.put(seq, "seq_high"));
    throw new Error("the phone ran out of space");
  }), /out of space/);
  assert.deepEqual(await store.byUser("outbox", "ag1"), []);
  assert.equal(await store.meta.get("seq_high"), 4);
  // …and the number it took is handed out again, as IndexedDB does after an abort.
  assert.equal(await store.write(["outbox"], (s) => done(s.outbox.add({ user: "ag1", id: "next" }))), 1);
});

test("what is read back is a copy: changing it changes nothing stored", async () => {
  const { store } = fresh();
  await store.put("visits", { key: "ag1|7", user: "ag1", task_id: 7, checkin: { status: "waiting" } });
  const visit = await store.get("visits", "ag1|7");
  visit.checkin.status = "accepted";
  assert.equal((await store.get("visits", "ag1|7")).checkin.status, "waiting");
});

test("a read-only transaction cannot write", async () => {
  const { store } = fresh();
  await assert.rejects(store.read(["meta"], (s) => done(s.meta.put(1, "x"))), /read-only/);
});

test("the phone's id is made once and kept; every request carries it with the outbox mark", async () => {
  const { store } = fresh();
  const first = store.deviceId();
  assert.match(first, /^phone-[0-9a-f-]{36}$/);
  assert.equal(store.deviceId(), first);
  await store.meta.set("seq_high", 12);
  const headers = await store.deviceHeaders();
  assert.equal(headers["X-Device-Id"], first);
  assert.equal(headers["X-Device-Seq"], "12");
  assert.ok(!Number.isNaN(Date.parse(headers["X-Device-Time"])));
});

test("the schema the phone creates has the stores and indexes the app reads by", () => {
  assert.deepEqual(Object.keys(SCHEMA).sort(), ["chunks", "log", "meta", "outbox", "parts", "routes", "visits"]);
  for (const name of ["visits", "outbox", "log", "parts"]) assert.deepEqual(SCHEMA[name].indexes, ["user"]);
  assert.ok(SCHEMA.outbox.autoIncrement && SCHEMA.chunks.autoIncrement);
});
