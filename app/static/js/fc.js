/* fieldcollect — what every page shares: safe DOM building, the translations, the API
 * client. An ES module (no framework, no build step); the pages import what they use.
 * Text from the API is only ever put into the page as text nodes (never innerHTML), so
 * agents' and debtors' words cannot become markup. */
import { ApiError, makeClient } from "./api.js";
import { createI18n, loadCatalogs } from "./i18n.js";
import { exponent } from "./money.js";

export { ApiError, makeClient };

// ---------------------------------------------------------------- DOM
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

// ---------------------------------------------------------------- i18n
// The catalogs lie beside this file (../i18n/*.json); every page waits for them here.
const translator = createI18n({
  catalogs: await loadCatalogs(new URL("../i18n/", import.meta.url)),
  storage: localStorage, browserLanguage: navigator.language, exponent,
  onChange: (self) => { document.documentElement.lang = self.locale; i18n.apply(); },
});

/** The page's translator: apply() labels the whole document by default and tells the
 * page ("fc:lang") that its words changed. */
export const i18n = Object.assign(Object.create(translator), {
  apply(root) {
    translator.apply(root || document);
    document.dispatchEvent(new CustomEvent("fc:lang"));
  },
});
Object.defineProperties(i18n, {
  lang: { get: () => translator.lang },
  locale: { get: () => translator.locale },
});

// ---------------------------------------------------------------- the API
// The board and the desk keep their token for the tab's life only.
export const api = makeClient(sessionStorage, "fc.session");

/** Today on this device's calendar (YYYY-MM-DD): the day a supervisor in Shanghai means
 * at 07:00 local, which UTC still calls yesterday. */
export function localToday() {
  const now = new Date();
  const two = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())}`;
}
