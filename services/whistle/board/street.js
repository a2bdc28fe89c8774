// A street's live board (街道指挥中心大屏): its open whistles, each department's status and countdown,
// the overdue in red, escalations (督办) as they fire, returns waiting for arbitration (退单待裁决), the
// map, and the whistles closed lately that still want their follow-up. Polls every few seconds.

import { get, post, session, Unauthenticated } from "./api.js";
import { isOverdue, nextDeadline } from "./clock.js";
import { h, replace } from "./dom.js";
import { apiForm } from "./forms.js";
import { catalog, currentLang, label, name, t, time } from "./i18n.js";
import { areas, drawMap } from "./map.js";
import { awaitingArbitration, currentRound, departmentLine, escalations, statusBadge, tick, troubleNote,
         urgencyBadge, whistleTitle } from "./parts.js";

export const OPEN_STATUSES = ["raised", "locating", "dispatched", "all_checked_in", "all_completed", "sent_back",
                              "reopened"];
export const POLL_MS = 3000;
const CLOSED_SHOWN = 8;
const ALERTS_SHOWN = 30;

/** Every open whistle of a street (or of all streets): one list per open status, as the API filters. */
export async function openWhistles(street) {
  const lists = await Promise.all(OPEN_STATUSES.map((status) =>
    get("/api/v1/whistles", { street, status, limit: 200 })));
  return lists.flatMap((answer) => answer.whistles);
}

/** Asks whether the token still holds (it may have expired or been revoked since the login): a 401
 * sends the reader to the login even when the APIs polled do not check tokens themselves. */
export function stillSignedIn() {
  return get("/board/api/session");
}

function nextDue(detail) {
  const dues = (detail?.callouts || []).map((c) => nextDeadline(c)).filter(Boolean).map((n) => Date.parse(n.due));
  return dues.length ? Math.min(...dues) : Infinity;
}

export function mount(root, ctx) {
  const street = ctx.params[0];
  const own = session.principal?.kind === "street" && session.principal.code === street;
  const details = new Map();        // whistle id -> {updated_at, callouts, timeline, problem}
  const lastStatus = new Map();     // callout id -> status shown last time (to flash a change)
  const seenAlerts = new Set();
  let whistles = [], closed = [], first = true, timer = null, stopped = false, geo = null;

  const counters = h("div", { class: "counters" });
  const cards = h("div", { class: "cards", "data-cards": "" });
  const mapBox = h("div", { class: "map-box" });
  const alertList = h("ol", { class: "alerts", "data-escalations": "" });
  const returnList = h("ul", { class: "returns", "data-returns": "" });
  const closedList = h("ul", { class: "closed", "data-closed": "" });
  const raise = own ? h("button", { class: "primary raise", onclick: () => openRaise(), "data-raise": "" },
                        t("street.raise")) : null;
  replace(root, h("section", { class: "street-board", "data-street": street },
    h("div", { class: "board-head" }, h("h1", {}, name("street", street)), counters, raise),
    h("div", { class: "board-body" },
      h("div", { class: "main-col" }, cards),
      h("aside", { class: "side-col" },
        h("section", { class: "panel" }, h("h2", {}, t("street.map")), mapBox),
        h("section", { class: "panel" }, h("h2", {}, t("street.escalations")), alertList),
        h("section", { class: "panel" }, h("h2", {}, t("street.returns")), returnList),
        h("section", { class: "panel" }, h("h2", {}, t("street.closed")), closedList)))));

  async function detailOf(w) {
    const known = details.get(w.id);
    if (known && known.updated_at === w.updated_at && !known.problem) return;
    const [callouts, timeline] = await Promise.allSettled([
      get(`/board/api/dispatch/whistles/${encodeURIComponent(w.id)}/callouts`),
      get(`/api/v1/whistles/${encodeURIComponent(w.id)}/timeline`, { lang: currentLang() }),
    ]);
    for (const result of [callouts, timeline]) {
      if (result.status === "rejected" && result.reason instanceof Unauthenticated) throw result.reason;
    }
    details.set(w.id, {
      updated_at: w.updated_at,
      callouts: callouts.status === "fulfilled" ? callouts.value.callouts : known?.callouts || [],
      timeline: timeline.status === "fulfilled" ? timeline.value.timeline : known?.timeline || [],
      problem: [callouts, timeline].find((r) => r.status === "rejected")?.reason || null,
    });
  }

  async function refresh() {
    const [, open, recent] = await Promise.all([
      stillSignedIn(), openWhistles(street), get("/api/v1/whistles", { street, status: "closed", limit: CLOSED_SHOWN })]);
    const ids = new Set(open.map((w) => w.id));
    for (const id of [...details.keys()]) if (!ids.has(id)) details.delete(id);
    await Promise.all(open.map(detailOf));
    whistles = open;
    closed = recent.whistles;
    render();
    first = false;
  }

  function card(w, index) {
    const d = details.get(w.id) || { callouts: [], timeline: [] };
    const round = currentRound(d.callouts, w.round);
    const waiting = new Set(awaitingArbitration(d.timeline).map((line) => line.detail.callout_id));
    const chased = escalations(d.timeline).length;
    const lines = round.map((c) => {
      const changed = !first && lastStatus.has(c.callout_id) && lastStatus.get(c.callout_id) !== c.status;
      lastStatus.set(c.callout_id, c.status);
      return departmentLine(c, { changed, awaiting: waiting.has(c.callout_id) });
    });
    return h("article", {
      class: ["card", round.some((c) => isOverdue(c)) && "overdue"], "data-whistle-id": w.id, "data-deadline-group": "",
    },
      h("header", {},
        h("span", { class: "index" }, String(index + 1)), urgencyBadge(w.urgency),
        h("h3", {}, name("category", w.category)), statusBadge(w.status)),
      h("p", { class: "where" }, w.place.address, w.grid_code ? ` · ${name("grid", w.grid_code)}` : ""),
      h("p", { class: "desc" }, w.description),
      lines.length ? h("ul", { class: "departments" }, lines)
                   : h("p", { class: "muted" }, t("street.waiting_dispatch")),
      d.problem ? troubleNote(d.problem) : null,
      h("footer", {},
        h("span", { class: "muted" }, t("street.raised_at", { time: time(w.raised_at), by: w.reported_by })),
        chased ? h("span", { class: "badge chased" }, t("badge.escalated", { count: chased })) : null,
        waiting.size ? h("span", { class: "badge awaiting" }, t("badge.returns_waiting", { count: waiting.size })) : null,
        h("a", { href: `#whistle/${encodeURIComponent(w.id)}`, class: "more" }, t("street.details"))));
  }

  function render() {
    const ordered = [...whistles].sort((a, b) => {
      const da = details.get(a.id), db = details.get(b.id);
      const la = (da?.callouts || []).some((c) => c.round === a.round && isOverdue(c));
      const lb = (db?.callouts || []).some((c) => c.round === b.round && isOverdue(c));
      return (lb - la) || (nextDue(da) - nextDue(db)) || b.raised_at.localeCompare(a.raised_at);
    });
    const overdue = ordered.filter((w) => currentRound(details.get(w.id)?.callouts || [], w.round).some((c) => isOverdue(c)));
    const alerts = ordered.flatMap((w) => escalations(details.get(w.id)?.timeline || []).map((line) => ({ w, line })))
      .sort((a, b) => b.line.at.localeCompare(a.line.at));
    const returns = ordered.flatMap((w) => awaitingArbitration(details.get(w.id)?.timeline || []).map((line) => ({ w, line })));

    replace(counters,
      h("span", { class: "counter", "data-count": "open" }, t("street.count_open", { count: ordered.length })),
      h("span", { class: ["counter", overdue.length && "bad"], "data-count": "overdue" },
        t("street.count_overdue", { count: overdue.length })),
      h("span", { class: ["counter", alerts.length && "warn"], "data-count": "escalations" },
        t("street.count_escalations", { count: alerts.length })));

    replace(cards, ordered.length ? ordered.map(card) : h("p", { class: "empty" }, t("street.none_open")));

    replace(alertList, alerts.length ? alerts.slice(0, ALERTS_SHOWN).map(({ w, line }) => {
      const key = `${w.id}|${line.at}|${line.summary}`;
      const fresh = !first && !seenAlerts.has(key);
      seenAlerts.add(key);
      return h("li", { class: ["alert", fresh && "fresh"], "data-kind": line.kind, "data-whistle-id": w.id },
        h("time", {}, time(line.at)), h("span", { class: "summary" }, line.summary),
        h("a", { href: `#whistle/${encodeURIComponent(w.id)}` }, whistleTitle(w)));
    }) : h("li", { class: "muted" }, t("street.no_escalations")));

    replace(returnList, returns.length ? returns.map(({ w, line }) =>
      h("li", { "data-whistle-id": w.id, "data-arbitration-id": line.detail.arbitration_id },
        h("time", {}, time(line.at)), h("span", { class: "summary" }, line.summary),
        h("a", { href: `#whistle/${encodeURIComponent(w.id)}` }, whistleTitle(w))))
      : h("li", { class: "muted" }, t("street.no_returns")));

    replace(closedList, closed.length ? closed.map((w) =>
      h("li", { "data-whistle-id": w.id },
        h("a", { href: `#whistle/${encodeURIComponent(w.id)}` }, whistleTitle(w)),
        h("span", { class: ["badge", w.follow_up ? "ok" : "warn"] },
          w.follow_up ? label("rating", w.follow_up.rating) : t("street.follow_up_due"))))
      : h("li", { class: "muted" }, t("street.none_closed")));

    if (geo) {
      replace(mapBox, drawMap(geo, {
        focus: street, streets: catalog().streets.map((st) => st.code),
        markers: ordered.map((w, i) => ({
          id: w.id, lon: w.place.lon, lat: w.place.lat, grid: w.grid_code, label: String(i + 1),
          title: whistleTitle(w),
          overdue: overdue.includes(w),
        })),
      }));
    }
    tick(root);
  }

  function openRaise() {
    const texts = catalog();
    const grids = texts.streets.find((st) => st.code === street)?.grids || [];
    let requestId = null;
    const dialog = h("dialog", { class: "sheet", "data-dialog": "raise" });
    const { form, element } = apiForm({
      id: "raise-form",
      submitLabel: t("raise.submit"),
      fields: [
        { name: "category", label: t("raise.category"), type: "select",
          options: texts.categories.map((code) => [code, name("category", code)]) },
        { name: "urgency", label: t("raise.urgency"), type: "select",
          options: texts.urgencies.map((code) => [code, name("urgency", code)]) },
        { name: "source", label: t("raise.source"), type: "select",
          options: texts.sources.map((code) => [code, label("source", code)]) },
        { name: "grid_code", label: t("raise.grid"), type: "select", optional: t("raise.grid_unknown"),
          options: grids.map((code) => [code, name("grid", code)]) },
        { name: "description", label: t("raise.description"), type: "textarea" },
        { name: "place.address", label: t("raise.address") },
        { name: "place.lon", label: t("raise.lon"), type: "number", hint: t("raise.pick_hint") },
        { name: "place.lat", label: t("raise.lat"), type: "number" },
        { name: "reported_by", label: t("raise.reported_by") },
      ],
      submit: async (body) => {
        // one request id per whistle being raised: a retry after a lost answer raises nothing new
        requestId ??= `${street}-board-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
        const answer = await post("/api/v1/whistles", { ...body, request_id: requestId, street_code: street });
        requestId = null;
        dialog.close();
        ctx.toast(answer.repeated ? t("raise.repeated", { id: answer.whistle_id })
                                  : t("raise.done", { id: answer.whistle_id }));
        poll();
      },
    });
    const pickMap = h("div", { class: "pick-map" });
    if (geo) {
      pickMap.append(drawMap(geo, {
        focus: street, streets: texts.streets.map((st) => st.code),
        pick: (lon, lat, grid) => {
          element("place.lon").value = lon.toFixed(6);
          element("place.lat").value = lat.toFixed(6);
          if (grid && grids.includes(grid)) element("grid_code").value = grid;
        },
      }));
    }
    dialog.append(h("div", { class: "sheet-head" }, h("h2", {}, t("raise.title", { street: name("street", street) })),
      h("button", { type: "button", class: "close", onclick: () => dialog.close(), "aria-label": t("dialog.close") }, "×")),
      h("div", { class: "sheet-body" }, form, pickMap));
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }

  async function poll() {
    clearTimeout(timer);
    try {
      await refresh();
      ctx.fresh();
    } catch (error) {
      if (!(error instanceof Unauthenticated)) ctx.trouble(error);
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }

  areas().then((loaded) => { geo = loaded; render(); }).catch((error) => replace(mapBox, troubleNote(error)));
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
