/* The audit desk: filter the visit log, open a visit, export CSV, verify the chain. */
(function () {
  "use strict";
  const { h, clear, i18n, api } = FC;
  const $ = (id) => document.getElementById(id);
  const OUTCOMES = ["met_debtor", "promise_to_pay", "agreement_signed", "paid_on_spot", "refused", "not_home", "moved",
    "wrong_address", "third_party_only", "hardship_claimed", "dispute_raised", "cease_requested", "deceased_reported",
    "capacity_concern", "aggression"];
  const FLAGS = ["out_of_hours", "off_geofence", "poor_accuracy", "mock_location", "impossible_travel",
    "missing_recording", "short_recording", "frequency_override", "waiver_above_limit", "complaint_received"];

  i18n.add({
    en: {
      "signin.title": "Audit desk — sign in", "signin.username": "Username", "signin.password": "Password",
      "signin.submit": "Sign in", "signout": "Sign out", "desk.title": "Audit desk", "f.collector": "Collector",
      "f.crew": "Crew", "f.case": "Loan ref", "f.from": "From", "f.to": "To", "f.outcome": "Outcome", "f.flag": "Flag",
      "f.apply": "Filter", "f.export": "Export CSV", "v.run": "Verify the chain", "v.running": "Verifying…",
      "v.ok": "Intact: {checked} events checked; head #{seq} {hash}.", "v.broken": "Broken at #{seq}: {what} — {detail}",
      "c.when": "Check-in", "c.case": "Case", "c.crew": "Crew", "c.outcome": "Outcome", "c.distance": "Distance",
      "c.flags": "Flags", "more": "More", "count": "{n} shown", "none": "No visits match.",
      "d.checkIn": "Check-in", "d.checkOut": "Check-out", "d.place": "Place",
      "t.judged": "judged at {t}", "t.received": "server received {t}", "t.device": "phone's clock {t}",
      "basis.server": "server's clock (sent online)", "basis.device_corrected": "phone's time, corrected by its measured clock offset (queued offline)",
      "basis.device_bounded": "phone's time moved to what the server can prove (queued offline)",
      "d.distance": "From the registered address", "d.accuracy": "Accuracy", "d.person": "Person met",
      "d.outcome": "Outcome", "d.notes": "Notes", "d.recordings": "Recordings (SHA-256)", "d.agreements": "Agreement",
      "d.flags": "Conduct flags", "d.address": "Registered address", "d.mock": "mocked location", "d.none": "none",
      "exported": "Exported {n} bytes.", "role.notAllowed": "This page is for auditors.",
    },
    zh: {
      "signin.title": "审计台 — 登录", "signin.username": "用户名", "signin.password": "密码", "signin.submit": "登录",
      "signout": "退出", "desk.title": "审计台", "f.collector": "催收员", "f.crew": "小组", "f.case": "借款编号",
      "f.from": "起始", "f.to": "截止", "f.outcome": "结果", "f.flag": "标记", "f.apply": "筛选", "f.export": "导出 CSV",
      "v.run": "校验哈希链", "v.running": "校验中…", "v.ok": "完整：已校验 {checked} 条；链头 #{seq} {hash}。",
      "v.broken": "在 #{seq} 处断开：{what} — {detail}", "c.when": "签到", "c.case": "案件", "c.crew": "小组",
      "c.outcome": "结果", "c.distance": "距离", "c.flags": "标记", "more": "更多", "count": "已显示 {n} 条",
      "none": "没有符合条件的上门记录。", "d.checkIn": "签到", "d.checkOut": "签退",
      "t.judged": "判定时间 {t}", "t.received": "服务器接收 {t}", "t.device": "手机时钟 {t}",
      "basis.server": "服务器时钟（在线发送）", "basis.device_corrected": "手机时间，已按测得的时钟偏差校正（离线排队）",
      "basis.device_bounded": "手机时间，已移至服务器可证明的范围（离线排队）",
      "d.place": "位置", "d.distance": "距登记住址", "d.accuracy": "定位精度", "d.person": "见到的人", "d.outcome": "结果",
      "d.notes": "备注", "d.recordings": "录音（SHA-256）", "d.agreements": "还款协议", "d.flags": "行为标记",
      "d.address": "登记住址", "d.mock": "模拟定位", "d.none": "无", "exported": "已导出 {n} 字节。",
      "role.notAllowed": "此页面供审计人员使用。",
    },
  });

  const state = { rows: [], next: null, map: null, selected: null };

  function query(extra) {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData($("filters")).entries()) if (value) params.set(key, value);
    for (const [key, value] of Object.entries(extra || {})) params.set(key, value);
    return params.toString();
  }

  function showSignin() {
    $("desk").hidden = true;
    $("signin").hidden = false;
    i18n.apply();
  }

  async function start() {
    if (!api.signedIn()) return showSignin();
    if (!["auditor", "admin", "supervisor"].includes(api.user.role)) {
      $("signin-error").textContent = i18n.t("role.notAllowed");
      return showSignin();
    }
    $("signin").hidden = true;
    $("desk").hidden = false;
    $("who").textContent = `${api.user.display_name || api.user.username} (${api.user.role})`;
    i18n.apply();
    await load(false);
  }

  async function load(more) {
    const params = query(more && state.next ? { after: state.next } : {});
    const page = await api.call("GET", `/api/v1/audit/visits?${params}`);
    state.rows = more ? state.rows.concat(page.items) : page.items;
    state.next = page.next_after;
    render();
  }

  function render() {
    const body = clear($("visits").querySelector("tbody"));
    if (!state.rows.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, i18n.t("none"))));
    for (const visit of state.rows) {
      body.append(h("tr", { dataset: { visit: visit.id }, class: state.selected === visit.id ? "selected" : null,
                           onclick: () => open(visit) },
        h("td", {}, i18n.dateTime(visit.check_in.at)),
        h("td", {}, visit.case.loan_ref),
        h("td", {}, visit.crew, " · ", visit.collector),
        h("td", {}, visit.outcome || "—"),
        h("td", {}, visit.check_in.distance_m === null ? "—" : `${Math.round(visit.check_in.distance_m)} m`),
        h("td", {}, visit.flags.map((f) => h("span", { class: "pill open-flag" }, f.kind)))));
    }
    $("more").hidden = !state.next;
    $("count").textContent = i18n.t("count", { n: state.rows.length });
  }

  function times(place, zone) {
    // In the debtor's own zone when known: that is where the rules about hours apply. The
    // time judged comes first; the server's receive time and the phone's clock are evidence.
    if (!place) return "—";
    const at = (value) => (value ? i18n.dateTime(value, zone) : "—");
    return h("div", { class: "times" },
      h("div", { dataset: { time: "judged" } }, i18n.t("t.judged", { t: at(place.at) }), zone ? ` (${zone})` : "",
        place.time_basis ? h("span", { class: "muted" }, ` — ${i18n.t(`basis.${place.time_basis}`)}`) : null),
      h("div", { dataset: { time: "received" } }, i18n.t("t.received", { t: at(place.received_at) })),
      h("div", { dataset: { time: "device" } }, i18n.t("t.device", { t: at(place.device_at) })));
  }

  async function open(visit) {
    state.selected = visit.id;
    render();
    $("detail").hidden = false;
    $("detail-title").textContent = `${visit.case.loan_ref} · ${visit.visit_date}`;
    let debtor = null;
    try { debtor = await api.call("GET", `/api/v1/debtors/${visit.debtor_id}`); } catch (e) { debtor = null; }
    if (!state.map) state.map = new FCMap($("detail-map"), { tileUrl: document.body.dataset.tileUrl,
                                                             attribution: document.body.dataset.tileAttribution });
    state.map.clear();
    if (debtor) state.map.home(debtor.lat, debtor.lon, "#111827", i18n.t("d.address"));
    state.map.position(visit.check_in.lat, visit.check_in.lon, "#d97706", i18n.t("d.checkIn"));
    if (visit.check_out) state.map.position(visit.check_out.lat, visit.check_out.lon, "#16a34a", i18n.t("d.checkOut"));
    state.map.map.invalidateSize();
    state.map.fit();
    const facts = clear($("detail-facts"));
    const fact = (label, ...value) => facts.append(h("dt", {}, i18n.t(label)), h("dd", {}, ...value));
    const zone = debtor ? debtor.timezone : undefined;
    fact("d.checkIn", times(visit.check_in, zone));
    fact("d.checkOut", times(visit.check_out, zone));
    fact("d.place", `${visit.check_in.lat.toFixed(5)}, ${visit.check_in.lon.toFixed(5)}`,
      visit.check_in.mock ? h("span", { class: "pill open-flag" }, i18n.t("d.mock")) : null);
    if (debtor) fact("d.address", debtor.address);
    fact("d.distance", visit.check_in.distance_m === null ? "—" : `${visit.check_in.distance_m.toFixed(1)} m`);
    fact("d.accuracy", visit.check_in.accuracy_m === null ? "—" : `${visit.check_in.accuracy_m} m`);
    fact("d.person", visit.person_met || "—");
    fact("d.outcome", visit.outcome || "—");
    fact("d.notes", visit.notes || "—");
    fact("d.recordings", visit.recordings.length ? visit.recordings.map((r) => h("div", { class: "hash" },
      `${r.kind} ${r.duration_seconds ?? "?"} s · ${r.sha256}`)) : i18n.t("d.none"));
    fact("d.agreements", visit.agreements.length ? visit.agreements.map((a) => h("div", {},
      `${a.kind} · ${a.status} · `, i18n.money(a.total, a.currency), a.waiver !== "0.00" ? ` (−${a.waiver})` : ""))
      : i18n.t("d.none"));
    fact("d.flags", visit.flags.length ? visit.flags.map((f) => h("div", {}, `${f.kind} · ${f.rule_id} · ${f.status}`))
      : i18n.t("d.none"));
  }

  async function verify() {
    const box = clear($("verify-result"));
    box.append(h("span", { class: "muted" }, i18n.t("v.running")));
    const result = await api.call("GET", "/api/v1/audit/verify");
    clear(box).append(result.ok
      ? h("p", { class: "ok" }, i18n.t("v.ok", { checked: result.checked, seq: result.head.seq,
                                                 hash: result.head.hash.slice(0, 16) + "…" }))
      : h("p", { class: "error" }, i18n.t("v.broken", result.first_broken)));
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.documentElement.lang = i18n.locale;
    const outcome = document.querySelector("select[name=outcome]");
    OUTCOMES.forEach((o) => outcome.append(h("option", { value: o }, o)));
    const flag = document.querySelector("select[name=flag]");
    FLAGS.forEach((f) => flag.append(h("option", { value: f }, f)));
    $("signin-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      $("signin-error").textContent = "";
      try {
        await api.login(form.get("username"), form.get("password"));
        await start();
      } catch (error) { $("signin-error").textContent = error.message; }
    });
    $("filters").addEventListener("submit", (event) => { event.preventDefault(); load(false); });
    $("more").addEventListener("click", () => load(true));
    $("verify").addEventListener("click", verify);
    $("export").addEventListener("click", async () => {
      const bytes = await api.download(`/api/v1/audit/visits?${query({ format: "csv" })}`, "visits.csv");
      $("count").textContent = i18n.t("exported", { n: bytes });
    });
    document.querySelectorAll(".lang-switch").forEach((b) => b.addEventListener("click", () => {
      i18n.set(i18n.lang === "zh" ? "en" : "zh");
      render();
    }));
    $("signout").addEventListener("click", async () => { await api.logout(); showSignin(); });
    start();
  });
})();
