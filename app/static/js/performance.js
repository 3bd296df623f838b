/* Performance: the portfolio report (GET /api/v1/reports/portfolio) drawn as four charts —
 * recovery over time, promises kept by crew, conduct flags per 100 visits by rule, and
 * roll rates between DPD buckets — each with its numbers in a table beside it (the text
 * alternative of the picture). Supervisors see their teams; auditors and admins everyone,
 * read-only: the page only reads.
 *
 * An ES module of its own: it shares with the board only the signed-in session
 * (sessionStorage "fc.session") and the chosen language (localStorage "fc.lang").
 * Charts are drawn by uPlot (app/static/vendor/uplot, MIT); text from the API goes into
 * the page as text nodes only. */
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { loadCatalogs } from "./i18n.js";

const SESSION_KEY = "fc.session";
// The shared translation catalogs (app/static/i18n/*.json), as every page reads them.
const STRINGS = await loadCatalogs(new URL("../i18n/", import.meta.url));
const COLOURS = { recovery: "#1d4ed8", kept: "#15803d", flags: "#b91c1c", roll: "#b45309" };
const charts = [];
let lang = null;
let last = null;  // the last reports drawn, redrawn when the language changes

// ---------------------------------------------------------------- small helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function currentLang() {
  if (lang) return lang;
  const saved = localStorage.getItem("fc.lang");
  lang = saved === "en" || saved === "zh" ? saved : ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");
  return lang;
}
const locale = () => (currentLang() === "zh" ? "zh-CN" : "en-GB");

function t(key, values) {
  let text = STRINGS[currentLang()][key] ?? STRINGS.en[key] ?? key;
  for (const [k, v] of Object.entries(values || {})) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

function applyLanguage() {
  document.documentElement.lang = locale();
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.title = `${t("perf.title")} — fieldcollect`;
}

function isoDate(d) {
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
}

function formatDate(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeZone: "UTC" }).format(Date.UTC(y, m - 1, d));
}

/** The currency's minor digits (CLDR, as the server's money module uses). */
function exponent(currency) {
  return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
}

/** Integer minor units as an exact decimal string ("123456" fen -> "1234.56"): no float arithmetic. */
function minorToDecimal(minor, currency) {
  const places = exponent(currency);
  const negative = minor < 0;
  const digits = String(Math.abs(minor)).padStart(places + 1, "0");
  const whole = places ? digits.slice(0, -places) : digits;
  return `${negative ? "-" : ""}${whole}${places ? "." + digits.slice(-places) : ""}`;
}

function money(minor, currency) {
  const places = exponent(currency);
  return new Intl.NumberFormat(locale(), { style: "currency", currency, minimumFractionDigits: places,
    maximumFractionDigits: places }).format(minorToDecimal(minor, currency));
}

const percent = (rate) => (rate === null || rate === undefined ? "—"
  : new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(rate));
const number = (value, digits = 2) => (value === null || value === undefined ? "—"
  : new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value));

// ---------------------------------------------------------------- the API

function session() {
  try { return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null"); } catch (e) { return null; }
}

function signedIn() {
  const s = session();
  return !!(s && s.access_token && new Date(s.expires_at) > new Date());
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const s = session();
  if (s && path !== "/api/v1/auth/login") headers.Authorization = `Bearer ${s.access_token}`;
  const init = { method, headers };
  if (body) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => null);
  if (response.status === 401) sessionStorage.removeItem(SESSION_KEY);
  if (!response.ok) {
    const error = new Error((data && data.error && data.error.message) || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

const report = (from, to, groupBy) =>
  call("GET", `/api/v1/reports/portfolio?from=${from}&to=${to}&group_by=${groupBy}`);

// ---------------------------------------------------------------- charts

/** A bar chart of ``values`` over category ``labels``, with a role=img summary and a table. */
function barChart(figure, { title, labels, values, colour, format, table }) {
  const plot = figure.querySelector(".plot");
  const holder = figure.querySelector(".table");
  plot.replaceChildren();
  holder.replaceChildren(table);
  const shown = labels.map((label, i) => `${label} ${values[i] === null ? "—" : format(values[i])}`);
  const items = shown.length > 12 ? [...shown.slice(0, 12), t("chart.more", { n: shown.length - 12 })] : shown;
  plot.setAttribute("role", "img");
  plot.setAttribute("aria-label", labels.length ? t("chart.summary", { title, items: items.join("; ") })
    : `${title}: ${t("chart.empty")}`);
  if (!labels.length) {
    plot.append(h("p", { class: "muted empty" }, t("chart.empty")));
    return;
  }
  const xs = labels.map((_, i) => i);
  const top = Math.max(...values.filter((v) => v !== null), 0);
  const width = Math.max(280, plot.clientWidth || figure.clientWidth - 24);
  // Long or many labels (crew codes, rule ids) are slanted so that none covers the next.
  const slanted = labels.length > 6 || labels.some((label) => label.length > 12);
  const chart = new uPlot({
    width, height: slanted ? 300 : 240,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: false, range: [-0.6, labels.length - 0.4] }, y: { range: [0, top > 0 ? top * 1.15 : 1] } },
    axes: [
      { splits: () => xs, values: (u, splits) => splits.map((i) => labels[i] ?? ""), gap: 4,
        size: slanted ? 110 : 40, rotate: slanted ? -30 : 0, grid: { show: false } },
      { values: (u, splits) => splits.map((v) => format(v)), size: 70 },
    ],
    series: [{}, { label: title, fill: colour + "cc", stroke: colour, width: 1, points: { show: false },
      paths: uPlot.paths.bars({ size: [0.6, 64], align: 0 }) }],
  }, [xs, values.map((v) => (v === null ? null : v))], plot);
  charts.push(chart);
}

function table(headers, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((text, i) => (i === 0 ? h("th", { scope: "row" }, text)
      : h("td", {}, text)))))));
}

function mainCurrency(totals) {
  const money = (totals.money || []).slice().sort((a, b) => b.recovered_minor - a.recovered_minor
    || b.outstanding_at_start_minor - a.outstanding_at_start_minor);
  return money.length ? money[0].currency : null;
}

function draw({ weekly, crews }) {
  charts.splice(0).forEach((chart) => chart.destroy());
  const currency = mainCurrency(weekly.totals);
  // Recovery over time: the period's weeks, in the report's main currency (never summed across currencies).
  const weeks = weekly.groups.map((g) => ({ key: g.key, m: (g.money || []).find((m) => m.currency === currency) }));
  const places = currency ? exponent(currency) : 0;
  barChart(document.getElementById("chart-recovery"), {
    title: `${t("chart.recovery")}${currency ? ` (${currency})` : ""}`,
    labels: currency ? weeks.map((w) => formatDate(w.key)) : [],
    // For drawing only: the bar heights in major units; the table holds the exact amounts.
    values: weeks.map((w) => (w.m ? w.m.recovered_minor / 10 ** places : 0)),
    colour: COLOURS.recovery,
    format: (v) => (currency ? new Intl.NumberFormat(locale(), { style: "currency", currency, notation: "compact" })
      .format(v) : String(v)),
    table: table([t("col.week"), t("col.recovered"), t("col.payments"), t("col.rate")],
      weeks.map((w) => [formatDate(w.key), w.m ? money(w.m.recovered_minor, currency) : "—",
        w.m ? number(w.m.payments, 0) : "—", w.m ? percent(w.m.recovery_rate) : "—"])),
  });
  const kept = crews.groups.filter((g) => g.promises_made > 0 || g.promises_kept > 0 || g.promises_broken > 0);
  barChart(document.getElementById("chart-kept"), {
    // No bar where no promise has come due yet (a rate of nothing is not 0 %).
    title: t("chart.kept"), labels: kept.map((g) => (g.key === "none" ? t("perf.noCrew") : g.key)),
    values: kept.map((g) => g.promise_kept_rate), colour: COLOURS.kept,
    format: percent,
    table: table([t("col.crew"), t("col.made"), t("col.kept"), t("col.broken"), t("col.keptRate")],
      kept.map((g) => [g.key === "none" ? t("perf.noCrew") : (g.label && g.label !== g.key ? `${g.key} · ${g.label}` : g.key),
        number(g.promises_made, 0),
        number(g.promises_kept, 0), number(g.promises_broken, 0), percent(g.promise_kept_rate)])),
  });
  const flags = (weekly.totals.flags_by_rule || []).slice().sort((a, b) => b.count - a.count);
  barChart(document.getElementById("chart-flags"), {
    title: t("chart.flags"), labels: flags.map((f) => f.key),
    values: flags.map((f) => (f.per_100_visits === null ? 0 : f.per_100_visits)), colour: COLOURS.flags,
    format: (v) => number(v, 1),
    table: table([t("col.rule"), t("col.flags"), t("col.per100")],
      flags.map((f) => [f.key, number(f.count, 0), number(f.per_100_visits, 1)])),
  });
  const rolls = weekly.totals.roll_rates || [];
  barChart(document.getElementById("chart-roll"), {
    title: t("chart.roll"), labels: rolls.map((r) => `${r.from_bucket}→${r.to_bucket}`),
    values: rolls.map((r) => (r.rate === null ? 0 : r.rate)), colour: COLOURS.roll, format: percent,
    table: table([t("col.from"), t("col.to"), t("col.cases"), t("col.rollRate")],
      rolls.map((r) => [r.from_bucket, r.to_bucket, number(r.cases, 0), percent(r.rate)])),
  });
  document.getElementById("scope").textContent = t("perf.scope", {
    from: formatDate(weekly.from), to: formatDate(weekly.to), visits: number(weekly.totals.visits, 0),
    made: number(weekly.totals.promises_made, 0), strategy: weekly.strategy });
  document.getElementById("performance").dataset.loaded = "true";
}

// The page shows the answer to the last period asked for: an answer that arrives after a
// newer period was asked for (a long period's report can take a second) is dropped.
let asked = 0;

async function load() {
  const mine = ++asked;
  const form = document.getElementById("period");
  const from = form.elements.from.value;
  const to = form.elements.to.value;
  const error = document.getElementById("error");
  error.textContent = "";
  document.getElementById("scope").textContent = t("perf.loading");
  delete document.getElementById("performance").dataset.loaded;
  try {
    const [weekly, crews] = await Promise.all([report(from, to, "week"), report(from, to, "crew")]);
    if (mine !== asked) return;
    last = { weekly, crews };
    draw(last);
  } catch (e) {
    if (mine !== asked) return;
    if (e.status === 401) return start();
    document.getElementById("scope").textContent = "";
    error.textContent = t("perf.error", { message: e.message });
  }
}

// ---------------------------------------------------------------- the page

function start() {
  applyLanguage();
  const signin = document.getElementById("signin");
  const main = document.getElementById("performance");
  if (!signedIn()) {
    signin.hidden = false;
    main.hidden = true;
    return;
  }
  const user = session().user;
  signin.hidden = true;
  main.hidden = false;
  document.getElementById("who").textContent = `${user.display_name || user.username} (${user.role})`;
  if (!["supervisor", "auditor", "admin"].includes(user.role)) {
    document.getElementById("error").textContent = t("perf.notAllowed");
    return;
  }
  // Auditors read; the page offers them nothing to change, and says so.
  document.getElementById("readonly").hidden = user.role === "supervisor";
  document.getElementById("back").hidden = user.role === "auditor";
  const form = document.getElementById("period");
  if (!form.elements.to.value) {
    const today = new Date();
    const from = new Date(today);
    from.setDate(today.getDate() - 55);  // eight weeks, today's included
    form.elements.to.value = isoDate(today);
    form.elements.from.value = isoDate(from);
  }
  load();
}

document.getElementById("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const error = document.getElementById("signin-error");
  error.textContent = "";
  try {
    const body = await call("POST", "/api/v1/auth/login",
      { username: form.elements.username.value, password: form.elements.password.value });
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(body));
    start();
  } catch (e) {
    error.textContent = t("signin.failed");
  }
});
document.getElementById("period").addEventListener("submit", (event) => { event.preventDefault(); load(); });
document.getElementById("signout").addEventListener("click", async () => {
  try { await call("POST", "/api/v1/auth/logout"); } catch (e) { /* already gone */ }
  sessionStorage.removeItem(SESSION_KEY);
  start();
});
document.querySelectorAll(".lang-switch").forEach((button) => button.addEventListener("click", () => {
  lang = currentLang() === "zh" ? "en" : "zh";
  localStorage.setItem("fc.lang", lang);
  applyLanguage();
  if (last) draw(last);
}));
start();
