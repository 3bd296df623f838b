/* What the agent does at the door: locate, check in, record, save the outcome, check out. */
import * as sync from "./sync.js";
import { h } from "../fc.js";
import { loadQueue } from "./app.js";
import { $, S, distanceM, minSec, recordingShortfall, t, toast, visitOf } from "./common.js";
import { dropDraft } from "./views/outcome-form.js";
import { renderCurrent } from "./views/shell.js";

// ---------------------------------------------------------------- actions

/** The phone's position; ``fresh`` for a check-in or check-out, which must not reuse
 * a fix taken at the previous door. */
export function locate(stop, fresh) {
  if (!navigator.geolocation) {
    S.positionError = "unsupported";
    renderCurrent();
    return Promise.reject(new Error("unsupported"));
  }
  S.locating = true;
  S.positionError = null;
  return new Promise((resolve, reject) => {
    navigator.geolocation.getCurrentPosition((p) => {
      S.locating = false;
      S.position = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: p.coords.accuracy, at: p.timestamp };
      if (!stop || S.view === "stop") renderCurrent();
      resolve(S.position);
    }, (error) => {
      S.locating = false;
      S.positionError = error.message || `code ${error.code}`;
      renderCurrent();
      reject(error);
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: fresh ? 0 : 10000 });
  });
}

export function positionBody(fix) {
  return { lat: fix.lat, lon: fix.lon, accuracy_m: Math.round((fix.accuracy_m ?? 0) * 10) / 10,
           device_time: new Date().toISOString(), mock_location: false };
}

export async function afterQueued(message) {
  await loadQueue();
  renderCurrent();
  toast(S.online ? message : t("queued_offline"));
  S.outbox.flush();
}

export async function checkIn(stop, button) {
  button.disabled = true;
  let fix;
  try { fix = await locate(stop, true); } catch (e) { button.disabled = false; return; }
  const id = sync.eventId("check_in", stop.task_id);
  const event = { type: "check_in", task_id: stop.task_id, client_event_id: id, ...positionBody(fix) };
  const distance = distanceM(fix.lat, fix.lon, stop.debtor.lat, stop.debtor.lon);
  await S.outbox.addEvent(event, (visit) => {
    visit.checkin = { id, at: event.device_time, lat: fix.lat, lon: fix.lon, accuracy_m: event.accuracy_m,
                      distance_m: distance, status: "waiting" };
    visit.outcome = null;
    visit.checkout = null;
  });
  S.forms.delete(stop.task_id);
  await loadQueue();
  // Recording starts at the door, before the check-in is sent: a refusal stops it again.
  await startRecording(stop, visitOf(stop.task_id));
  await afterQueued(t("check_in_saved"));
}

export async function startRecording(stop, visit) {
  const checkinId = visit && visit.checkin ? visit.checkin.id : null;
  const result = await S.recorder.start(stop.task_id, checkinId);
  S.recordingNotice[stop.task_id] = result.ok ? null : ({ no_microphone: "missing", denied: "denied",
                                                          unsupported: "unsupported" }[result.reason] || "missing");
  renderCurrent();
}

/** Finished recordings of a task (or of every task) join the queue; empty ones are dropped. */
export async function queueRecordings(taskId) {
  for (const file of await S.recorder.finished(taskId)) {
    if (file.empty) { await S.recorder.discard(file.part); continue; }
    await S.outbox.addRecording(file);
  }
}

export async function saveOutcome(stop, chosen, button) {
  button.disabled = true;
  button.blur();  // the form is done with: what follows may redraw it
  const id = sync.eventId("visit", stop.task_id);
  const event = { type: "visit", task_id: stop.task_id, client_event_id: id, outcome: chosen.outcome,
                  person_met: chosen.person_met, notes: chosen.notes, device_time: new Date().toISOString() };
  if (chosen.agreement) event.agreement = chosen.agreement;
  await S.outbox.addEvent(event, (visit) => {
    visit.outcome = { id, outcome: chosen.outcome, person_met: chosen.person_met, notes: chosen.notes,
                      agreement: chosen.agreement, status: "waiting",
                      schedule: chosen.schedule ? chosen.schedule.map((p) => ({ seq: p.seq, due_date: p.due_date,
                                                                                 minor: p.minor.toString() })) : null };
  });
  S.forms.delete(stop.task_id);
  await dropDraft(stop.task_id);
  await afterQueued(t("outcome_saved"));
}

/** Before check-out: if the recording is missing or shorter than the profile's minimum,
 * say what will be flagged and let the agent keep recording or check out anyway. */
export function askCheckOut(stop, button) {
  if (!recordingShortfall(stop, visitOf(stop.task_id))) return checkOut(stop, button);
  S.checkoutAsked = stop.task_id;  // kept across redraws (an answer from the server redraws the stop)
  const old = $("checkout-warning");
  if (old) old.remove();
  const warning = checkoutWarning(stop, button);
  if (warning) button.before(warning);
  if ($("checkout-confirm")) $("checkout-confirm").focus();
  return null;
}

export function checkoutWarning(stop, button) {
  const shortfall = recordingShortfall(stop, visitOf(stop.task_id));
  if (!shortfall) return null;
  const text = shortfall.kind === "missing" ? t("checkout_flag_missing", { min: shortfall.min })
                                            : t("checkout_flag_short", { min: shortfall.min, total: minSec(shortfall.total) });
  const warning = h("div", { class: "card warn checkout-warning", id: "checkout-warning", role: "alertdialog",
                             "aria-labelledby": "checkout-warning-text", dataset: { flag: `${shortfall.kind}_recording` } },
    h("p", { id: "checkout-warning-text" }, text),
    h("div", { class: "row buttons" },
      h("button", { type: "button", id: "checkout-cancel", class: "grow", onclick: () => {
        S.checkoutAsked = null;
        warning.remove();
      } }, t("checkout_cancel")),
      h("button", { type: "button", id: "checkout-confirm", class: "danger grow", onclick: () => {
        S.checkoutAsked = null;
        warning.remove();
        checkOut(stop, $("check-out") || button);
      } }, t("checkout_confirm"))));
  return warning;
}

export async function checkOut(stop, button) {
  button.disabled = true;
  // The recording ends at check-out and is queued before it, so the server has it when it closes the visit.
  if (S.recorder.recording(stop.task_id)) await S.recorder.stop();
  await queueRecordings(stop.task_id);
  let fix;
  try {
    fix = await locate(stop, true);
  } catch (e) {
    // No fix now (the API needs one): the position this visit was checked in at, at this same door.
    const visit = visitOf(stop.task_id);
    fix = visit && visit.checkin ? { lat: visit.checkin.lat, lon: visit.checkin.lon,
                                     accuracy_m: visit.checkin.accuracy_m } : null;
    if (!fix) { button.disabled = false; return; }
  }
  const id = sync.eventId("check_out", stop.task_id);
  const event = { type: "check_out", task_id: stop.task_id, client_event_id: id, ...positionBody(fix) };
  await S.outbox.addEvent(event, (visit) => {
    visit.checkout = { id, at: event.device_time, lat: fix.lat, lon: fix.lon, status: "waiting" };
  });
  await afterQueued(t("check_out_saved"));
}
