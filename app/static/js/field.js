/* The field app: the day's route, the visit at the door, and what is waiting to be sent.
 *
 * Everything the agent does is written to IndexedDB first (field-store.js), queued
 * with its client_event_id (field-sync.js) and sent in order when there is a network;
 * the visit's audio is kept as it is recorded (field-recorder.js). The server's
 * answers — accepted, duplicate, rejected, conflict — are shown beside each action.
 * Text from the API goes into the page only as text (FC.h), never as markup. */
(function () {
  "use strict";

  const { h, clear, i18n } = FC;
  const t = (key, values) => i18n.t(key, values);
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const SESSION_KEY = "fc.field.session";
  const USER_KEY = "fc.field.user";
  const api = FC.makeClient(localStorage, SESSION_KEY, FCStore.deviceHeaders);
  const PEOPLE = ["debtor", "spouse", "relative", "household_member", "neighbour", "other", "nobody"];
  const THIRD_PARTIES = ["spouse", "relative", "household_member", "neighbour", "other"];
  const RANK = { open: 0, assigned: 0, checked_in: 1, done: 2 };
  const REFUSED = FCSync.REFUSED;

  i18n.add({
    en: {
      app_title: "Field visits", back: "Back", signin_title: "Sign in", username: "Username", password: "Password",
      signin: "Sign in", signin_hint: "Use your collector account. The day's route is kept on this phone.",
      signin_offline: "No connection: signing in needs the network once.",
      signin_not_agent: "This app is for field collectors; {user} is a {role}.",
      signin_again: "Your sign-in has ended. Sign in again to send what is waiting; nothing is lost meanwhile.",
      signin_again_button: "Sign in again",
      route_date: "Route for", download_route: "Download route", refresh_route: "Refresh route",
      downloading: "Downloading…", no_route_saved: "No route saved on this phone for this day yet.",
      no_route_offline: "No route saved for this day, and there is no connection to download it.",
      route_saved: "Crew {crew} · {members} · {profile} · saved on this phone at {at}",
      no_stops: "No visits are planned for your crew on this day.",
      offline_ready: "Works offline: the app and this route are kept on this phone.",
      offline_app_only: "The app works offline; download the route to keep it on this phone.",
      offline_pending: "Preparing the app for offline use…",
      offline_unsupported: "This browser cannot keep the app offline; keep this page open.",
      reminders: "Conduct reminders", tab_route: "Route", tab_outbox: "Sending",
      status_assigned: "To visit", status_checked_in: "At the door", status_done: "Done", status_open: "Open",
      amount_due: "Amount due", days_past_due: "{days} days past due", planned: "Planned",
      availability: "Stated availability", language: "Language", phone: "Phone", loan: "Loan",
      history: "History", last_contacts: "Last contacts", last_visit: "Last visit", active_agreement: "Active agreement",
      none: "none", next_due: "next {amount} on {date}",
      position: "Your position", locating: "Finding your position…",
      accuracy: "±{m} m", distance: "{d} from the address",
      far_warning: "You are {d} from the registered address (limit {limit} m): the check-in will be flagged.",
      too_far: "You are {d} from the registered address: beyond {limit} m the check-in is refused.",
      withdrawn_stop: "Taken off this day's route: {loan}.",
      accuracy_warning: "Location accuracy ±{m} m is worse than {limit} m: the check-in will be flagged.",
      hours_warning: "It is {local} at the debtor's address ({tz}); visiting hours are {start}–{end}. A check-in now will be refused.",
      location_error: "No location: {why}. Allow location for this site to check in.",
      locate: "Update position", check_in: "Check in", check_out: "Check out",
      check_in_saved: "Checked in. Saved on this phone.", check_out_saved: "Checked out. Saved on this phone.",
      outcome_saved: "Outcome saved on this phone.",
      checked_in_at: "Checked in at {at} · {d} from the address · ±{m} m",
      checked_out_at: "Checked out at {at}",
      recording: "Recording", recording_on: "● Recording {time}", recording_off: "Not recording.",
      recording_resume: "Start recording", recording_missing: "No microphone: this visit is not being recorded. The check-out will be flagged for a missing recording.",
      recording_denied: "Microphone permission was refused: this visit is not being recorded. The check-out will be flagged.",
      recording_unsupported: "This phone cannot record audio here. The check-out will be flagged.",
      recording_interrupted: "The app was closed during the visit; the recording so far ({s} s) is kept and will be uploaded.",
      recording_short: "Recorded {s} s; the policy asks for at least {min} s.",
      recordings_kept: "Recordings: {list}",
      outcome: "Outcome", choose: "Choose…", person_met: "Person met", notes: "Notes",
      notes_hint: "What happened; nothing about the debt was told to anyone but the debtor.",
      save_outcome: "Save outcome", outcome_first: "Record the outcome before checking out.",
      person_debtor: "Debtor", person_spouse: "Spouse", person_relative: "Relative",
      person_household_member: "Household member", person_neighbour: "Neighbour", person_other: "Someone else",
      person_nobody: "Nobody",
      agreement_promise: "Promise to pay", agreement_instalment: "Instalment plan",
      total: "Amount agreed", waiver: "Waiver", due_date: "Will pay on", first_due_date: "First instalment on",
      count: "Instalments", frequency: "Every", freq_weekly: "week", freq_fortnightly: "two weeks", freq_monthly: "month",
      ack: "Debtor's confirmation (OTP reference)", ack_hint: "The code from the confirmation SMS the debtor received.",
      schedule: "Schedule", schedule_seq: "#", schedule_date: "Due", schedule_amount: "Amount",
      schedule_sum: "Sum", schedule_exact: "The instalments add up to the amount agreed exactly.",
      schedule_server: "Confirmed by the server", schedule_server_same: "The server's schedule is the same.",
      schedule_server_differs: "The server's schedule differs; the server's is the agreement.",
      err_amount: "Enter an amount such as 1234.50.", err_total_positive: "The amount must be more than zero.",
      err_exceeds: "The amount and waiver exceed the amount due ({due}).", err_count: "Between 2 and 60 instalments.",
      err_count_total: "Too many instalments for this amount.", err_date: "Choose a date from today on.",
      err_ack: "Enter the confirmation reference (at least 4 characters).", err_outcome: "Choose the outcome.",
      err_person: "Say who was met.",
      waiver_warning: "A waiver above {limit}% of the amount due needs a supervisor's approval.",
      events: "On this phone", ev_check_in: "Check-in", ev_visit: "Outcome", ev_check_out: "Check-out",
      ev_recording: "Recording",
      st_waiting: "Waiting to send", st_accepted: "Went through", st_duplicate: "Went through (already received)",
      st_rejected: "Refused", st_conflict: "Conflict",
      err_event_payload_mismatch: "This action's id was already used for an action with other content; the first was kept and this one was not applied. Your supervisor has been told.",
      err_task_reassigned: "This visit was moved to another crew while you were offline; your action was recorded but not applied.",
      err_validation_error: "The phone sent something the server could not read; it was recorded but not applied.",
      err_not_found: "No such visit on your crew's route.",
      err_not_checked_in: "Check in first: this visit has not been opened.",
      rule: "rule {rule}", flagged: "Flagged: {reason}",
      outbox_title: "Sending", send_now: "Send now", waiting: "Waiting", refused: "Refused or in conflict",
      sent: "Went through", nothing: "Nothing.", signout: "Sign out",
      signout_confirm: "{n} action(s) are not sent yet. They stay on this phone and are sent when you sign in again. Sign out?",
      signed_in_as: "Signed in as {user} · crew {crew}",
      phase_idle: "Everything on this phone has been answered by the server.",
      phase_sending: "Sending…", phase_offline: "No connection. Waiting actions are sent when it returns.",
      phase_server_error: "The server did not answer ({error}); trying again shortly.",
      phase_signed_out: "Sign in again to send what is waiting.",
      last_sent: "Last sent {at}.",
      badge_offline: "Offline", badge_online: "Online", badge_waiting: "{n} waiting", badge_refused: "{n} refused",
      badge_all_sent: "all sent",
      queued_offline: "Saved on this phone; it will be sent when the connection returns.",
      refused_toast: "Refused: {reason}",
      task: "Stop {seq}", unit_m: "{n} m", unit_km: "{n} km",
      ch_call: "call", ch_sms: "SMS", ch_letter: "letter", ch_email: "email", ch_app_message: "app message",
      ch_in_person: "in person", res_reached: "reached", res_no_answer: "no answer", res_voicemail: "voicemail",
      res_wrong_number: "wrong number", res_refused: "refused", res_delivered: "delivered", res_failed: "failed",
      agreement_status_active: "active", agreement_status_pending_approval: "awaiting approval",
      waiver_rejected: "Waiver refused by the supervisor: {note}",
      waiver_countered: "The supervisor offers a waiver of {amount} instead: {note}. Agree it anew with the debtor.",
    },
    zh: {
      app_title: "外访", back: "返回", signin_title: "登录", username: "用户名", password: "密码", signin: "登录",
      signin_hint: "使用催收员账号登录。当天路线会保存在本机。",
      signin_offline: "没有网络：首次登录需要联网。",
      signin_not_agent: "本应用供外访催收员使用；{user} 的角色是 {role}。",
      signin_again: "登录已过期。请重新登录以发送待发送的记录；在此期间不会丢失任何内容。",
      signin_again_button: "重新登录",
      route_date: "路线日期", download_route: "下载路线", refresh_route: "刷新路线", downloading: "正在下载…",
      no_route_saved: "本机尚未保存这一天的路线。", no_route_offline: "本机没有这一天的路线，且当前无网络无法下载。",
      route_saved: "小组 {crew} · {members} · {profile} · {at} 保存到本机",
      no_stops: "这一天没有为您的小组安排上门。",
      offline_ready: "可离线使用：应用和本路线已保存在本机。",
      offline_app_only: "应用可离线使用；请下载路线以保存到本机。",
      offline_pending: "正在准备离线使用…",
      offline_unsupported: "此浏览器无法离线保存应用；请保持本页面打开。",
      reminders: "行为规范提醒", tab_route: "路线", tab_outbox: "发送",
      status_assigned: "待上门", status_checked_in: "上门中", status_done: "已完成", status_open: "未分配",
      amount_due: "应还金额", days_past_due: "逾期 {days} 天", planned: "计划时间", availability: "可接待时间",
      language: "语言", phone: "电话", loan: "借款", history: "历史记录", last_contacts: "最近联系",
      last_visit: "上次上门", active_agreement: "有效协议", none: "无", next_due: "下一期 {date} 应还 {amount}",
      position: "当前位置", locating: "正在定位…", accuracy: "±{m} 米", distance: "距登记住址 {d}",
      far_warning: "您距登记住址 {d}（上限 {limit} 米）：签到将被标记。",
      too_far: "您距登记住址 {d}：超过 {limit} 米的签到将被拒绝。",
      withdrawn_stop: "已从当天路线撤下：{loan}。",
      accuracy_warning: "定位精度 ±{m} 米，低于 {limit} 米的要求：签到将被标记。",
      hours_warning: "债务人所在地（{tz}）现在是 {local}；上门时段为 {start}–{end}。现在签到将被拒绝。",
      location_error: "无法定位：{why}。请允许本网站使用位置信息后签到。",
      locate: "更新位置", check_in: "签到", check_out: "签退",
      check_in_saved: "已签到，已保存在本机。", check_out_saved: "已签退，已保存在本机。", outcome_saved: "上门结果已保存在本机。",
      checked_in_at: "{at} 签到 · 距住址 {d} · 精度 ±{m} 米", checked_out_at: "{at} 签退",
      recording: "录音", recording_on: "● 录音中 {time}", recording_off: "未在录音。", recording_resume: "开始录音",
      recording_missing: "没有麦克风：本次上门未录音。签退时将被标记为缺少录音。",
      recording_denied: "麦克风权限被拒绝：本次上门未录音。签退时将被标记。",
      recording_unsupported: "此手机无法在这里录音。签退时将被标记。",
      recording_interrupted: "上门期间应用被关闭；已录的 {s} 秒已保存，将会上传。",
      recording_short: "已录 {s} 秒；规定至少 {min} 秒。",
      recordings_kept: "录音：{list}",
      outcome: "上门结果", choose: "请选择…", person_met: "见到的人", notes: "备注",
      notes_hint: "发生了什么；除债务人本人外，未向任何人透露债务信息。",
      save_outcome: "保存上门结果", outcome_first: "签退前请先记录上门结果。",
      person_debtor: "债务人本人", person_spouse: "配偶", person_relative: "亲属", person_household_member: "同住人",
      person_neighbour: "邻居", person_other: "其他人", person_nobody: "无人",
      agreement_promise: "承诺还款", agreement_instalment: "分期还款",
      total: "约定金额", waiver: "减免金额", due_date: "还款日期", first_due_date: "首期还款日", count: "期数",
      frequency: "每", freq_weekly: "周", freq_fortnightly: "两周", freq_monthly: "月",
      ack: "债务人确认（短信验证码编号）", ack_hint: "债务人收到的确认短信中的编号。",
      schedule: "还款计划", schedule_seq: "期", schedule_date: "到期日", schedule_amount: "金额", schedule_sum: "合计",
      schedule_exact: "各期金额之和与约定金额完全相等。", schedule_server: "服务器确认的计划",
      schedule_server_same: "服务器的计划与本机一致。", schedule_server_differs: "服务器的计划与本机不同；以服务器为准。",
      err_amount: "请输入金额，例如 1234.50。", err_total_positive: "金额必须大于零。",
      err_exceeds: "约定金额加减免金额超过应还金额（{due}）。", err_count: "期数须在 2 到 60 之间。",
      err_count_total: "对于这个金额，期数太多。", err_date: "请选择今天或以后的日期。",
      err_ack: "请输入确认编号（至少 4 个字符）。", err_outcome: "请选择上门结果。", err_person: "请选择见到的人。",
      waiver_warning: "减免超过应还金额的 {limit}% 需主管审批。",
      events: "本机记录", ev_check_in: "签到", ev_visit: "上门结果", ev_check_out: "签退", ev_recording: "录音",
      st_waiting: "等待发送", st_accepted: "已送达", st_duplicate: "已送达（服务器已收到过）", st_rejected: "被拒绝",
      st_conflict: "冲突", rule: "规则 {rule}",
      err_event_payload_mismatch: "该操作编号已被内容不同的另一操作使用；已保留第一次的内容，本次未生效。已通知主管。",
      err_task_reassigned: "您离线期间该上门任务已改派给其他小组；您的操作已记录但未生效。",
      err_validation_error: "手机发送的内容服务器无法识别；已记录但未生效。",
      err_not_found: "您小组的路线上没有这个上门任务。",
      err_not_checked_in: "请先签到：该上门尚未开始。", flagged: "已标记：{reason}",
      outbox_title: "发送", send_now: "立即发送", waiting: "等待发送", refused: "被拒绝或冲突", sent: "已送达",
      nothing: "无。", signout: "退出登录",
      signout_confirm: "还有 {n} 条记录未发送。它们会保留在本机，重新登录后发送。确定退出？",
      signed_in_as: "已登录：{user} · 小组 {crew}",
      phase_idle: "本机所有记录都已得到服务器答复。", phase_sending: "正在发送…",
      phase_offline: "没有网络。恢复连接后会自动发送。", phase_server_error: "服务器未响应（{error}）；稍后重试。",
      phase_signed_out: "请重新登录以发送待发送的记录。", last_sent: "上次发送：{at}。",
      badge_offline: "离线", badge_online: "在线", badge_waiting: "{n} 待发", badge_refused: "{n} 被拒",
      badge_all_sent: "已全部发送", queued_offline: "已保存在本机；恢复连接后发送。", refused_toast: "被拒绝：{reason}",
      task: "第 {seq} 站", unit_m: "{n} 米", unit_km: "{n} 公里",
      ch_call: "电话", ch_sms: "短信", ch_letter: "信函", ch_email: "邮件", ch_app_message: "应用消息",
      ch_in_person: "当面", res_reached: "已接通", res_no_answer: "无人接听", res_voicemail: "语音信箱",
      res_wrong_number: "号码错误", res_refused: "拒绝", res_delivered: "已送达", res_failed: "失败",
      agreement_status_active: "有效", agreement_status_pending_approval: "待审批",
      waiver_rejected: "主管未批准减免：{note}",
      waiver_countered: "主管提出改为减免{amount}：{note}。请与债务人重新约定。",
    },
  });

  const S = {
    user: null, date: null, route: null, routeSavedAt: null, visits: new Map(), log: [], waiting: [],
    position: null, positionError: null, locating: false, outbox: null, recorder: null, map: null,
    recordingNotice: {}, forms: new Map(), shell: "pending", online: navigator.onLine, view: null, timer: null,
  };

  i18n.add({
    en: {
      rec_left: "Recording minimum {min} s: {left} to go", rec_met: "Recording minimum {min} s reached ({total}).",
      rec_total_short: "Recorded {total} of the {min} s minimum.",
      checkout_flag_missing: "Checking out now will flag this visit: there is no recording, and the rules ask for at least {min} s.",
      checkout_flag_short: "Checking out now will flag this visit: the recording is {total}, shorter than the {min} s minimum.",
      checkout_confirm: "Check out anyway", checkout_cancel: "Keep recording",
      navigate: "Navigate", nav_geo: "Map app", nav_amap: "Amap", nav_baidu: "Baidu Maps",
      phone_masked: "masked — call through the call centre, not from this phone",
      prod_cash_loan: "Cash loan", prod_consumer_instalment: "Consumer instalment loan", prod_credit_card: "Credit card",
    },
    zh: {
      rec_left: "录音至少 {min} 秒：还差 {left}", rec_met: "已达到录音最短时长 {min} 秒（{total}）。",
      rec_total_short: "已录 {total}，规定至少 {min} 秒。",
      checkout_flag_missing: "现在签退，本次上门将被标记：没有录音，规定至少录音 {min} 秒。",
      checkout_flag_short: "现在签退，本次上门将被标记：录音 {total}，短于规定的 {min} 秒。",
      checkout_confirm: "仍然签退", checkout_cancel: "继续录音",
      navigate: "导航", nav_geo: "地图应用", nav_amap: "高德地图", nav_baidu: "百度地图",
      phone_masked: "已遮蔽——请通过呼叫中心联系，不能在本机直接拨打",
      prod_cash_loan: "现金贷", prod_consumer_instalment: "消费分期", prod_credit_card: "信用卡",
    },
  });
  const REMINDERS_KEY = "fc.field.reminders";

  // ---------------------------------------------------------------- small helpers

  function pad(n) { return String(n).padStart(2, "0"); }

  function minSec(s) { return `${Math.floor(s / 60)}:${pad(s % 60)}`; }

  /** A language code as its name in the page's language ("wuu" → "Wu Chinese" / "吴语"). */
  // The languages collectors meet that a browser's Intl may not name (Chromium builds differ:
  // some answer "wuu" for Wu).
  const LANGUAGE_NAMES = {
    wuu: { en: "Wu Chinese", zh: "吴语" }, yue: { en: "Cantonese", zh: "粤语" },
    nan: { en: "Min Nan Chinese", zh: "闽南语" }, hak: { en: "Hakka Chinese", zh: "客家话" },
  };

  function languageName(code) {
    if (!code) return "–";
    try {
      const name = new Intl.DisplayNames([i18n.locale], { type: "language" }).of(code);
      if (name && name !== code) return name;
    } catch (e) { /* an unknown code: named below or shown as is */ }
    const known = LANGUAGE_NAMES[code];
    return known ? known[i18n.lang] || known.en : code;
  }

  function productName(code) { return code && i18n.has(`prod_${code}`) ? t(`prod_${code}`) : (code || "–"); }

  /** Ways to get to the door: a geo: URI any map app opens, and in Chinese the Amap and
   * Baidu links (both told the coordinates are WGS84, as stored). */
  function navLinks(stop) {
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
  function phoneLine(phone) {
    if (!phone) return "–";
    if (/^\+?[0-9][0-9 ()-]{4,}$/.test(phone)) {
      return h("a", { href: `tel:${phone.replace(/[^0-9+]/g, "")}`, id: "phone-link" }, phone);
    }
    return h("span", { id: "phone-masked" }, phone, h("span", { class: "muted small" }, ` (${t("phone_masked")})`));
  }

  /** Reminders stay open or closed as the agent last left them, on every screen. */
  function remembered(details) {
    details.open = localStorage.getItem(REMINDERS_KEY) !== "closed";
    details.addEventListener("toggle", () => localStorage.setItem(REMINDERS_KEY, details.open ? "open" : "closed"));
    return details;
  }

  /** Seconds recorded at this visit so far: the parts kept on the phone and the one running. */
  function recordedSeconds(stop, visit) {
    const kept = ((visit && visit.recordings) || []).filter((r) => !REFUSED.includes(r.status))
      .reduce((sum, r) => sum + (r.seconds || 0), 0);
    return kept + (S.recorder && S.recorder.recording(stop.task_id) ? S.recorder.elapsedSeconds() : 0);
  }

  /** What check-out would be flagged for, judged on the phone from the route's limits (the server decides). */
  function recordingShortfall(stop, visit) {
    const lim = limits();
    if (!lim.recording_required) return null;
    const total = recordedSeconds(stop, visit);
    const min = lim.recording_min_seconds || 0;
    if (total <= 0) return { kind: "missing", total, min };
    if (total < min) return { kind: "short", total, min };
    return null;
  }

  function countdownText(stop, visit) {
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

  const localToday = FC.localToday;

  function toast(message, bad) {
    const el = $("toast");
    el.textContent = message;
    el.className = bad ? "toast bad" : "toast";
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, bad ? 7000 : 3500);
  }

  function phoneZone() { return Intl.DateTimeFormat().resolvedOptions().timeZone; }

  function when(iso, zone) {
    // Times at the door are the debtor's local times; the zone is named when it is not the phone's.
    const text = i18n.time(iso, zone);
    return zone && zone !== phoneZone() ? `${text} (${zone})` : text;
  }

  function whenFull(iso, zone) { return i18n.dateTime(iso, zone); }

  function plannedWindow(stop) {
    if (!stop.planned_start) return "";
    const zone = stop.debtor.timezone;
    const text = `${i18n.time(stop.planned_start, zone)}–${i18n.time(stop.planned_end, zone)}`;
    return zone && zone !== phoneZone() ? `${text} (${zone})` : text;
  }

  function metres(m) {
    if (m === null || m === undefined || Number.isNaN(m)) return "–";
    return m >= 1000 ? t("unit_km", { n: new Intl.NumberFormat(i18n.locale, { maximumFractionDigits: 1 }).format(m / 1000) })
      : t("unit_m", { n: Math.round(m) });
  }

  function distanceM(lat1, lon1, lat2, lon2) {
    // Haversine on a sphere: for the warning on the phone only; the server measures on the ellipsoid.
    const rad = Math.PI / 180;
    const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2 +
      Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
    return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(a)));
  }

  function localClock(zone) {
    return new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .format(new Date());
  }

  function reasonOf(answer) {
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

  function live(entry) { return !!entry && !REFUSED.includes(entry.status); }

  function outcomes() { return (S.route && S.route.outcomes) || []; }

  function outcomeLabel(code) {
    const found = outcomes().find((o) => o.code === code);
    return found ? (i18n.lang === "zh" ? found.zh : found.en) : code;
  }

  function limits() { return (S.route && S.route.limits) || {}; }

  function stops() { return (S.route && S.route.stops) || []; }

  function stopById(taskId) { return stops().find((s) => s.task_id === taskId); }

  function visitOf(taskId) { return S.visits.get(taskId) || null; }

  function statusOf(stop) {
    const visit = visitOf(stop.task_id);
    let local = "assigned";
    if (visit && live(visit.checkout)) local = "done";
    else if (visit && live(visit.checkin)) local = "checked_in";
    return (RANK[stop.status] ?? 0) >= RANK[local] ? stop.status : local;
  }

  // ---------------------------------------------------------------- storage ↔ state

  async function loadState() {
    const saved = S.user ? await FCStore.get("routes", `${S.user}|${S.date}`) : null;
    S.route = saved ? saved.route : null;
    if (S.route) FCMoney.useDigits(S.route.currency_digits);
    S.routeSavedAt = saved ? saved.saved_at : null;
    await loadQueue();
  }

  async function loadQueue() {
    const [visits, log, waiting] = await Promise.all([
      FCStore.byUser("visits", S.user), FCStore.byUser("log", S.user), FCStore.byUser("outbox", S.user)]);
    S.visits = new Map(visits.map((v) => [v.task_id, v]));
    S.log = log;
    S.waiting = waiting;
  }

  async function downloadRoute(quiet) {
    if (!api.signedIn()) { if (!quiet) showSignin(true); return; }
    const button = $("download");
    button.disabled = true;
    button.textContent = t("downloading");
    const { user, date } = S;  // the agent may pick another day while this one downloads
    try {
      const route = await api.call("GET", `/api/v1/agent/route?date=${encodeURIComponent(date)}`);
      const record = { key: `${user}|${date}`, user, date, route, saved_at: new Date().toISOString() };
      await FCStore.put("routes", record);
      FCMoney.useDigits(route.currency_digits);
      if (user === S.user && date === S.date) { S.route = route; S.routeSavedAt = record.saved_at; }
    } catch (error) {
      if (!quiet) toast(error instanceof FC.ApiError ? error.message : t(S.route ? "phase_offline" : "no_route_offline"), true);
      if (error instanceof FC.ApiError && error.status === 401) signedOut();
    } finally {
      button.disabled = false;
      renderQuietly();
    }
  }

  // ---------------------------------------------------------------- views

  function show(name) {
    for (const view of ["signin", "day", "stop", "outbox"]) $(`view-${view}`).hidden = view !== name;
    S.view = name;
    $("tabs").hidden = name === "signin";
    $("back").hidden = name !== "stop";
    document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("active", a.dataset.tab === name));
  }

  function renderCurrent() {
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
  function renderQuietly() {
    const active = document.activeElement;
    if (S.view === "stop" && active && active.closest && active.closest("#outcome-form")) renderBadge();
    else renderCurrent();
  }

  function showSignin(again) {
    show("signin");
    $("title").textContent = t("app_title");
    const form = $("signin-form");
    const last = storedUser();
    if (last && !form.username.value) form.username.value = last.username;
    $("signin-error").textContent = again ? t("signin_again") : "";
    $("sync-badge").hidden = true;
  }

  function storedUser() {
    try { return JSON.parse(localStorage.getItem(USER_KEY) || "null"); } catch (e) { return null; }
  }

  // ---- the day

  function renderDay() {
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

  function stopCard(stop) {
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

  function drawMap() {
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

  function renderOfflineReady() {
    const el = $("offline-ready");
    let key = "offline_pending";
    if (!("serviceWorker" in navigator)) key = "offline_unsupported";
    else if (S.shell === "ready") key = S.route ? "offline_ready" : "offline_app_only";
    el.textContent = t(key);
    el.dataset.ready = key === "offline_ready" ? "yes" : "no";
    el.className = key === "offline_ready" ? "small ok" : "small muted";
  }

  function renderSigninBanner(container) {
    const existing = container.querySelector(".signin-banner");
    if (existing) existing.remove();
    if (api.signedIn()) return;
    container.prepend(h("div", { class: "card signin-banner warn" }, h("p", null, t("signin_again")),
      h("button", { type: "button", class: "primary", onclick: () => showSignin(false) }, t("signin_again_button"))));
  }

  // ---- one stop

  function renderStop(taskId) {
    const stop = stopById(taskId);
    show("stop");
    const view = clear($("view-stop"));
    if (!stop) {  // not on the day shown (another day was chosen, or the route was refreshed without it)
      location.hash = "#/";
      return;
    }
    $("title").textContent = t("task", { seq: stop.sequence });
    renderSigninBanner(view);
    const status = statusOf(stop);
    const zone = stop.debtor.timezone;
    const history = stop.history || {};

    view.append(h("div", { class: "card debtor", dataset: { status } },
      h("div", { class: "row" }, h("h2", { class: "grow name" }, stop.debtor.name),
        h("span", { class: `pill ${status}`, id: "stop-status" }, t(`status_${status}`))),
      h("p", { class: "addr" }, stop.debtor.address),
      h("p", { class: "due" }, h("span", { class: "muted" }, t("amount_due")), " ",
        h("strong", { class: "amount", id: "amount-due" }, i18n.money(stop.case.amount_due, stop.case.currency)),
        " · ", t("days_past_due", { days: stop.case.days_past_due })),
      h("dl", { class: "facts" },
        h("dt", null, t("planned")), h("dd", { id: "planned" }, plannedWindow(stop) || "–"),
        h("dt", null, t("navigate")), h("dd", null, navLinks(stop)),
        h("dt", null, t("phone")), h("dd", { id: "phone" }, phoneLine(stop.debtor.phone)),
        h("dt", null, t("loan")), h("dd", { id: "loan" }, `${stop.case.loan_ref} · ${productName(stop.case.product)}`),
        h("dt", null, t("language")), h("dd", { id: "language", title: stop.debtor.language || "" },
          languageName(stop.debtor.language)),
        stop.debtor.availability && stop.debtor.availability.length ? [h("dt", null, t("availability")),
          h("dd", null, stop.debtor.availability.map((w) => `${w.days ? `${w.days.map(weekday).join(" ")} ` : ""}${w.start}–${w.end}`).join("; "))] : null)));

    const answer = history.waiver_answer;
    if (answer) {
      // The supervisor's word on a waiver asked at this door: shown where the agent cannot miss it.
      view.append(h("p", { class: "card warn", id: "waiver-answer" }, answer.status === "countered"
        ? t("waiver_countered", { amount: i18n.money(answer.counter_waiver, stop.case.currency), note: answer.note })
        : t("waiver_rejected", { note: answer.note })));
    }
    view.append(h("details", { class: "card history" }, h("summary", null, t("history")),
      h("dl", { class: "facts" },
        h("dt", null, t("last_contacts")), h("dd", null, (history.last_contacts || []).length
          ? history.last_contacts.map((c) => `${whenFull(c.occurred_at, zone)} ${t(`ch_${c.channel}`)} · ${t(`res_${c.result}`)}`).join("; ")
          : t("none")),
        h("dt", null, t("last_visit")), h("dd", null, history.last_visit
          ? `${whenFull(history.last_visit.at, zone)} · ${outcomeLabel(history.last_visit.outcome)}` : t("none")),
        h("dt", null, t("active_agreement")), h("dd", null, history.active_agreement ? [
          `${t(`agreement_${history.active_agreement.kind}`)} · ${i18n.money(history.active_agreement.total, stop.case.currency)} · ${t(`agreement_status_${history.active_agreement.status}`)}`,
          history.active_agreement.next_due ? ` · ${t("next_due", {
            amount: i18n.money(history.active_agreement.next_due.amount, stop.case.currency),
            date: i18n.date(history.active_agreement.next_due.date) })}` : ""] : t("none")))));

    const reminders = (S.route.reminders || {})[i18n.lang === "zh" ? "zh" : "en"] || [];
    view.append(remembered(h("details", { class: "card reminders", id: "stop-reminders" },
      h("summary", null, t("reminders")), h("ul", null, reminders.map((r) => h("li", null, r))))));

    const visit = visitOf(taskId);
    const actions = h("div", { class: "card actions", id: "actions" });
    view.append(actions);
    if (status === "assigned") renderCheckIn(actions, stop, visit);
    else if (status === "checked_in") renderAtTheDoor(actions, stop, visit);
    else renderDone(actions, stop, visit);

    view.append(eventsCard(taskId));
  }

  function weekday(n) {
    return new Intl.DateTimeFormat(i18n.locale, { weekday: "short", timeZone: "UTC" }).format(Date.UTC(2024, 0, 1 + n));
  }

  function positionBlock(stop) {
    const block = h("div", { class: "position", id: "position" });
    const lim = limits();
    if (S.locating) block.append(h("p", { class: "muted" }, t("locating")));
    else if (S.positionError) block.append(h("p", { class: "error" }, t("location_error", { why: S.positionError })));
    if (S.position && !S.locating) {
      const d = distanceM(S.position.lat, S.position.lon, stop.debtor.lat, stop.debtor.lon);
      block.append(h("p", null, h("span", { class: "muted" }, t("position")), " ",
        h("span", { id: "accuracy" }, t("accuracy", { m: Math.round(S.position.accuracy_m) })), " · ",
        h("span", { id: "distance" }, t("distance", { d: metres(d) }))));
      if (lim.max_distance_m && d > lim.max_distance_m) {
        block.append(h("p", { class: "warn", id: "too-far" }, t("too_far", { d: metres(d), limit: lim.max_distance_m })));
      } else if (lim.geofence_radius_m && d > lim.geofence_radius_m) {
        block.append(h("p", { class: "warn", id: "far-warning" }, t("far_warning", { d: metres(d), limit: lim.geofence_radius_m })));
      }
      if (lim.max_accuracy_m && S.position.accuracy_m > lim.max_accuracy_m) {
        block.append(h("p", { class: "warn" }, t("accuracy_warning", { m: Math.round(S.position.accuracy_m), limit: lim.max_accuracy_m })));
      }
    }
    return block;
  }

  function hoursWarning(stop) {
    const hours = limits().visiting_hours;
    if (!hours) return null;
    const local = localClock(stop.debtor.timezone);
    if (local >= hours.start && local < hours.end) return null;
    return h("p", { class: "warn", id: "hours-warning" }, t("hours_warning", {
      local, tz: stop.debtor.timezone, start: hours.start, end: hours.end }));
  }

  function refusalBlock(entry, id) {
    if (!entry || !REFUSED.includes(entry.status)) return null;
    const reason = reasonOf(entry.answer);
    return h("div", { class: "refusal", id, role: "alert" },
      h("strong", null, t(`st_${entry.status}`)), ": ", h("span", { class: "reason" }, reason.text),
      reason.rule ? h("span", { class: "rule muted" }, ` (${t("rule", { rule: reason.rule })})`) : null,
      reason.fields.length ? h("ul", { class: "small" }, reason.fields.map((f) => h("li", null, f))) : null);
  }

  function renderCheckIn(actions, stop, visit) {
    actions.append(refusalBlock(visit && visit.checkin, "checkin-refusal") || "");
    const warning = hoursWarning(stop);
    if (warning) actions.append(warning);
    actions.append(positionBlock(stop));
    actions.append(h("div", { class: "row buttons" },
      h("button", { type: "button", onclick: () => locate(stop).catch(() => {}) }, t("locate")),
      h("button", { type: "button", class: "primary big grow", id: "check-in", onclick: (e) => checkIn(stop, e.currentTarget) },
        t("check_in"))));
    if (S.positionTask !== stop.task_id && !S.locating) {  // a fix from the previous door says nothing here
      S.positionTask = stop.task_id;
      locate(stop, true).catch(() => {});
    }
  }

  function recordingBlock(stop, visit) {
    const block = h("div", { class: "recording", id: "recording" });
    if (S.recorder.recording(stop.task_id)) {
      block.append(h("p", { class: "rec-on", id: "rec-clock" }, recordingClock()));
    } else {
      const notice = S.recordingNotice[stop.task_id];
      if (notice) block.append(h("p", { class: "warn", id: "rec-notice" }, t(`recording_${notice}`)));
      else block.append(h("p", { class: "muted" }, t("recording_off")));
      block.append(h("button", { type: "button", id: "rec-start", onclick: () => startRecording(stop, visit) }, t("recording_resume")));
    }
    const countdown = countdownText(stop, visit);
    if (countdown) {
      block.append(h("p", { class: countdown.met ? "ok small" : "warn small", id: "rec-countdown",
                            dataset: { task: stop.task_id, met: countdown.met ? "yes" : "no" } }, countdown.text));
    }
    const kept = (visit && visit.recordings) || [];
    for (const r of kept.filter((r) => r.interrupted)) {
      block.append(h("p", { class: "muted small" }, t("recording_interrupted", { s: r.seconds })));
    }
    if (kept.length) {
      block.append(h("p", { class: "small muted" }, t("recordings_kept", {
        list: kept.map((r) => `${r.seconds} s (${t(`st_${r.status === "waiting" ? "waiting" : r.status}`)})`).join(", ") })));
    }
    return block;
  }

  function recordingClock() {
    const s = S.recorder.elapsedSeconds();
    return t("recording_on", { time: `${pad(Math.floor(s / 60))}:${pad(s % 60)}` });
  }

  function checkinLine(stop, visit) {
    const c = visit && visit.checkin;
    if (!c) return null;
    return h("p", { class: "muted small", id: "checkin-line" }, t("checked_in_at", {
      at: when(c.at, stop.debtor.timezone), d: metres(c.distance_m), m: Math.round(c.accuracy_m ?? 0) }));
  }

  function renderAtTheDoor(actions, stop, visit) {
    actions.append(checkinLine(stop, visit) || "", recordingBlock(stop, visit));
    const outcome = visit && visit.outcome;
    if (live(outcome)) {
      actions.append(outcomeSummary(stop, outcome));
    } else {
      actions.append(refusalBlock(outcome, "outcome-refusal") || "", outcomeForm(stop));
    }
    actions.append(refusalBlock(visit && visit.checkout, "checkout-refusal") || "");
    const button = h("button", { type: "button", class: "primary big", id: "check-out",
                                 onclick: (e) => askCheckOut(stop, e.currentTarget) }, t("check_out"));
    if (!live(outcome)) {
      button.disabled = true;
      actions.append(h("p", { class: "muted small" }, t("outcome_first")));
    }
    const asked = S.checkoutAsked === stop.task_id && live(outcome) ? checkoutWarning(stop, button) : null;
    actions.append(asked || "", button);
  }

  function renderDone(actions, stop, visit) {
    actions.append(checkinLine(stop, visit) || "");
    if (visit && visit.outcome) actions.append(outcomeSummary(stop, visit.outcome));
    if (visit && visit.checkout) {
      actions.append(h("p", { class: "muted small", id: "checkout-line" },
        t("checked_out_at", { at: when(visit.checkout.at, stop.debtor.timezone) })));
    }
    const kept = (visit && visit.recordings) || [];
    if (kept.length) {
      actions.append(h("p", { class: "small muted" }, t("recordings_kept", {
        list: kept.map((r) => `${r.seconds} s (${t(`st_${r.status}`)})`).join(", ") })));
    }
  }

  function outcomeSummary(stop, outcome) {
    const box = h("div", { class: "outcome-summary", id: "outcome-summary" },
      h("p", null, h("strong", null, outcomeLabel(outcome.outcome)),
        outcome.person_met ? ` · ${t(`person_${outcome.person_met}`)}` : "",
        " · ", h("span", { class: `st ${outcome.status}` }, t(`st_${outcome.status}`))),
      outcome.notes ? h("p", { class: "notes" }, outcome.notes) : null);
    if (outcome.agreement) {
      const currency = stop.case.currency;
      box.append(h("p", { class: "small" }, `${t(`agreement_${outcome.agreement.kind}`)} · ${i18n.money(outcome.agreement.total, currency)}`));
      box.append(scheduleTable(outcome.schedule.map((p) => ({ ...p, minor: BigInt(p.minor) })), currency, "schedule-local"));
      const server = outcome.answer && outcome.answer.agreement;
      if (server && server.instalments) {
        const parts = server.instalments.map((i) => ({ seq: i.seq, due_date: i.due_date, amount: i.amount,
                                                       minor: FCMoney.toMinor(i.amount, currency) }));
        const same = parts.length === outcome.schedule.length && parts.every((p, i) =>
          p.due_date === outcome.schedule[i].due_date && p.minor === BigInt(outcome.schedule[i].minor));
        box.append(h("p", { class: same ? "ok small" : "warn small", id: "schedule-server-check" },
          `${t("schedule_server")}: ${t(same ? "schedule_server_same" : "schedule_server_differs")}`));
        if (!same) box.append(scheduleTable(parts, currency, "schedule-server"));
      }
    }
    return box;
  }

  function scheduleTable(parts, currency, id) {
    const total = FCMoney.sum(parts);
    return h("table", { class: "schedule", id },
      h("thead", null, h("tr", null, h("th", null, t("schedule_seq")), h("th", null, t("schedule_date")),
        h("th", { class: "num" }, t("schedule_amount")))),
      h("tbody", null, parts.map((p) => h("tr", { class: "instalment", dataset: { minor: p.minor.toString(), due: p.due_date } },
        h("td", null, String(p.seq)), h("td", null, i18n.date(p.due_date)),
        h("td", { class: "num" }, i18n.money(FCMoney.toDecimal(p.minor, currency), currency))))),
      h("tfoot", null, h("tr", null, h("th", { colspan: 2 }, t("schedule_sum")),
        h("th", { class: "num schedule-sum", dataset: { minor: total.toString() } },
          i18n.money(FCMoney.toDecimal(total, currency), currency)))));
  }

  // ---- the outcome form (kept while the agent types, across re-renders)

  function outcomeForm(stop) {
    if (S.forms.has(stop.task_id)) return S.forms.get(stop.task_id);
    const currency = stop.case.currency;
    const today = localToday();
    const inAWeek = FCMoney.addDays(today, 7);
    const field = (labelKey, control, hint) => h("label", { class: "stack" }, h("span", null, t(labelKey)), control,
      hint ? h("span", { class: "muted small" }, hint) : null);

    const outcome = h("select", { name: "outcome", id: "outcome", required: true },
      h("option", { value: "" }, t("choose")),
      outcomes().map((o) => h("option", { value: o.code }, i18n.lang === "zh" ? o.zh : o.en)));
    const person = h("select", { name: "person_met", id: "person-met" });
    const notes = h("textarea", { name: "notes", id: "notes", rows: 3, maxlength: 4000, placeholder: t("notes_hint") });

    const total = h("input", { name: "total", id: "total", inputmode: "decimal", autocomplete: "off", value: stop.case.amount_due });
    const waiver = h("input", { name: "waiver", id: "waiver", inputmode: "decimal", autocomplete: "off", value: "0" });
    const dueDate = h("input", { name: "due_date", id: "due-date", type: "date", min: today, value: inAWeek });
    const count = h("input", { name: "count", id: "count", type: "number", min: 2, max: 60, step: 1, value: 3 });
    const frequency = h("select", { name: "frequency", id: "frequency" },
      ["monthly", "fortnightly", "weekly"].map((f) => h("option", { value: f }, t(`freq_${f}`))));
    const ack = h("input", { name: "ack", id: "ack", autocomplete: "off", maxlength: 128 });
    const promiseFields = h("div", { class: "promise-fields" }, field("due_date", dueDate));
    const firstDue = h("input", { name: "first_due_date", id: "first-due-date", type: "date", min: today, value: inAWeek });
    const planFields = h("div", { class: "plan-fields" }, field("first_due_date", firstDue),
      h("div", { class: "row" }, field("count", count), field("frequency", frequency)));
    const schedule = h("div", { class: "schedule-box", id: "schedule-box" });
    const agreement = h("fieldset", { class: "agreement", id: "agreement", hidden: true },
      h("legend", { id: "agreement-kind" }, ""),
      h("div", { class: "row" }, field("total", total), field("waiver", waiver)),
      promiseFields, planFields, schedule, field("ack", ack, t("ack_hint")));
    const errors = h("p", { class: "error", id: "form-error", role: "alert" });
    const save = h("button", { type: "submit", class: "primary big", id: "save-outcome" }, t("save_outcome"));
    const form = h("form", { class: "outcome-form", id: "outcome-form", novalidate: true },
      field("outcome", outcome), field("person_met", person), field("notes", notes),
      agreement, errors, save);

    function chosen() { return outcomes().find((o) => o.code === outcome.value) || null; }

    function people() {
      const o = chosen();
      if (!o) return PEOPLE;
      return { debtor: ["debtor"], nobody: ["nobody"], third_party: THIRD_PARTIES }[o.person_met] || PEOPLE;
    }

    function fillPeople() {
      const keep = person.value;
      const allowed = people();
      clear(person).append(...(allowed.length > 1 ? [h("option", { value: "" }, t("choose"))] : []),
        ...allowed.map((p) => h("option", { value: p }, t(`person_${p}`))));
      if (allowed.includes(keep)) person.value = keep;
    }

    /** Read the agreement part of the form: {data, parts, problems}. Amounts are BigInt minor units. */
    function readAgreement() {
      const o = chosen();
      const kind = o && o.agreement;
      if (!kind) return null;
      const problems = [];
      const totalMinor = FCMoney.toMinor(total.value, currency);
      const waiverMinor = FCMoney.toMinor(waiver.value.trim() || "0", currency);
      const dueMinor = FCMoney.toMinor(stop.case.amount_due, currency);
      if (totalMinor === null || waiverMinor === null) problems.push(t("err_amount"));
      else if (totalMinor <= 0n) problems.push(t("err_total_positive"));
      else if (totalMinor + waiverMinor > dueMinor) {
        problems.push(t("err_exceeds", { due: i18n.money(stop.case.amount_due, currency) }));
      }
      const n = Number(count.value);
      const date = kind === "promise" ? dueDate.value : firstDue.value;
      if (!date || date < today) problems.push(t("err_date"));
      if (kind === "instalment") {
        if (!Number.isInteger(n) || n < 2 || n > 60) problems.push(t("err_count"));
        else if (totalMinor !== null && totalMinor > 0n && totalMinor < BigInt(n)) problems.push(t("err_count_total"));
      }
      // The schedule is shown as soon as it can be computed, even while another problem is pointed out.
      const countOk = kind === "promise" || (Number.isInteger(n) && n >= 2 && n <= 60);
      const parts = totalMinor !== null && totalMinor >= BigInt(kind === "promise" ? 1 : n || 1) && date && countOk
        ? FCMoney.schedule({ kind, totalMinor, currency, dueDate: date, firstDueDate: date, count: n,
                             frequency: frequency.value }) : [];
      const data = { kind, total: totalMinor !== null ? FCMoney.toDecimal(totalMinor, currency) : total.value,
                     currency, waiver: waiverMinor !== null ? FCMoney.toDecimal(waiverMinor, currency) : waiver.value,
                     acknowledgement: { kind: "otp", ref: ack.value.trim() } };
      if (kind === "promise") data.due_date = date;
      else Object.assign(data, { first_due_date: date, count: n, frequency: frequency.value });
      const waiverHigh = waiverMinor !== null && dueMinor > 0n && limits().waiver_limit_percent !== undefined &&
        waiverMinor * 100n > BigInt(limits().waiver_limit_percent) * dueMinor;
      return { kind, data, parts, problems, totalMinor, waiverHigh };
    }

    function update() {
      const o = chosen();
      fillPeople();
      const kind = o && o.agreement;
      agreement.hidden = !kind;
      promiseFields.hidden = kind !== "promise";
      planFields.hidden = kind !== "instalment";
      clear(schedule);
      if (!kind) return;
      agreement.querySelector("legend").textContent = t(`agreement_${kind}`);
      const read = readAgreement();
      if (read.parts.length) {
        schedule.append(h("h4", null, t("schedule")), scheduleTable(read.parts, currency, "schedule"));
        if (FCMoney.sum(read.parts) === read.totalMinor) {
          schedule.append(h("p", { class: "ok small", id: "schedule-exact" }, t("schedule_exact")));
        }
      }
      if (read.waiverHigh) schedule.append(h("p", { class: "warn small" }, t("waiver_warning", { limit: limits().waiver_limit_percent })));
      for (const problem of read.problems) schedule.append(h("p", { class: "error small" }, problem));
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);
    keepDraft(stop, form, () => { fillPeople(); update(); });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const o = chosen();
      const problems = [];
      if (!o) problems.push(t("err_outcome"));
      if (o && !person.value && o.person_met !== "any") problems.push(t("err_person"));
      const read = o ? readAgreement() : null;
      if (read) {
        problems.push(...read.problems);
        if (read.data.acknowledgement.ref.length < 4) problems.push(t("err_ack"));
      }
      errors.textContent = problems.join(" ");
      if (problems.length) return;
      saveOutcome(stop, { outcome: o.code, person_met: person.value || null, notes: notes.value.trim() || null,
                          agreement: read ? read.data : null, schedule: read ? read.parts : null }, save);
    });
    fillPeople();
    update();
    S.forms.set(stop.task_id, form);
    return form;
  }

  // ---- a half-typed outcome is kept on the phone: closing the app or a flat battery
  //      mid-sentence loses nothing (it goes once the outcome is saved, or at sign-out)

  const draftKey = (taskId) => `draft|${S.user}|${taskId}`;
  const unsavedDrafts = new Map();  // key → {save, cancel}: what was typed in the last moment
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) for (const pending of [...unsavedDrafts.values()]) pending.save();
  });

  /** The outcome is saved: its draft goes, with any keystroke still waiting to be kept. */
  async function dropDraft(taskId) {
    const key = draftKey(taskId);
    const pending = unsavedDrafts.get(key);
    if (pending) pending.cancel();
    await FCStore.del("meta", key);
  }

  function keepDraft(stop, form, refresh) {
    const key = draftKey(stop.task_id);
    let touched = false;
    let timer = null;
    const cancel = () => { clearTimeout(timer); unsavedDrafts.delete(key); };
    const save = () => {
      cancel();
      const values = {};
      for (const control of form.elements) if (control.name) values[control.name] = control.value;
      FCStore.meta.set(key, values).catch(reportError);
    };
    const soon = () => {
      touched = true;
      clearTimeout(timer);
      timer = setTimeout(save, 200);
      unsavedDrafts.set(key, { save, cancel });
    };
    form.addEventListener("input", soon);
    form.addEventListener("change", soon);
    FCStore.meta.get(key).then((values) => {
      if (!values || touched) return;
      // The outcome first: it decides whom the agent may say they met.
      form.elements.outcome.value = values.outcome || "";
      refresh();
      for (const [name, value] of Object.entries(values)) {
        if (name !== "outcome" && form.elements[name]) form.elements[name].value = value;
      }
      refresh();
    }).catch(reportError);
  }

  // ---- what this phone holds for a stop, and the outbox

  function entriesFor(taskId) {
    const waiting = S.waiting.filter((i) => taskId === undefined || i.task_id === taskId)
      .map((i) => ({ id: i.id, type: i.type, task_id: i.task_id, status: "waiting", created_at: i.created_at }));
    const answered = S.log.filter((e) => taskId === undefined || e.task_id === taskId);
    return { waiting, answered };
  }

  function eventRow(entry) {
    const stop = stopById(entry.task_id);
    const label = `${t(`ev_${entry.type}`)}${stop ? ` · ${stop.sequence}. ${stop.debtor.name}` : ` · #${entry.task_id}`}`;
    const status = entry.duplicate ? "duplicate" : entry.status;
    const row = h("li", { class: `event ${entry.status}`, dataset: { status: entry.status, type: entry.type, id: entry.id } },
      h("div", { class: "row" }, h("span", { class: "grow" }, label),
        h("span", { class: `st ${entry.status}` }, t(`st_${REFUSED.includes(entry.status) ? entry.status : status}`))),
      h("span", { class: "muted small" }, whenFull(entry.answered_at || entry.created_at)));
    if (REFUSED.includes(entry.status)) row.append(refusalBlock(entry, null));
    const flags = (entry.answer && entry.answer.flags) || [];
    for (const flag of flags) row.append(h("p", { class: "warn small flag" }, t("flagged", { reason: i18n.reason(flag) })));
    return row;
  }

  function eventsCard(taskId) {
    const { waiting, answered } = entriesFor(taskId);
    const all = answered.concat(waiting).sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
    return h("div", { class: "card" }, h("h3", null, t("events")),
      all.length ? h("ul", { class: "events", id: "stop-events" }, all.map(eventRow)) : h("p", { class: "muted" }, t("nothing")));
  }

  function renderOutbox() {
    show("outbox");
    $("title").textContent = t("outbox_title");
    const view = $("view-outbox");
    renderSigninBanner(view);
    const { waiting, answered } = entriesFor(undefined);
    const refused = answered.filter((e) => REFUSED.includes(e.status));
    const sent = answered.filter((e) => !REFUSED.includes(e.status));
    const newest = (a, b) => ((a.answered_at || a.created_at) < (b.answered_at || b.created_at) ? 1 : -1);
    const fill = (id, entries, countId) => {
      $(countId).textContent = String(entries.length);
      clear($(id)).append(...(entries.length ? entries.map(eventRow) : [h("li", { class: "muted" }, t("nothing"))]));
    };
    fill("list-waiting", waiting, "count-waiting");
    fill("list-refused", refused.sort(newest), "count-refused");
    fill("list-sent", sent.sort(newest).slice(0, 100), "count-sent");
    $("count-sent").textContent = String(sent.length);
    const state = S.outbox.state;
    const phase = !S.online ? "offline" : state.phase;
    $("outbox-status").textContent = [t(`phase_${phase}`, { error: state.error || "" }),
      state.lastSentAt ? t("last_sent", { at: whenFull(state.lastSentAt) }) : ""].join(" ");
    $("outbox-status").dataset.phase = phase;
    const user = storedUser();
    $("account").textContent = t("signed_in_as", { user: user ? user.username : "", crew: S.route ? S.route.crew : "–" });
  }

  function renderBadge() {
    const badge = $("sync-badge");
    badge.hidden = false;
    const waiting = S.waiting.length;
    const refused = S.log.filter((e) => REFUSED.includes(e.status)).length;
    const parts = [t(S.online ? "badge_online" : "badge_offline")];
    if (waiting) parts.push(t("badge_waiting", { n: waiting }));
    if (refused) parts.push(t("badge_refused", { n: refused }));
    if (!waiting && !refused) parts.push(t("badge_all_sent"));
    badge.textContent = parts.join(" · ");
    badge.dataset.state = !S.online ? "offline" : refused ? "refused" : waiting ? "waiting" : "idle";
    badge.dataset.waiting = String(waiting);
    $("tab-count").textContent = waiting ? String(waiting) : "";
  }

  // ---------------------------------------------------------------- actions

  /** The phone's position; ``fresh`` for a check-in or check-out, which must not reuse
   * a fix taken at the previous door. */
  function locate(stop, fresh) {
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

  function positionBody(fix) {
    return { lat: fix.lat, lon: fix.lon, accuracy_m: Math.round((fix.accuracy_m ?? 0) * 10) / 10,
             device_time: new Date().toISOString(), mock_location: false };
  }

  async function afterQueued(message) {
    await loadQueue();
    renderCurrent();
    toast(S.online ? message : t("queued_offline"));
    S.outbox.flush();
  }

  async function checkIn(stop, button) {
    button.disabled = true;
    let fix;
    try { fix = await locate(stop, true); } catch (e) { button.disabled = false; return; }
    const id = FCSync.eventId("check_in", stop.task_id);
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

  async function startRecording(stop, visit) {
    const checkinId = visit && visit.checkin ? visit.checkin.id : null;
    const result = await S.recorder.start(stop.task_id, checkinId);
    S.recordingNotice[stop.task_id] = result.ok ? null : ({ no_microphone: "missing", denied: "denied",
                                                            unsupported: "unsupported" }[result.reason] || "missing");
    renderCurrent();
  }

  /** Finished recordings of a task (or of every task) join the queue; empty ones are dropped. */
  async function queueRecordings(taskId) {
    for (const file of await S.recorder.finished(taskId)) {
      if (file.empty) { await S.recorder.discard(file.part); continue; }
      await S.outbox.addRecording(file);
    }
  }

  async function saveOutcome(stop, chosen, button) {
    button.disabled = true;
    button.blur();  // the form is done with: what follows may redraw it
    const id = FCSync.eventId("visit", stop.task_id);
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
  function askCheckOut(stop, button) {
    if (!recordingShortfall(stop, visitOf(stop.task_id))) return checkOut(stop, button);
    S.checkoutAsked = stop.task_id;  // kept across redraws (an answer from the server redraws the stop)
    const old = $("checkout-warning");
    if (old) old.remove();
    const warning = checkoutWarning(stop, button);
    if (warning) button.before(warning);
    if ($("checkout-confirm")) $("checkout-confirm").focus();
    return null;
  }

  function checkoutWarning(stop, button) {
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

  async function checkOut(stop, button) {
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
    const id = FCSync.eventId("check_out", stop.task_id);
    const event = { type: "check_out", task_id: stop.task_id, client_event_id: id, ...positionBody(fix) };
    await S.outbox.addEvent(event, (visit) => {
      visit.checkout = { id, at: event.device_time, lat: fix.lat, lon: fix.lon, status: "waiting" };
    });
    await afterQueued(t("check_out_saved"));
  }

  // ---------------------------------------------------------------- what the queue and the recorder say

  async function onSyncChange(change) {
    if (change.settled) {
      const entry = change.settled;
      if (REFUSED.includes(entry.status) && !entry.duplicate && entry.type === "check_in" && S.recorder.recording(entry.task_id)) {
        // The visit did not open: the recording stops and is kept on the phone, not uploaded.
        await S.recorder.stop();
        await queueRecordings(entry.task_id);
        S.outbox.flush();
      }
      if (REFUSED.includes(entry.status) && S.view === "stop") {
        toast(t("refused_toast", { reason: reasonOf(entry.answer).text }), true);
      }
    }
    if (change.phase === "signed_out") signedOut();
    await loadQueue();
    renderQuietly();
    if (change.phase === "idle" && change.phase !== S.lastPhase && S.online && api.signedIn() && S.route) {
      downloadRoute(true);  // the crew partner's and the server's view of the day
    }
    if (change.phase) S.lastPhase = change.phase;
  }

  function onRecorderChange(change) {
    if (change.error) toast(String(change.error.message || change.error), true);
  }

  function signedOut() {
    localStorage.removeItem(SESSION_KEY);
    renderCurrent();
  }

  // ---------------------------------------------------------------- start

  async function startAs(user) {
    if (S.user === user.username && S.outbox) {  // signed in again: the same queue and recorder go on
      renderCurrent();
      S.outbox.flush();
      return;
    }
    S.user = user.username;
    S.ready = false;
    S.outbox = new FCSync.Outbox(api, S.user, (change) => { onSyncChange(change).catch(reportError); });
    S.recorder = new FCRecorder.Recorder(S.user, onRecorderChange);
    S.date = (await FCStore.meta.get(`date|${S.user}`)) || localToday();
    await loadState();
    S.ready = true;
    // Recordings cut short when the app was last closed are finished and queued now.
    await queueRecordings(undefined);
    await loadQueue();
    renderCurrent();
    if (api.signedIn() && !S.route && S.online) await downloadRoute(true);
    S.outbox.flush();
  }

  async function signIn(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = $("signin-error");
    error.textContent = "";
    try {
      const user = await api.login(form.username.value.trim(), form.password.value);
      if (user.role !== "agent") {
        await api.logout();
        error.textContent = t("signin_not_agent", { user: user.username, role: user.role });
        return;
      }
      localStorage.setItem(USER_KEY, JSON.stringify({ username: user.username, display_name: user.display_name }));
      form.password.value = "";
      if (!location.hash || location.hash === "#/signin") location.hash = "#/";
      await startAs(user);
    } catch (e) {
      error.textContent = e instanceof FC.ApiError ? e.message : t("signin_offline");
    }
  }

  async function signOut() {
    const waiting = S.waiting.length;
    if (waiting && !window.confirm(t("signout_confirm", { n: waiting }))) return;
    if (S.recorder) await S.recorder.stop();
    const user = S.user;
    await FCStore.write(["routes", "meta"], async (s) => {
      // The debtors' details leave the phone with the agent (routes, half-typed outcomes);
      // unsent actions stay until they are sent.
      const keys = await FCStore.done(s.routes.getAllKeys());
      for (const key of keys) if (key.startsWith(`${user}|`)) await FCStore.done(s.routes.delete(key));
      const drafts = await FCStore.done(s.meta.getAllKeys());
      for (const key of drafts) if (key.startsWith(`draft|${user}|`)) await FCStore.done(s.meta.delete(key));
    });
    await api.logout();
    localStorage.removeItem(USER_KEY);
    S.user = null;
    S.ready = false;
    S.route = null;
    S.outbox = null;
    S.recorder = null;
    S.forms.clear();
    showSignin(false);
  }

  function registerServiceWorker() {
    if (!("serviceWorker" in navigator)) { S.shell = "unsupported"; return; }
    navigator.serviceWorker.register(body.dataset.sw, { scope: body.dataset.scope }).catch(() => {
      // Offline: the worker installed earlier goes on serving the shell.
    });
    const ready = () => {
      if (navigator.serviceWorker.controller) {
        S.shell = "ready";
        if (S.view === "day") renderOfflineReady();
      }
    };
    navigator.serviceWorker.addEventListener("controllerchange", ready);
    navigator.serviceWorker.ready.then(ready);
    ready();
  }

  function setLangButton() {
    $("lang").textContent = i18n.lang === "zh" ? "EN" : "中文";
    // The accessible name holds the visible text (a voice user says what they see).
    $("lang").setAttribute("aria-label", i18n.lang === "zh" ? "EN — English" : "中文 — Chinese");
    document.documentElement.lang = i18n.locale;
  }

  function reportError(error) {
    toast(String((error && error.message) || error), true);
    throw error;
  }

  function bind() {
    $("signin-form").addEventListener("submit", signIn);
    $("lang").addEventListener("click", () => {
      i18n.set(i18n.lang === "zh" ? "en" : "zh");
      S.forms.clear();  // rebuilt with the labels of the new language
      S.mapDrawn = null;
      $("toast").hidden = true;
      setLangButton();
      if (S.user) renderCurrent(); else showSignin(false);
    });
    $("back").addEventListener("click", () => { location.hash = "#/"; });
    $("sync-badge").addEventListener("click", () => { location.hash = "#/outbox"; });
    $("download").addEventListener("click", () => downloadRoute(false));
    $("day-date").addEventListener("change", async (event) => {
      if (!event.target.value) return;
      S.date = event.target.value;
      await FCStore.meta.set(`date|${S.user}`, S.date);
      await loadState();
      renderCurrent();
      if (!S.route && S.online) downloadRoute(true);
    });
    $("send-now").addEventListener("click", () => S.outbox && S.outbox.flush());
    $("signout").addEventListener("click", () => signOut().catch(reportError));
    window.addEventListener("hashchange", () => {
      S.positionError = null;
      S.positionTask = null;
      renderCurrent();
      window.scrollTo(0, 0);
    });
    window.addEventListener("online", () => { S.online = true; renderCurrent(); if (S.outbox) S.outbox.flush(); });
    window.addEventListener("offline", () => { S.online = false; renderCurrent(); });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && S.outbox) S.outbox.flush();
    });
    // A steady, cheap retry: something may be waiting after a lost answer or a server hiccup.
    S.timer = setInterval(() => {
      if (S.outbox && S.waiting.length && S.online) S.outbox.flush();
    }, 15000);
    setInterval(() => {
      const clock = $("rec-clock");
      if (clock && S.recorder) clock.textContent = recordingClock();
      const countdown = $("rec-countdown");
      const stop = countdown && stopById(Number(countdown.dataset.task));
      const shown = stop && countdownText(stop, visitOf(stop.task_id));
      if (shown) {
        countdown.textContent = shown.text;
        countdown.className = shown.met ? "ok small" : "warn small";
        countdown.dataset.met = shown.met ? "yes" : "no";
      }
    }, 1000);
  }

  async function boot() {
    // Ask the browser not to evict what is waiting to be sent when the phone runs short of space.
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
    i18n.apply();
    setLangButton();
    bind();
    registerServiceWorker();
    const user = storedUser();
    if (!user) { showSignin(false); return; }
    await startAs(user);
  }

  boot().catch(reportError);
})();
