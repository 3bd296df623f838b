// The shared translations (app/static/js/i18n.js over app/static/i18n/*.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { createI18n, detectLanguage, loadCatalogs, LANGUAGES } from "../../app/static/js/i18n.js";

const STATIC = new URL("../../app/static/", import.meta.url);
const catalog = (name) => JSON.parse(readFileSync(new URL(`i18n/${name}.json`, STATIC), "utf8"));
const CATALOGS = Object.fromEntries(Object.entries(LANGUAGES).map(([lang, { catalog: name }]) => [lang, catalog(name)]));

function memoryStorage(initial) {
  const data = new Map(Object.entries(initial || {}));
  return { getItem: (k) => (data.has(k) ? data.get(k) : null), setItem: (k, v) => data.set(k, String(v)), data };
}

const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test("every language's catalog has the same keys, each with the same placeholders", () => {
  const en = CATALOGS.en;
  for (const [lang, strings] of Object.entries(CATALOGS)) {
    assert.deepEqual(Object.keys(strings).sort(), Object.keys(en).sort(), lang);
    for (const [key, text] of Object.entries(strings)) {
      assert.equal(typeof text, "string", `${lang} ${key}`);
      assert.ok(text.trim(), `${lang} ${key} is empty`);
      assert.deepEqual(placeholders(text), placeholders(en[key]), `${lang} ${key}`);
    }
  }
  assert.deepEqual(readdirSync(new URL("i18n/", STATIC)).sort(),
                   Object.values(LANGUAGES).map((l) => `${l.catalog}.json`).sort());
});

function keysNamedIn(text) {
  return [...text.matchAll(/data-i18n(?:-label|-placeholder)?="([^"{]+)"/g)].map((m) => m[1]);
}

test("every key a page names in its markup is in the catalogs", () => {
  const templates = new URL("../../app/templates/web/", import.meta.url);
  const named = readdirSync(templates).flatMap((f) => keysNamedIn(readFileSync(new URL(f, templates), "utf8")));
  assert.ok(named.includes("board.mapLabel") && named.includes("back"));
  for (const key of named) assert.ok(key in CATALOGS.en, key);
});

test("a key is shown in the chosen language, with its values put in", () => {
  const i18n = createI18n({ catalogs: CATALOGS, storage: memoryStorage({ "fc.lang": "zh" }) });
  assert.equal(i18n.lang, "zh");
  assert.equal(i18n.locale, "zh-CN");
  assert.equal(i18n.t("days_past_due", { days: 12 }), "逾期 12 天");
  i18n.set("en");
  assert.equal(i18n.t("days_past_due", { days: 12 }), "12 days past due");
});

test("a string missing in Chinese falls back to English, and an unknown key shows itself", () => {
  const i18n = createI18n({ catalogs: { en: { only: "English only" }, zh: {} }, storage: memoryStorage({ "fc.lang": "zh" }) });
  assert.equal(i18n.t("only"), "English only");
  assert.equal(i18n.t("no.such.key"), "no.such.key");
  assert.ok(i18n.has("only") && !i18n.has("no.such.key"));
});

test("the language chosen is kept, and the browser's language decides the first time", () => {
  const storage = memoryStorage();
  assert.equal(detectLanguage(storage, "zh-TW"), "zh");
  assert.equal(detectLanguage(storage, "de-DE"), "en");
  const heard = [];
  const i18n = createI18n({ catalogs: CATALOGS, storage, browserLanguage: "en-GB", onChange: (x) => heard.push(x.lang) });
  i18n.set("zh");
  assert.equal(storage.data.get("fc.lang"), "zh");
  assert.deepEqual(heard, ["zh"]);
  assert.equal(detectLanguage(storage, "en-US"), "zh");
  assert.throws(() => i18n.set("fr"));
});

/** Just enough of a DOM for apply(): elements found by the attribute they carry. */
function fakeRoot(elements) {
  return {
    querySelectorAll(selector) {
      const attr = /^\[([\w-]+)\]$/.exec(selector)[1].replace(/^data-/, "")
        .replace(/-(\w)/g, (_, c) => c.toUpperCase());
      return elements.filter((el) => attr in el.dataset);
    },
  };
}

test("apply() sets text, placeholders and accessible names (data-i18n-label) from the keys", () => {
  const attrs = {};
  const label = { dataset: { i18nLabel: "board.mapLabel" }, setAttribute: (k, v) => { attrs[k] = v; } };
  const text = { dataset: { i18n: "board.plan" }, textContent: "" };
  const input = { dataset: { i18nPlaceholder: "username" }, placeholder: "" };
  const i18n = createI18n({ catalogs: CATALOGS, storage: memoryStorage({ "fc.lang": "zh" }) });
  i18n.apply(fakeRoot([label, text, input]));
  assert.equal(attrs["aria-label"], CATALOGS.zh["board.mapLabel"]);
  assert.equal(text.textContent, CATALOGS.zh["board.plan"]);
  assert.equal(input.placeholder, CATALOGS.zh.username);
  assert.notEqual(CATALOGS.zh["board.mapLabel"], CATALOGS.en["board.mapLabel"]);
});

test("the catalogs are fetched beside the scripts, and a missing one is an error, not an empty page", async () => {
  const asked = [];
  const fetchOk = async (url) => { asked.push(url); return { ok: true, json: async () => ({ url }) }; };
  const loaded = await loadCatalogs("https://example.test/static/i18n/", fetchOk);
  assert.deepEqual(asked.sort(), ["https://example.test/static/i18n/en.json", "https://example.test/static/i18n/zh-CN.json"]);
  assert.equal(loaded.zh.url, "https://example.test/static/i18n/zh-CN.json");
  const fetch404 = async () => ({ ok: false, status: 404 });
  await assert.rejects(loadCatalogs("https://example.test/static/i18n/", fetch404), /HTTP 404/);
});

test("money is shown with the server's number of places when it is known", () => {
  const i18n = createI18n({ catalogs: CATALOGS, storage: memoryStorage({ "fc.lang": "en" }), exponent: () => 3 });
  assert.equal(i18n.money("1.5", "KWD").replace(/\s/g, " "), "KWD 1.500");
});

test("a time whose zone is not known yet is shown, not an error that stops the page drawing", () => {
  // The board's attention tab can draw its flags before the board's answer (and its zone) is in.
  const i18n = createI18n({ catalogs: CATALOGS, storage: memoryStorage({ "fc.lang": "en" }) });
  const at = "2026-06-10T02:00:00Z";
  for (const zone of [null, undefined, ""]) {
    assert.ok(i18n.dateTime(at, zone).length > 0, String(zone));
    assert.ok(i18n.time(at, zone).length > 0, String(zone));
  }
  assert.match(i18n.time(at, "Asia/Shanghai"), /10:00/);
});
