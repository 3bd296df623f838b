/* The outcome form: kept while the agent types, across re-renders, and as a draft on the phone. */
import { store } from "../store.js";
import * as money from "../../money.js";
import { clear, h, i18n, localToday } from "../../fc.js";
import { saveOutcome } from "../actions.js";
import { reportError } from "../app.js";
import { $, PEOPLE, S, THIRD_PARTIES, limits, outcomes, t } from "../common.js";
import { scheduleTable } from "./stop.js";

// ---- the outcome form (kept while the agent types, across re-renders)

export function outcomeForm(stop) {
  if (S.forms.has(stop.task_id)) return S.forms.get(stop.task_id);
  const currency = stop.case.currency;
  const today = localToday();
  const inAWeek = money.addDays(today, 7);
  const field = (labelKey, control, hint) => h("label", { class: "stack" }, h("span", null, t(labelKey)), control,
    hint ? h("span", { class: "muted small" }, hint) : null);

  const outcome = h("select", { name: "outcome", id: "outcome", required: true },
    h("option", { value: "" }, t("choose")),
    outcomes().map((o) => h("option", { value: o.code }, i18n.lang === "zh" ? o.zh : o.en)));
  const person = h("select", { name: "person_met", id: "person-met" });
  const notes = h("textarea", { name: "notes", id: "notes", rows: 3, maxlength: 4000, placeholder: t("notes_hint") });

  const total = h("input", { name: "total", id: "total", inputmode: "decimal", autocomplete: "off", value: stop.case.amount_due });
  const waiver = h("input", { name: "waiver", id: "waiver", inputmode: "decimal", autocomplete: "off", value: "0" });
  const dueDate = h("input", { name: "due_date", id: "due-date", type: "date", min: today, value: inAWeek });
  const count = h("input", { name: "count", id: "count", type: "number", min: 2, max: 60, step: 1, value: 3 });
  const frequency = h("select", { name: "frequency", id: "frequency" },
    ["monthly", "fortnightly", "weekly"].map((f) => h("option", { value: f }, t(`freq_${f}`))));
  const ack = h("input", { name: "ack", id: "ack", autocomplete: "off", maxlength: 128 });
  const promiseFields = h("div", { class: "promise-fields" }, field("due_date", dueDate));
  const firstDue = h("input", { name: "first_due_date", id: "first-due-date", type: "date", min: today, value: inAWeek });
  const planFields = h("div", { class: "plan-fields" }, field("first_due_date", firstDue),
    h("div", { class: "row" }, field("count", count), field("frequency", frequency)));
  const schedule = h("div", { class: "schedule-box", id: "schedule-box" });
  const agreement = h("fieldset", { class: "agreement", id: "agreement", hidden: true },
    h("legend", { id: "agreement-kind" }, ""),
    h("div", { class: "row" }, field("total", total), field("waiver", waiver)),
    promiseFields, planFields, schedule, field("ack", ack, t("ack_hint")));
  const errors = h("p", { class: "error", id: "form-error", role: "alert" });
  const save = h("button", { type: "submit", class: "primary big", id: "save-outcome" }, t("save_outcome"));
  const form = h("form", { class: "outcome-form", id: "outcome-form", novalidate: true },
    field("outcome", outcome), field("person_met", person), field("notes", notes),
    agreement, errors, save);

  function chosen() { return outcomes().find((o) => o.code === outcome.value) || null; }

  function people() {
    const o = chosen();
    if (!o) return PEOPLE;
    return { debtor: ["debtor"], nobody: ["nobody"], third_party: THIRD_PARTIES }[o.person_met] || PEOPLE;
  }

  function fillPeople() {
    const keep = person.value;
    const allowed = people();
    clear(person).append(...(allowed.length > 1 ? [h("option", { value: "" }, t("choose"))] : []),
      ...allowed.map((p) => h("option", { value: p }, t(`person_${p}`))));
    if (allowed.includes(keep)) person.value = keep;
  }

  /** Read the agreement part of the form: {data, parts, problems}. Amounts are BigInt minor units. */
  function readAgreement() {
    const o = chosen();
    const kind = o && o.agreement;
    if (!kind) return null;
    const problems = [];
    const totalMinor = money.toMinor(total.value.trim(), currency);
    const waiverMinor = money.toMinor(waiver.value.trim() || "0", currency);
    const dueMinor = money.toMinor(stop.case.amount_due, currency);
    if (totalMinor === null || waiverMinor === null) problems.push(t("err_amount"));
    else if (totalMinor <= 0n) problems.push(t("err_total_positive"));
    else if (totalMinor + waiverMinor > dueMinor) {
      problems.push(t("err_exceeds", { due: i18n.money(stop.case.amount_due, currency) }));
    }
    const n = Number(count.value);
    const date = kind === "promise" ? dueDate.value : firstDue.value;
    if (!date || date < today) problems.push(t("err_date"));
    if (kind === "instalment") {
      if (!Number.isInteger(n) || n < 2 || n > 60) problems.push(t("err_count"));
      else if (totalMinor !== null && totalMinor > 0n && totalMinor < BigInt(n)) problems.push(t("err_count_total"));
    }
    // The schedule is shown as soon as it can be computed, even while another problem is pointed out.
    const countOk = kind === "promise" || (Number.isInteger(n) && n >= 2 && n <= 60);
    const parts = totalMinor !== null && totalMinor >= BigInt(kind === "promise" ? 1 : n || 1) && date && countOk
      ? money.schedule({ kind, totalMinor, currency, dueDate: date, firstDueDate: date, count: n,
                           frequency: frequency.value }) : [];
    const data = { kind, total: totalMinor !== null ? money.toDecimal(totalMinor, currency) : total.value,
                   currency, waiver: waiverMinor !== null ? money.toDecimal(waiverMinor, currency) : waiver.value,
                   acknowledgement: { kind: "otp", ref: ack.value.trim() } };
    if (kind === "promise") data.due_date = date;
    else Object.assign(data, { first_due_date: date, count: n, frequency: frequency.value });
    const waiverHigh = waiverMinor !== null && dueMinor > 0n && limits().waiver_limit_percent !== undefined &&
      waiverMinor * 100n > BigInt(limits().waiver_limit_percent) * dueMinor;
    return { kind, data, parts, problems, totalMinor, waiverHigh };
  }

  function update() {
    const o = chosen();
    fillPeople();
    const kind = o && o.agreement;
    agreement.hidden = !kind;
    promiseFields.hidden = kind !== "promise";
    planFields.hidden = kind !== "instalment";
    clear(schedule);
    if (!kind) return;
    agreement.querySelector("legend").textContent = t(`agreement_${kind}`);
    const read = readAgreement();
    if (read.parts.length) {
      schedule.append(h("h4", null, t("schedule")), scheduleTable(read.parts, currency, "schedule"));
      if (money.sum(read.parts) === read.totalMinor) {
        schedule.append(h("p", { class: "ok small", id: "schedule-exact" }, t("schedule_exact")));
      }
    }
    if (read.waiverHigh) schedule.append(h("p", { class: "warn small" }, t("waiver_warning", { limit: limits().waiver_limit_percent })));
    for (const problem of read.problems) schedule.append(h("p", { class: "error small" }, problem));
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  keepDraft(stop, form, () => { fillPeople(); update(); });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const o = chosen();
    const problems = [];
    if (!o) problems.push(t("err_outcome"));
    if (o && !person.value && o.person_met !== "any") problems.push(t("err_person"));
    const read = o ? readAgreement() : null;
    if (read) {
      problems.push(...read.problems);
      if (read.data.acknowledgement.ref.length < 4) problems.push(t("err_ack"));
    }
    errors.textContent = problems.join(" ");
    if (problems.length) return;
    saveOutcome(stop, { outcome: o.code, person_met: person.value || null, notes: notes.value.trim() || null,
                        agreement: read ? read.data : null, schedule: read ? read.parts : null }, save);
  });
  fillPeople();
  update();
  S.forms.set(stop.task_id, form);
  return form;
}

// ---- a half-typed outcome is kept on the phone: closing the app or a flat battery
//      mid-sentence loses nothing (it goes once the outcome is saved, or at sign-out)

export const draftKey = (taskId) => `draft|${S.user}|${taskId}`;
export const unsavedDrafts = new Map();  // key → {save, cancel}: what was typed in the last moment
document.addEventListener("visibilitychange", () => {
  if (document.hidden) for (const pending of [...unsavedDrafts.values()]) pending.save();
});

/** The outcome is saved: its draft goes, with any keystroke still waiting to be kept. */
export async function dropDraft(taskId) {
  const key = draftKey(taskId);
  const pending = unsavedDrafts.get(key);
  if (pending) pending.cancel();
  await store.del("meta", key);
}

export function keepDraft(stop, form, refresh) {
  const key = draftKey(stop.task_id);
  let touched = false;
  let timer = null;
  const cancel = () => { clearTimeout(timer); unsavedDrafts.delete(key); };
  const save = () => {
    cancel();
    const values = {};
    for (const control of form.elements) if (control.name) values[control.name] = control.value;
    store.meta.set(key, values).catch(reportError);
  };
  const soon = () => {
    touched = true;
    clearTimeout(timer);
    timer = setTimeout(save, 200);
    unsavedDrafts.set(key, { save, cancel });
  };
  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  store.meta.get(key).then((values) => {
    if (!values || touched) return;
    // The outcome first: it decides whom the agent may say they met.
    form.elements.outcome.value = values.outcome || "";
    refresh();
    for (const [name, value] of Object.entries(values)) {
      if (name !== "outcome" && form.elements[name]) form.elements[name].value = value;
    }
    refresh();
  }).catch(reportError);
}
