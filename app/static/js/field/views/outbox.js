/* What this phone holds for a stop, the outbox view, and the sync badge. */
import { clear, h, i18n } from "../../fc.js";
import { $, REFUSED, S, stopById, t, whenFull } from "../common.js";
import { renderSigninBanner } from "./day.js";
import { show, storedUser } from "./shell.js";
import { refusalBlock } from "./stop.js";

// ---- what this phone holds for a stop, and the outbox

export function entriesFor(taskId) {
  const waiting = S.waiting.filter((i) => taskId === undefined || i.task_id === taskId)
    .map((i) => ({ id: i.id, type: i.type, task_id: i.task_id, status: "waiting", created_at: i.created_at }));
  const answered = S.log.filter((e) => taskId === undefined || e.task_id === taskId);
  return { waiting, answered };
}

export function eventRow(entry) {
  const stop = stopById(entry.task_id);
  const label = `${t(`ev_${entry.type}`)}${stop ? ` · ${stop.sequence}. ${stop.debtor.name}` : ` · #${entry.task_id}`}`;
  const status = entry.duplicate ? "duplicate" : entry.status;
  const row = h("li", { class: `event ${entry.status}`, dataset: { status: entry.status, type: entry.type, id: entry.id } },
    h("div", { class: "row" }, h("span", { class: "grow" }, label),
      h("span", { class: `st ${entry.status}` }, t(`st_${REFUSED.includes(entry.status) ? entry.status : status}`))),
    h("span", { class: "muted small" }, whenFull(entry.answered_at || entry.created_at)));
  if (REFUSED.includes(entry.status)) row.append(refusalBlock(entry, null));
  const flags = (entry.answer && entry.answer.flags) || [];
  for (const flag of flags) row.append(h("p", { class: "warn small flag" }, t("flagged", { reason: i18n.reason(flag) })));
  return row;
}

export function eventsCard(taskId) {
  const { waiting, answered } = entriesFor(taskId);
  const all = answered.concat(waiting).sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  return h("div", { class: "card" }, h("h3", null, t("events")),
    all.length ? h("ul", { class: "events", id: "stop-events" }, all.map(eventRow)) : h("p", { class: "muted" }, t("nothing")));
}

export function renderOutbox() {
  show("outbox");
  $("title").textContent = t("outbox_title");
  const view = $("view-outbox");
  renderSigninBanner(view);
  const { waiting, answered } = entriesFor(undefined);
  const refused = answered.filter((e) => REFUSED.includes(e.status));
  const sent = answered.filter((e) => !REFUSED.includes(e.status));
  const newest = (a, b) => ((a.answered_at || a.created_at) < (b.answered_at || b.created_at) ? 1 : -1);
  const fill = (id, entries, countId) => {
    $(countId).textContent = String(entries.length);
    clear($(id)).append(...(entries.length ? entries.map(eventRow) : [h("li", { class: "muted" }, t("nothing"))]));
  };
  fill("list-waiting", waiting, "count-waiting");
  fill("list-refused", refused.sort(newest), "count-refused");
  fill("list-sent", sent.sort(newest).slice(0, 100), "count-sent");
  $("count-sent").textContent = String(sent.length);
  const state = S.outbox.state;
  const phase = !S.online ? "offline" : state.phase;
  $("outbox-status").textContent = [t(`phase_${phase}`, { error: state.error || "" }),
    state.lastSentAt ? t("last_sent", { at: whenFull(state.lastSentAt) }) : ""].join(" ");
  $("outbox-status").dataset.phase = phase;
  const user = storedUser();
  $("account").textContent = t("signed_in_as", { user: user ? user.username : "", crew: S.route ? S.route.crew : "–" });
}

export function renderBadge() {
  const badge = $("sync-badge");
  badge.hidden = false;
  const waiting = S.waiting.length;
  const refused = S.log.filter((e) => REFUSED.includes(e.status)).length;
  const parts = [t(S.online ? "badge_online" : "badge_offline")];
  if (waiting) parts.push(t("badge_waiting", { n: waiting }));
  if (refused) parts.push(t("badge_refused", { n: refused }));
  if (!waiting && !refused) parts.push(t("badge_all_sent"));
  badge.textContent = parts.join(" · ");
  badge.dataset.state = !S.online ? "offline" : refused ? "refused" : waiting ? "waiting" : "idle";
  badge.dataset.waiting = String(waiting);
  $("tab-count").textContent = waiting ? String(waiting) : "";
}
