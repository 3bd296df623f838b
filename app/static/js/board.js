/* The dispatch board: a supervisor's day — map, routes, planning, manual moves, live
 * statuses, and the flags and approvals waiting for a person. */
(function () {
  "use strict";
  const { h, clear, i18n, api } = FC;
  const POLL_MS = 4000;

  i18n.add({
    en: {
      "signin.title": "Dispatch board — sign in", "signin.username": "Username", "signin.password": "Password",
      "signin.submit": "Sign in", "signout": "Sign out", "board.title": "Dispatch board", "board.date": "Date",
      "board.scope": "Team", "board.plan": "Plan the day", "board.live": "live", "board.offline": "reconnecting…",
      "tab.crews": "Crews", "tab.plan": "Plan", "tab.attention": "Attention", "board.unassigned": "Unassigned",
      "board.noDraft": "Press “Plan the day” to see a draft beside the current plan.",
      "board.summary": "{assigned} assigned · {checked_in} at the door · {done} done · {open} unassigned · {flagged} flagged",
      "board.noTasks": "No tasks for this day yet.", "board.move": "Move to", "board.moveButton": "Move",
      "board.unassign": "Unassign", "board.moveMenu": "Move…", "board.reasonPlaceholder": "reason for the move",
      "board.moved": "Task moved to {crew}.", "board.refused": "Not moved: {reason}",
      "board.stops": "{n} stops", "board.capacity": "capacity {n}", "board.position": "last seen {time}",
      "draft.title": "Draft plan for {date}", "draft.current": "Current plan", "draft.draft": "Draft",
      "draft.none": "none committed", "draft.assigned": "Assigned", "draft.unassigned": "Unassigned",
      "draft.km": "Distance (km)", "draft.priority": "Priority served", "draft.load": "Load per crew",
      "draft.commit": "Commit this plan", "draft.committed": "Plan committed.", "draft.why": "Why unassigned",
      "draft.crews": "Crews not eligible", "draft.planning": "Planning…",
      "attention.flags": "Conduct flags", "attention.approvals": "Waivers awaiting approval",
      "attention.none": "Nothing waiting.", "attention.resolve": "Resolve", "attention.dismiss": "Dismiss",
      "attention.notes": "notes", "attention.approve": "Approve", "attention.done": "Saved.",
      "attention.open": "Open", "reason.policy": "Conduct policy", "reason.capacity": "No room left",
      "reason.skills": "No crew speaks the debtor's language", "reason.window_unreachable": "No reachable time window",
      "reason.no_eligible_collector": "No eligible crew", "reason.manual": "Moved by hand",
      "reason.time_passed": "Its time passed before the commit", "reason.crew": "Crew no longer available",
      "reason.no_location": "No place on the map", "tab.pins": "Pins",
      "pins.help": "Cases known only by their address: place each debtor's pin on the map (drag it, or click the map), then save.",
      "pins.none": "Every debtor has a place on the map.", "pins.place": "Place pin", "pins.correct": "Correct pin",
      "pins.save": "Save pin", "pins.cancel": "Cancel", "pins.editing": "Pin for {what}",
      "pins.moved": "Moved {m} m from the current pin", "pins.dropped": "{m} m from where it was dropped",
      "pins.saved": "Pin saved.", "pins.savedMoved": "Pin saved, moved {m} m.",
      "pins.attempts": "geocoder tries: {n}",
      "status.assigned": "planned", "status.checked_in": "checked in", "status.done": "done",
      "status.flagged": "flagged", "status.open": "unassigned", "status.cancelled": "cancelled",
      "status.withdrawn": "withdrawn",
      "role.notAllowed": "This page is for supervisors.",
    },
    zh: {
      "signin.title": "调度看板 — 登录", "signin.username": "用户名", "signin.password": "密码", "signin.submit": "登录",
      "signout": "退出", "board.title": "调度看板", "board.date": "日期", "board.scope": "团队", "board.plan": "生成当日计划",
      "board.live": "实时", "board.offline": "正在重连…", "tab.crews": "小组", "tab.plan": "计划", "tab.attention": "待处理",
      "board.unassigned": "未分配", "board.noDraft": "点击“生成当日计划”查看草稿与当前计划的对比。",
      "board.summary": "已计划 {assigned} · 上门中 {checked_in} · 已完成 {done} · 未分配 {open} · 有标记 {flagged}",
      "board.noTasks": "当天还没有任务。", "board.move": "改派给", "board.moveButton": "改派", "board.unassign": "取消分配", "board.moveMenu": "改派…",
      "board.reasonPlaceholder": "改派原因", "board.moved": "任务已改派给 {crew}。", "board.refused": "未改派：{reason}",
      "board.stops": "{n} 个上门点", "board.capacity": "容量 {n}", "board.position": "最后位置 {time}",
      "draft.title": "{date} 计划草稿", "draft.current": "当前计划", "draft.draft": "草稿", "draft.none": "尚未提交",
      "draft.assigned": "已分配", "draft.unassigned": "未分配", "draft.km": "里程（公里）", "draft.priority": "优先级合计",
      "draft.load": "各小组任务数", "draft.commit": "提交此计划", "draft.committed": "计划已提交。", "draft.why": "未分配原因",
      "draft.crews": "不符合条件的小组", "draft.planning": "正在计算…",
      "attention.flags": "行为标记", "attention.approvals": "待审批的减免", "attention.none": "暂无待处理事项。",
      "attention.resolve": "处理完毕", "attention.dismiss": "驳回", "attention.notes": "备注", "attention.approve": "批准",
      "attention.done": "已保存。", "attention.open": "查看", "reason.policy": "合规规则", "reason.capacity": "容量已满",
      "reason.skills": "没有会说债务人语言的小组", "reason.window_unreachable": "无法在可上门时段到达",
      "reason.no_eligible_collector": "没有符合条件的小组", "reason.manual": "人工改派",
      "reason.time_passed": "提交前计划时间已过", "reason.crew": "小组已不可用",
      "reason.no_location": "尚无地图位置", "tab.pins": "标注",
      "pins.help": "仅有地址的案件：请在地图上为债务人放置标注（拖动标注或点击地图），然后保存。",
      "pins.none": "所有债务人都已有地图位置。", "pins.place": "放置标注", "pins.correct": "修正标注",
      "pins.save": "保存标注", "pins.cancel": "取消", "pins.editing": "标注：{what}",
      "pins.moved": "距当前标注已移动 {m} 米", "pins.dropped": "距放置点 {m} 米",
      "pins.saved": "标注已保存。", "pins.savedMoved": "标注已保存，移动了 {m} 米。",
      "pins.attempts": "地理编码尝试次数：{n}",
      "status.assigned": "已计划", "status.checked_in": "已签到", "status.done": "已完成", "status.flagged": "有标记",
      "status.open": "未分配", "status.cancelled": "已取消", "status.withdrawn": "已撤下", "role.notAllowed": "此页面供主管使用。",
    },
  });

  const state = { board: null, draft: null, crewIndex: {}, timer: null, map: null };
  const $ = (id) => document.getElementById(id);

  function toast(text, bad) {
    const el = $("toast");
    el.textContent = text;
    el.classList.toggle("bad", !!bad);
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, 5000);
  }

  function refusalText(error) {
    const rule = error.ruleId ? ` [${error.ruleId}]` : "";
    const zh = error.details && error.details.reason_zh;
    return (i18n.lang === "zh" && zh ? zh : error.message) + rule;
  }

  function reasonText(reason) {
    if (!reason) return "";
    if (reason.rules && reason.rules.length) return reason.rules.map((r) => `${i18n.reason(r)} [${r.rule_id}]`).join("; ");
    const label = i18n.t(`reason.${reason.reason}`);
    const text = i18n.lang === "zh" && reason.text_zh ? reason.text_zh : reason.text;
    return text ? `${label}: ${text}` : label;
  }

  // ---------------------------------------------------------------- sign-in and start

  function showSignin() {
    $("board").hidden = true;
    $("signin").hidden = false;
    i18n.apply();
  }

  async function start() {
    const user = api.user;
    if (!api.signedIn() || !user) return showSignin();
    if (!["supervisor", "admin", "auditor"].includes(user.role)) {
      $("signin-error").textContent = i18n.t("role.notAllowed");
      return showSignin();
    }
    $("signin").hidden = true;
    $("board").hidden = false;
    $("who").textContent = `${user.display_name || user.username} (${user.role})`;
    $("plan").hidden = user.role === "auditor";
    i18n.apply();
    if (!state.map) {
      state.map = new FCMap($("map"), { tileUrl: document.body.dataset.tileUrl,
                                        attribution: document.body.dataset.tileAttribution });
    }
    await loadScopes(user);
    await refresh(true);
    if (user.role !== "auditor") loadPins();
    schedule();
  }

  async function loadScopes(user) {
    const select = clear($("scope"));
    const teams = (await api.call("GET", "/api/v1/teams")).items;
    for (const team of teams) select.append(h("option", { value: `team:${team.code}` }, `${team.code} — ${team.name}`));
    // A team's supervisor plans their team; a regional supervisor or an admin may plan a whole region.
    if (user.role !== "supervisor" || user.region) {
      const regions = [...new Set(teams.map((t) => t.region))];
      for (const region of regions) select.append(h("option", { value: `region:${region}` }, `▣ ${region}`));
    }
    if (user.team) select.value = `team:${user.team}`;
  }

  function scopeQuery() {
    const [kind, code] = $("scope").value.split(":");
    return { kind, code, query: `date=${$("day").value}&${kind}=${encodeURIComponent(code)}` };
  }

  // ---------------------------------------------------------------- live board

  function schedule() {
    clearInterval(state.timer);
    state.timer = setInterval(() => refresh(false), POLL_MS);
  }

  async function refresh(fit) {
    if (!$("scope").value || !$("day").value) return;
    const query = scopeQuery().query;
    try {
      const board = await api.call("GET", `/api/v1/board?${query}`);
      // A day or scope picked while this was on its way: its own answer is the one to show.
      if (query !== scopeQuery().query) return;
      state.board = board;
      $("live").textContent = i18n.t("board.live");
      $("live").classList.remove("stale");
      render(fit);
    } catch (error) {
      if (error.status === 401) return showSignin();
      $("live").textContent = i18n.t("board.offline");
      $("live").classList.add("stale");
    }
  }

  function render(fit) {
    const board = state.board;
    state.crewIndex = Object.fromEntries(board.crews.map((c, i) => [c.code, i]));
    const counts = board.counts;
    $("summary").textContent = board.tasks.length ? i18n.t("board.summary", {
      assigned: counts.assigned || 0, checked_in: counts.checked_in || 0, done: counts.done || 0,
      open: counts.open || 0, flagged: counts.flagged || 0 }) : i18n.t("board.noTasks");
    const attention = board.attention.open_flags + board.attention.pending_approvals;
    $("attention-count").textContent = attention ? String(attention) : "";
    renderMap(fit);
    renderCrews();
    if (!$("tab-attention").hidden) loadAttention();
  }

  function renderMap(fit) {
    const map = state.map;
    const board = state.board;
    map.clear();
    board.crews.forEach((crew, index) => {
      const colour = map.crewColour(index);
      // In route order; a withdrawn stop (no number) last, with why.
      const stops = board.tasks.filter((t) => t.crew === crew.code)
        .sort((a, b) => (a.sequence ?? Infinity) - (b.sequence ?? Infinity));
      const points = [];
      if (crew.home) points.push([crew.home.lat, crew.home.lon]);
      stops.filter((t) => t.lat != null).forEach((t) => points.push([t.lat, t.lon]));
      map.route(points, colour, crew.code);
      if (crew.home) map.home(crew.home.lat, crew.home.lon, colour, `${crew.code} — ${crew.members.join(", ")}`);
      if (crew.position) map.position(crew.position.lat, crew.position.lon, colour,
        `${crew.code}: ${i18n.t("board.position", { time: i18n.time(crew.position.at, board.timezone) })}`);
    });
    board.tasks.filter((t) => t.lat != null).forEach((t) => map.task(t.lat, t.lon, t.display_status,
      `${t.loan_ref} · ${i18n.t(`status.${t.display_status}`)}${t.crew ? ` · ${t.crew} #${t.sequence}` : ""}`));
    if (fit) map.fit();
  }

  function moveControls(task) {
    if (api.user.role === "auditor" || !["open", "assigned", "withdrawn"].includes(task.status)) return null;
    // What the supervisor has open and chosen survives the board's live refreshes.
    state.moving = state.moving || {};
    const kept = state.moving[task.id] || {};
    const select = h("select", { "aria-label": i18n.t("board.move"),
                                 onchange: (e) => { kept.crew = e.target.value; } },
      state.board.crews.filter((c) => c.code !== task.crew).map((c) => h("option", { value: c.code }, c.code)));
    if (kept.crew) select.value = kept.crew;
    const note = h("input", { placeholder: i18n.t("board.reasonPlaceholder"), size: 14,
                              oninput: (e) => { kept.note = e.target.value; } });
    if (kept.note) note.value = kept.note;
    // The last refusal of a move stays with its task across the board's live refreshes.
    state.refusals = state.refusals || {};
    const refusal = h("div", { class: "refusal error", role: "alert" }, state.refusals[task.id] || "");
    const refuse = (text) => {
      state.refusals[task.id] = text;
      document.querySelectorAll(`.stop[data-task='${task.id}'] .refusal.error`).forEach((el) => { el.textContent = text; });
    };
    const move = h("button", { onclick: async () => {
      refuse("");
      try {
        await api.call("POST", `/api/v1/tasks/${task.id}/assign`,
          { crew: select.value, reason: note.value || "moved on the board", from_crew: task.crew });
        toast(i18n.t("board.moved", { crew: select.value }));
        delete state.moving[task.id];
        await refresh(false);
      } catch (error) {
        refuse(i18n.t("board.refused", { reason: refusalText(error) }));
        toast(state.refusals[task.id], true);
      }
    } }, i18n.t("board.moveButton"));
    const unassign = task.status === "assigned" ? h("button", { class: "danger", onclick: async () => {
      try {
        await api.call("POST", `/api/v1/tasks/${task.id}/unassign`, { reason: note.value || "unassigned on the board" });
        refuse("");
        await refresh(false);
      } catch (error) { refuse(refusalText(error)); }
    } }, i18n.t("board.unassign")) : null;
    const details = h("details", { class: "move", ontoggle: (e) => {
      if (e.target.open) state.moving[task.id] = kept;
      else delete state.moving[task.id];
    } }, h("summary", {}, i18n.t("board.moveMenu")), h("div", {}, i18n.t("board.move"), select, note, move, unassign));
    if (state.moving[task.id]) details.open = true;
    return [details, refusal];
  }

  function stopRow(task, timezone) {
    return h("div", { class: "stop", dataset: { task: task.id, status: task.display_status } },
      h("strong", {}, task.sequence ? String(task.sequence) : "·"),
      h("div", {}, h("div", {}, task.loan_ref, " · ", task.debtor),
        h("div", { class: "muted" }, task.planned_start ? `${i18n.time(task.planned_start, timezone)} · ` : "",
          task.address)),
      h("span", { class: `pill ${task.display_status}` }, i18n.t(`status.${task.display_status}`)),
      ["open", "withdrawn"].includes(task.status) ? h("div", { class: "refusal muted" }, reasonText(task.reason)) : null,
      moveControls(task), pinButton(task));
  }

  function renderCrews() {
    const board = state.board;
    const crews = clear($("crews"));
    board.crews.forEach((crew, index) => {
      // In route order; a withdrawn stop (no number) last, with why.
      const stops = board.tasks.filter((t) => t.crew === crew.code)
        .sort((a, b) => (a.sequence ?? Infinity) - (b.sequence ?? Infinity));
      crews.append(h("div", { class: "crew", dataset: { crew: crew.code } },
        h("h4", {}, h("span", { class: "swatch", style: null, dataset: { colour: state.map.crewColour(index) } }),
          crew.code, h("span", { class: "muted" }, crew.members.join(" · ")),
          h("span", { class: "pill" }, i18n.t("board.stops", { n: stops.length })),
          h("span", { class: "muted" }, i18n.t("board.capacity", { n: crew.capacity }))),
        stops.map((t) => stopRow(t, board.timezone))));
    });
    crews.querySelectorAll(".swatch").forEach((el) => { el.style.background = el.dataset.colour; });
    const unassigned = clear($("unassigned"));
    board.tasks.filter((t) => !t.crew).forEach((t) => unassigned.append(stopRow(t, board.timezone)));
  }

  // ---------------------------------------------------------------- planning

  async function planDay() {
    const { kind, code } = scopeQuery();
    showTab("draft");
    const box = clear($("draft"));
    box.append(h("p", { class: "muted" }, i18n.t("draft.planning")));
    try {
      state.draft = await api.call("POST", "/api/v1/dispatch/plans", { date: $("day").value, [kind]: code });
      // The draft is shown beside the plan of its own day and scope, never a board still on its way.
      const board = state.board, draft = state.draft;
      if (!board || board.date !== draft.date || board.team !== draft.team || board.region !== draft.region) {
        await refresh(false);
      }
      renderDraft();
    } catch (error) {
      clear(box).append(h("p", { class: "error" }, refusalText(error)));
    }
  }

  function renderDraft() {
    const draft = state.draft;
    const current = state.board && state.board.plan;
    const row = (label, now, next) => h("tr", {}, h("th", {}, label), h("td", {}, now), h("td", {}, next));
    const load = (summary) => Object.entries((summary && summary.load) || {}).map(([c, n]) => `${c}: ${n}`).join(", ");
    const cur = current ? current.summary : null;
    const box = clear($("draft"));
    box.append(
      h("h3", {}, i18n.t("draft.title", { date: i18n.date(draft.date) })),
      h("table", { class: "comparison" },
        h("tr", {}, h("th", {}), h("th", {}, i18n.t("draft.current")), h("th", {}, i18n.t("draft.draft"))),
        row(i18n.t("draft.assigned"), cur ? cur.assigned : i18n.t("draft.none"), draft.summary.assigned),
        row(i18n.t("draft.unassigned"), cur ? cur.unassigned : "—", draft.summary.unassigned),
        row(i18n.t("draft.km"), cur ? cur.distance_km : "—", draft.summary.distance_km),
        row(i18n.t("draft.priority"), cur ? cur.priority_sum : "—", draft.summary.priority_sum),
        row(i18n.t("draft.load"), cur ? load(cur) : "—", load(draft.summary))),
      api.user.role === "auditor" ? null : h("p", {}, h("button", { class: "primary", id: "commit", onclick: commitDraft },
        i18n.t("draft.commit"))),
      h("h4", {}, i18n.t("draft.why")),
      h("table", { class: "unassigned-reasons" }, draft.unassigned.map((u) => h("tr", {},
        h("td", {}, u.loan_ref), h("td", {}, i18n.t(`reason.${u.reason}`)),
        h("td", { class: "muted" }, u.rules && u.rules.length
          ? u.rules.map((r) => `${i18n.reason(r)} [${r.rule_id}]`).join("; ")
          : ((i18n.lang === "zh" && u.why_zh) || u.why || ""))))),
      h("h4", {}, i18n.t("draft.crews")),
      h("ul", {}, draft.crews.filter((c) => !c.eligible).map((c) => h("li", {}, `${c.crew}: `,
        c.rules.map((r) => `${i18n.reason(r)} [${r.rule_id}]`).join("; ")))));
  }

  async function commitDraft() {
    try {
      await api.call("POST", `/api/v1/dispatch/plans/${state.draft.id}/commit`);
      toast(i18n.t("draft.committed"));
      state.draft = null;
      clear($("draft")).append(h("p", { class: "ok" }, i18n.t("draft.committed")));
      showTab("crews");
      await refresh(true);
    } catch (error) {
      toast(refusalText(error), true);
    }
  }

  // ---------------------------------------------------------------- attention

  async function loadAttention() {
    const [flags, approvals] = await Promise.all([
      api.call("GET", "/api/v1/conduct/flags?status=open&limit=100"),
      api.call("GET", "/api/v1/agreements?status=pending_approval&limit=100"),
    ]);
    const flagBox = clear($("flags"));
    if (!flags.items.length) flagBox.append(h("p", { class: "muted" }, i18n.t("attention.none")));
    for (const flag of flags.items) {
      const notes = h("input", { placeholder: i18n.t("attention.notes"), size: 18 });
      const review = (status) => async () => {
        try {
          await api.call("POST", `/api/v1/conduct/flags/${flag.id}/review`, { status, notes: notes.value || status });
          toast(i18n.t("attention.done"));
          loadAttention();
          refresh(false);
        } catch (error) { toast(refusalText(error), true); }
      };
      flagBox.append(h("div", { class: "item flag", dataset: { flag: flag.id } },
        h("div", {}, h("span", { class: "pill open-flag" }, flag.kind), " ", flag.collector || "", " · ",
          i18n.dateTime(flag.raised_at, state.board && state.board.timezone)),
        h("details", {}, h("summary", {}, i18n.t("attention.open")),
          h("p", {}, i18n.reason(flag.details)), h("p", { class: "muted" }, `${flag.rule_id} · ${flag.profile_version}`),
          h("div", {}, notes, " ", h("button", { onclick: review("resolved") }, i18n.t("attention.resolve")), " ",
            h("button", { onclick: review("dismissed") }, i18n.t("attention.dismiss"))))));
    }
    const approvalBox = clear($("approvals"));
    if (!approvals.items.length) approvalBox.append(h("p", { class: "muted" }, i18n.t("attention.none")));
    for (const agreement of approvals.items) {
      const note = h("input", { placeholder: i18n.t("attention.notes"), size: 18 });
      approvalBox.append(h("div", { class: "item approval", dataset: { agreement: agreement.id } },
        h("div", {}, agreement.loan_ref, " · ", i18n.money(agreement.total, agreement.currency), " (−",
          i18n.money(agreement.waiver, agreement.currency), " / ", i18n.money(agreement.owed, agreement.currency), ")"),
        h("details", {}, h("summary", {}, i18n.t("attention.open")),
          h("ul", {}, agreement.instalments.map((i) => h("li", {}, `${i18n.date(i.due_date)}: `,
            i18n.money(i.amount, agreement.currency)))),
          api.user.role === "auditor" ? null : h("div", {}, note, " ", h("button", { class: "primary", onclick: async () => {
            try {
              await api.call("POST", `/api/v1/agreements/${agreement.id}/approve`, { note: note.value || "approved" });
              toast(i18n.t("attention.done"));
              loadAttention();
            } catch (error) { toast(refusalText(error), true); }
          } }, i18n.t("attention.approve"))))));
    }
  }

  // ---------------------------------------------------------------- pins

  function pinButton(task) {
    if (api.user.role === "auditor" || task.lat == null) return null;
    return h("button", { class: "pin-correct", onclick: () => {
      showTab("pins", true);
      editPin({ id: task.debtor_id, label: `${task.loan_ref} · ${task.address}` }, { lat: task.lat, lon: task.lon });
    } }, i18n.t("pins.correct"));
  }

  async function loadPins() {
    const { kind, code } = scopeQuery();
    const query = kind === "team" ? `&team=${encodeURIComponent(code)}` : "";
    let queue;
    try {
      queue = await api.call("GET", `/api/v1/pin-queue?limit=100${query}`);
    } catch (error) {
      if (error.status === 403) { $("pin-count").textContent = ""; return; }
      throw error;
    }
    $("pin-count").textContent = queue.items.length ? String(queue.items.length) : "";
    const box = clear($("pins"));
    if (!queue.items.length) box.append(h("p", { class: "muted" }, i18n.t("pins.none")));
    for (const debtor of queue.items) {
      const note = debtor.location_note || {};
      const refs = debtor.cases.map((c) => c.loan_ref).join(", ");
      box.append(h("div", { class: "item pin", dataset: { debtor: debtor.id, status: debtor.location_status } },
        h("div", {}, h("strong", {}, refs), " · ", debtor.address),
        h("div", { class: "muted note" }, (i18n.lang === "zh" ? note.zh : note.en) || "",
          debtor.geocode_attempts ? ` (${i18n.t("pins.attempts", { n: debtor.geocode_attempts })})` : ""),
        api.user.role === "auditor" ? null : h("button", { class: "primary pin-place", onclick: () =>
          editPin({ id: debtor.id, label: `${refs} · ${debtor.address}` }, null) }, i18n.t("pins.place"))));
    }
  }

  function editPin(debtor, current) {
    const start = current || state.map.centre();
    const readout = h("span", { class: "moved" }, "");
    const where = h("span", { class: "muted where" }, "");
    let point = { lat: start.lat, lon: start.lon };
    const show = (latlng) => {
      point = { lat: Number(latlng.lat.toFixed(6)), lon: Number(latlng.lng.toFixed(6)) };
      const metres = Math.round(L.latLng(start.lat, start.lon).distanceTo(latlng));
      readout.textContent = i18n.t(current ? "pins.moved" : "pins.dropped", { m: metres });
      where.textContent = ` ${point.lat.toFixed(5)}, ${point.lon.toFixed(5)}`;
    };
    const stop = () => { state.map.stopPin(); clear($("pin-editor")); state.pinning = null; };
    const save = h("button", { class: "primary pin-save", onclick: async () => {
      try {
        const answer = await api.call("PUT", `/api/v1/debtors/${debtor.id}/pin`, { lat: point.lat, lon: point.lon });
        toast(answer.moved_m != null ? i18n.t("pins.savedMoved", { m: Math.round(answer.moved_m) }) : i18n.t("pins.saved"));
        stop();
        await Promise.all([loadPins(), refresh(false)]);
      } catch (error) { toast(refusalText(error), true); }
    } }, i18n.t("pins.save"));
    const box = clear($("pin-editor"));
    box.append(h("div", { class: "item editing", dataset: { debtor: debtor.id } },
      h("div", {}, h("strong", {}, i18n.t("pins.editing", { what: debtor.label }))),
      h("div", {}, readout, where), h("div", {}, save, " ", h("button", { onclick: stop }, i18n.t("pins.cancel")))));
    state.pinning = debtor.id;
    state.map.editPin(start.lat, start.lon, show);
    show(L.latLng(start.lat, start.lon));
  }

  function showTab(name, keepPin) {
    document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    for (const tab of ["crews", "draft", "attention", "pins"]) $(`tab-${tab}`).hidden = tab !== name;
    if (name === "attention") loadAttention();
    if (name === "pins") loadPins();
    if (name !== "pins" && !keepPin && state.map) { state.map.stopPin(); clear($("pin-editor")); }
  }

  // ---------------------------------------------------------------- wiring

  document.addEventListener("DOMContentLoaded", () => {
    document.documentElement.lang = i18n.locale;
    $("day").value = FC.localToday();
    $("signin-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      $("signin-error").textContent = "";
      try {
        await api.login(form.get("username"), form.get("password"));
        await start();
      } catch (error) { $("signin-error").textContent = error.message; }
    });
    document.querySelectorAll(".lang-switch").forEach((b) => b.addEventListener("click", () => {
      i18n.set(i18n.lang === "zh" ? "en" : "zh");
      if (state.board) render(false);
      if (state.draft) renderDraft();
    }));
    $("signout").addEventListener("click", async () => { await api.logout(); clearInterval(state.timer); showSignin(); });
    $("plan").addEventListener("click", planDay);
    $("day").addEventListener("change", () => refresh(true));
    $("scope").addEventListener("change", () => { refresh(true); if (api.user && api.user.role !== "auditor") loadPins(); });
    document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
    start();
  });
})();
