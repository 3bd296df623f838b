/* Translations for every page: one JSON catalog per language (app/static/i18n/en.json,
 * zh-CN.json), shared by the board, the audit desk and the field app. This module has no
 * side effects: fc.js loads the catalogs and makes the pages' instance; the Node tests
 * (tests/js/i18n.test.mjs) make their own with catalogs and storage of their choosing.
 *
 * Keys are flat strings ("board.plan", "check_in"); a value may hold {name} placeholders.
 * A key missing from the page's language falls back to English, then to the key itself. */

/** The languages a page can be shown in: the code a user picks → its catalog and locale. */
export const LANGUAGES = { en: { catalog: "en", locale: "en-GB" }, zh: { catalog: "zh-CN", locale: "zh-CN" } };
const STORAGE_KEY = "fc.lang";

/** Fetch every language's catalog from ``base`` (a URL ending in "/"): {en: {...}, zh: {...}}. */
export async function loadCatalogs(base, fetchImpl = globalThis.fetch) {
  const entries = await Promise.all(Object.entries(LANGUAGES).map(async ([lang, { catalog }]) => {
    const response = await fetchImpl(new URL(`${catalog}.json`, base).href);
    if (!response.ok) throw new Error(`translations ${catalog}: HTTP ${response.status}`);
    return [lang, await response.json()];
  }));
  return Object.fromEntries(entries);
}

/** The language to show: the user's earlier choice, else the browser's, else English. */
export function detectLanguage(storage, browserLanguage) {
  const saved = storage && storage.getItem(STORAGE_KEY);
  if (saved && saved in LANGUAGES) return saved;
  return String(browserLanguage || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

/** A translator over ``catalogs``. ``storage`` keeps the choice (localStorage in a page);
 * ``onChange(i18n)`` hears every change of language (the page re-labels itself). */
export function createI18n({ catalogs, storage = null, browserLanguage = "en", onChange = null, exponent = null }) {
  const strings = {};
  for (const lang of Object.keys(LANGUAGES)) strings[lang] = { ...((catalogs && catalogs[lang]) || {}) };
  let lang = null;

  const i18n = {
    /** More strings at run time ({en: {...}, zh: {...}}); a catalog's own entries are kept. */
    add(dict) { for (const l of Object.keys(LANGUAGES)) Object.assign(strings[l], (dict && dict[l]) || {}); },
    has(key) { return key in strings[i18n.lang] || key in strings.en; },
    get lang() { return lang || (lang = detectLanguage(storage, browserLanguage)); },
    get locale() { return LANGUAGES[i18n.lang].locale; },
    set(l) {
      if (!(l in LANGUAGES)) throw new Error(`no such language: ${l}`);
      lang = l;
      if (storage) storage.setItem(STORAGE_KEY, l);
      if (onChange) onChange(i18n);
    },
    t(key, values) {
      let text = strings[i18n.lang][key] ?? strings.en[key] ?? key;
      for (const [k, v] of Object.entries(values || {})) text = text.replaceAll(`{${k}}`, String(v));
      return text;
    },
    /** Label every element under ``root`` that names a key: data-i18n (its text),
     * data-i18n-placeholder (placeholder) and data-i18n-label (its accessible name). */
    apply(root) {
      root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = i18n.t(el.dataset.i18n); });
      root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
        el.placeholder = i18n.t(el.dataset.i18nPlaceholder);
      });
      root.querySelectorAll("[data-i18n-label]").forEach((el) => {
        el.setAttribute("aria-label", i18n.t(el.dataset.i18nLabel));
      });
    },
    money(amount, currency) {
      if (amount === null || amount === undefined) return "";
      // Amounts arrive as exact decimal strings; Intl formats them without float arithmetic on our side.
      // With the server's minor digits known (CLDR, from the field app's route), exactly those are shown.
      const places = exponent ? exponent(currency) : undefined;
      const digits = places === undefined ? {} : { minimumFractionDigits: places, maximumFractionDigits: places };
      return new Intl.NumberFormat(i18n.locale, { style: "currency", currency, ...digits }).format(amount);
    },
    // ``timeZone``: the zone the time is read in; until a page knows it (null, ""), the
    // browser's own, and the page draws again once it does (Intl throws on a null zone).
    dateTime(iso, timeZone) {
      if (!iso) return "";
      return new Intl.DateTimeFormat(i18n.locale, { dateStyle: "medium", timeStyle: "short", timeZone: timeZone || undefined }).format(new Date(iso));
    },
    time(iso, timeZone) {
      if (!iso) return "";
      return new Intl.DateTimeFormat(i18n.locale, { hour: "2-digit", minute: "2-digit", timeZone: timeZone || undefined }).format(new Date(iso));
    },
    date(isoDate) {
      if (!isoDate) return "";
      const [y, m, d] = isoDate.split("-").map(Number);
      return new Intl.DateTimeFormat(i18n.locale, { dateStyle: "medium", timeZone: "UTC" }).format(Date.UTC(y, m - 1, d));
    },
    reason(obj) {
      // Bilingual reasons from the policy: {reason_en, reason_zh}.
      if (!obj) return "";
      return (i18n.lang === "zh" ? obj.reason_zh : obj.reason_en) || obj.reason_en || obj.text || obj.why || "";
    },
  };
  return i18n;
}
