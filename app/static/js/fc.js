/* fieldcollect — shared browser helpers: the API client, safe DOM building, i18n.
 * No framework, no build step. Text from the API is only ever put into the page as
 * text nodes (never innerHTML), so agents' and debtors' words cannot become markup. */
(function (global) {
  "use strict";

  // ---------------------------------------------------------------- DOM
  function h(tag, attrs, ...children) {
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

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  // ---------------------------------------------------------------- i18n
  const strings = { en: {}, zh: {} };
  let lang = null;

  function detect() {
    const saved = localStorage.getItem("fc.lang");
    if (saved === "en" || saved === "zh") return saved;
    return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  }

  const i18n = {
    add(dict) { for (const l of ["en", "zh"]) Object.assign(strings[l], dict[l] || {}); },
    has(key) { return key in strings[i18n.lang] || key in strings.en; },
    get lang() { return lang || (lang = detect()); },
    get locale() { return i18n.lang === "zh" ? "zh-CN" : "en-GB"; },
    set(l) { lang = l; localStorage.setItem("fc.lang", l); document.documentElement.lang = i18n.locale; i18n.apply(); },
    t(key, values) {
      let text = strings[i18n.lang][key] ?? strings.en[key] ?? key;
      for (const [k, v] of Object.entries(values || {})) text = text.replaceAll(`{${k}}`, String(v));
      return text;
    },
    apply(root) {
      (root || document).querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = i18n.t(el.dataset.i18n); });
      (root || document).querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
        el.placeholder = i18n.t(el.dataset.i18nPlaceholder);
      });
      (root || document).querySelectorAll("[data-i18n-label]").forEach((el) => {
        el.setAttribute("aria-label", i18n.t(el.dataset.i18nLabel));
      });
      document.dispatchEvent(new CustomEvent("fc:lang"));
    },
    money(amount, currency) {
      if (amount === null || amount === undefined) return "";
      // Amounts arrive as exact decimal strings; Intl formats them without float arithmetic on our side.
      return new Intl.NumberFormat(i18n.locale, { style: "currency", currency }).format(amount);
    },
    dateTime(iso, timeZone) {
      if (!iso) return "";
      return new Intl.DateTimeFormat(i18n.locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(new Date(iso));
    },
    time(iso, timeZone) {
      if (!iso) return "";
      return new Intl.DateTimeFormat(i18n.locale, { hour: "2-digit", minute: "2-digit", timeZone }).format(new Date(iso));
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

  // ---------------------------------------------------------------- the API
  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || `HTTP ${status}`);
      this.status = status;
      this.code = error.code;
      this.ruleId = error.rule_id;
      this.fields = error.fields || {};
      this.details = error.details;
      this.body = body;
    }
  }

  /** ``extraHeaders``: an optional (async) function answering headers sent with every
   * request — the field app's phone id, clock and outbox mark. */
  function makeClient(storage, key, extraHeaders) {
    const client = {
      get session() { try { return JSON.parse(storage.getItem(key) || "null"); } catch (e) { return null; } },
      get user() { return client.session && client.session.user; },
      signedIn() {
        const s = client.session;
        return !!(s && s.access_token && new Date(s.expires_at) > new Date());
      },
      async login(username, password) {
        const body = await client.call("POST", "/api/v1/auth/login", { username, password }, { anonymous: true });
        storage.setItem(key, JSON.stringify(body));
        return body.user;
      },
      async logout() {
        try { await client.call("POST", "/api/v1/auth/logout"); } catch (e) { /* already gone */ }
        storage.removeItem(key);
      },
      async call(method, path, body, options) {
        const headers = { Accept: "application/json", ...(extraHeaders ? await extraHeaders() : {}) };
        const s = client.session;
        if (s && !(options && options.anonymous)) headers.Authorization = `Bearer ${s.access_token}`;
        const init = { method, headers };
        if (options && options.signal) init.signal = options.signal;
        if (body !== undefined && body !== null) {
          headers["Content-Type"] = "application/json";
          init.body = JSON.stringify(body);
        }
        const response = await fetch(path, init);
        const text = await response.text();
        let data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (response.status === 401 && !(options && options.anonymous)) storage.removeItem(key);
        if (!response.ok) throw new ApiError(response.status, data);
        return data;
      },
      async download(path, filename) {
        const response = await fetch(path, { headers: { Authorization: `Bearer ${client.session.access_token}` } });
        if (!response.ok) throw new ApiError(response.status, null);
        const blob = await response.blob();
        // The server names the file after the filter; ``filename`` is the fallback.
        const named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
        const link = h("a", { href: URL.createObjectURL(blob), download: named ? named[1] : filename });
        document.body.append(link);
        link.click();
        link.remove();
        return blob.size;
      },
    };
    return client;
  }

  // The board and the desk keep their token for the tab's life only.
  const api = makeClient(sessionStorage, "fc.session");

  /** Today on this device's calendar (YYYY-MM-DD): the day a supervisor in Shanghai means
   * at 07:00 local, which UTC still calls yesterday. */
  function localToday() {
    const now = new Date();
    const two = (n) => String(n).padStart(2, "0");
    return `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())}`;
  }

  global.FC = { h, clear, i18n, api, makeClient, ApiError, localToday };
})(window);
