/* The day: the route's stops, its map, and whether the app works offline. */
import { clear, h, i18n } from "../../fc.js";
import { FCMap } from "../../map.js";
import { $, S, api, body, plannedWindow, remembered, statusOf, stops, t, whenFull } from "../common.js";
import { show, showSignin } from "./shell.js";

// ---- the day

export function renderDay() {
  show("day");
  $("title").textContent = t("app_title");
  $("day-date").value = S.date;
  const route = S.route;
  $("download").textContent = t(route ? "refresh_route" : "download_route");
  $("day-meta").textContent = route ? t("route_saved", {
    crew: route.crew, members: route.members.join("、"), profile: route.profile,
    at: whenFull(S.routeSavedAt) }) : t(S.online ? "no_route_saved" : "no_route_offline");
  renderOfflineReady();
  renderSigninBanner($("view-day"));

  const reminders = route ? route.reminders[i18n.lang === "zh" ? "zh" : "en"] || [] : [];
  $("reminders").hidden = !reminders.length;
  if (!$("reminders").dataset.remembered) { remembered($("reminders")); $("reminders").dataset.remembered = "yes"; }
  clear($("reminder-list")).append(...reminders.map((r) => h("li", null, r)));

  const list = clear($("stops"));
  for (const stop of stops()) list.append(stopCard(stop));
  // Stops the rules took off the day since it was planned: gone from the route, with why.
  const withdrawn = (route && route.withdrawn) || [];
  const gone = clear($("withdrawn"));
  gone.hidden = !withdrawn.length;
  for (const stop of withdrawn) {
    gone.append(h("li", { class: "withdrawn", dataset: { task: stop.task_id } },
      h("strong", null, t("withdrawn_stop", { loan: stop.loan_ref })), " ",
      h("span", null, (i18n.lang === "zh" ? stop.reason_zh : stop.reason_en) || ""),
      stop.rule_id ? h("span", { class: "muted small" }, ` (${stop.rule_id})`) : null));
  }
  $("no-stops").hidden = !route || stops().length > 0;
  $("no-stops").textContent = t("no_stops");
  $("map").hidden = !route || !stops().length;
  if (route && stops().length) drawMap();
}

export function stopCard(stop) {
  const status = statusOf(stop);
  const window = plannedWindow(stop);
  return h("li", { class: `stop ${status}`, dataset: { task: stop.task_id, status } },
    h("a", { href: `#/stop/${stop.task_id}` },
      h("span", { class: "seq" }, String(stop.sequence ?? "")),
      h("span", { class: "who" },
        h("strong", { class: "name" }, stop.debtor.name),
        h("span", { class: "addr" }, stop.debtor.address),
        h("span", { class: "when muted" }, window)),
      h("span", { class: "side" },
        h("span", { class: "amount" }, i18n.money(stop.case.amount_due, stop.case.currency)),
        h("span", { class: `pill ${status}` }, t(`status_${status}`)))));
}

export function drawMap() {
  if (!S.map) {
    S.map = new FCMap($("map"), { tileUrl: body.dataset.tileUrl, attribution: body.dataset.tileAttribution });
  }
  S.map.map.invalidateSize({ pan: false });
  // Redrawn only when something on it changed, and refitted only for another set of stops,
  // so the map does not jump about while the agent looks at it.
  const stopsKey = stops().map((s) => s.task_id).join(",");
  const drawnKey = `${stopsKey}|${stops().map(statusOf).join(",")}|${S.position ? `${S.position.lat},${S.position.lon}` : ""}`;
  if (S.mapDrawn === drawnKey) return;
  const refit = !S.mapDrawn || S.mapDrawn.split("|")[0] !== stopsKey;
  S.mapDrawn = drawnKey;
  S.map.clear();
  const points = stops().map((s) => [s.debtor.lat, s.debtor.lon]);
  S.map.route(points, "#1d4ed8", h("span", null, S.route.crew));
  for (const stop of stops()) {
    S.map.task(stop.debtor.lat, stop.debtor.lon, statusOf(stop), h("span", null, `${stop.sequence}. ${stop.debtor.name}`),
      () => { location.hash = `#/stop/${stop.task_id}`; });
  }
  if (S.position) S.map.position(S.position.lat, S.position.lon, "#dc2626", h("span", null, t("position")));
  if (refit) {
    const bounds = S.map.layer.getBounds();
    if (bounds.isValid()) S.map.map.fitBounds(bounds.pad(0.1), { animate: false });
    if (S.map.drawGraticule) S.map.drawGraticule();
  }
}

export function renderOfflineReady() {
  const el = $("offline-ready");
  let key = "offline_pending";
  if (!("serviceWorker" in navigator)) key = "offline_unsupported";
  else if (S.shell === "ready") key = S.route ? "offline_ready" : "offline_app_only";
  el.textContent = t(key);
  el.dataset.ready = key === "offline_ready" ? "yes" : "no";
  el.className = key === "offline_ready" ? "small ok" : "small muted";
}

export function renderSigninBanner(container) {
  const existing = container.querySelector(".signin-banner");
  if (existing) existing.remove();
  if (api.signedIn()) return;
  container.prepend(h("div", { class: "card signin-banner warn" }, h("p", null, t("signin_again")),
    h("button", { type: "button", class: "primary", onclick: () => showSignin(false) }, t("signin_again_button"))));
}
