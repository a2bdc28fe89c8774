// Forms whose refusals come from the API: each field error is shown next to its field, in the reader's
// language (POST /board/explain), and what concerns no field above the button. The forms do no
// validation of their own (novalidate): the API's rules are the only ones.

import { ApiError, explain, Forbidden, Unauthenticated, Unreachable } from "./api.js";
import { h, replace } from "./dom.js";
import { name, t } from "./i18n.js";

let serial = 0;

function control(spec, id) {
  const common = { id, name: spec.name, "data-field": spec.name, "aria-describedby": `${id}-error` };
  switch (spec.type) {
    case "textarea":
    case "lines":
      return h("textarea", { ...common, rows: spec.rows || 3, placeholder: spec.placeholder }, spec.value || "");
    case "select":
      return h("select", common,
        spec.optional ? h("option", { value: "" }, spec.optional) : h("option", { value: "" }, t("form.choose")),
        spec.options.map(([value, text]) => h("option", { value, selected: value === spec.value }, text)));
    case "checkbox":
      return h("input", { ...common, type: "checkbox", checked: spec.value });
    case "checks":
      return h("div", { ...common, class: "checks", role: "group" },
        spec.options.map(([value, text]) => h("label", { class: "check" },
          h("input", { type: "checkbox", value, "data-check": spec.name }), text)));
    default:
      return h("input", { ...common, type: "text", inputmode: spec.type === "number" ? "decimal" : undefined,
                          value: spec.value, placeholder: spec.placeholder, autocomplete: "off" });
  }
}

function valueOf(spec, el) {
  switch (spec.type) {
    case "checkbox": return el.checked;
    case "checks": return [...el.querySelectorAll("input:checked")].map((box) => box.value);
    case "lines": return el.value.split("\n").map((line) => line.trim()).filter(Boolean);
    case "number": {
      const text = el.value.trim();
      if (text === "") return undefined;
      const number = Number(text);
      return Number.isFinite(number) ? number : text;      // not a number: the API names it
    }
    case "select": return el.value === "" ? undefined : el.value;
    default: return el.value.trim();
  }
}

function put(target, path, value) {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] ??= {};
  node[keys.at(-1)] = value;
}

/** The field of the form an error's path concerns: itself, its nearest parent, or its first child. */
function fieldFor(path, names) {
  if (names.includes(path)) return path;
  const parents = names.filter((n) => path.startsWith(`${n}.`)).sort((a, b) => b.length - a.length);
  if (parents.length) return parents[0];
  return names.find((n) => n.startsWith(`${path}.`)) || null;
}

/**
 * A form. `fields`: [{name: "place.address", label, type: text|number|textarea|lines|select|checkbox|checks,
 * options: [[value, text]], value, optional, hint}]. `submit(body)` sends it (and returns a success
 * message or nothing); a refusal is shown on the form, a 401 takes the reader to the login.
 */
export function apiForm({ id, fields, submitLabel, submit, extra = {} }) {
  const specs = new Map(fields.map((spec) => [spec.name, spec]));
  const message = h("p", { class: "form-message", role: "alert", "data-form-message": "" });
  const button = h("button", { type: "submit", class: "primary" }, submitLabel);
  const rows = fields.map((spec) => {
    const fieldId = `f${++serial}`;
    const input = control(spec, fieldId);
    return h("div", { class: ["field", `field-${spec.type || "text"}`], "data-field-row": spec.name },
      spec.type === "checkbox"
        ? h("label", { class: "check", for: fieldId }, input, spec.label)
        : [h("label", { for: fieldId }, spec.label), input],
      spec.hint ? h("p", { class: "hint" }, spec.hint) : null,
      h("p", { class: "field-error", id: `${fieldId}-error`, "data-error-for": spec.name }));
  });
  const form = h("form", { id, class: "api-form", novalidate: true, ...extra }, rows, message, h("div", { class: "actions" }, button));

  const element = (fieldName) => form.querySelector(`[data-field="${CSS.escape(fieldName)}"]`);

  function clearErrors() {
    form.querySelectorAll(".field-error").forEach((p) => replace(p));
    form.querySelectorAll(".invalid").forEach((el) => { el.classList.remove("invalid"); el.removeAttribute("aria-invalid"); });
    replace(message);
    message.className = "form-message";
  }

  function say(text, kind = "error") {
    replace(message, text);
    message.className = `form-message ${kind}`;
  }

  async function showErrors(errors) {
    const explained = await explain(errors);
    const names = [...specs.keys()];
    const general = [];
    for (const error of explained) {
      const target = fieldFor(error.field, names);
      if (target === null) {
        general.push(`${error.label}: ${error.message}`);
        continue;
      }
      const slot = form.querySelector(`[data-error-for="${CSS.escape(target)}"]`);
      const text = target === error.field ? error.message : `${error.label}: ${error.message}`;
      slot.append(slot.childNodes.length ? h("br") : "", text);
      const input = element(target);
      input.classList.add("invalid");
      input.setAttribute("aria-invalid", "true");
    }
    return general;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const body = {};
    for (const [fieldName, spec] of specs) {
      const value = valueOf(spec, element(fieldName));
      if (value !== undefined) put(body, fieldName, value);
    }
    button.disabled = true;
    try {
      const done = await submit(body);
      if (done) say(done, "ok");
    } catch (error) {
      if (error instanceof Unauthenticated) return;                // the app shows the login
      if (error instanceof Forbidden) say(t("error.forbidden", { reason: error.message }));
      else if (error instanceof Unreachable) say(t("error.unreachable", { service: name("service", error.service) }));
      else if (error instanceof ApiError) {
        const general = await showErrors(error.errors);
        const lead = error.errors.length ? t("error.fields") : t("error.refused", { reason: error.message });
        say([lead, ...general].join(" · "));
      } else {
        console.error(error);
        say(t("error.unexpected"));
      }
    } finally {
      button.disabled = false;
    }
  });

  return { form, say, clearErrors, element };
}
