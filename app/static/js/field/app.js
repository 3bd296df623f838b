/* The field app: the day's route, the visit at the door, and what is waiting to be sent.
 *
 * Everything the agent does is written to IndexedDB first (store.js), queued with its
 * client_event_id (sync.js) and sent in order when there is a network; the visit's audio
 * is kept as it is recorded (recorder.js). The views are in views/: the day (day.js), one
 * stop (stop.js), the outcome form (outcome-form.js), what is waiting (outbox.js), and the
 * switching between them (shell.js); what the agent does at the door is in actions.js.
 * This module loads the state, listens to the queue and the recorder, and starts the app.
 * Text from the API goes into the page only as text (h()), never as markup. */
import { store } from "./store.js";
import * as money from "../money.js";
import * as sync from "./sync.js";
import * as recorder from "./recorder.js";
import { ApiError, i18n, localToday } from "../fc.js";
import { queueRecordings } from "./actions.js";
import { $, REFUSED, S, SESSION_KEY, USER_KEY, api, body, countdownText, reasonOf, stopById, t, toast, visitOf } from "./common.js";
import { renderOfflineReady } from "./views/day.js";
import { renderCurrent, renderQuietly, showSignin, storedUser } from "./views/shell.js";
import { recordingClock } from "./views/stop.js";

// ---------------------------------------------------------------- storage ↔ state

export async function loadState() {
  const saved = S.user ? await store.get("routes", `${S.user}|${S.date}`) : null;
  S.route = saved ? saved.route : null;
  if (S.route) money.useDigits(S.route.currency_digits);
  S.routeSavedAt = saved ? saved.saved_at : null;
  await loadQueue();
}

export async function loadQueue() {
  const [visits, log, waiting] = await Promise.all([
    store.byUser("visits", S.user), store.byUser("log", S.user), store.byUser("outbox", S.user)]);
  S.visits = new Map(visits.map((v) => [v.task_id, v]));
  S.log = log;
  S.waiting = waiting;
}

export async function downloadRoute(quiet) {
  if (!api.signedIn()) { if (!quiet) showSignin(true); return; }
  const button = $("download");
  button.disabled = true;
  button.textContent = t("downloading");
  const { user, date } = S;  // the agent may pick another day while this one downloads
  try {
    const route = await api.call("GET", `/api/v1/agent/route?date=${encodeURIComponent(date)}`);
    const record = { key: `${user}|${date}`, user, date, route, saved_at: new Date().toISOString() };
    await store.put("routes", record);
    money.useDigits(route.currency_digits);
    if (user === S.user && date === S.date) { S.route = route; S.routeSavedAt = record.saved_at; }
  } catch (error) {
    if (!quiet) toast(error instanceof ApiError ? error.message : t(S.route ? "phase_offline" : "no_route_offline"), true);
    if (error instanceof ApiError && error.status === 401) signedOut();
  } finally {
    button.disabled = false;
    renderQuietly();
  }
}

// ---------------------------------------------------------------- what the queue and the recorder say

export async function onSyncChange(change) {
  if (change.settled) {
    const entry = change.settled;
    if (REFUSED.includes(entry.status) && !entry.duplicate && entry.type === "check_in" && S.recorder.recording(entry.task_id)) {
      // The visit did not open: the recording stops and is kept on the phone, not uploaded.
      await S.recorder.stop();
      await queueRecordings(entry.task_id);
      S.outbox.flush();
    }
    if (REFUSED.includes(entry.status) && S.view === "stop") {
      toast(t("refused_toast", { reason: reasonOf(entry.answer).text }), true);
    }
  }
  if (change.phase === "signed_out") signedOut();
  await loadQueue();
  renderQuietly();
  if (change.phase === "idle" && change.phase !== S.lastPhase && S.online && api.signedIn() && S.route) {
    downloadRoute(true);  // the crew partner's and the server's view of the day
  }
  if (change.phase) S.lastPhase = change.phase;
}

export function onRecorderChange(change) {
  if (change.error) toast(String(change.error.message || change.error), true);
}

export function signedOut() {
  localStorage.removeItem(SESSION_KEY);
  renderCurrent();
}

// ---------------------------------------------------------------- start

export async function startAs(user) {
  if (S.user === user.username && S.outbox) {  // signed in again: the same queue and recorder go on
    renderCurrent();
    S.outbox.flush();
    return;
  }
  S.user = user.username;
  S.ready = false;
  S.outbox = new sync.Outbox(api, S.user, (change) => { onSyncChange(change).catch(reportError); });
  S.recorder = new recorder.Recorder(S.user, onRecorderChange);
  S.date = (await store.meta.get(`date|${S.user}`)) || localToday();
  await loadState();
  S.ready = true;
  // Recordings cut short when the app was last closed are finished and queued now.
  await queueRecordings(undefined);
  await loadQueue();
  renderCurrent();
  if (api.signedIn() && !S.route && S.online) await downloadRoute(true);
  S.outbox.flush();
}

export async function signIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("signin-error");
  error.textContent = "";
  try {
    const user = await api.login(form.username.value.trim(), form.password.value);
    if (user.role !== "agent") {
      await api.logout();
      error.textContent = t("signin_not_agent", { user: user.username, role: user.role });
      return;
    }
    localStorage.setItem(USER_KEY, JSON.stringify({ username: user.username, display_name: user.display_name }));
    form.password.value = "";
    if (!location.hash || location.hash === "#/signin") location.hash = "#/";
    await startAs(user);
  } catch (e) {
    error.textContent = e instanceof ApiError ? e.message : t("signin_offline");
  }
}

export async function signOut() {
  const waiting = S.waiting.length;
  if (waiting && !window.confirm(t("signout_confirm", { n: waiting }))) return;
  if (S.recorder) await S.recorder.stop();
  const user = S.user;
  await store.write(["routes", "meta"], async (s) => {
    // The debtors' details leave the phone with the agent (routes, half-typed outcomes);
    // unsent actions stay until they are sent.
    const keys = await store.done(s.routes.getAllKeys());
    for (const key of keys) if (key.startsWith(`${user}|`)) await store.done(s.routes.delete(key));
    const drafts = await store.done(s.meta.getAllKeys());
    for (const key of drafts) if (key.startsWith(`draft|${user}|`)) await store.done(s.meta.delete(key));
  });
  await api.logout();
  localStorage.removeItem(USER_KEY);
  S.user = null;
  S.ready = false;
  S.route = null;
  S.outbox = null;
  S.recorder = null;
  S.forms.clear();
  showSignin(false);
}

export function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) { S.shell = "unsupported"; return; }
  navigator.serviceWorker.register(body.dataset.sw, { scope: body.dataset.scope }).catch(() => {
    // Offline: the worker installed earlier goes on serving the shell.
  });
  const ready = () => {
    if (navigator.serviceWorker.controller) {
      S.shell = "ready";
      if (S.view === "day") renderOfflineReady();
    }
  };
  navigator.serviceWorker.addEventListener("controllerchange", ready);
  navigator.serviceWorker.ready.then(ready);
  ready();
}

export function setLangButton() {
  $("lang").textContent = i18n.lang === "zh" ? "EN" : "中文";
  // The accessible name holds the visible text (a voice user says what they see).
  $("lang").setAttribute("aria-label", i18n.lang === "zh" ? "EN — English" : "中文 — Chinese");
  document.documentElement.lang = i18n.locale;
}

export function reportError(error) {
  toast(String((error && error.message) || error), true);
  throw error;
}

export function bind() {
  $("signin-form").addEventListener("submit", signIn);
  $("lang").addEventListener("click", () => {
    i18n.set(i18n.lang === "zh" ? "en" : "zh");
    S.forms.clear();  // rebuilt with the labels of the new language
    S.mapDrawn = null;
    $("toast").hidden = true;
    setLangButton();
    if (S.user) renderCurrent(); else showSignin(false);
  });
  $("back").addEventListener("click", () => { location.hash = "#/"; });
  $("sync-badge").addEventListener("click", () => { location.hash = "#/outbox"; });
  $("download").addEventListener("click", () => downloadRoute(false));
  $("day-date").addEventListener("change", async (event) => {
    if (!event.target.value) return;
    S.date = event.target.value;
    await store.meta.set(`date|${S.user}`, S.date);
    await loadState();
    renderCurrent();
    if (!S.route && S.online) downloadRoute(true);
  });
  $("send-now").addEventListener("click", () => S.outbox && S.outbox.flush());
  $("signout").addEventListener("click", () => signOut().catch(reportError));
  window.addEventListener("hashchange", () => {
    S.positionError = null;
    S.positionTask = null;
    renderCurrent();
    window.scrollTo(0, 0);
  });
  window.addEventListener("online", () => { S.online = true; renderCurrent(); if (S.outbox) S.outbox.flush(); });
  window.addEventListener("offline", () => { S.online = false; renderCurrent(); });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && S.outbox) S.outbox.flush();
  });
  // A steady, cheap retry: something may be waiting after a lost answer or a server hiccup.
  S.timer = setInterval(() => {
    if (S.outbox && S.waiting.length && S.online) S.outbox.flush();
  }, 15000);
  setInterval(() => {
    const clock = $("rec-clock");
    if (clock && S.recorder) clock.textContent = recordingClock();
    const countdown = $("rec-countdown");
    const stop = countdown && stopById(Number(countdown.dataset.task));
    const shown = stop && countdownText(stop, visitOf(stop.task_id));
    if (shown) {
      countdown.textContent = shown.text;
      countdown.className = shown.met ? "ok small" : "warn small";
      countdown.dataset.met = shown.met ? "yes" : "no";
    }
  }, 1000);
}

export async function boot() {
  // Ask the browser not to evict what is waiting to be sent when the phone runs short of space.
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
  i18n.apply();
  setLangButton();
  bind();
  registerServiceWorker();
  const user = storedUser();
  if (!user) { showSignin(false); return; }
  await startAs(user);
}

boot().catch(reportError);
