// The field app's queue (app/static/js/field/sync.js): sent in order, an item leaving
// only once the server answered it, over the in-memory store and a fake server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { Outbox, effectiveStatus, eventId } from "../../app/static/js/field/sync.js";
import { ApiError } from "../../app/static/js/api.js";
import { makeStore } from "../../app/static/js/field/store.js";
import { memoryBackend } from "./memory-backend.mjs";

globalThis.crypto ??= webcrypto;  // Debian's Node 18 has no global crypto (20 has)

const USER = "ag1";

/** A server that answers POST /agent/sync with ``answer(event)`` per event ({status, …}),
 * or throws what ``fail`` says (a lost network, a 401). */
function fakeServer() {
  const server = {
    batches: [], uploads: [], fail: null, answer: () => ({ status: "accepted" }),
    api: {
      signedIn: () => true,
      session: { access_token: "token-1" },
      call: async (method, path, body) => {
        assert.equal(`${method} ${path}`, "POST /api/v1/agent/sync");
        if (server.fail) throw server.fail;
        server.batches.push(body.events);
        return { results: body.events.map((event, index) => ({ index, ...server.answer(event) })) };
      },
    },
    fetch: async (url, init) => {
      if (server.fail) throw server.fail;
      server.uploads.push({ url, form: init.body, headers: init.headers });
      return { ok: true, status: 201, json: async () => ({ id: 99 }) };
    },
  };
  return server;
}

function setUp({ online = true } = {}) {
  const storage = new Map();
  const store = makeStore(memoryBackend(), { storage: () => ({ getItem: (k) => storage.get(k) ?? null,
                                                                setItem: (k, v) => storage.set(k, v) }) });
  const server = fakeServer();
  const changes = [];
  const navigator = { onLine: online };
  const outbox = new Outbox(server.api, USER, (c) => changes.push(c), { store, fetch: server.fetch, navigator });
  return { store, server, outbox, changes, navigator };
}

function checkIn(taskId) {
  return { type: "check_in", task_id: taskId, client_event_id: eventId("check_in", taskId), lat: 31.2, lon: 121.4 };
}

async function queue(outbox, event) {
  return outbox.addEvent(event, (visit) => { visit.checkin = { id: event.client_event_id, status: "waiting" }; });
}

const stopRetrying = (outbox) => clearTimeout(outbox.retryTimer);

test("actions queued with no network stay on the phone, numbered in order, until it returns", async () => {
  const { store, server, outbox, navigator } = setUp({ online: false });
  const a = await queue(outbox, checkIn(1));
  const b = await queue(outbox, checkIn(2));
  assert.deepEqual([a.seq, b.seq], [1, 2]);
  assert.equal(await store.meta.get("seq_high"), 2);
  await outbox.flush();
  assert.equal(outbox.state.phase, "offline");
  assert.equal(server.batches.length, 0);
  assert.equal((await outbox.waiting()).length, 2);

  navigator.onLine = true;
  await outbox.flush();
  assert.deepEqual(server.batches.map((batch) => batch.map((e) => [e.task_id, e.seq])), [[[1, 1], [2, 2]]]);
  assert.equal(outbox.state.phase, "idle");
  assert.deepEqual(await outbox.waiting(), []);
  assert.deepEqual((await outbox.log()).map((e) => [e.task_id, e.status]), [[1, "accepted"], [2, "accepted"]]);
  assert.equal((await store.get("visits", `${USER}|1`)).checkin.status, "accepted");
});

test("a lost answer or a server error leaves everything queued, to be sent again", async () => {
  for (const [fail, phase] of [[new TypeError("Failed to fetch"), "offline"],
                               [new ApiError(503, { error: { message: "busy" } }), "server_error"]]) {
    const { server, outbox } = setUp();
    await queue(outbox, checkIn(1));
    server.fail = fail;
    await outbox.flush();
    stopRetrying(outbox);
    assert.equal(outbox.state.phase, phase);
    assert.equal((await outbox.waiting()).length, 1);
    assert.deepEqual(await outbox.log(), []);
    server.fail = null;
    await outbox.flush();
    assert.deepEqual(await outbox.waiting(), []);
  }
});

test("an expired sign-in stops sending and keeps the queue", async () => {
  const { server, outbox } = setUp();
  await queue(outbox, checkIn(1));
  server.fail = new ApiError(401, null);
  await outbox.flush();
  stopRetrying(outbox);
  assert.equal(outbox.state.phase, "signed_out");
  assert.equal((await outbox.waiting()).length, 1);
});

test("refused and conflicting actions leave the queue with their reasons; a duplicate counts as its first answer", async () => {
  const { store, server, outbox } = setUp();
  server.answer = (event) => ({
    1: { status: "rejected", error: { code: "policy_refused", rule_id: "cn.visit_hours" } },
    2: { status: "conflict", error: { code: "task_reassigned" } },
    3: { status: "duplicate", original_status: "accepted" },
  })[event.task_id];
  for (const task of [1, 2, 3]) await queue(outbox, checkIn(task));
  await outbox.flush();
  const log = await outbox.log();
  assert.deepEqual(log.map((e) => [e.task_id, e.status, e.duplicate]).sort(),
                   [[1, "rejected", false], [2, "conflict", false], [3, "accepted", true]]);
  assert.equal(log.find((e) => e.task_id === 1).answer.error.rule_id, "cn.visit_hours");
  assert.equal((await store.get("visits", `${USER}|2`)).checkin.status, "conflict");
  assert.deepEqual(await outbox.waiting(), []);
  assert.equal(effectiveStatus({ status: "duplicate" }), "accepted");
});

test("more than a batch goes in several requests, in order", async () => {
  const { server, outbox } = setUp();
  for (let task = 1; task <= 120; task += 1) await queue(outbox, checkIn(task));
  await outbox.flush();
  assert.deepEqual(server.batches.map((b) => b.length), [50, 50, 20]);
  assert.deepEqual(server.batches.flat().map((e) => e.seq), Array.from({ length: 120 }, (_, i) => i + 1));
});

async function queueRecording(store, outbox, { part, taskId, checkinId }) {
  await store.put("parts", { id: part, user: USER, task_id: taskId });
  await store.put("chunks", { part, blob: "chunk" });
  return outbox.addRecording({ part, task_id: taskId, checkin_id: checkinId, sha256: "ab".repeat(32),
                               duration_seconds: 42, blob: new Blob(["audio"]), filename: `${part}.webm` });
}

test("a recording goes after the events queued before it, on its own, and its chunks are gone once queued", async () => {
  const { store, server, outbox } = setUp();
  const order = [];
  const call = server.api.call;
  server.api.call = async (...args) => { order.push("events"); return call(...args); };
  const upload = outbox.fetch;
  outbox.fetch = async (...args) => { order.push("recording"); return upload(...args); };
  const event = checkIn(5);
  await queue(outbox, event);
  const item = await queueRecording(store, outbox, { part: "p1", taskId: 5, checkinId: event.client_event_id });
  await queue(outbox, { ...checkIn(6), type: "check_out" });
  assert.deepEqual(await store.read(["chunks"], (s) => s.chunks.getAll()), []);
  await outbox.flush();
  assert.deepEqual(order, ["events", "recording", "events"]);
  const form = server.uploads[0].form;
  assert.equal(form.get("task_id"), "5");
  assert.equal(form.get("seq"), String(item.seq));
  assert.equal(server.uploads[0].headers.Authorization, "Bearer token-1");
  assert.deepEqual((await store.get("visits", `${USER}|5`)).recordings.map((r) => r.status), ["accepted"]);
});

test("a recording whose check-in was refused is not uploaded and stays on the phone", async () => {
  const { store, server, outbox } = setUp();
  server.answer = () => ({ status: "rejected", error: { code: "policy_refused" } });
  const event = checkIn(7);
  await queue(outbox, event);
  await queueRecording(store, outbox, { part: "p2", taskId: 7, checkinId: event.client_event_id });
  await outbox.flush();
  assert.equal(server.uploads.length, 0);
  const kept = (await outbox.log()).find((e) => e.kind === "recording");
  assert.equal(kept.status, "rejected");
  assert.equal(kept.answer.error.code, "check_in_refused");
  assert.equal(await kept.blob.text(), "audio");
  assert.deepEqual(await outbox.waiting(), []);
});
