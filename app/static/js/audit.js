/* The audit desk: the visit log (filter, open a visit, play and verify its recordings,
 * export CSV), the action timeline of every audit event, and the chain's verification.
 * Everything from the API goes into the page as text (h() / textContent). */
import { h, clear, i18n, api, ApiError } from "./fc.js";
import { FCMap } from "./map.js";

const $ = (id) => document.getElementById(id);
const OUTCOMES = ["met_debtor", "promise_to_pay", "agreement_signed", "paid_on_spot", "refused", "not_home", "moved",
  "wrong_address", "third_party_only", "hardship_claimed", "dispute_raised", "cease_requested", "deceased_reported",
  "capacity_concern", "aggression"];
const FLAGS = ["out_of_hours", "off_geofence", "poor_accuracy", "mock_location", "impossible_travel",
  "missing_recording", "short_recording", "frequency_override", "waiver_above_limit", "complaint_received"];
// Actions and entities offered as suggestions in the timeline's filter (any other may be typed).
const ACTIONS = ["auth.login", "auth.logout", "pii.read", "audit.exported", "audit.export_downloaded",
  "plan.drafted", "plan.committed", "task.assigned", "task.assign_refused", "task.unassigned", "task.unassign_refused",
  "task.withdrawn", "visit.checked_in", "visit.outcome_recorded", "visit.checked_out", "recording.stored",
  "field.event_refused", "field.check_in.rejected", "field.check_out.rejected", "field.outcome.rejected",
  "agreement.created", "agreement.approved", "conduct_flag.raised", "conduct_flag.reviewed", "conduct_flag.resolved",
  "complaint.received", "payment.recorded", "case.updated", "debtor.updated"];
const ENTITIES = ["visits", "visit_tasks", "cases", "debtors", "collectors", "crews", "agreements", "conduct_flags",
  "recordings", "dispatch_plans", "users", "jobs", "client_events"];

// Readable labels (outcome.*, flag.*, …) are in the shared catalogs: app/static/i18n/*.json.
// The outcome's words are the service's own (OUTCOMES in app/models/field.py).

const label = (kind, code) => (code && i18n.has(`${kind}.${code}`) ? i18n.t(`${kind}.${code}`) : code || "—");
const state = { rows: [], next: null, map: null, selected: null, visitError: null,
                events: [], eventsNext: null, eventsLoaded: false, eventError: null, eventSelected: null,
                blobs: [], debtor: null };

function query(form, extra) {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form).entries()) if (value.trim()) params.set(key, value.trim());
  for (const [key, value] of Object.entries(extra || {})) params.set(key, value);
  return params.toString();
}

// ---------------------------------------------------------------- filter errors, beside the field

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((el) => el.remove());
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  form.querySelector(".form-error").textContent = "";
}

function showErrors(form, error) {
  // The API's 422 names each bad field; its message goes beside that field's box.
  clearErrors(form);
  const fields = (error instanceof ApiError && error.fields) || {};
  let placed = 0;
  for (const [name, messages] of Object.entries(fields)) {
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!input) continue;
    const id = `${form.id}-${name}-error`;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    input.closest("label").append(h("span", { class: "field-error error", id, role: "alert" },
      [].concat(messages).join("; ")));
    placed += 1;
  }
  if (!placed) form.querySelector(".form-error").textContent = i18n.t("filter.bad", { message: error.message });
}

function showSignin() {
  $("desk").hidden = true;
  $("signin").hidden = false;
  i18n.apply();
}

async function start() {
  if (!api.signedIn()) return showSignin();
  if (!["auditor", "admin", "supervisor"].includes(api.user.role)) {
    $("signin-error").textContent = i18n.t("desk.notAllowed");
    return showSignin();
  }
  $("signin").hidden = true;
  $("desk").hidden = false;
  // The action timeline is for auditors and admins (audit:read); supervisors see their teams' visits.
  $("tab-events").hidden = !["auditor", "admin"].includes(api.user.role);
  $("who").textContent = `${api.user.display_name || api.user.username} (${api.user.role})`;
  applyLabels();
  await load(false);
  await openLinked();
}

/** ``/audit?visit=ID`` (the board's link from a flag): that visit opened, if the caller may
 * read it. The log is in visit id order, so the one row after ID − 1 is the visit. */
async function openLinked() {
  const id = Number(new URLSearchParams(location.search).get("visit"));
  if (!Number.isInteger(id) || id < 1) return;
  try {
    const page = await api.call("GET", `/api/v1/audit/visits?after=${id - 1}&limit=1`);
    const visit = page.items[0];
    if (visit && visit.id === id) await open(visit);
  } catch (error) { /* not one the caller may read: the desk opens as usual */ }
}

function applyLabels() {
  i18n.apply();
  document.querySelectorAll("select[name=outcome] option[value]:not([value=''])").forEach((o) => {
    o.textContent = label("outcome", o.value);
  });
  document.querySelectorAll("select[name=flag] option[value]:not([value=''])").forEach((o) => {
    o.textContent = label("flag", o.value);
  });
}

// ---------------------------------------------------------------- the visit log

// Each list answers the last question asked of it: an answer that arrives after a newer
// request was sent (the first screen's, say, after a filter was applied) is dropped.
const asked = { visits: 0, events: 0 };

async function load(more) {
  const form = $("filters");
  const params = query(form, more && state.next ? { after: state.next } : {});
  const mine = ++asked.visits;
  let page;
  try {
    page = await api.call("GET", `/api/v1/audit/visits?${params}`);
  } catch (error) {
    if (mine !== asked.visits) return;
    // A refused filter matches nothing: the old rows go, so none is taken for an answer to it.
    state.rows = [];
    state.next = null;
    state.visitError = error;
    closeDetail();
    render();
    showErrors(form, error);
    return;
  }
  if (mine !== asked.visits) return;
  clearErrors(form);
  state.visitError = null;
  state.rows = more ? state.rows.concat(page.items) : page.items;
  state.next = page.next_after;
  render();
}

function render() {
  const body = clear($("visits").querySelector("tbody"));
  if (!state.rows.length) {
    body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" },
      state.visitError ? i18n.t("filter.bad", { message: state.visitError.message }) : i18n.t("v.none"))));
  }
  for (const visit of state.rows) {
    body.append(h("tr", { dataset: { visit: visit.id }, class: state.selected === visit.id ? "selected" : null,
                         onclick: () => open(visit) },
      h("td", {}, i18n.dateTime(visit.check_in.at, visit.timezone)),
      h("td", {}, visit.case.loan_ref),
      h("td", {}, visit.crew, " · ", collectorName(visit)),
      h("td", { title: visit.outcome || "" }, visit.outcome ? label("outcome", visit.outcome) : "—"),
      h("td", {}, visit.check_in.distance_m === null ? "—" : `${Math.round(visit.check_in.distance_m)} m`),
      h("td", {}, visit.flags.map((f) => h("span", { class: "pill open-flag", title: f.rule_id },
        label("flag", f.kind))))));
  }
  $("more").hidden = !state.next;
  $("count").textContent = state.visitError ? "" : i18n.t("v.count", { n: state.rows.length });
}

const collectorName = (visit) => (visit.collector_name ? `${visit.collector_name} (${visit.collector})`
                                                       : visit.collector);

function times(place, zone) {
  // In the debtor's own zone (that is where the rules about hours apply), and in UTC as
  // stored. The time judged comes first; the server's receive time and the phone's clock are evidence.
  if (!place) return "—";
  const at = (value) => (value ? i18n.dateTime(value, zone) : "—");
  const utc = (value) => (value ? i18n.t("t.utc", { t: i18n.dateTime(value, "UTC") }) : "");
  return h("div", { class: "times" },
    h("div", { dataset: { time: "judged" } }, i18n.t("t.judged", { t: at(place.at) }), zone ? ` (${zone})` : "",
      place.time_basis ? h("span", { class: "muted" }, ` — ${i18n.t(`basis.${place.time_basis}`)}`) : null),
    h("div", { dataset: { time: "judged-utc" }, class: "muted" }, utc(place.at)),
    h("div", { dataset: { time: "received" } }, i18n.t("t.received", { t: at(place.received_at) }),
      place.received_at ? h("span", { class: "muted" }, ` · ${utc(place.received_at)}`) : null),
    h("div", { dataset: { time: "device" } }, i18n.t("t.device", { t: at(place.device_at) }),
      place.device_at ? h("span", { class: "muted" }, ` · ${utc(place.device_at)}`) : null));
}

function closeDetail() {
  state.selected = null;
  $("detail").hidden = true;
  for (const url of state.blobs.splice(0)) URL.revokeObjectURL(url);
}

async function open(visit) {
  closeDetail();
  state.selected = visit.id;
  render();
  $("detail").hidden = false;
  $("detail-title").textContent = `${visit.case.loan_ref} · ${i18n.date(visit.visit_date)}`;
  // Kept while the same debtor is shown: redrawing in the other language is not another read.
  let debtor = state.debtor && state.debtor.id === visit.debtor_id ? state.debtor : null;
  if (!debtor) {
    try { debtor = await api.call("GET", `/api/v1/debtors/${visit.debtor_id}`); } catch (e) { debtor = null; }
    state.debtor = debtor;
  }
  if (state.selected !== visit.id) return;  // another visit was opened meanwhile
  if (!state.map) state.map = new FCMap($("detail-map"), { tileUrl: document.body.dataset.tileUrl,
                                                           attribution: document.body.dataset.tileAttribution });
  state.map.clear();
  if (debtor) state.map.home(debtor.lat, debtor.lon, "#111827", i18n.t("d.address"));
  state.map.position(visit.check_in.lat, visit.check_in.lon, "#d97706", i18n.t("d.checkIn"));
  if (visit.check_out) state.map.position(visit.check_out.lat, visit.check_out.lon, "#16a34a", i18n.t("d.checkOut"));
  state.map.map.invalidateSize();
  state.map.fit();
  const facts = clear($("detail-facts"));
  const fact = (key, ...value) => facts.append(h("dt", {}, i18n.t(key)), h("dd", { dataset: { fact: key } }, ...value));
  const zone = visit.timezone || (debtor ? debtor.timezone : undefined);
  fact("d.collector", collectorName(visit), " · ", visit.crew, " · ", visit.team);
  fact("d.checkIn", times(visit.check_in, zone));
  fact("d.checkOut", times(visit.check_out, zone));
  fact("d.place", `${visit.check_in.lat.toFixed(5)}, ${visit.check_in.lon.toFixed(5)}`,
    visit.check_in.mock ? h("span", { class: "pill open-flag" }, i18n.t("d.mock")) : null);
  if (debtor) fact("d.address", debtor.address);
  fact("d.distance", visit.check_in.distance_m === null ? "—" : `${visit.check_in.distance_m.toFixed(1)} m`);
  fact("d.accuracy", visit.check_in.accuracy_m === null ? "—" : `${visit.check_in.accuracy_m} m`);
  fact("d.person", visit.person_met ? label("person", visit.person_met) : "—");
  fact("d.outcome", visit.outcome ? label("outcome", visit.outcome) : "—");
  fact("d.notes", visit.notes || "—");
  fact("d.recordings", visit.recordings.length ? visit.recordings.map(recordingBox) : i18n.t("d.none"));
  fact("d.agreements", visit.agreements.length ? visit.agreements.map((a) => h("div", { dataset: { agreement: a.id } },
    `${label("akind", a.kind)} · `, h("span", { class: `status status-${a.status}` }, label("agreement", a.status)),
    " · ", i18n.money(a.total, a.currency), a.waiver !== "0.00" ? ` (−${i18n.money(a.waiver, a.currency)})` : ""))
    : i18n.t("d.none"));
  fact("d.flags", visit.flags.length ? visit.flags.map((f) => h("div", { dataset: { flag: f.kind } },
    label("flag", f.kind), " · ", h("span", { class: "muted" }, f.rule_id), " · ", label("fstatus", f.status)))
    : i18n.t("d.none"));
}

// ---------------------------------------------------------------- recordings: play and verify

function recordingBox(recording) {
  const status = h("div", { class: "verify-status", role: "status" });
  const player = h("div", { class: "player" });
  const button = h("button", { type: "button", class: "play", onclick: () => play(recording, button, player, status) },
    i18n.t("r.play"));
  return h("div", { class: "recording", dataset: { recording: recording.id } },
    h("div", {}, label("rkind", recording.kind), " · ",
      recording.duration_seconds === null ? "?" : i18n.t("r.seconds", { n: recording.duration_seconds }), " · ",
      `${Math.round(recording.size_bytes / 1024)} KB`, " ", button),
    h("div", { class: "hash", title: i18n.t("r.hash") }, recording.sha256), player, status);
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function play(recording, button, player, status) {
  // The page holds a bearer token, which an <audio src> cannot send: the bytes are fetched
  // with it (the token never goes into a URL, a log or a Referer), hashed here, and played
  // from a blob URL. One fetch is one play on the log (a pii.read of the debtor).
  button.disabled = true;
  clear(player);
  status.className = "verify-status muted";
  status.textContent = i18n.t("r.loading");
  let bytes;
  let type;
  try {
    const response = await fetch(`/api/v1/audit/recordings/${recording.id}`, {
      headers: { Authorization: `Bearer ${api.session.access_token}` } });
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch (e) { body = null; }
      throw new ApiError(response.status, body);
    }
    type = response.headers.get("Content-Type") || recording.content_type;
    bytes = await response.arrayBuffer();
  } catch (error) {
    status.className = "verify-status error";
    status.textContent = i18n.t("r.failed", { message: error.message });
    button.disabled = false;
    return;
  }
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  state.blobs.push(url);
  player.append(type.startsWith("image/") ? h("img", { src: url, alt: label("rkind", recording.kind), class: "photo" })
                                          : h("audio", { controls: true, preload: "metadata", src: url }));
  if (!(window.crypto && crypto.subtle)) {
    status.className = "verify-status error";
    status.textContent = i18n.t("r.noCrypto");
    return;
  }
  const got = hex(await crypto.subtle.digest("SHA-256", bytes));
  const ok = got === recording.sha256.toLowerCase();
  status.className = `verify-status ${ok ? "ok" : "error"}`;
  status.dataset.verified = ok ? "yes" : "no";
  status.textContent = ok ? `✓ ${i18n.t("r.verified")}` : i18n.t("r.mismatch", { got, want: recording.sha256 });
  button.disabled = false;
}

// ---------------------------------------------------------------- the action timeline

const REFUSED = /(_refused|\.rejected|\.conflict)$/;

function summary(event) {
  const changes = event.changes && typeof event.changes === "object" ? event.changes : {};
  const extra = changes.extra && typeof changes.extra === "object" ? changes.extra : {};
  const parts = [];
  if (extra.rule_id) parts.push(i18n.t("e.rule", { rule: extra.rule_id }));
  else if (extra.code && REFUSED.test(event.action)) parts.push(extra.code);
  if (extra.message && REFUSED.test(event.action)) parts.push(extra.message);
  if (event.action === "pii.read") {
    if (extra.fields && extra.fields.length) parts.push(i18n.t("e.fields", { fields: extra.fields.join(", ") }));
    if (extra.masked && extra.masked.length) parts.push(i18n.t("e.masked", { fields: extra.masked.join(", ") }));
  }
  const changed = Object.keys(changes).filter((k) => k !== "extra" && k !== "position");
  if (changed.length) parts.push(i18n.t("e.changed", { fields: changed.join(", ") }));
  if (typeof event.changes === "string") parts.push(event.changes.slice(0, 120));
  return parts.join(" · ");
}

const actorName = (e) => (e.actor_user_id === null ? i18n.t("e.system")
  : `${e.actor_username || "?"} #${e.actor_user_id}${e.actor_role ? ` (${e.actor_role})` : ""}`);

async function loadEvents(more) {
  const form = $("event-filters");
  const params = query(form, more && state.eventsNext ? { after: state.eventsNext } : {});
  const mine = ++asked.events;
  let page;
  try {
    page = await api.call("GET", `/api/v1/audit/events?${params}`);
  } catch (error) {
    if (mine !== asked.events) return;
    state.events = [];
    state.eventsNext = null;
    state.eventError = error;
    $("event-detail").hidden = true;
    renderEvents();
    showErrors(form, error);
    return;
  }
  if (mine !== asked.events) return;
  clearErrors(form);
  state.eventError = null;
  state.eventsLoaded = true;
  state.events = more ? state.events.concat(page.items) : page.items;
  state.eventsNext = page.next_after;
  renderEvents();
}

function renderEvents() {
  const body = clear($("events").querySelector("tbody"));
  if (!state.events.length) {
    body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" },
      state.eventError ? i18n.t("filter.bad", { message: state.eventError.message }) : i18n.t("e.none"))));
  }
  for (const event of state.events) {
    const refused = REFUSED.test(event.action);
    body.append(h("tr", { dataset: { seq: event.seq, action: event.action },
                         class: [refused ? "refused" : "", state.eventSelected === event.seq ? "selected" : ""]
                           .join(" ").trim() || null,
                         onclick: () => openEvent(event) },
      h("td", {}, String(event.seq)),
      h("td", {}, i18n.dateTime(event.occurred_at, "UTC")),
      h("td", {}, actorName(event)),
      h("td", {}, h("code", {}, event.action),
        refused ? h("span", { class: "pill open-flag" }, i18n.t("e.refused")) : null),
      h("td", {}, event.entity_type, event.entity_id ? ` #${event.entity_id}` : ""),
      h("td", { class: "what" }, summary(event))));
  }
  $("events-more").hidden = !state.eventsNext;
  $("events-count").textContent = state.eventError ? "" : i18n.t("v.count", { n: state.events.length });
}

function openEvent(event) {
  state.eventSelected = event.seq;
  renderEvents();
  $("event-detail").hidden = false;
  $("event-detail-title").textContent = i18n.t("e.detail", { seq: event.seq });
  const facts = clear($("event-facts"));
  const fact = (key, ...value) => facts.append(h("dt", {}, i18n.t(key)), h("dd", {}, ...value));
  fact("e.when", i18n.t("t.utc", { t: i18n.dateTime(event.occurred_at, "UTC") }));
  fact("e.actor.col", actorName(event), " ", event.actor_user_id === null ? null : h("button", {
    type: "button", class: "link", onclick: () => {
      $("event-filters").elements.actor.value = String(event.actor_user_id);
      loadEvents(false);
    } }, i18n.t("e.byActor")));
  fact("e.action.col", event.action);
  fact("e.entity.col", event.entity_type, event.entity_id ? ` #${event.entity_id}` : "");
  fact("e.request", event.request_id || "—");
  fact("e.ip", event.client_ip || "—");
  fact("e.prev", h("span", { class: "hash" }, event.prev_hash));
  fact("e.hash", h("span", { class: "hash" }, event.hash));
  $("event-changes").textContent = typeof event.changes === "string" ? event.changes
    : JSON.stringify(event.changes, null, 2);
}

// ---------------------------------------------------------------- tabs

function selectTab(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
  if (name === "events" && !state.eventsLoaded && !state.eventError) loadEvents(false);
}

function onTabKey(event) {
  const tabs = Array.from(document.querySelectorAll("[role=tab]")).filter((t) => !t.hidden);
  const at = tabs.indexOf(event.target);
  const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
  if (at < 0 || !step) return;
  const next = tabs[(at + step + tabs.length) % tabs.length];
  selectTab(next.id.replace("tab-", ""));
  next.focus();
  event.preventDefault();
}

async function verify() {
  const box = clear($("verify-result"));
  box.append(h("span", { class: "muted" }, i18n.t("v.running")));
  const result = await api.call("GET", "/api/v1/audit/verify");
  clear(box).append(result.ok
    ? h("p", { class: "ok" }, i18n.t("v.ok", { checked: result.checked, seq: result.head.seq,
                                               hash: result.head.hash.slice(0, 16) + "…" }))
    : h("p", { class: "error" }, i18n.t("v.broken", result.first_broken)));
}

// A module runs once the page is parsed (and fc.js has its translations): no need to wait for DOMContentLoaded.
{
  document.documentElement.lang = i18n.locale;
  const outcome = document.querySelector("select[name=outcome]");
  OUTCOMES.forEach((o) => outcome.append(h("option", { value: o }, label("outcome", o))));
  const flag = document.querySelector("select[name=flag]");
  FLAGS.forEach((f) => flag.append(h("option", { value: f }, label("flag", f))));
  ACTIONS.forEach((a) => $("event-actions").append(h("option", { value: a })));
  ENTITIES.forEach((e) => $("event-entities").append(h("option", { value: e })));
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    $("signin-error").textContent = "";
    try {
      await api.login(form.get("username"), form.get("password"));
      await start();
    } catch (error) { $("signin-error").textContent = error.message; }
  });
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); load(false); });
  $("event-filters").addEventListener("submit", (event) => { event.preventDefault(); loadEvents(false); });
  $("more").addEventListener("click", () => load(true));
  $("events-more").addEventListener("click", () => loadEvents(true));
  $("verify").addEventListener("click", verify);
  document.querySelectorAll("[role=tab]").forEach((tab) => {
    tab.addEventListener("click", () => selectTab(tab.id.replace("tab-", "")));
    tab.addEventListener("keydown", onTabKey);
  });
  $("export").addEventListener("click", async () => {
    try {
      const bytes = await api.download(`/api/v1/audit/visits?${query($("filters"), { format: "csv" })}`,
                                       "visits.csv");
      $("count").textContent = i18n.t("exported", { n: bytes });
    } catch (error) { showErrors($("filters"), error); }
  });
  document.querySelectorAll(".lang-switch").forEach((b) => b.addEventListener("click", () => {
    i18n.set(i18n.lang === "zh" ? "en" : "zh");
    applyLabels();
    render();
    renderEvents();
    const visit = state.rows.find((v) => v.id === state.selected);
    if (visit) open(visit);
  }));
  $("signout").addEventListener("click", async () => {
    await api.logout();
    closeDetail();
    state.debtor = null;
    showSignin();
  });
  start();
}
