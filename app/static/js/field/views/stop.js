/* One stop: the debtor, the history, and what can be done at the door now. */
import * as money from "../../money.js";
import { clear, h, i18n } from "../../fc.js";
import { askCheckOut, checkIn, checkoutWarning, locate, startRecording } from "../actions.js";
import { $, REFUSED, S, countdownText, distanceM, languageName, limits, live, localClock, metres, navLinks, outcomeLabel, pad, phoneLine, plannedWindow, productName, reasonOf, remembered, statusOf, stopById, t, visitOf, when, whenFull } from "../common.js";
import { renderSigninBanner } from "./day.js";
import { eventsCard } from "./outbox.js";
import { outcomeForm } from "./outcome-form.js";
import { show } from "./shell.js";

// ---- one stop

export function renderStop(taskId) {
  const stop = stopById(taskId);
  show("stop");
  const view = clear($("view-stop"));
  if (!stop) {  // not on the day shown (another day was chosen, or the route was refreshed without it)
    location.hash = "#/";
    return;
  }
  $("title").textContent = t("task", { seq: stop.sequence });
  renderSigninBanner(view);
  const status = statusOf(stop);
  const zone = stop.debtor.timezone;
  const history = stop.history || {};

  view.append(h("div", { class: "card debtor", dataset: { status } },
    h("div", { class: "row" }, h("h2", { class: "grow name" }, stop.debtor.name),
      h("span", { class: `pill ${status}`, id: "stop-status" }, t(`status_${status}`))),
    h("p", { class: "addr" }, stop.debtor.address),
    h("p", { class: "due" }, h("span", { class: "muted" }, t("amount_due")), " ",
      h("strong", { class: "amount", id: "amount-due" }, i18n.money(stop.case.amount_due, stop.case.currency)),
      " · ", t("days_past_due", { days: stop.case.days_past_due })),
    h("dl", { class: "facts" },
      h("dt", null, t("planned")), h("dd", { id: "planned" }, plannedWindow(stop) || "–"),
      h("dt", null, t("navigate")), h("dd", null, navLinks(stop)),
      h("dt", null, t("phone")), h("dd", { id: "phone" }, phoneLine(stop.debtor.phone)),
      h("dt", null, t("loan")), h("dd", { id: "loan" }, `${stop.case.loan_ref} · ${productName(stop.case.product)}`),
      h("dt", null, t("language")), h("dd", { id: "language", title: stop.debtor.language || "" },
        languageName(stop.debtor.language)),
      stop.debtor.availability && stop.debtor.availability.length ? [h("dt", null, t("availability")),
        h("dd", null, stop.debtor.availability.map((w) => `${w.days ? `${w.days.map(weekday).join(" ")} ` : ""}${w.start}–${w.end}`).join("; "))] : null)));

  const answer = history.waiver_answer;
  if (answer) {
    // The supervisor's word on a waiver asked at this door: shown where the agent cannot miss it.
    view.append(h("p", { class: "card warn", id: "waiver-answer" }, answer.status === "countered"
      ? t("waiver_countered", { amount: i18n.money(answer.counter_waiver, stop.case.currency), note: answer.note })
      : t("waiver_rejected", { note: answer.note })));
  }
  view.append(h("details", { class: "card history" }, h("summary", null, t("history")),
    h("dl", { class: "facts" },
      h("dt", null, t("last_contacts")), h("dd", null, (history.last_contacts || []).length
        ? history.last_contacts.map((c) => `${whenFull(c.occurred_at, zone)} ${t(`ch_${c.channel}`)} · ${t(`res_${c.result}`)}`).join("; ")
        : t("none")),
      h("dt", null, t("last_visit")), h("dd", null, history.last_visit
        ? `${whenFull(history.last_visit.at, zone)} · ${outcomeLabel(history.last_visit.outcome)}` : t("none")),
      h("dt", null, t("active_agreement")), h("dd", null, history.active_agreement ? [
        `${t(`agreement_${history.active_agreement.kind}`)} · ${i18n.money(history.active_agreement.total, stop.case.currency)} · ${t(`agreement_status_${history.active_agreement.status}`)}`,
        history.active_agreement.next_due ? ` · ${t("next_due", {
          amount: i18n.money(history.active_agreement.next_due.amount, stop.case.currency),
          date: i18n.date(history.active_agreement.next_due.date) })}` : ""] : t("none")))));

  const reminders = (S.route.reminders || {})[i18n.lang === "zh" ? "zh" : "en"] || [];
  view.append(remembered(h("details", { class: "card reminders", id: "stop-reminders" },
    h("summary", null, t("reminders")), h("ul", null, reminders.map((r) => h("li", null, r))))));

  const visit = visitOf(taskId);
  const actions = h("div", { class: "card actions", id: "actions" });
  view.append(actions);
  if (status === "assigned") renderCheckIn(actions, stop, visit);
  else if (status === "checked_in") renderAtTheDoor(actions, stop, visit);
  else renderDone(actions, stop, visit);

  view.append(eventsCard(taskId));
}

export function weekday(n) {
  return new Intl.DateTimeFormat(i18n.locale, { weekday: "short", timeZone: "UTC" }).format(Date.UTC(2024, 0, 1 + n));
}

export function positionBlock(stop) {
  const block = h("div", { class: "position", id: "position" });
  const lim = limits();
  if (S.locating) block.append(h("p", { class: "muted" }, t("locating")));
  else if (S.positionError) block.append(h("p", { class: "error" }, t("location_error", { why: S.positionError })));
  if (S.position && !S.locating) {
    const d = distanceM(S.position.lat, S.position.lon, stop.debtor.lat, stop.debtor.lon);
    block.append(h("p", null, h("span", { class: "muted" }, t("position")), " ",
      h("span", { id: "accuracy" }, t("accuracy", { m: Math.round(S.position.accuracy_m) })), " · ",
      h("span", { id: "distance" }, t("distance", { d: metres(d) }))));
    if (lim.max_distance_m && d > lim.max_distance_m) {
      block.append(h("p", { class: "warn", id: "too-far" }, t("too_far", { d: metres(d), limit: lim.max_distance_m })));
    } else if (lim.geofence_radius_m && d > lim.geofence_radius_m) {
      block.append(h("p", { class: "warn", id: "far-warning" }, t("far_warning", { d: metres(d), limit: lim.geofence_radius_m })));
    }
    if (lim.max_accuracy_m && S.position.accuracy_m > lim.max_accuracy_m) {
      block.append(h("p", { class: "warn" }, t("accuracy_warning", { m: Math.round(S.position.accuracy_m), limit: lim.max_accuracy_m })));
    }
  }
  return block;
}

export function hoursWarning(stop) {
  const hours = limits().visiting_hours;
  if (!hours) return null;
  const local = localClock(stop.debtor.timezone);
  if (local >= hours.start && local < hours.end) return null;
  return h("p", { class: "warn", id: "hours-warning" }, t("hours_warning", {
    local, tz: stop.debtor.timezone, start: hours.start, end: hours.end }));
}

export function refusalBlock(entry, id) {
  if (!entry || !REFUSED.includes(entry.status)) return null;
  const reason = reasonOf(entry.answer);
  return h("div", { class: "refusal", id, role: "alert" },
    h("strong", null, t(`st_${entry.status}`)), ": ", h("span", { class: "reason" }, reason.text),
    reason.rule ? h("span", { class: "rule muted" }, ` (${t("rule", { rule: reason.rule })})`) : null,
    reason.fields.length ? h("ul", { class: "small" }, reason.fields.map((f) => h("li", null, f))) : null);
}

export function renderCheckIn(actions, stop, visit) {
  actions.append(refusalBlock(visit && visit.checkin, "checkin-refusal") || "");
  const warning = hoursWarning(stop);
  if (warning) actions.append(warning);
  actions.append(positionBlock(stop));
  actions.append(h("div", { class: "row buttons" },
    h("button", { type: "button", onclick: () => locate(stop).catch(() => {}) }, t("locate")),
    h("button", { type: "button", class: "primary big grow", id: "check-in", onclick: (e) => checkIn(stop, e.currentTarget) },
      t("check_in"))));
  if (S.positionTask !== stop.task_id && !S.locating) {  // a fix from the previous door says nothing here
    S.positionTask = stop.task_id;
    locate(stop, true).catch(() => {});
  }
}

export function recordingBlock(stop, visit) {
  const block = h("div", { class: "recording", id: "recording" });
  if (S.recorder.recording(stop.task_id)) {
    block.append(h("p", { class: "rec-on", id: "rec-clock" }, recordingClock()));
  } else {
    const notice = S.recordingNotice[stop.task_id];
    if (notice) block.append(h("p", { class: "warn", id: "rec-notice" }, t(`recording_${notice}`)));
    else block.append(h("p", { class: "muted" }, t("recording_off")));
    block.append(h("button", { type: "button", id: "rec-start", onclick: () => startRecording(stop, visit) }, t("recording_resume")));
  }
  const countdown = countdownText(stop, visit);
  if (countdown) {
    block.append(h("p", { class: countdown.met ? "ok small" : "warn small", id: "rec-countdown",
                          dataset: { task: stop.task_id, met: countdown.met ? "yes" : "no" } }, countdown.text));
  }
  const kept = (visit && visit.recordings) || [];
  for (const r of kept.filter((r) => r.interrupted)) {
    block.append(h("p", { class: "muted small" }, t("recording_interrupted", { s: r.seconds })));
  }
  if (kept.length) {
    block.append(h("p", { class: "small muted" }, t("recordings_kept", {
      list: kept.map((r) => `${r.seconds} s (${t(`st_${r.status === "waiting" ? "waiting" : r.status}`)})`).join(", ") })));
  }
  return block;
}

export function recordingClock() {
  const s = S.recorder.elapsedSeconds();
  return t("recording_on", { time: `${pad(Math.floor(s / 60))}:${pad(s % 60)}` });
}

export function checkinLine(stop, visit) {
  const c = visit && visit.checkin;
  if (!c) return null;
  return h("p", { class: "muted small", id: "checkin-line" }, t("checked_in_at", {
    at: when(c.at, stop.debtor.timezone), d: metres(c.distance_m), m: Math.round(c.accuracy_m ?? 0) }));
}

export function renderAtTheDoor(actions, stop, visit) {
  actions.append(checkinLine(stop, visit) || "", recordingBlock(stop, visit));
  const outcome = visit && visit.outcome;
  if (live(outcome)) {
    actions.append(outcomeSummary(stop, outcome));
  } else {
    actions.append(refusalBlock(outcome, "outcome-refusal") || "", outcomeForm(stop));
  }
  actions.append(refusalBlock(visit && visit.checkout, "checkout-refusal") || "");
  const button = h("button", { type: "button", class: "primary big", id: "check-out",
                               onclick: (e) => askCheckOut(stop, e.currentTarget) }, t("check_out"));
  if (!live(outcome)) {
    button.disabled = true;
    actions.append(h("p", { class: "muted small" }, t("outcome_first")));
  }
  const asked = S.checkoutAsked === stop.task_id && live(outcome) ? checkoutWarning(stop, button) : null;
  actions.append(asked || "", button);
}

export function renderDone(actions, stop, visit) {
  actions.append(checkinLine(stop, visit) || "");
  if (visit && visit.outcome) actions.append(outcomeSummary(stop, visit.outcome));
  if (visit && visit.checkout) {
    actions.append(h("p", { class: "muted small", id: "checkout-line" },
      t("checked_out_at", { at: when(visit.checkout.at, stop.debtor.timezone) })));
  }
  const kept = (visit && visit.recordings) || [];
  if (kept.length) {
    actions.append(h("p", { class: "small muted" }, t("recordings_kept", {
      list: kept.map((r) => `${r.seconds} s (${t(`st_${r.status}`)})`).join(", ") })));
  }
}

export function outcomeSummary(stop, outcome) {
  const box = h("div", { class: "outcome-summary", id: "outcome-summary" },
    h("p", null, h("strong", null, outcomeLabel(outcome.outcome)),
      outcome.person_met ? ` · ${t(`person_${outcome.person_met}`)}` : "",
      " · ", h("span", { class: `st ${outcome.status}` }, t(`st_${outcome.status}`))),
    outcome.notes ? h("p", { class: "notes" }, outcome.notes) : null);
  if (outcome.agreement) {
    const currency = stop.case.currency;
    box.append(h("p", { class: "small" }, `${t(`agreement_${outcome.agreement.kind}`)} · ${i18n.money(outcome.agreement.total, currency)}`));
    box.append(scheduleTable(outcome.schedule.map((p) => ({ ...p, minor: BigInt(p.minor) })), currency, "schedule-local"));
    const server = outcome.answer && outcome.answer.agreement;
    if (server && server.instalments) {
      const parts = server.instalments.map((i) => ({ seq: i.seq, due_date: i.due_date, amount: i.amount,
                                                     minor: money.toMinor(i.amount, currency) }));
      const same = parts.length === outcome.schedule.length && parts.every((p, i) =>
        p.due_date === outcome.schedule[i].due_date && p.minor === BigInt(outcome.schedule[i].minor));
      box.append(h("p", { class: same ? "ok small" : "warn small", id: "schedule-server-check" },
        `${t("schedule_server")}: ${t(same ? "schedule_server_same" : "schedule_server_differs")}`));
      if (!same) box.append(scheduleTable(parts, currency, "schedule-server"));
    }
  }
  return box;
}

export function scheduleTable(parts, currency, id) {
  const total = money.sum(parts);
  return h("table", { class: "schedule", id },
    h("thead", null, h("tr", null, h("th", null, t("schedule_seq")), h("th", null, t("schedule_date")),
      h("th", { class: "num" }, t("schedule_amount")))),
    h("tbody", null, parts.map((p) => h("tr", { class: "instalment", dataset: { minor: p.minor.toString(), due: p.due_date } },
      h("td", null, String(p.seq)), h("td", null, i18n.date(p.due_date)),
      h("td", { class: "num" }, i18n.money(money.toDecimal(p.minor, currency), currency))))),
    h("tfoot", null, h("tr", null, h("th", { colspan: 2 }, t("schedule_sum")),
      h("th", { class: "num schedule-sum", dataset: { minor: total.toString() } },
        i18n.money(money.toDecimal(total, currency), currency)))));
}
