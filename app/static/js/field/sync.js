/* The queue of everything the agent does, sent in order when there is a network.
 *
 * Every action is written to IndexedDB (outbox) with its client_event_id before the
 * app shows it as saved. Sending takes the queue from the front: consecutive events
 * go as one POST /api/v1/agent/sync batch; a recording goes on its own to POST
 * /api/v1/agent/recordings once the events before it (its check-in) were answered.
 * An item leaves the queue only when the server has answered it — accepted,
 * duplicate, rejected or conflict — and the answer is kept in the log in the same
 * transaction. Anything else (no network, a timeout, a 5xx, an expired sign-in)
 * leaves the queue as it was, to be sent again; resending is safe because the server
 * answers an id it has seen with `duplicate` and changes nothing.
 *
 * The store, fetch and navigator are the page's unless given (the Node tests give an
 * in-memory store and fakes: tests/js/sync.test.mjs). */
import { ApiError } from "../api.js";
import { done, store as phoneStore } from "./store.js";

const BATCH = 50;
// A request that hangs (a weak signal) is given up and sent again later; the server
// answers a resent event as a duplicate, so giving up early never doubles anything.
const SYNC_TIMEOUT_MS = 30000;
const UPLOAD_TIMEOUT_MS = 180000;
const REFUSED = ["rejected", "conflict"];

function eventId(type, taskId) {
  return `${type}-${taskId}-${crypto.randomUUID()}`;
}

/** The answer's real status: a duplicate carries the status of the first answer. */
function effectiveStatus(answer) {
  return answer.status === "duplicate" ? (answer.original_status || "accepted") : answer.status;
}

function visitKey(user, taskId) { return `${user}|${taskId}`; }

class Outbox {
  constructor(api, user, onChange, { store = phoneStore, fetch = null, navigator = null } = {}) {
    this.api = api;
    this.user = user;
    this.onChange = onChange || (() => {});
    this.store = store;
    this.fetch = fetch || ((...args) => globalThis.fetch(...args));
    this.navigator = navigator || globalThis.navigator || {};
    this.state = { phase: "idle", error: null, lastSentAt: null, lastTriedAt: null };
    this.running = null;
    this.again = false;
  }

  /** Queue an event and record it on its visit, in one transaction. */
  async addEvent(event, applyToVisit) {
    const item = { user: this.user, kind: "event", type: event.type, task_id: event.task_id,
                   id: event.client_event_id, event, created_at: new Date().toISOString() };
    await this.store.write(["outbox", "visits", "meta"], async (s) => {
      // The outbox number orders the phone's actions; the server bounds their time by it.
      item.seq = await done(s.outbox.add(item));
      await done(s.meta.put(item.seq, "seq_high"));
      const key = visitKey(this.user, event.task_id);
      const visit = (await done(s.visits.get(key))) || { key, user: this.user, task_id: event.task_id, recordings: [] };
      applyToVisit(visit);
      await done(s.visits.put(visit));
    });
    this.onChange({ queued: item });
    return item;
  }

  /** Queue a finished recording; its chunks and part go in the same transaction. */
  async addRecording(recording) {
    const item = { user: this.user, kind: "recording", type: "recording", task_id: recording.task_id,
                   id: `recording-${recording.part}`, ...recording, created_at: new Date().toISOString() };
    await this.store.write(["outbox", "visits", "parts", "chunks", "meta"], async (s) => {
      if (!(await done(s.parts.get(recording.part)))) return;  // finished by another tab already
      item.seq = await done(s.outbox.add(item));
      await done(s.meta.put(item.seq, "seq_high"));
      const chunkKeys = await done(s.chunks.index("part").getAllKeys(recording.part));
      for (const key of chunkKeys) await done(s.chunks.delete(key));
      await done(s.parts.delete(recording.part));
      const key = visitKey(this.user, recording.task_id);
      const visit = (await done(s.visits.get(key))) || { key, user: this.user, task_id: recording.task_id, recordings: [] };
      visit.recordings = (visit.recordings || []).concat([{ id: item.id, seconds: recording.duration_seconds,
                                                           interrupted: !!recording.interrupted, status: "waiting" }]);
      await done(s.visits.put(visit));
    });
    this.onChange({ queued: item });
    return item;
  }

  waiting() { return this.store.byUser("outbox", this.user); }

  log() { return this.store.byUser("log", this.user); }

  /** Send what is queued, in order. Safe to call at any time and as often as liked. */
  flush() {
    if (this.running) { this.again = true; return this.running; }
    const run = async () => {
      do {
        this.again = false;
        await this.sendAll();
      } while (this.again);
    };
    // One sender across this phone's tabs when the browser can say so; the server
    // would answer a second sender's copies as duplicates anyway.
    const locked = this.navigator.locks ? () => this.navigator.locks.request("fc-field-outbox", run) : run;
    this.running = locked().finally(() => { this.running = null; this.onChange({}); });
    return this.running;
  }

  async sendAll() {
    if (!this.api.signedIn()) { this.setPhase("signed_out"); return; }
    if (this.navigator.onLine === false) { this.setPhase("offline"); return; }  // the 'online' event brings us back
    for (;;) {
      const items = await this.waiting();
      if (!items.length) { this.setPhase("idle"); return; }
      this.setPhase("sending");
      this.state.lastTriedAt = new Date().toISOString();
      const ok = items[0].kind === "recording" ? await this.upload(items[0]) : await this.sendBatch(items);
      if (!ok) { this.retryLater(); return; }
      this.retryDelay = 0;
      this.state.lastSentAt = new Date().toISOString();
    }
  }

  async sendBatch(items) {
    const batch = [];
    for (const item of items) {
      if (item.kind !== "event" || batch.length >= BATCH) break;
      batch.push(item);
    }
    let body;
    try {
      body = await this.api.call("POST", "/api/v1/agent/sync", { events: batch.map((i) => ({ ...i.event, seq: i.seq })) },
                                 { signal: AbortSignal.timeout(SYNC_TIMEOUT_MS) });
    } catch (error) {
      this.failed(error);
      return false;
    }
    for (const result of body.results) {
      const item = batch[result.index];
      if (item) await this.settle(item, result);
    }
    return true;
  }

  async upload(item) {
    const checkin = item.checkin_id ? await this.store.get("log", item.checkin_id) : null;
    if (checkin && REFUSED.includes(checkin.status)) {
      // Its check-in was refused: the server has no visit to keep it with. The file stays on the phone.
      await this.settle(item, { status: "rejected", local: true,
                                error: { code: "check_in_refused", message: "The check-in of this visit was refused, so " +
                                         "its recording cannot be uploaded; it is kept on this phone.",
                                         reason_zh: "该次上门的签到被拒绝，录音无法上传，已保留在本机。" } }, true);
      return true;
    }
    const form = new FormData();
    form.append("task_id", String(item.task_id));
    form.append("sha256", item.sha256);
    form.append("duration_seconds", String(item.duration_seconds));
    if (item.seq) form.append("seq", String(item.seq));  // its place in the phone's outbox
    form.append("file", item.blob, item.filename);
    let response;
    let data = null;
    try {
      response = await this.fetch("/api/v1/agent/recordings", {
        method: "POST", body: form, signal: AbortSignal.timeout(UPLOAD_TIMEOUT_MS),
        headers: { Accept: "application/json", Authorization: `Bearer ${this.api.session.access_token}`,
                   ...(await this.store.deviceHeaders()) },
      });
      data = await response.json().catch(() => null);
    } catch (error) {
      this.failed(error);
      return false;
    }
    if (response.ok) {
      await this.settle(item, { status: response.status === 201 ? "accepted" : "duplicate",
                                original_status: "accepted", recording: data });
      return true;
    }
    if (response.status === 401 || response.status === 408 || response.status === 429 || response.status >= 500) {
      this.failed(new ApiError(response.status, data));
      return false;
    }
    await this.settle(item, { status: "rejected", http_status: response.status, error: (data && data.error) || {
      code: `http_${response.status}`, message: `HTTP ${response.status}` } });
    return true;
  }

  /** The server answered: drop the item, keep the answer, mark its visit — one transaction. */
  async settle(item, answer, keepBlob) {
    const status = effectiveStatus(answer);
    const entry = { id: item.id, user: this.user, kind: item.kind, type: item.type, task_id: item.task_id,
                    status, duplicate: answer.status === "duplicate", answer, created_at: item.created_at,
                    answered_at: new Date().toISOString() };
    if (item.kind === "recording") {
      Object.assign(entry, { sha256: item.sha256, duration_seconds: item.duration_seconds,
                             size_bytes: item.blob ? item.blob.size : null });
      if (keepBlob || REFUSED.includes(status)) entry.blob = item.blob;  // never thrown away unsent
    }
    await this.store.write(["outbox", "log", "visits"], async (s) => {
      await done(s.outbox.delete(item.seq));
      await done(s.log.put(entry));
      const key = visitKey(this.user, item.task_id);
      const visit = await done(s.visits.get(key));
      if (!visit) return;
      for (const slot of ["checkin", "outcome", "checkout"]) {
        if (visit[slot] && visit[slot].id === item.id) Object.assign(visit[slot], { status, answer });
      }
      for (const recording of visit.recordings || []) {
        if (recording.id === item.id) recording.status = status;
      }
      await done(s.visits.put(visit));
    });
    this.onChange({ settled: entry });
  }

  /** After a failure with the phone apparently online (a lost answer, a server
   * hiccup), try again soon, then less and less often. */
  retryLater() {
    if (this.phase === "signed_out") return;
    this.retryDelay = Math.min(60000, (this.retryDelay || 1000) * 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.flush(), this.retryDelay);
  }

  failed(error) {
    if (error instanceof ApiError && error.status === 401) this.setPhase("signed_out", error);
    else if (error instanceof ApiError) this.setPhase("server_error", error);
    else this.setPhase("offline", error);
  }

  setPhase(phase, error) {
    this.state.phase = phase;
    this.phase = phase;
    this.state.error = error ? (error.message || String(error)) : null;
    this.onChange({ phase });
  }
}

export { Outbox, eventId, effectiveStatus, visitKey, REFUSED };
