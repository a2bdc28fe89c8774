// The command-centre page: login with a bearer token, then the street board, a whistle, or the
// district view (#street/<code>, #whistle/<id>, #district), zh-CN by default with an English switch.

import { forgetToken, get, keepToken, onUnauthenticated, session, Forbidden, Unauthenticated, Unreachable } from "./api.js";
import { now } from "./clock.js";
import { h, replace } from "./dom.js";
import { clockTime, currentLang, loadTexts, name, t } from "./i18n.js";
import { tick, trouble } from "./parts.js";
import * as district from "./district.js";
import * as street from "./street.js";
import * as whistle from "./whistle.js";

const VIEWS = { street: street.mount, whistle: whistle.mount, district: district.mount };
const chrome = document.getElementById("chrome");
const banner = document.getElementById("banner");
const view = document.getElementById("view");
const toasts = document.getElementById("toasts");
let unmount = null;
let loginMessage = "";
let wanted = null;              // the address asked for before the login
let connection = null;
let retry = null;               // the next try to reach the whistle service, while it is away

function parseHash() {
  const [name, ...params] = location.hash.replace(/^#/, "").split("/").map(decodeURIComponent);
  return { name, params };
}

function home() {
  const p = session.principal;
  return p?.kind === "street" ? `#street/${encodeURIComponent(p.code)}` : "#district";
}

function stopView() {
  if (unmount) unmount();
  unmount = null;
}

async function switchLanguage() {
  await loadTexts(currentLang() === "zh_CN" ? "en" : "zh_CN");
  route();
}

function langButton() {
  return h("button", { type: "button", class: "lang", onclick: switchLanguage, "data-lang-switch": "" }, t("lang.switch"));
}

function showLogin() {
  stopView();
  replace(chrome, h("div", { class: "brand" }, t("app.title")), h("div", { class: "spacer" }), langButton());
  banner.hidden = true;
  const field = h("textarea", { id: "token", name: "token", rows: 4, autocomplete: "off", spellcheck: "false" });
  const message = h("p", { class: ["login-message", loginMessage && "error"], role: "alert", "data-login-message": "" },
    loginMessage);
  const form = h("form", { class: "login-form", "data-login": "" },
    h("label", { for: "token" }, t("login.token")), field, message,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("login.submit"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = field.value.trim();
    if (!token) {
      replace(message, t("login.empty"));
      message.classList.add("error");
      return;
    }
    keepToken(token);
    loginMessage = "";
    route();
  });
  replace(view, h("section", { class: "login" },
    h("h1", {}, t("login.title")), h("p", {}, t("login.intro")), form,
    h("p", { class: "hint" }, t("login.how")), h("p", { class: "hint" }, t("login.storage"))));
  field.focus();
}

function showChrome(principal) {
  const links = [];
  if (principal.kind === "street") links.push(h("a", { href: home() }, t("nav.board")));
  if (principal.kind !== "street") links.push(h("a", { href: "#district" }, t("nav.district")));
  connection = h("span", { class: "connection", "data-connection": "" }, t("conn.connecting"));
  const who = principal.kind === "street" ? name("street", principal.code)
                                          : t("who.other", { kind: name("kind", principal.kind), code: principal.code });
  replace(chrome,
    h("div", { class: "brand" }, t("app.title")),
    h("nav", {}, links),
    h("div", { class: "spacer" }),
    h("span", { class: "who", "data-who": "" }, who),
    connection,
    h("span", { class: "clock", "data-clock": "" }, clockTime(now())),
    langButton(),
    h("button", { type: "button", class: "logout", onclick: logout }, t("nav.logout")));
}

function logout() {
  forgetToken();
  loginMessage = t("login.logged_out");
  location.hash = "#login";
  if (parseHash().name === "login") route();
}

const ctx = {
  fresh() {
    banner.hidden = true;
    if (connection) {
      connection.textContent = t("conn.updated", { time: clockTime(now()) });
      connection.className = "connection ok";
    }
  },
  trouble(error) {
    replace(banner, trouble(error), " ", t("conn.retrying"));
    banner.hidden = false;
    if (connection) {
      connection.textContent = t("conn.down");
      connection.className = "connection down";
    }
  },
  toast(text) {
    const note = h("p", { class: "toast", role: "status" }, text);
    toasts.append(note);
    setTimeout(() => note.remove(), 8000);
  },
};

async function route() {
  const asked = parseHash();
  if (!session.token) {
    if (asked.name && asked.name !== "login") wanted = location.hash;
    showLogin();
    return;
  }
  if (!session.principal) {
    try {
      session.principal = await get("/board/api/session");
    } catch (error) {
      if (error instanceof Unauthenticated) return;             // onUnauthenticated showed the login
      if (error instanceof Unreachable) {                       // keep the token: a wall screen waits it out
        replace(view, h("p", { class: "trouble", "data-trouble": "" }, trouble(error)));
        clearTimeout(retry);
        retry = setTimeout(route, 3000);
        return;
      }
      forgetToken();
      loginMessage = error instanceof Forbidden ? t("login.forbidden", { reason: error.message })
        : t("error.part_failed", { reason: error.message });
      showLogin();
      return;
    }
  }
  if (!VIEWS[asked.name]) {
    const next = wanted && wanted !== "#login" ? wanted : home();
    wanted = null;
    location.replace(next);
    return;
  }
  stopView();
  showChrome(session.principal);
  banner.hidden = true;
  document.body.dataset.view = asked.name;
  unmount = VIEWS[asked.name](view, { params: asked.params, ...ctx });
}

onUnauthenticated((error) => {
  forgetToken();
  stopView();
  loginMessage = t("login.unauthenticated", { reason: error.message || "401" });
  if (parseHash().name !== "login") wanted = location.hash;
  history.replaceState(null, "", "#login");
  showLogin();
});

async function boot() {
  try {
    await loadTexts();
  } catch (error) {
    // the texts come from the whistle service itself: without it there is nothing to say in any language
    replace(view, h("p", { class: "trouble" }, "无法连接吹哨服务 / cannot reach the whistle service: ", String(error)));
    return;
  }
  window.addEventListener("hashchange", route);
  setInterval(() => {
    tick(document);
    const clock = document.querySelector("[data-clock]");
    if (clock) clock.textContent = clockTime(now());
  }, 1000);
  route();
}

boot();
