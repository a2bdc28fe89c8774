// The page's text in the reader's language. Every string comes from the server's message catalogs
// (GET /board/texts/<lang>, built from services/whistle/board_texts.py and services/locale/): this
// file holds none of its own.

const LANG_KEY = "chuishao.lang";
export const LANGUAGES = ["zh_CN", "en"];
let texts = null;

export function currentLang() {
  const chosen = localStorage.getItem(LANG_KEY);
  return LANGUAGES.includes(chosen) ? chosen : "zh_CN";
}

export function langTag() {
  return currentLang() === "zh_CN" ? "zh-CN" : "en";
}

export async function loadTexts(lang = currentLang()) {
  const response = await fetch(`/board/texts/${lang}`, { cache: "no-store" });
  if (!response.ok) throw new Error(`texts ${lang}: HTTP ${response.status}`);
  texts = await response.json();
  localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = langTag();
  document.title = texts.ui["app.title"];
  return texts;
}

export function catalog() {
  return texts;
}

/** The page's message `key` with its %(name)s parameters filled in. */
export function t(key, params = {}) {
  const message = texts?.ui?.[key];
  if (message === undefined) {
    console.warn(`no text for ${key}`);
    return key;
  }
  return message.replace(/%\((\w+)\)s/g, (_, name) => (params[name] ?? "").toString());
}

/** What a code of the reference data is called: street, grid, department, category, urgency. */
export function name(kind, code) {
  if (code === undefined || code === null) return "";
  return texts?.names?.[kind]?.[code] ?? code;
}

/** The label of one value of an enumeration: status, callout_status, role, step, tier, rating... */
export function label(kind, code) {
  return texts?.labels?.[kind]?.[code] ?? code;
}

const CHINA = "Asia/Shanghai";   // people read deadlines on China's clock, wherever the screen is

function parts(ms, withSeconds) {
  const format = new Intl.DateTimeFormat("en-GB", {
    timeZone: CHINA, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: withSeconds ? "2-digit" : undefined, hourCycle: "h23",
  });
  return Object.fromEntries(format.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
}

/** 2025-06-01 14:30 on China's clock ('' for none). */
export function time(iso) {
  if (!iso) return "";
  const p = parts(Date.parse(iso), false);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** 14:30:05 on China's clock. */
export function clockTime(ms) {
  const p = parts(ms, true);
  return `${p.hour}:${p.minute}:${p.second}`;
}

/** A span of time for a countdown: 4:05, 1:02:03, or 3d 4h in the reader's words. */
export function span(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400), hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60), seconds = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (days > 0) return t("span.days", { days, hours });
  if (hours > 0) return `${hours}:${two(minutes)}:${two(seconds)}`;
  return `${minutes}:${two(seconds)}`;
}
