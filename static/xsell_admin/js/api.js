// The admin API client. Embedded in Shopify (App Bridge loaded), every call carries the App
// Bridge ID token as a Bearer token; otherwise the cookie session authenticates, and writes send
// Django's CSRF token. Errors arrive as {"code", "message", "extra"} and are thrown as ApiError.

const configElement = document.getElementById("xsell-config");
export const config = configElement ? JSON.parse(configElement.textContent) : { api: "/api/v1/" };

export class ApiError extends Error {
  constructor(status, body) {
    const data = body && typeof body === "object" ? body : {};
    super(data.message || `The server answered ${status}.`);
    this.name = "ApiError";
    this.status = status;
    this.code = data.code || (status >= 500 ? "server_error" : "error");
    this.extra = data.extra || {};
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) return meta.content;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** App Bridge is there only when Shopify embeds the app; the page works without it. */
export function appBridge() {
  const shopify = window.shopify;
  return shopify && typeof shopify.idToken === "function" ? shopify : null;
}

async function authHeaders(method) {
  const headers = {};
  if (!["GET", "HEAD", "OPTIONS"].includes(method)) headers["X-CSRFToken"] = csrfToken();
  const bridge = appBridge();
  if (bridge) headers.Authorization = `Bearer ${await bridge.idToken()}`;
  return headers;
}

export function apiUrl(path, query) {
  const url = new URL(path.replace(/^\//, ""), new URL(config.api, window.location.origin));
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

export async function api(path, { method = "GET", body, query, signal } = {}) {
  const headers = { Accept: "application/json", ...(await authHeaders(method)) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiUrl(path, query), {
      method, headers, signal, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { code: "network_error", message: "The server could not be reached." });
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text.slice(0, 200) }; }
  }
  if (!response.ok) {
    if (response.status === 401 || (response.status === 403 && data && data.code === "not_authenticated")) {
      window.dispatchEvent(new CustomEvent("xsell:signed-out"));
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

export const get = (path, query, opts) => api(path, { ...opts, query });
export const post = (path, body, opts) => api(path, { ...opts, method: "POST", body: body ?? {} });
export const put = (path, body) => api(path, { method: "PUT", body });
export const patch = (path, body) => api(path, { method: "PATCH", body });
export const del = (path) => api(path, { method: "DELETE" });

/** Every row of a paginated list (bounded: at most `max` rows). */
export async function all(path, query = {}, max = 500) {
  const rows = [];
  let offset = 0;
  while (rows.length < max) {
    const page = await get(path, { ...query, limit: 100, offset });
    const results = Array.isArray(page) ? page : page.results || [];
    rows.push(...results);
    if (Array.isArray(page) || !page.next || !results.length) break;
    offset += results.length;
  }
  return rows;
}

/** Does the server route this endpoint? (An unrouted path is Django's HTML 404, without our
 * error shape; a routed one answers JSON, even "not_found" for a missing row.) */
export async function exists(path) {
  try {
    await get(path, { limit: 1 });
    return true;
  } catch (err) {
    return !(err instanceof ApiError && err.status === 404 && err.code !== "not_found");
  }
}
