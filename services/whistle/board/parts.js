// Pieces the street board, the whistle view and the district view share: a department's line with its
// countdown, the countdowns' ticking, badges, and messages about a part of the page that failed.

import { Forbidden, Unreachable } from "./api.js";
import { isOverdue, nextDeadline, now } from "./clock.js";
import { h } from "./dom.js";
import { label, name, span, t, time } from "./i18n.js";

/** A countdown to `due` for `step`; tick() keeps it running and marks what it sits in overdue. */
export function countdown(step, due, shown) {
  const el = h("span", { class: "countdown", "data-due": due, "data-step": step, "data-label": shown, title: time(due) });
  paint(el, now());
  return el;
}

function paint(el, at) {
  const due = Date.parse(el.dataset.due);
  const late = due <= at;
  const step = el.dataset.label || label("step", el.dataset.step);
  el.textContent = late ? t("countdown.overdue", { step, span: span(at - due) })
                        : t("countdown.left", { step, span: span(due - at) });
  el.classList.toggle("late", late);
  el.closest("[data-deadline-row]")?.classList.toggle("overdue", late);
}

/** Every countdown under `root` to this second; a [data-deadline-group] is overdue when a row of it is. */
export function tick(root = document) {
  const at = now();
  root.querySelectorAll(".countdown[data-due]").forEach((el) => paint(el, at));
  root.querySelectorAll("[data-since]").forEach((el) => { el.textContent = span(at - Date.parse(el.dataset.since)); });
  root.querySelectorAll("[data-deadline-group]").forEach((group) => {
    group.classList.toggle("overdue", group.querySelector("[data-deadline-row].overdue") !== null);
  });
}

/** The call-outs of a whistle's current round (returned ones included: they are part of its story). */
export function currentRound(callouts, round) {
  return callouts.filter((c) => c.round === round);
}

/** One department's line: name, role, status, officer and the countdown to what it owes next. */
export function departmentLine(c, { changed = false, awaiting = false } = {}) {
  const next = nextDeadline(c);
  return h("li", {
    class: ["dept", `is-${c.status}`, changed && "changed", isOverdue(c) && "overdue"],
    "data-department": c.department_code, "data-callout-id": c.callout_id, "data-deadline-row": next ? "" : undefined,
  },
    h("span", { class: "dname" }, name("department", c.department_code)),
    h("span", { class: ["role", `role-${c.role}`] }, label("role", c.role)),
    h("span", { class: "dstatus", "data-status": c.status }, label("callout_status", c.status)),
    c.officer ? h("span", { class: "officer" }, c.officer) : null,
    next ? countdown(next.step, next.due) : null,
    awaiting ? h("span", { class: "badge awaiting" }, t("badge.awaiting_arbitration")) : null);
}

export function urgencyBadge(code) {
  return h("span", { class: ["badge", "urgency", `u-${code}`] }, name("urgency", code));
}

export function statusBadge(code) {
  return h("span", { class: ["badge", "status", `s-${code}`], "data-whistle-status": code }, label("status", code));
}

/** What to say in place of a part of the page that could not be loaded. */
export function trouble(error) {
  if (error instanceof Forbidden) return t("error.forbidden", { reason: error.message });
  if (error instanceof Unreachable) return t("error.unreachable", { service: name("service", error.service) });
  return t("error.part_failed", { reason: error.message || String(error) });
}

export function troubleNote(error) {
  return h("p", { class: "trouble", role: "status", "data-trouble": "" }, trouble(error));
}

/** Lines of a timeline about returns still waiting for the district's arbitration (退单待裁决). */
export function awaitingArbitration(timeline) {
  const decided = new Set(timeline.filter((line) => line.kind === "arbitration.decided")
    .map((line) => line.detail?.arbitration_id));
  return timeline.filter((line) => line.kind === "callout.returned" && line.detail?.arbitration_id
    && !decided.has(line.detail.arbitration_id));
}

/** Lines of a timeline saying a deadline was missed and the case went up a tier (督办). */
export function escalations(timeline) {
  return timeline.filter((line) => line.kind === "callout.escalated" || line.kind === "arbitration.overdue");
}

/** Who wrote a timeline line, by name when it is a department, a street or the district. */
export function actorName(actor) {
  for (const kind of ["department", "street", "district", "service"]) {
    const known = name(kind, actor);
    if (known !== actor) return known;
  }
  return actor;
}

export function whistleTitle(w) {
  return `${name("category", w.category)} · ${w.place?.address ?? ""}`;
}
