/* Which view is shown, and the sign-in screen. */
import { $, S, USER_KEY, t } from "../common.js";
import { renderDay } from "./day.js";
import { renderBadge, renderOutbox } from "./outbox.js";
import { renderStop } from "./stop.js";

// ---------------------------------------------------------------- views

export function show(name) {
  for (const view of ["signin", "day", "stop", "outbox"]) $(`view-${view}`).hidden = view !== name;
  S.view = name;
  $("tabs").hidden = name === "signin";
  $("back").hidden = name !== "stop";
  document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("active", a.dataset.tab === name));
}

export function renderCurrent() {
  if (!S.user || !S.ready) return;
  const hash = location.hash || "#/";
  const stopMatch = /^#\/stop\/(\d+)$/.exec(hash);
  if (stopMatch) renderStop(Number(stopMatch[1]));
  else if (hash === "#/outbox") renderOutbox();
  else renderDay();
  renderBadge();
}

/** A re-render the agent did not ask for (an answer arrived, the route refreshed): it
 * leaves the outcome form alone while they are typing in it. */
export function renderQuietly() {
  const active = document.activeElement;
  if (S.view === "stop" && active && active.closest && active.closest("#outcome-form")) renderBadge();
  else renderCurrent();
}

export function showSignin(again) {
  show("signin");
  $("title").textContent = t("app_title");
  const form = $("signin-form");
  const last = storedUser();
  if (last && !form.username.value) form.username.value = last.username;
  $("signin-error").textContent = again ? t("signin_again") : "";
  $("sync-badge").hidden = true;
}

export function storedUser() {
  try { return JSON.parse(localStorage.getItem(USER_KEY) || "null"); } catch (e) { return null; }
}
