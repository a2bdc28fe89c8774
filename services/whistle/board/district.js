// The district's supervision view (区督办): every street at a glance, every step past its deadline
// (督办), and the arbitrations the district must decide (确权裁决), each with its decision form.

import { get, post, Unauthenticated } from "./api.js";
import { now } from "./clock.js";
import { h, replace } from "./dom.js";
import { apiForm } from "./forms.js";
import { catalog, label, name, span, t, time } from "./i18n.js";
import { areas, drawMap } from "./map.js";
import { countdown, tick, troubleNote, whistleTitle } from "./parts.js";
import { openWhistles, POLL_MS, stillSignedIn } from "./street.js";

const PLACE_REASONS = ["unowned_place", "disputed_place"];

function decisionForm(arbitration, done) {
  const texts = catalog();
  const place = PLACE_REASONS.includes(arbitration.reason);
  const grids = texts.streets.flatMap((st) => st.grids);
  const choice = place
    ? { name: "grid_code", label: t("decide.grid"), type: "select",
        options: (arbitration.candidates.length ? arbitration.candidates : grids).map((code) => [code, name("grid", code)]) }
    : { name: "department_code", label: t("decide.department"), type: "select",
        options: texts.departments.filter((code) => !arbitration.candidates.includes(code))
          .map((code) => [code, name("department", code)]) };
  return apiForm({
    id: `decide-${arbitration.arbitration_id}`, submitLabel: t("decide.submit"),
    fields: [choice, { name: "decided_by", label: t("decide.decided_by") },
             { name: "note", label: t("decide.note"), type: "textarea" }],
    submit: async (body) => {
      if (!body.note) delete body.note;
      await post(`/board/api/dispatch/arbitrations/${encodeURIComponent(arbitration.arbitration_id)}/decision`,
                 { ...body, arbitration_id: arbitration.arbitration_id });
      done();
      return t("decide.done");
    },
  }).form;
}

export function mount(root, ctx) {
  let timer = null, stopped = false, geo = null;
  let whistles = [], overdue = [], arbitrations = [], problems = {};
  const decisions = new Map();       // arbitration id -> its element, kept while it is open
  const streetsBox = h("div", { "data-streets": "" });
  const overdueBox = h("div", { "data-overdue": "" });
  const arbitrationBox = h("div", { class: "arbitrations", "data-arbitrations": "" });
  const mapBox = h("div", { class: "map-box" });
  replace(root, h("section", { class: "district-view" },
    h("div", { class: "board-head" }, h("h1", {}, t("district.title", { district: catalog().district }))),
    h("div", { class: "board-body" },
      h("div", { class: "main-col" },
        h("section", { class: "panel" }, h("h2", {}, t("district.streets")), streetsBox),
        h("section", { class: "panel" }, h("h2", {}, t("district.overdue")), overdueBox),
        h("section", { class: "panel" }, h("h2", {}, t("district.arbitrations")), arbitrationBox)),
      h("aside", { class: "side-col" }, h("section", { class: "panel" }, h("h2", {}, t("street.map")), mapBox)))));

  const byId = () => new Map(whistles.map((w) => [w.id, w]));

  function renderStreets() {
    const rows = catalog().streets.map((st) => {
      const open = whistles.filter((w) => w.street_code === st.code).length;
      const late = overdue.filter((o) => o.street_code === st.code);
      const chased = late.filter((o) => o.level > 0).length;
      return h("tr", { "data-street": st.code, class: late.length ? "overdue" : "" },
        h("td", {}, h("a", { href: `#street/${encodeURIComponent(st.code)}` }, name("street", st.code))),
        h("td", { class: "num", "data-count": "open" }, String(open)),
        h("td", { class: "num", "data-count": "overdue" }, String(late.length)),
        h("td", { class: "num", "data-count": "escalated" }, String(chased)));
    });
    replace(streetsBox, problems.whistles ? troubleNote(problems.whistles) : null,
      h("table", { class: "grid-table" },
        h("thead", {}, h("tr", {}, h("th", {}, t("district.street")),
          ["district.open", "district.overdue_steps", "district.escalated"].map((key) => h("th", { class: "num" }, t(key))))),
        h("tbody", {}, rows)));
  }

  function renderOverdue() {
    const known = byId();
    const tiers = catalog().tiers;
    replace(overdueBox, problems.overdue ? troubleNote(problems.overdue)
      : overdue.length ? h("table", { class: "grid-table" },
        h("thead", {}, h("tr", {}, ["district.street", "district.whistle", "district.department", "district.step",
                                   "district.due", "district.late_by", "district.tier"].map((key) => h("th", {}, t(key))))),
        h("tbody", {}, overdue.map((o) => {
          const w = known.get(o.whistle_id);
          return h("tr", { class: "overdue", "data-callout-id": o.callout_id, "data-step": o.step },
            h("td", {}, name("street", o.street_code)),
            h("td", {}, h("a", { href: `#whistle/${encodeURIComponent(o.whistle_id)}` }, w ? whistleTitle(w) : o.whistle_id)),
            h("td", {}, name("department", o.department_code)),
            h("td", {}, label("step", o.step)),
            h("td", {}, time(o.due_at)),
            h("td", { class: "late-by", "data-since": o.due_at }, span(now() - Date.parse(o.due_at))),
            h("td", {}, o.level > 0 && tiers[o.level - 1] ? label("tier", tiers[o.level - 1]) : "—"));
        })))
      : h("p", { class: "muted" }, t("district.none_overdue")));
  }

  function renderArbitrations() {
    if (problems.arbitrations) {
      decisions.clear();
      replace(arbitrationBox, troubleNote(problems.arbitrations));
      return;
    }
    const known = byId();
    const open = new Set(arbitrations.map((a) => a.arbitration_id));
    for (const id of [...decisions.keys()]) if (!open.has(id)) decisions.delete(id);
    for (const a of arbitrations) {
      if (decisions.has(a.arbitration_id)) continue;       // keep the form the reader may be filling in
      const w = known.get(a.whistle_id);
      decisions.set(a.arbitration_id, h("article", { class: "card arbitration", "data-arbitration-id": a.arbitration_id,
                                                     "data-deadline-group": "" },
        h("header", {}, h("h3", {}, label("arbitration_reason", a.reason))),
        h("p", {}, h("a", { href: `#whistle/${encodeURIComponent(a.whistle_id)}` }, w ? whistleTitle(w) : a.whistle_id)),
        a.candidates.length ? h("p", { class: "muted" }, t("decide.candidates", {
          candidates: a.candidates.map((code) => name(PLACE_REASONS.includes(a.reason) ? "grid" : "department", code))
            .join(t("list.separator")) })) : null,
        h("ul", { class: "departments" }, h("li", { class: "dept", "data-deadline-row": "" },
          h("span", { class: "dname" }, t("decide.opened", { time: time(a.opened_at) })),
          countdown("decision", a.decide_by, t("decide.deadline")))),
        decisionForm(a, () => poll())));
    }
    replace(arbitrationBox, arbitrations.length ? arbitrations.map((a) => decisions.get(a.arbitration_id))
      : h("p", { class: "muted" }, t("district.none_arbitrations")));
  }

  function render() {
    renderStreets();
    renderOverdue();
    renderArbitrations();
    if (geo) {
      const late = new Set(overdue.map((o) => o.whistle_id));
      replace(mapBox, drawMap(geo, {
        streets: catalog().streets.map((st) => st.code),
        markers: whistles.map((w) => ({ id: w.id, lon: w.place.lon, lat: w.place.lat, grid: w.grid_code,
                                        title: whistleTitle(w), overdue: late.has(w.id) })),
      }));
    }
    tick(root);
  }

  async function settle(promise, key, use) {
    try {
      use(await promise);
      delete problems[key];
    } catch (error) {
      if (error instanceof Unauthenticated) throw error;
      problems[key] = error;
    }
  }

  async function poll() {
    clearTimeout(timer);
    try {
      await Promise.all([
        stillSignedIn(),
        settle(openWhistles(undefined), "whistles", (list) => { whistles = list; }),
        settle(get("/board/api/dispatch/overdue"), "overdue", (answer) => { overdue = answer.overdue; }),
        settle(get("/board/api/dispatch/arbitrations"), "arbitrations", (answer) => { arbitrations = answer.arbitrations; }),
      ]);
      render();
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
