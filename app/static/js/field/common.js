/* The field app's state and the small helpers every view uses. */
import { store } from "./store.js";
import * as sync from "./sync.js";
import { h, i18n, makeClient } from "../fc.js";

export const t = (key, values) => i18n.t(key, values);
export const $ = (id) => document.getElementById(id);
export const body = document.body;
export const SESSION_KEY = "fc.field.session";
export const USER_KEY = "fc.field.user";
export const api = makeClient(localStorage, SESSION_KEY, store.deviceHeaders);
export const PEOPLE = ["debtor", "spouse", "relative", "household_member", "neighbour", "other", "nobody"];
export const THIRD_PARTIES = ["spouse", "relative", "household_member", "neighbour", "other"];
export const RANK = { open: 0, assigned: 0, checked_in: 1, done: 2 };
export const REFUSED = sync.REFUSED;

// The app's state: one object the views and actions all read and change.
export const S = {
  user: null, date: null, route: null, routeSavedAt: null, visits: new Map(), log: [], waiting: [],
  position: null, positionError: null, locating: false, outbox: null, recorder: null, map: null,
  recordingNotice: {}, forms: new Map(), shell: "pending", online: navigator.onLine, view: null, timer: null,
};

export const REMINDERS_KEY = "fc.field.reminders";

// ---------------------------------------------------------------- small helpers

export function pad(n) { return String(n).padStart(2, "0"); }

export function minSec(s) { return `${Math.floor(s / 60)}:${pad(s % 60)}`; }

/** A language code as its name in the page's language ("wuu" → "Wu Chinese" / "吴语"). */
// The languages collectors meet that a browser's Intl may not name (Chromium builds differ:
// some answer "wuu" for Wu).
export const LANGUAGE_NAMES = {
  wuu: { en: "Wu Chinese", zh: "吴语" }, yue: { en: "Cantonese", zh: "粤语" },
  nan: { en: "Min Nan Chinese", zh: "闽南语" }, hak: { en: "Hakka Chinese", zh: "客家话" },
};

export function languageName(code) {
  if (!code) return "–";
  try {
    const name = new Intl.DisplayNames([i18n.locale], { type: "language" }).of(code);
    if (name && name !== code) return name;
  } catch (e) { /* an unknown code: named below or shown as is */ }
  const known = LANGUAGE_NAMES[code];
  return known ? known[i18n.lang] || known.en : code;
}

export function productName(code) { return code && i18n.has(`prod_${code}`) ? t(`prod_${code}`) : (code || "–"); }

/** Ways to get to the door: a geo: URI any map app opens, and in Chinese the Amap and
 * Baidu links (both told the coordinates are WGS84, as stored). */
export function navLinks(stop) {
  const { lat, lon, address, name } = stop.debtor;
  const label = address || name || "";
  const links = [h("a", { class: "nav-link", dataset: { nav: "geo" },
                          href: `geo:${lat},${lon}?q=${lat},${lon}(${encodeURIComponent(label)})` }, t("nav_geo"))];
  if (i18n.lang === "zh") {
    links.push(h("a", { class: "nav-link", dataset: { nav: "amap" }, target: "_blank", rel: "noopener noreferrer",
                        href: `https://uri.amap.com/marker?position=${lon},${lat}&name=${encodeURIComponent(label)}`
                              + "&coordinate=wgs84&callnative=1" }, t("nav_amap")));
    links.push(h("a", { class: "nav-link", dataset: { nav: "baidu" },
                        href: `baidumap://map/marker?location=${lat},${lon}&title=${encodeURIComponent(label)}`
                              + `&content=${encodeURIComponent(label)}&coord_type=wgs84&src=fieldcollect` },
                 t("nav_baidu")));
  }
  return h("span", { class: "nav-links", id: "nav-links" }, links);
}

/** The debtor's phone as a tel: link when the route gives it whole; a masked one is said to be masked. */
export function phoneLine(phone) {
  if (!phone) return "–";
  if (/^\+?[0-9][0-9 ()-]{4,}$/.test(phone)) {
    return h("a", { href: `tel:${phone.replace(/[^0-9+]/g, "")}`, id: "phone-link" }, phone);
  }
  return h("span", { id: "phone-masked" }, phone, h("span", { class: "muted small" }, ` (${t("phone_masked")})`));
}

/** Reminders stay open or closed as the agent last left them, on every screen. */
export function remembered(details) {
  details.open = localStorage.getItem(REMINDERS_KEY) !== "closed";
  details.addEventListener("toggle", () => localStorage.setItem(REMINDERS_KEY, details.open ? "open" : "closed"));
  return details;
}

/** Seconds recorded at this visit so far: the parts kept on the phone and the one running. */
export function recordedSeconds(stop, visit) {
  const kept = ((visit && visit.recordings) || []).filter((r) => !REFUSED.includes(r.status))
    .reduce((sum, r) => sum + (r.seconds || 0), 0);
  return kept + (S.recorder && S.recorder.recording(stop.task_id) ? S.recorder.elapsedSeconds() : 0);
}

/** What check-out would be flagged for, judged on the phone from the route's limits (the server decides). */
export function recordingShortfall(stop, visit) {
  const lim = limits();
  if (!lim.recording_required) return null;
  const total = recordedSeconds(stop, visit);
  const min = lim.recording_min_seconds || 0;
  if (total <= 0) return { kind: "missing", total, min };
  if (total < min) return { kind: "short", total, min };
  return null;
}

export function countdownText(stop, visit) {
  const lim = limits();
  if (!lim.recording_required || !lim.recording_min_seconds) return null;
  const min = lim.recording_min_seconds;
  const total = recordedSeconds(stop, visit);
  if (total >= min) return { met: true, text: t("rec_met", { min, total: minSec(total) }) };
  if (S.recorder && S.recorder.recording(stop.task_id)) {
    return { met: false, text: t("rec_left", { min, left: minSec(min - total) }) };
  }
  return { met: false, text: t("rec_total_short", { min, total: minSec(total) }) };
}


export function toast(message, bad) {
  const el = $("toast");
  el.textContent = message;
  el.className = bad ? "toast bad" : "toast";
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, bad ? 7000 : 3500);
}

export function phoneZone() { return Intl.DateTimeFormat().resolvedOptions().timeZone; }

export function when(iso, zone) {
  // Times at the door are the debtor's local times; the zone is named when it is not the phone's.
  const text = i18n.time(iso, zone);
  return zone && zone !== phoneZone() ? `${text} (${zone})` : text;
}

export function whenFull(iso, zone) { return i18n.dateTime(iso, zone); }

export function plannedWindow(stop) {
  if (!stop.planned_start) return "";
  const zone = stop.debtor.timezone;
  const text = `${i18n.time(stop.planned_start, zone)}–${i18n.time(stop.planned_end, zone)}`;
  return zone && zone !== phoneZone() ? `${text} (${zone})` : text;
}

export function metres(m) {
  if (m === null || m === undefined || Number.isNaN(m)) return "–";
  return m >= 1000 ? t("unit_km", { n: new Intl.NumberFormat(i18n.locale, { maximumFractionDigits: 1 }).format(m / 1000) })
    : t("unit_m", { n: Math.round(m) });
}

export function distanceM(lat1, lon1, lat2, lon2) {
  // Haversine on a sphere: for the warning on the phone only; the server measures on the ellipsoid.
  const rad = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2 +
    Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(a)));
}

export function localClock(zone) {
  return new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
    .format(new Date());
}

export function reasonOf(answer) {
  const error = (answer && answer.error) || {};
  // In Chinese: the rule's own words when a rule refused it, else the app's words for the code.
  const known = error.code && i18n.has(`err_${error.code}`) ? t(`err_${error.code}`) : null;
  const text = (i18n.lang === "zh" && (error.reason_zh || (error.details && error.details.reason_zh) || known)) ||
    (error.code === "event_payload_mismatch" ? known : null) || error.message || error.code || "";
  const fields = [];
  const walk = (value, path) => {
    if (Array.isArray(value)) fields.push(`${path}: ${value.join(", ")}`);
    else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
  };
  walk(error.fields || {}, "");
  return { text, rule: error.rule_id || null, fields };
}

export function live(entry) { return !!entry && !REFUSED.includes(entry.status); }

export function outcomes() { return (S.route && S.route.outcomes) || []; }

export function outcomeLabel(code) {
  const found = outcomes().find((o) => o.code === code);
  return found ? (i18n.lang === "zh" ? found.zh : found.en) : code;
}

export function limits() { return (S.route && S.route.limits) || {}; }

export function stops() { return (S.route && S.route.stops) || []; }

export function stopById(taskId) { return stops().find((s) => s.task_id === taskId); }

export function visitOf(taskId) { return S.visits.get(taskId) || null; }

export function statusOf(stop) {
  const visit = visitOf(stop.task_id);
  let local = "assigned";
  if (visit && live(visit.checkout)) local = "done";
  else if (visit && live(visit.checkin)) local = "checked_in";
  return (RANK[stop.status] ?? 0) >= RANK[local] ? stop.status : local;
}
