/* The visit's audio, from check-in to check-out, kept as it is made.
 *
 * MediaRecorder hands over a chunk every few seconds; each chunk is written to
 * IndexedDB at once, so a closed app or a flat battery costs at most the last few
 * seconds. At check-out the chunks become one file, its SHA-256 is computed with
 * crypto.subtle, and it joins the queue (before the check-out event). A recording
 * cut short by the app closing is finished the same way the next time the app
 * opens, and the agent may start a new part for the rest of the visit. */
import { done, store } from "./store.js";

const SLICE_MS = 1000;
const TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
const EXTENSIONS = { "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a" };

async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

class Recorder {
  constructor(user, onChange) {
    this.user = user;
    this.onChange = onChange || (() => {});
    this.current = null;  // {part, recorder, stream, taskId, stopped}
    this.writes = Promise.resolve();
  }

  static supported() {
    return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && globalThis.MediaRecorder);
  }

  recording(taskId) { return !!(this.current && this.current.part.task_id === taskId); }

  elapsedSeconds() {
    return this.current ? Math.floor((Date.now() - this.current.part.started_at) / 1000) : 0;
  }

  /** Start recording the visit. Answers {ok} or {ok: false, reason} when there is no microphone. */
  async start(taskId, checkinId) {
    if (this.current) await this.stop();
    if (!Recorder.supported()) return { ok: false, reason: "unsupported" };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    } catch (error) {
      return { ok: false, reason: error && error.name === "NotAllowedError" ? "denied" : "no_microphone",
               detail: error && error.name };
    }
    const mime = TYPES.find((t) => MediaRecorder.isTypeSupported(t)) || "";
    const recorder = new MediaRecorder(stream, mime ? { mimeType: mime } : undefined);
    const part = { id: crypto.randomUUID(), user: this.user, task_id: taskId, checkin_id: checkinId,
                   mime: (recorder.mimeType || mime || "audio/webm").split(";")[0], started_at: Date.now(),
                   last_at: Date.now(), chunks: 0 };
    await store.put("parts", part);
    const current = { part, recorder, stream, stopped: null };
    recorder.ondataavailable = (event) => {
      if (!event.data || !event.data.size) return;
      const at = Date.now();
      this.writes = this.writes.then(() => store.write(["parts", "chunks"], async (s) => {
        const stored = await done(s.parts.get(part.id));
        if (!stored) return;
        await done(s.chunks.add({ part: part.id, blob: event.data, at }));
        stored.last_at = at;
        stored.chunks += 1;
        await done(s.parts.put(stored));
      })).catch((error) => this.onChange({ error }));
    };
    current.stopped = new Promise((resolve) => { recorder.onstop = resolve; });
    recorder.start(SLICE_MS);
    this.current = current;
    this.onChange({ started: part });
    return { ok: true };
  }

  /** Stop the current part and let its last chunk reach IndexedDB. */
  async stop() {
    const current = this.current;
    if (!current) return null;
    this.current = null;
    if (current.recorder.state !== "inactive") current.recorder.stop();
    await current.stopped;
    current.stream.getTracks().forEach((track) => track.stop());
    await this.writes;
    await store.write(["parts"], async (s) => {
      const stored = await done(s.parts.get(current.part.id));
      if (stored) await done(s.parts.put({ ...stored, stopped: true, stopped_at: Date.now() }));
    });
    this.onChange({ stopped: current.part });
    return current.part.id;
  }

  /** Parts of this user's recordings that are not being recorded now: left by a
   * closed app, or just stopped. Each becomes a file ready for the queue. */
  async finished(taskId) {
    const parts = await store.byUser("parts", this.user);
    const files = [];
    for (const part of parts) {
      if (this.current && this.current.part.id === part.id) continue;
      if (taskId !== undefined && part.task_id !== taskId) continue;
      files.push(await this.assemble(part));
    }
    return files;
  }

  async assemble(part) {
    const chunks = await store.read(["chunks"], (s) => done(s.chunks.index("part").getAll(part.id)));
    chunks.sort((a, b) => a.at - b.at);
    const blob = new Blob(chunks.map((c) => c.blob), { type: part.mime });
    const interrupted = !part.stopped;
    return {
      part: part.id, task_id: part.task_id, checkin_id: part.checkin_id, blob, empty: blob.size === 0,
      sha256: blob.size ? await sha256Hex(blob) : null, content_type: part.mime,
      // A clean stop ends the recording; one cut short ends with its last chunk kept.
      duration_seconds: Math.max(0, Math.round(((part.stopped_at || part.last_at) - part.started_at) / 1000)),
      filename: `visit-${part.task_id}-${part.id.slice(0, 8)}.${EXTENSIONS[part.mime] || "webm"}`,
      interrupted,
    };
  }

  /** Drop a part that holds no sound at all (stopped before its first chunk). */
  async discard(partId) {
    await store.write(["parts", "chunks"], async (s) => {
      const keys = await done(s.chunks.index("part").getAllKeys(partId));
      for (const key of keys) await done(s.chunks.delete(key));
      await done(s.parts.delete(partId));
    });
  }
}

export { Recorder, sha256Hex };
