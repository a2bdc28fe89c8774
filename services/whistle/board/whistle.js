// One whistle: what was reported, every department's call-out by round, the joint team, the timeline,
// and what the street can do next: close it with 两图一表 (销号), send the work back, record the
// follow-up (回访). Polls like the board; a form being filled in is never redrawn under the reader.

import { ApiError, get, post, session, Unauthenticated } from "./api.js";
import { h, replace } from "./dom.js";
import { apiForm } from "./forms.js";
import { currentLang, label, name, t, time } from "./i18n.js";
import { actorName, departmentLine, statusBadge, tick, trouble, troubleNote, urgencyBadge } from "./parts.js";
import { POLL_MS, stillSignedIn } from "./street.js";

function facts(w) {
  const row = (key, value) => (value ? [h("dt", {}, t(key)), h("dd", {}, value)] : []);
  return h("dl", { class: "facts" },
    row("whistle.address", w.place.address),
    row("whistle.grid", w.grid_code ? name("grid", w.grid_code) : ""),
    row("whistle.source", label("source", w.source)),
    row("whistle.reported_by", w.reported_by),
    row("whistle.raised_at", time(w.raised_at)),
    row("whistle.round", String(w.round)),
    row("whistle.linked_to", w.linked_to || ""),
    row("whistle.closure", w.closure ? t("whistle.closure_by", { by: w.closure.confirmed_by, time: time(w.closure.closed_at) }) : ""),
    row("whistle.follow_up", w.follow_up ? `${label("rating", w.follow_up.rating)} ${w.follow_up.comment || ""}` : ""));
}

function closeForm(w, done) {
  return apiForm({
    id: "close-form", submitLabel: t("close.submit"),
    fields: [
      { name: "confirmed_by", label: t("close.confirmed_by") },
      { name: "evidence.before_photo", label: t("close.before_photo"), hint: t("close.photo_hint") },
      { name: "evidence.after_photo", label: t("close.after_photo") },
      { name: "evidence.checklist", label: t("close.checklist"), type: "lines", hint: t("close.checklist_hint") },
    ],
    submit: async (body) => {
      await post(`/api/v1/whistles/${encodeURIComponent(w.id)}/closure`, { ...body, street_code: w.street_code });
      done();
      return t("close.done");
    },
  }).form;
}

function sendBackForm(w, departments, done) {
  return apiForm({
    id: "send-back-form", submitLabel: t("send_back.submit"),
    fields: [
      { name: "by", label: t("send_back.by") },
      { name: "reason", label: t("send_back.reason"), type: "textarea" },
      { name: "departments", label: t("send_back.departments"), type: "checks", hint: t("send_back.departments_hint"),
        options: departments.map((code) => [code, name("department", code)]) },
    ],
    submit: async (body) => {
      await post(`/api/v1/whistles/${encodeURIComponent(w.id)}/send-back`, { ...body, street_code: w.street_code });
      done();
      return t("send_back.done");
    },
  }).form;
}

function followUpForm(w, done) {
  return apiForm({
    id: "follow-up-form", submitLabel: t("follow_up.submit"),
    fields: [
      { name: "rating", label: t("follow_up.rating"), type: "select",
        options: ["satisfied", "basically_satisfied", "unsatisfied"].map((code) => [code, label("rating", code)]) },
      { name: "comment", label: t("follow_up.comment"), type: "textarea" },
      { name: "reopen", label: t("follow_up.reopen"), type: "checkbox" },
      { name: "recorded_by", label: t("follow_up.recorded_by") },
    ],
    submit: async (body) => {
      if (!body.comment) delete body.comment;
      await post(`/api/v1/whistles/${encodeURIComponent(w.id)}/follow-up`, body);
      done();
      return t("follow_up.done");
    },
  }).form;
}

function teamOf(team) {
  const members = team.members || [];
  const lead = members.find((m) => m.officer_code === team.lead_officer);
  return h("div", { class: "team", "data-team": team.team_id },
    lead ? h("p", {}, t("whistle.team_lead", { name: lead.name, department: name("department", lead.department_code) })) : null,
    h("ul", {}, members.map((m) => h("li", {}, `${m.name} · ${name("department", m.department_code)}`))),
    (team.gaps || []).length ? h("p", { class: "warn" }, t("whistle.team_gaps", {
      departments: team.gaps.map((code) => name("department", code)).join(t("list.separator")) })) : null);
}

export function mount(root, ctx) {
  const id = ctx.params[0];
  let timer = null, stopped = false, shownKey = null, seen = null;
  let callouts = [], timeline = [], team = null, teamProblem = null, calloutProblem = null;
  const head = h("div", { class: "whistle-head" });
  const factsBox = h("div", {});
  const calloutBox = h("div", { class: "callout-rounds" });
  const teamBox = h("div", {});
  const timelineBox = h("ol", { class: "timeline", "data-timeline": "" });
  const actionBox = h("div", { class: "whistle-actions", "data-actions": "" });
  replace(root, h("section", { class: "whistle-view", "data-whistle-view": id },
    head,
    h("div", { class: "whistle-body" },
      h("div", { class: "main-col" },
        h("section", { class: "panel" }, h("h2", {}, t("whistle.departments")), calloutBox),
        h("section", { class: "panel" }, h("h2", {}, t("whistle.timeline")), timelineBox)),
      h("aside", { class: "side-col" },
        h("section", { class: "panel" }, h("h2", {}, t("whistle.facts")), factsBox),
        h("section", { class: "panel" }, h("h2", {}, t("whistle.team")), teamBox),
        h("section", { class: "panel" }, h("h2", {}, t("whistle.actions")), actionBox)))));

  function renderActions(w) {
    const key = `${w.status}|${w.round}|${Boolean(w.follow_up)}`;
    if (key === shownKey) return;                 // keep what the reader is typing
    shownKey = key;
    const mayAct = session.principal?.kind === "street" && session.principal.code === w.street_code;
    const again = () => poll();
    const round = callouts.filter((c) => c.round === w.round && c.status !== "returned").map((c) => c.department_code);
    if (!mayAct) {
      replace(actionBox, h("p", { class: "muted" }, t("whistle.read_only")));
    } else if (w.status === "all_completed") {
      replace(actionBox, h("h3", {}, t("close.title")), closeForm(w, again),
        h("h3", {}, t("send_back.title")), sendBackForm(w, [...new Set(round)], again));
    } else if (w.status === "closed" && !w.follow_up) {
      replace(actionBox, h("h3", {}, t("follow_up.title")), followUpForm(w, again));
    } else {
      replace(actionBox, h("p", { class: "muted" }, w.status === "closed" ? t("whistle.done") : t("whistle.in_progress")));
    }
  }

  function render(w) {
    replace(head,
      h("a", { href: `#street/${encodeURIComponent(w.street_code)}`, class: "back" }, t("whistle.back", { street: name("street", w.street_code) })),
      h("h1", {}, urgencyBadge(w.urgency), name("category", w.category), statusBadge(w.status)),
      h("p", { class: "desc" }, w.description));
    replace(factsBox, facts(w));
    const rounds = [...new Set(callouts.map((c) => c.round))].sort((a, b) => b - a);
    replace(calloutBox, calloutProblem ? troubleNote(calloutProblem) : null,
      rounds.length ? rounds.map((r) => h("div", { class: "round", "data-deadline-group": "" },
        h("h3", {}, t("whistle.round_title", { round: r })),
        h("ul", { class: "departments" }, callouts.filter((c) => c.round === r).map((c) => departmentLine(c)))))
      : h("p", { class: "muted" }, t("street.waiting_dispatch")));
    replace(teamBox, teamProblem ? h("p", { class: "muted" }, teamProblem)
      : team ? teamOf(team)
      : h("p", { class: "muted" }, t("whistle.no_team")));
    replace(timelineBox, [...timeline].reverse().map((line) =>
      h("li", { "data-kind": line.kind }, h("time", {}, time(line.at)), h("span", { class: "summary" }, line.summary),
        h("span", { class: "actor" }, actorName(line.actor)))));
    renderActions(w);
    tick(root);
  }

  async function refresh() {
    const [, w] = await Promise.all([stillSignedIn(), get(`/api/v1/whistles/${encodeURIComponent(id)}`)]);
    if (seen !== w.updated_at) {
      const [c, tl, tm] = await Promise.allSettled([
        get(`/board/api/dispatch/whistles/${encodeURIComponent(id)}/callouts`),
        get(`/api/v1/whistles/${encodeURIComponent(id)}/timeline`, { lang: currentLang() }),
        get(`/board/api/roster/whistles/${encodeURIComponent(id)}/team`),
      ]);
      for (const r of [c, tl, tm]) if (r.status === "rejected" && r.reason instanceof Unauthenticated) throw r.reason;
      if (c.status === "fulfilled") { callouts = c.value.callouts; calloutProblem = null; } else calloutProblem = c.reason;
      if (tl.status === "fulfilled") timeline = tl.value.timeline;
      if (tm.status === "fulfilled") { team = tm.value; teamProblem = null; }
      else if (tm.reason instanceof ApiError && tm.reason.status === 404) { team = null; teamProblem = null; }
      else teamProblem = trouble(tm.reason);
      seen = [c, tl].every((r) => r.status === "fulfilled") ? w.updated_at : null;
    }
    render(w);
  }

  async function poll() {
    clearTimeout(timer);
    try {
      await refresh();
      ctx.fresh();
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        replace(root, h("p", { class: "empty", "data-not-found": "" }, t("whistle.not_found", { id })));
        return;
      }
      if (!(error instanceof Unauthenticated)) ctx.trouble(error);
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }

  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
