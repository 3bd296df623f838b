/* The dispatch board: a supervisor's day — map, routes, planning, manual moves, live
 * statuses, and the flags and approvals waiting for a person. */
import { h, clear, i18n, api, localToday } from "./fc.js";
import { FCMap } from "./map.js";

const POLL_MS = 4000;
const state = { board: null, draft: null, crewIndex: {}, timer: null, map: null, moving: {}, refusals: {},
                options: {}, dragging: null };
const $ = (id) => document.getElementById(id);
const MOVE_REASONS = ["closer", "workload", "language", "debtor_request", "crew_absent"];
const STATUSES = ["assigned", "checked_in", "done", "flagged", "withdrawn", "open"];

// Only the latest action may speak: an answer arriving after a newer action is not shown,
// and a new action clears what the previous one said.
let lastAction = 0;
function beginAction() {
  lastAction += 1;
  $("toast").hidden = true;
  return lastAction;
}

function toast(text, bad, action) {
  if (action !== undefined && action !== lastAction) return;
  const el = $("toast");
  el.textContent = text;
  el.classList.toggle("bad", !!bad);
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 5000);
}

function refusalText(error) {
  const rule = error.ruleId ? ` [${error.ruleId}]` : "";
  const zh = error.details && error.details.reason_zh;
  return (i18n.lang === "zh" && zh ? zh : error.message) + rule;
}

function ruleName(rule) { return (rule.rule_id || "").split(".").pop(); }

function reasonText(reason) {
  if (!reason) return "";
  if (reason.rules && reason.rules.length) return reason.rules.map((r) => `${i18n.reason(r)} [${r.rule_id}]`).join("; ");
  const label = i18n.t(`reason.${reason.reason}`);
  const text = i18n.lang === "zh" && reason.text_zh ? reason.text_zh : reason.text;
  return text ? `${label}: ${text}` : label;
}

// ---------------------------------------------------------------- sign-in and start

function showSignin() {
  $("board").hidden = true;
  $("signin").hidden = false;
  i18n.apply();
}

async function start() {
  const user = api.user;
  if (!api.signedIn() || !user) return showSignin();
  if (!["supervisor", "admin", "auditor"].includes(user.role)) {
    $("signin-error").textContent = i18n.t("board.notAllowed");
    return showSignin();
  }
  $("signin").hidden = true;
  $("board").hidden = false;
  $("who").textContent = `${user.display_name || user.username} (${user.role})`;
  $("plan").hidden = user.role === "auditor";
  i18n.apply();
  if (!state.map) {
    state.map = new FCMap($("map"), { tileUrl: document.body.dataset.tileUrl,
                                      attribution: document.body.dataset.tileAttribution });
  }
  // Planning names a team or region: not before the list of them is in (a click on a
  // slow connection would otherwise ask to plan no scope at all).
  $("plan").disabled = true;
  await loadScopes(user);
  $("plan").disabled = false;
  await refresh(true);
  if (user.role !== "auditor") loadPins();
  schedule();
}

async function loadScopes(user) {
  const select = clear($("scope"));
  const teams = (await api.call("GET", "/api/v1/teams")).items;
  for (const team of teams) select.append(h("option", { value: `team:${team.code}` }, `${team.code} — ${team.name}`));
  // A team's supervisor plans their team; a regional supervisor or an admin may plan a whole region.
  if (user.role !== "supervisor" || user.region) {
    const regions = [...new Set(teams.map((t) => t.region))];
    for (const region of regions) select.append(h("option", { value: `region:${region}` }, `▣ ${region}`));
  }
  if (user.team) select.value = `team:${user.team}`;
}

function scopeQuery() {
  const [kind, code] = $("scope").value.split(":");
  return { kind, code, query: `date=${$("day").value}&${kind}=${encodeURIComponent(code)}` };
}

// ---------------------------------------------------------------- live board

function schedule() {
  clearInterval(state.timer);
  state.timer = setInterval(() => refresh(false), POLL_MS);
}

async function refresh(fit) {
  if (!$("scope").value || !$("day").value) return;
  const query = scopeQuery().query;
  try {
    const board = await api.call("GET", `/api/v1/board?${query}`);
    // A day or scope picked while this was on its way: its own answer is the one to show.
    if (query !== scopeQuery().query) return;
    state.board = board;
    if (state.draft && (state.draft.date !== board.date || state.draft.team !== board.team)) state.draft = null;
    $("live").textContent = i18n.t("board.live");
    $("live").classList.remove("stale");
    // A stop being dragged keeps its row and pins until it is dropped: redrawing them
    // under the supervisor's hand would cancel the drag.
    if (state.dragging) { state.renderAfterDrag = state.renderAfterDrag || fit || "later"; return; }
    render(fit);
    if (fit) resumePlanning();
  } catch (error) {
    if (error.status === 401) return showSignin();
    $("live").textContent = i18n.t("board.offline");
    $("live").classList.add("stale");
  }
}

function render(fit) {
  const board = state.board;
  state.crewIndex = Object.fromEntries(board.crews.map((c, i) => [c.code, i]));
  const counts = board.counts;
  $("summary").textContent = board.tasks.length ? i18n.t("board.summary", {
    assigned: counts.assigned || 0, checked_in: counts.checked_in || 0, done: counts.done || 0,
    open: counts.open || 0, flagged: counts.flagged || 0 }) : i18n.t("board.noTasks");
  const attention = board.attention.open_flags + board.attention.pending_approvals;
  $("attention-count").textContent = attention ? String(attention) : "";
  renderMap(fit);
  renderCrews();
  if (!$("tab-attention").hidden) loadAttention();
}

function crewStops(code) {
  // In route order; a withdrawn stop (no number) last.
  return state.board.tasks.filter((t) => t.crew === code)
    .sort((a, b) => (a.sequence ?? Infinity) - (b.sequence ?? Infinity));
}

/** Stops whose crew the draft changes, by case: {case_id: draft crew}. */
function draftChanges() {
  const draft = state.draft;
  if (!draft) return {};
  const now = Object.fromEntries(state.board.tasks.filter((t) => t.status !== "withdrawn")
    .map((t) => [t.case_id, t.crew || null]));
  const changed = {};
  for (const route of draft.routes) {
    for (const stop of route.stops) if (now[stop.case_id] !== route.crew) changed[stop.case_id] = route.crew;
  }
  for (const u of draft.unassigned) if (now[u.case_id]) changed[u.case_id] = null;
  return changed;
}

function movable(task) {
  return api.user.role !== "auditor" && ["open", "assigned", "withdrawn"].includes(task.status);
}

function renderMap(fit) {
  const map = state.map;
  const board = state.board;
  map.clear();
  const changed = draftChanges();
  board.crews.forEach((crew, index) => {
    const colour = map.crewColour(index);
    const points = [];
    if (crew.home) points.push([crew.home.lat, crew.home.lon]);
    crewStops(crew.code).filter((t) => t.status !== "withdrawn").forEach((t) => points.push([t.lat, t.lon]));
    map.route(points, colour, crew.code);
    if (crew.home) map.home(crew.home.lat, crew.home.lon, colour, `${crew.code} — ${crew.members.join(", ")}`, crew.code);
    if (crew.position) map.position(crew.position.lat, crew.position.lon, colour,
      `${crew.code}: ${i18n.t("board.position", { time: i18n.time(crew.position.at, board.timezone) })}`);
  });
  // A task whose debtor has no place yet (address only) is in the lists and the pin queue, not on the map.
  board.tasks.filter((t) => t.lat != null).forEach((t) => {
    const colour = t.crew ? map.crewColour(state.crewIndex[t.crew] ?? 0) : null;
    const marker = map.pin(t.lat, t.lon, {
      key: t.id,
      colour, number: t.status === "withdrawn" ? null : t.sequence, status: t.display_status,
      changed: t.case_id in changed, draggable: movable(t),
      label: `${t.crew ? `${t.crew} #${t.sequence ?? "–"} · ` : ""}${t.loan_ref} · ${i18n.t(`status.${t.display_status}`)}`,
      onClick: () => focusStop(t.id),
    });
    if (movable(t)) {
      marker.on("dragstart", () => { state.dragging = t; loadOptions(t); });
      marker.on("dragend", (event) => {
        const target = nearestCrew(event.target.getLatLng(), t);
        event.target.setLatLng([t.lat, t.lon]);  // a stop stays at its debtor's door
        state.dragging = null;
        if (target) dropOnCrew(t, target);
        else afterDrag();
      });
    }
  });
  if (state.draft) {
    state.draft.routes.forEach((route) => {
      const colour = map.crewColour(state.crewIndex[route.crew] ?? 0);
      const crew = board.crews.find((c) => c.code === route.crew);
      const points = (crew && crew.home ? [[crew.home.lat, crew.home.lon]] : [])
        .concat(route.stops.filter((s) => s.lat !== undefined).map((s) => [s.lat, s.lon]));
      map.draftRoute(points, colour, `${i18n.t("draft.draft")} · ${route.crew}`);
      route.stops.filter((s) => s.lat !== undefined).forEach((s) => map.pin(s.lat, s.lon, {
        colour, number: s.sequence, status: "assigned", draft: true, changed: s.case_id in changed,
        label: `${i18n.t("draft.draft")} · ${route.crew} #${s.sequence} · ${s.loan_ref}`,
      }));
    });
  }
  const legend = STATUSES.map((key) => ({ kind: "status", key, label: i18n.t(`status.${key}`) }));
  if (state.draft) {
    legend.push({ kind: "status", key: "assigned pin-changed", label: i18n.t("legend.changed") });
    legend.push({ kind: "status", key: "assigned pin-draft", label: i18n.t("legend.draft") });
  }
  board.crews.forEach((crew, index) => legend.push({ kind: "crew", key: crew.code, label: crew.code,
                                                     colour: map.crewColour(index) }));
  map.legend(legend, i18n.t("legend.title"));
  if (fit) map.fit();
}

/** The crew a pin was dropped on: a crew's home marker first, else the nearest of its stops. */
function nearestCrew(latlng, task) {
  const homes = [], stops = [];
  for (const crew of state.board.crews) {
    if (crew.code === task.crew) continue;
    if (crew.home) homes.push({ key: crew.code, lat: crew.home.lat, lon: crew.home.lon });
    crewStops(crew.code).filter((t) => t.lat !== null && t.lat !== undefined)
      .forEach((t) => stops.push({ key: crew.code, lat: t.lat, lon: t.lon }));
  }
  return state.map.nearest(latlng, homes, 20) || state.map.nearest(latlng, stops, 30);
}

function focusStop(taskId) {
  showTab("crews");
  const row = document.querySelector(`.stop[data-task='${taskId}']`);
  if (row) { row.scrollIntoView({ block: "center" }); row.classList.add("focused"); setTimeout(() => row.classList.remove("focused"), 2000); }
}

// ---------------------------------------------------------------- moving work

/** What the policy would say about each crew for this task (asked once, kept 20 s). */
async function loadOptions(task) {
  const kept = state.options[task.id];
  if (kept && Date.now() - kept.at < 20000) return kept.promise;
  const promise = api.call("GET", `/api/v1/tasks/${task.id}/move-options`)
    .then((answer) => Object.fromEntries(answer.crews.map((c) => [c.crew, c])));
  state.options[task.id] = { at: Date.now(), promise };
  promise.catch(() => { delete state.options[task.id]; });
  return promise;
}

function verdict(option) {
  if (!option) return { ok: false, text: "" };
  const vars = { crew: option.crew, stops: option.stops, capacity: option.capacity };
  if (option.rules.length) {
    return { ok: false, text: i18n.t("move.refused", { crew: option.crew,
      reason: option.rules.map((r) => `${i18n.reason(r)} [${r.rule_id}]`).join("; ") }) };
  }
  if (option.full) return { ok: false, text: i18n.t("move.full", vars) };
  if (option.current) return { ok: false, text: `${option.crew}: ${i18n.t("move.current")}` };
  return { ok: true, text: i18n.t("move.allowed", vars) };
}

function refuse(task, text) {
  state.refusals[task.id] = text;
  document.querySelectorAll(`.stop[data-task='${task.id}'] .refusal.error`).forEach((el) => { el.textContent = text; });
}

function moveControls(task) {
  if (!movable(task)) return null;
  // What the supervisor has open and chosen survives the board's live refreshes.
  const kept = state.moving[task.id] || {};
  const select = h("select", { "aria-label": i18n.t("board.move") },
    state.board.crews.filter((c) => c.code !== task.crew).map((c) => h("option", { value: c.code }, c.code)));
  const verdictLine = h("div", { class: "move-verdict", role: "status" });
  const reasonPick = h("select", { "aria-label": i18n.t("move.reasonPick"), class: "move-reason" },
    h("option", { value: "" }, i18n.t("move.reasonPick")),
    MOVE_REASONS.map((r) => h("option", { value: r }, i18n.t(`movereason.${r}`))));
  const note = h("input", { placeholder: i18n.t("move.reasonOther"), size: 14, "aria-label": i18n.t("move.reasonOther") });
  const showVerdict = async () => {
    const options = await loadOptions(task).catch(() => null);
    if (!options) return;
    const v = verdict(options[select.value]);
    verdictLine.textContent = v.text;
    verdictLine.className = `move-verdict ${v.ok ? "ok" : "error"}`;
  };
  const markCrews = async () => {
    verdictLine.textContent = i18n.t("move.loading");
    const options = await loadOptions(task).catch(() => null);
    if (!options) { verdictLine.textContent = ""; return; }
    for (const option of select.options) {
      const v = verdict(options[option.value]);
      option.textContent = v.ok ? option.value : `${option.value} — ${v.text.replace(/^✕ [^:：]+[:：]\s*/, "✕ ")}`;
      option.disabled = !v.ok;
      option.title = v.text;
    }
    if (kept.crew && !select.querySelector(`option[value='${kept.crew}']`).disabled) select.value = kept.crew;
    else if (select.selectedOptions[0] && select.selectedOptions[0].disabled) {
      const first = [...select.options].find((o) => !o.disabled);
      if (first) select.value = first.value;
    }
    kept.crew = select.value;
    showVerdict();
  };
  select.addEventListener("change", () => { kept.crew = select.value; showVerdict(); });
  reasonPick.addEventListener("change", () => { kept.reason = reasonPick.value; });
  note.addEventListener("input", () => { kept.note = note.value; });
  if (kept.crew) select.value = kept.crew;
  if (kept.reason) reasonPick.value = kept.reason;
  if (kept.note) note.value = kept.note;
  const reasonGiven = () => {
    const text = note.value.trim();
    const picked = reasonPick.value ? i18n.t(`movereason.${reasonPick.value}`) : "";
    return [picked, text].filter(Boolean).join(": ");
  };
  // The last refusal of a move stays with its task across the board's live refreshes.
  const refusal = h("div", { class: "refusal error", role: "alert" }, state.refusals[task.id] || "");
  const move = h("button", { onclick: async () => {
    const action = beginAction();
    const reason = reasonGiven();
    if (!reason) { refuse(task, i18n.t("move.needReason")); reasonPick.focus(); return; }
    refuse(task, "");
    try {
      await api.call("POST", `/api/v1/tasks/${task.id}/assign`, { crew: select.value, reason, from_crew: task.crew });
      toast(i18n.t("board.moved", { crew: select.value }), false, action);
      delete state.moving[task.id];
      delete state.options[task.id];
      await refresh(false);
    } catch (error) {
      refuse(task, i18n.t("board.refused", { reason: refusalText(error) }));
      toast(state.refusals[task.id], true, action);
    }
  } }, i18n.t("board.moveButton"));
  const unassign = task.status === "assigned" ? h("button", { class: "danger", onclick: async () => {
    const action = beginAction();
    const reason = reasonGiven();
    if (!reason) { refuse(task, i18n.t("move.needReason")); reasonPick.focus(); return; }
    try {
      await api.call("POST", `/api/v1/tasks/${task.id}/unassign`, { reason });
      refuse(task, "");
      delete state.moving[task.id];
      toast(i18n.t("board.unassignedDone"), false, action);
      await refresh(false);
    } catch (error) {
      refuse(task, refusalText(error));
      toast(state.refusals[task.id], true, action);
    }
  } }, i18n.t("board.unassign")) : null;
  const details = h("details", { class: "move", ontoggle: (e) => {
    if (e.target.open) { state.moving[task.id] = kept; markCrews(); } else delete state.moving[task.id];
  } }, h("summary", {}, i18n.t("board.moveMenu")),
    h("div", {}, i18n.t("board.move"), select, reasonPick, note, move, unassign, verdictLine),
    // Kept in the folded menu: a button on every row would make the crews' lists longer.
    h("div", {}, pinButton(task)));
  if (state.moving[task.id]) details.open = true;
  return [details, refusal];
}

/** A stop dropped on a crew (list or map): the policy's answer first; if it may go, the
 * move menu opens with that crew chosen, waiting for a reason. */
async function dropOnCrew(task, crewCode) {
  const action = beginAction();
  const options = await loadOptions(task).catch(() => null);
  const v = verdict(options && options[crewCode]);
  if (!v.ok) {
    afterDrag();
    refuse(task, v.text);
    toast(v.text, true, action);
    focusStop(task.id);
    return;
  }
  state.moving[task.id] = { ...(state.moving[task.id] || {}), crew: crewCode };
  state.renderAfterDrag = null;
  render(false);
  focusStop(task.id);
  const row = document.querySelector(`.stop[data-task='${task.id}']`);
  const reason = row && row.querySelector(".move-reason");
  if (reason) reason.focus();
  toast(v.text, false, action);
}

function stopRow(task, timezone) {
  const row = h("div", { class: "stop", dataset: { task: task.id, status: task.display_status } },
    h("strong", {}, task.status === "withdrawn" || !task.sequence ? "·" : String(task.sequence)),
    h("div", {}, h("div", {}, task.loan_ref, " · ", task.debtor),
      h("div", { class: "muted" }, task.planned_start ? `${i18n.time(task.planned_start, timezone)} · ` : "",
        task.address)),
    h("span", { class: `pill ${task.display_status}` }, i18n.t(`status.${task.display_status}`)),
    ["open", "withdrawn"].includes(task.status) ? h("div", { class: "refusal muted" }, reasonText(task.reason)) : null,
    moveControls(task));
  if (movable(task)) {
    row.draggable = true;
    row.addEventListener("dragstart", (event) => {
      state.dragging = task;
      event.dataTransfer.setData("text/plain", String(task.id));
      event.dataTransfer.effectAllowed = "move";
      loadOptions(task);
    });
    row.addEventListener("dragend", () => { state.dragging = null; clearDropMarks(); afterDrag(); });
  }
  return row;
}

function afterDrag() {
  const pending = state.renderAfterDrag;
  state.renderAfterDrag = null;
  if (pending && state.board) render(pending === true);
}

function clearDropMarks() {
  document.querySelectorAll(".crew.drop-ok, .crew.drop-refused").forEach((el) => el.classList.remove("drop-ok", "drop-refused"));
  document.querySelectorAll(".drop-verdict").forEach((el) => { el.textContent = ""; el.className = "drop-verdict"; });
}

function dropTarget(card, crew) {
  const line = card.querySelector(".drop-verdict");
  card.addEventListener("dragover", (event) => {
    if (!state.dragging || state.dragging.crew === crew.code) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
  });
  card.addEventListener("dragenter", async () => {
    const task = state.dragging;
    if (!task || task.crew === crew.code) return;
    line.textContent = i18n.t("move.loading");
    const options = await loadOptions(task).catch(() => null);
    if (state.dragging !== task) return;
    const v = verdict(options && options[crew.code]);
    line.textContent = v.text;
    line.className = `drop-verdict ${v.ok ? "ok" : "refused"}`;
    card.classList.toggle("drop-ok", v.ok);
    card.classList.toggle("drop-refused", !v.ok);
  });
  card.addEventListener("dragleave", (event) => {
    if (card.contains(event.relatedTarget)) return;
    card.classList.remove("drop-ok", "drop-refused");
    line.textContent = "";
  });
  card.addEventListener("drop", (event) => {
    event.preventDefault();
    const task = state.dragging;
    clearDropMarks();
    state.dragging = null;
    if (task && task.crew !== crew.code) dropOnCrew(task, crew.code);
    else afterDrag();
  });
}

function renderCrews() {
  const board = state.board;
  const crews = clear($("crews"));
  board.crews.forEach((crew, index) => {
    const stops = crewStops(crew.code);
    const checkIn = crew.last_check_in
      ? i18n.t("board.lastCheckIn", { time: i18n.time(crew.last_check_in.at, board.timezone), loan: crew.last_check_in.loan_ref })
      : i18n.t("board.noCheckIn");
    const swatch = h("span", { class: "swatch" });
    swatch.style.background = state.map.crewColour(index);
    const card = h("div", { class: "crew", dataset: { crew: crew.code } },
      h("h4", {}, swatch, crew.code, h("span", { class: "muted" }, crew.members.join(" · ")),
        h("span", { class: "pill" }, i18n.t("board.stops", { n: stops.length })),
        h("span", { class: "muted" }, i18n.t("board.capacity", { n: crew.capacity }))),
      h("div", { class: "muted crew-live" }, checkIn),
      h("div", { class: "drop-verdict", role: "status" }),
      stops.map((t) => stopRow(t, board.timezone)));
    if (api.user.role !== "auditor") dropTarget(card, crew);
    crews.append(card);
  });
  const unassigned = clear($("unassigned"));
  board.tasks.filter((t) => !t.crew).forEach((t) => unassigned.append(stopRow(t, board.timezone)));
}

// ---------------------------------------------------------------- planning

function progress(text) {
  const line = $("plan-progress");
  line.hidden = !text;
  line.textContent = text || "";
}

const planJobKey = (query) => `fc.planJob:${query}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Plan the day as a background job: the board follows it (phase, elapsed and expected
 * time), and a tab opened again on the same day and scope picks it up where it was. */
async function planDay() {
  const { kind, code, query } = scopeQuery();
  showTab("draft");
  clear($("draft"));
  $("plan").disabled = true;
  const started = Date.now();
  const ticking = setInterval(() => showProgress({ status: "asking" }, started), 500);
  showProgress({ status: "asking" }, started);
  try {
    const job = await api.call("POST", "/api/v1/jobs", { name: "plan_scope", params: { date: $("day").value, [kind]: code } });
    localStorage.setItem(planJobKey(query), job.id);
    clearInterval(ticking);
    await followPlanJob(job, query);
  } catch (error) {
    clear($("draft")).append(h("p", { class: "error" }, refusalText(error)));
  } finally {
    clearInterval(ticking);
    progress("");
    $("plan").disabled = false;
  }
}

function showProgress(job, since) {
  const from = job.started_at ? Date.parse(job.started_at) : job.created_at ? Date.parse(job.created_at) : since;
  const elapsed = Math.max(0, Math.round((Date.now() - from) / 1000));
  const expected = Number(document.body.dataset.planSeconds) || null;
  const phase = i18n.t({ asking: "draft.phase.asking", queued: "draft.phase.queued", retrying: "draft.phase.queued" }[job.status]
                       || "draft.phase.solving");
  progress(i18n.t("draft.progress", { phase, elapsed }) + (expected ? i18n.t("draft.expected", { expected }) : ""));
}

async function followPlanJob(job, query) {
  state.following = job.id;
  try {
    while (["queued", "running", "retrying"].includes(job.status)) {
      showProgress(job);
      await sleep(1000);
      if (scopeQuery().query !== query || state.following !== job.id) return;
      job = await api.call("GET", `/api/v1/jobs/${job.id}`);
    }
    localStorage.removeItem(planJobKey(query));
    progress("");
    if (job.status !== "finished") {
      clear($("draft")).append(h("p", { class: "error" }, job.error || job.status));
      return;
    }
    state.draft = await api.call("GET", `/api/v1/dispatch/plans/${job.result.plan_id}`);
    // The draft is shown beside the plan of its own day and scope, never a board still on its way.
    const board = state.board, draft = state.draft;
    if (!board || board.date !== draft.date || board.team !== draft.team || board.region !== draft.region) {
      await refresh(false);
    }
    renderDraft();
    renderMap(false);
  } finally {
    if (state.following === job.id) state.following = null;
  }
}

/** A planning job this day and scope started earlier (another tab, a closed one). */
async function resumePlanning() {
  const query = scopeQuery().query;
  const id = localStorage.getItem(planJobKey(query));
  if (!id || state.following === id || api.user.role === "auditor") return;
  let job;
  try { job = await api.call("GET", `/api/v1/jobs/${encodeURIComponent(id)}`); } catch (error) {
    localStorage.removeItem(planJobKey(query));
    return;
  }
  showTab("draft");
  clear($("draft"));
  try { await followPlanJob(job, query); } catch (error) {
    clear($("draft")).append(h("p", { class: "error" }, refusalText(error)));
  } finally { progress(""); }
}

/** The reasons tasks were left out, grouped (one line per reason with its count, the
 * cases behind it folded away), worded for a supervisor and translated. */
function reasonGroups(unassigned) {
  const groups = new Map();
  for (const u of unassigned) {
    const rules = (u.rules || []).filter((r) => !r.allowed);
    const key = rules.length ? rules.map((r) => r.rule_id).sort().join(" ") : `engine:${u.reason}`;
    if (!groups.has(key)) groups.set(key, { rules, reason: u.reason, items: [] });
    groups.get(key).items.push(u);
  }
  const label = (g) => {
    if (!g.rules.length) return i18n.has(`why.${g.reason}`) ? i18n.t(`why.${g.reason}`) : i18n.t(`reason.${g.reason}`);
    return g.rules.map((r) => (i18n.has(`rule.${ruleName(r)}`) ? i18n.t(`rule.${ruleName(r)}`) : i18n.reason(r))).join("; ");
  };
  return h("div", { class: "reasons-groups" }, [...groups.values()].sort((a, b) => b.items.length - a.items.length)
    .map((g) => h("details", { dataset: { rules: g.rules.map((r) => r.rule_id).join(" ") || g.reason } },
      h("summary", {}, h("span", { class: "count" }, String(g.items.length)), label(g),
        g.rules.length ? h("span", { class: "rule" }, ` [${g.rules.map((r) => r.rule_id).join(", ")}]`) : null),
      h("ul", {}, g.items.map((u) => h("li", { title: u.rules && u.rules.length ? u.rules.map(i18n.reason).join("; ") : "" },
        u.loan_ref))))));
}

function renderDraft() {
  const draft = state.draft;
  const current = state.board && state.board.plan;
  const row = (label, now, next) => h("tr", {}, h("th", {}, label), h("td", {}, now), h("td", {}, next));
  const load = (summary) => Object.entries((summary && summary.load) || {}).map(([c, n]) => `${c}: ${n}`).join(", ");
  const cur = current ? current.summary : null;
  const changes = Object.keys(draftChanges()).length;
  const box = clear($("draft"));
  box.append(
    h("h3", {}, i18n.t("draft.title", { date: i18n.date(draft.date) })),
    h("table", { class: "comparison" },
      h("tr", {}, h("th", {}), h("th", {}, i18n.t("draft.current")), h("th", {}, i18n.t("draft.draft"))),
      row(i18n.t("draft.assigned"), cur ? cur.assigned : i18n.t("draft.none"), draft.summary.assigned),
      row(i18n.t("draft.unassigned"), cur ? cur.unassigned : "—", draft.summary.unassigned),
      row(i18n.t("draft.km"), cur ? cur.distance_km : "—", draft.summary.distance_km),
      row(i18n.t("draft.priority"), cur ? cur.priority_sum : "—", draft.summary.priority_sum),
      row(i18n.t("draft.load"), cur ? load(cur) : "—", load(draft.summary))),
    h("p", { class: "muted draft-on-map" }, i18n.t("draft.onMap", { n: changes })),
    api.user.role === "auditor" ? null : h("p", {}, h("button", { class: "primary", id: "commit", onclick: commitDraft },
      i18n.t("draft.commit"))),
    h("h4", {}, i18n.t("draft.why")),
    reasonGroups(draft.unassigned),
    h("h4", {}, i18n.t("draft.crews")),
    h("ul", {}, draft.crews.filter((c) => !c.eligible).map((c) => h("li", {}, `${c.crew}: `,
      (c.rules || []).map((r) => `${i18n.reason(r)} [${r.rule_id}]`).join("; "), c.note || ""))));
}

async function commitDraft() {
  const action = beginAction();
  try {
    await api.call("POST", `/api/v1/dispatch/plans/${state.draft.id}/commit`);
    toast(i18n.t("draft.committed"), false, action);
    state.draft = null;
    clear($("draft")).append(h("p", { class: "ok" }, i18n.t("draft.committed")));
    showTab("crews");
    await refresh(true);
  } catch (error) {
    toast(refusalText(error), true, action);
  }
}

// ---------------------------------------------------------------- attention

/** What the supervisor has open and typed on the attention tab, kept across its live
 * refreshes (a refresh while a note was being written closed it and lost the note). */
function kept(key, element) {
  state.attentionKept = state.attentionKept || {};
  const memory = state.attentionKept[key] = state.attentionKept[key] || {};
  element.querySelectorAll("input").forEach((input, index) => {
    if (memory[index] !== undefined) input.value = memory[index];
    input.addEventListener("input", () => { memory[index] = input.value; });
  });
  const details = element.querySelector("details");
  if (details) {
    if (memory.open) details.open = true;
    details.addEventListener("toggle", () => { memory.open = details.open; });
  }
  return element;
}

async function loadAttention() {
  const [flags, approvals] = await Promise.all([
    api.call("GET", "/api/v1/conduct/flags?status=open&limit=100"),
    api.call("GET", "/api/v1/agreements?status=pending_approval&limit=100"),
  ]);
  const focused = document.activeElement && document.activeElement.closest("#tab-attention [data-keep]");
  const focusKey = focused && focused.dataset.keep;
  const focusIndex = focused ? [...focused.querySelectorAll("input")].indexOf(document.activeElement) : -1;
  const flagBox = clear($("flags"));
  if (!flags.items.length) flagBox.append(h("p", { class: "muted" }, i18n.t("attention.none")));
  for (const flag of flags.items) {
    const notes = h("input", { placeholder: i18n.t("attention.notes"), size: 18, "aria-label": i18n.t("attention.notes") });
    const review = (status) => async () => {
      const action = beginAction();
      try {
        await api.call("POST", `/api/v1/conduct/flags/${flag.id}/review`, { status, notes: notes.value || status });
        toast(i18n.t("attention.done"), false, action);
        loadAttention();
        refresh(false);
      } catch (error) { toast(refusalText(error), true, action); }
    };
    const facts = h("div", { class: "flag-facts" },
      flag.debtor ? [h("span", {}, `${i18n.t("attention.debtor")}: `, flag.debtor), " · "] : null,
      flag.loan_ref ? [h("span", {}, `${i18n.t("attention.loan")}: `, flag.loan_ref), " · "] : null,
      flag.visit_id ? h("a", { href: `/audit?visit=${encodeURIComponent(flag.visit_id)}`, target: "_blank", rel: "noopener" },
        `${i18n.t("attention.openVisit")} #${flag.visit_id}`) : null);
    flagBox.append(kept(`flag:${flag.id}`, h("div", { class: "item flag", dataset: { flag: flag.id, keep: `flag:${flag.id}` } },
      h("div", {}, h("span", { class: "pill open-flag" }, flag.kind), " ", flag.collector || "", " · ",
        i18n.dateTime(flag.raised_at, state.board && state.board.timezone)),
      facts,
      h("details", {}, h("summary", {}, i18n.t("attention.open")),
        h("p", {}, i18n.reason(flag.details)), h("p", { class: "muted" }, `${flag.rule_id} · ${flag.profile_version}`),
        h("div", {}, notes, " ", h("button", { onclick: review("resolved") }, i18n.t("attention.resolve")), " ",
          h("button", { onclick: review("dismissed") }, i18n.t("attention.dismiss")))))));
  }
  const approvalBox = clear($("approvals"));
  if (!approvals.items.length) approvalBox.append(h("p", { class: "muted" }, i18n.t("attention.none")));
  for (const agreement of approvals.items) {
    const note = h("input", { placeholder: i18n.t("attention.notes"), size: 18, "aria-label": i18n.t("attention.notes") });
    const counterWaiver = h("input", { inputmode: "decimal", size: 8, placeholder: i18n.t("attention.counterAmount"),
                                       "aria-label": i18n.t("attention.counterAmount") });
    // Every decision needs its note (the agent reads it on the phone); it closes the waiver's flag.
    const decide = (kind) => async () => {
      const action = beginAction();
      const text = note.value.trim();
      if (!text) { toast(i18n.t("attention.needNote"), true, action); note.focus(); return; }
      const body = kind === "reject" ? { reason: text }
        : kind === "counter" ? { note: text, waiver: counterWaiver.value.trim() } : { note: text };
      try {
        await api.call("POST", `/api/v1/agreements/${agreement.id}/${kind}`, body);
        toast(i18n.t("attention.done"), false, action);
        loadAttention();
        refresh(false);
      } catch (error) { toast(refusalText(error), true, action); }
    };
    approvalBox.append(kept(`agreement:${agreement.id}`, h("div", { class: "item approval",
                                                                 dataset: { agreement: agreement.id, keep: `agreement:${agreement.id}` } },
      h("div", {}, agreement.loan_ref, " · ", i18n.money(agreement.total, agreement.currency), " (−",
        i18n.money(agreement.waiver, agreement.currency), " / ", i18n.money(agreement.owed, agreement.currency), ")"),
      h("details", {}, h("summary", {}, i18n.t("attention.open")),
        h("ul", {}, (agreement.instalments || []).map((i) => h("li", {}, `${i18n.date(i.due_date)}: `,
          i18n.money(i.amount, agreement.currency)))),
        api.user.role === "auditor" ? null : h("div", { class: "decision" }, note, " ",
          h("button", { class: "primary", onclick: decide("approve") }, i18n.t("attention.approve")), " ",
          h("button", { class: "danger", onclick: decide("reject") }, i18n.t("attention.reject")), " ",
          counterWaiver, h("button", { onclick: decide("counter") }, i18n.t("attention.counter")))))));
  }
  if (focusKey && focusIndex >= 0) {
    const again = document.querySelector(`#tab-attention [data-keep='${focusKey}']`);
    const input = again && again.querySelectorAll("input")[focusIndex];
    if (input) input.focus();
  }
}

function showTab(name) {
  document.querySelectorAll(".tabs [role=tab]").forEach((b) => {
    const on = b.dataset.tab === name;
    b.classList.toggle("active", on);
    b.setAttribute("aria-selected", on ? "true" : "false");
    b.tabIndex = on ? 0 : -1;
  });
  for (const tab of ["crews", "draft", "attention", "pins"]) $(`tab-${tab}`).hidden = tab !== name;
  if (name === "attention") loadAttention();
  if (name === "pins") loadPins();
  else if (state.map) { state.map.stopPin(); clear($("pin-editor")); }
}

// ---------------------------------------------------------------- pins

function pinButton(task) {
  if (api.user.role === "auditor" || task.lat == null) return null;
  return h("button", { class: "pin-correct", onclick: () => {
    showTab("pins");
    editPin({ id: task.debtor_id, label: `${task.loan_ref} · ${task.address}` }, { lat: task.lat, lon: task.lon });
  } }, i18n.t("pins.correct"));
}

async function loadPins() {
  const { kind, code } = scopeQuery();
  const query = kind === "team" ? `&team=${encodeURIComponent(code)}` : "";
  let queue;
  try {
    queue = await api.call("GET", `/api/v1/pin-queue?limit=100${query}`);
  } catch (error) {
    if (error.status === 403) { $("pin-count").textContent = ""; return; }
    throw error;
  }
  $("pin-count").textContent = queue.items.length ? String(queue.items.length) : "";
  const box = clear($("pins"));
  if (!queue.items.length) box.append(h("p", { class: "muted" }, i18n.t("pins.none")));
  for (const debtor of queue.items) {
    const note = debtor.location_note || {};
    const refs = debtor.cases.map((c) => c.loan_ref).join(", ");
    box.append(h("div", { class: "item pin-queue-item", dataset: { debtor: debtor.id, status: debtor.location_status } },
      h("div", {}, h("strong", {}, refs), " · ", debtor.address),
      h("div", { class: "muted note" }, (i18n.lang === "zh" ? note.zh : note.en) || "",
        debtor.geocode_attempts ? ` (${i18n.t("pins.attempts", { n: debtor.geocode_attempts })})` : ""),
      api.user.role === "auditor" ? null : h("button", { class: "primary pin-place", onclick: () =>
        editPin({ id: debtor.id, label: `${refs} · ${debtor.address}` }, null) }, i18n.t("pins.place"))));
  }
}

function editPin(debtor, current) {
  const start = current || state.map.centre();
  const readout = h("span", { class: "moved" }, "");
  const where = h("span", { class: "muted where" }, "");
  let point = { lat: start.lat, lon: start.lon };
  const show = (latlng) => {
    point = { lat: Number(latlng.lat.toFixed(6)), lon: Number(latlng.lng.toFixed(6)) };
    const metres = Math.round(L.latLng(start.lat, start.lon).distanceTo(latlng));
    readout.textContent = i18n.t(current ? "pins.moved" : "pins.dropped", { m: metres });
    where.textContent = ` ${point.lat.toFixed(5)}, ${point.lon.toFixed(5)}`;
  };
  const stop = () => { state.map.stopPin(); clear($("pin-editor")); };
  const save = h("button", { class: "primary pin-save", onclick: async () => {
    try {
      const answer = await api.call("PUT", `/api/v1/debtors/${debtor.id}/pin`, { lat: point.lat, lon: point.lon });
      toast(answer.moved_m != null ? i18n.t("pins.savedMoved", { m: Math.round(answer.moved_m) }) : i18n.t("pins.saved"));
      stop();
      await Promise.all([loadPins(), refresh(false)]);
    } catch (error) { toast(refusalText(error), true); }
  } }, i18n.t("pins.save"));
  clear($("pin-editor")).append(h("div", { class: "item editing", dataset: { debtor: debtor.id } },
    h("div", {}, h("strong", {}, i18n.t("pins.editing", { what: debtor.label }))),
    h("div", {}, readout, where), h("div", {}, save, " ", h("button", { onclick: stop }, i18n.t("pins.cancel")))));
  state.map.editPin(start.lat, start.lon, show);
  show(L.latLng(start.lat, start.lon));
}

// ---------------------------------------------------------------- wiring

// A module runs once the page is parsed (and fc.js has its translations): no need to wait for DOMContentLoaded.
{
  document.documentElement.lang = i18n.locale;
  $("day").value = localToday();
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    $("signin-error").textContent = "";
    try {
      await api.login(form.get("username"), form.get("password"));
      await start();
    } catch (error) { $("signin-error").textContent = error.message; }
  });
  document.querySelectorAll(".lang-switch").forEach((b) => b.addEventListener("click", () => {
    i18n.set(i18n.lang === "zh" ? "en" : "zh");
    if (state.board) render(false);
    if (state.draft) renderDraft();
  }));
  $("signout").addEventListener("click", async () => { await api.logout(); clearInterval(state.timer); showSignin(); });
  $("plan").addEventListener("click", planDay);
  $("day").addEventListener("change", () => refresh(true));
  $("scope").addEventListener("change", () => { refresh(true); if (api.user && api.user.role !== "auditor") loadPins(); });
  const tabs = [...document.querySelectorAll(".tabs [role=tab]")];
  tabs.forEach((b, index) => {
    b.addEventListener("click", () => showTab(b.dataset.tab));
    // Arrow keys move between tabs, as a tablist should.
    b.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      showTab(next.dataset.tab);
      next.focus();
    });
  });
  start();
}
