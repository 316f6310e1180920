// The API client: every request carries the key; every error becomes an ApiError whose message
// says in words what happened (the API's own message included) and what to do.

const KEY = "powerfactor.key";
const WHO = "powerfactor.who";

/** The API's base: the dashboard is served at <stage>/dashboard/, the API at <stage>/api/... */
export const base = location.pathname.replace(/\/dashboard(\/.*)?$/, "");

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** The signed-in key and what the API said of it ({id, name, scopes}), for this tab only. */
export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  get who() {
    const raw = sessionStorage.getItem(WHO);
    return raw ? JSON.parse(raw) : null;
  },
  canWrite() {
    return Boolean(this.who && this.who.scopes.includes("write"));
  },
  save(key, who) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(WHO, JSON.stringify(who));
  },
  clear() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(WHO);
  },
};

function explain(status, body, retryAfter) {
  const said = body && body.error ? body.error.message : null;
  const details = body && body.error && body.error.details ? body.error.details : [];
  const fields = details.map((d) => `${d.location}: ${d.message}`).join("; ");
  const their = [said, fields].filter(Boolean).join(" — ");
  switch (status) {
    case 401:
      return "Your API key was not accepted: it is missing, unknown, expired or revoked. Sign in with a valid key.";
    case 403:
      return `This API key is not allowed to do that (${said || "missing scope"}).`;
    case 404:
      return `Not found: ${said || "no such page or plant"}.`;
    case 409:
      return `Conflict: ${their}.`;
    case 413:
      return "The request is too large.";
    case 422:
    case 400:
      return `The request was refused: ${their}.`;
    case 429:
      return `Too many requests: wait ${retryAfter || 1} s and try again.`;
    case 503:
      return `The service is busy or its storage is unavailable: retry in ${retryAfter || 1} s.${said ? ` (${said})` : ""}`;
    default:
      return `The API failed (HTTP ${status}): ${said || "no details"}.`;
  }
}

/**
 * A request to the API. `query` is an object of query parameters (undefined/null/"" left out).
 * Returns {status, body, headers}: body is parsed JSON, or text for CSV. Throws ApiError.
 */
export async function api(method, path, { query, body, accept = "application/json", key } = {}) {
  const url = new URL(base + path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: accept, Authorization: `Bearer ${key || session.key || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "The API cannot be reached: check your connection and retry.");
  }
  const type = response.headers.get("Content-Type") || "";
  const text = await response.text();
  let parsed = text;
  if (type.includes("json") && text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) {
    const retryAfter = response.headers.get("Retry-After");
    const code = parsed && parsed.error ? parsed.error.code : String(response.status);
    throw new ApiError(response.status, code, explain(response.status, parsed, retryAfter), retryAfter);
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** Every page of a paginated GET, concatenated: JSON items (and the last page's totals). */
export async function allPages(path, query, maxItems = 100000) {
  let cursor;
  const items = [];
  let last;
  do {
    const { body } = await api("GET", path, { query: { ...query, cursor } });
    items.push(...body.items);
    last = body;
    cursor = body.next_cursor;
  } while (cursor && items.length < maxItems);
  return { ...last, items, truncated: Boolean(cursor) };
}

/** Every page of a report or data request as the API's CSV, pages joined (one header row). */
export async function allCsv(path, query) {
  let cursor;
  let csv = "";
  do {
    const { body, headers } = await api("GET", path, {
      query: { ...query, format: "csv", cursor },
      accept: "text/csv",
    });
    csv += csv ? body.slice(body.indexOf("\n") + 1) : body;
    cursor = headers.get("X-Next-Cursor");
  } while (cursor);
  return csv;
}
