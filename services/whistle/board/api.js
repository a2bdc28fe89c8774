// Every call the page makes: the bearer token on each, and what an answer that is not a success means.
//   401 -> Unauthenticated: the token is missing, expired, revoked... the page goes back to the login
//   403 -> Forbidden: this token may not take that action (the server says which)
//   other refusals -> ApiError with the API's field errors; no answer at all -> Unreachable

import { observeServerDate } from "./clock.js";
import { currentLang, langTag } from "./i18n.js";

const TOKEN_KEY = "chuishao.token";
const TIMEOUT_MS = 10000;

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  principal: null,                     // {kind, code, token_id} as the server read the token
};

export function keepToken(token) { sessionStorage.setItem(TOKEN_KEY, token); }
export function forgetToken() { sessionStorage.removeItem(TOKEN_KEY); session.principal = null; }

export class ApiError extends Error {
  constructor(status, body, message) {
    super(message);
    this.status = status;
    this.body = body || {};
    this.errors = Array.isArray(this.body.errors) ? this.body.errors : [];
  }
}
export class Unauthenticated extends ApiError {}
export class Forbidden extends ApiError {}
export class Unreachable extends ApiError {
  constructor(service, timedOut) {
    super(0, {}, `${service} unreachable`);
    this.service = service;
    this.timedOut = timedOut;
  }
}

/** The server's own words for a refusal, in the reader's language when it gives both. */
export function serverMessage(body) {
  if (!body) return "";
  return (currentLang() === "zh_CN" && body.error_zh) || body.error || "";
}

let unauthenticated = () => {};
/** What to do when any call answers 401 (the app sends the reader back to the login). */
export function onUnauthenticated(handler) { unauthenticated = handler; }

function serviceOf(path) {
  if (path.startsWith("/board/api/dispatch/")) return "dispatch";
  if (path.startsWith("/board/api/roster/")) return "roster";
  return "whistle";
}

export async function call(method, path, { params, body, timeout = TIMEOUT_MS } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json", "Accept-Language": langTag() };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeout);
  let response;
  try {
    response = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      signal: abort.signal, cache: "no-store",
    });
  } catch (error) {
    throw new Unreachable(serviceOf(path), abort.signal.aborted);
  } finally {
    clearTimeout(timer);
  }
  observeServerDate(response.headers.get("Date"));
  let data = null;
  try { data = await response.json(); } catch (error) { data = null; }
  if (response.ok) return data;
  if (response.status === 401) {
    const error = new Unauthenticated(401, data, serverMessage(data));
    unauthenticated(error);
    throw error;
  }
  if (response.status === 403) throw new Forbidden(403, data, serverMessage(data));
  if (response.status === 502 || response.status === 504) {
    throw new Unreachable(data?.service || serviceOf(path), response.status === 504);
  }
  throw new ApiError(response.status, data, serverMessage(data) || `HTTP ${response.status}`);
}

export const get = (path, params) => call("GET", path, { params });
export const post = (path, body) => call("POST", path, { body });

/** An answer's field errors as a person reads them: [{field, label, message}] (the wire's if that fails). */
export async function explain(errors) {
  if (!errors.length) return [];
  try {
    const answer = await call("POST", "/board/explain", { params: { lang: currentLang() }, body: { errors } });
    return answer.errors;
  } catch (error) {
    return errors.map((e) => ({ field: e.field, label: e.field, message: e.message }));
  }
}
