// The dashboard: views over the same API agents use, called through
// /dashboard/api (the edge adds the signed-in key from its HttpOnly cookie;
// this script never sees a key, except a new one shown once). No framework,
// no build step; the DOM is built with textContent only, never HTML strings.
"use strict";

const API = "/dashboard/api";
const HEADER = { "X-Cerver-Dashboard": "1" };
let onScreen = null; // aborts the view on screen (its loading, a session page's watch) when another replaces it

// -- plumbing -------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// path: the API's (through /dashboard/api, as the signed-in user), or with
// direct one this page's own (/dashboard/...) or the API's without a key.
async function call(method, path, body, direct) {
  const init = { method, headers: { ...HEADER }, credentials: "same-origin" };
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(direct || path.startsWith("/dashboard/") ? path : API + path, init);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    if (r.status === 401 && path.startsWith("/v2/")) { showSignIn(); }
    throw new ApiError(r.status, (data && data.message) || `HTTP ${r.status}`);
  }
  return data || {};
}

// A server-sent event stream (POST run/stream, GET watch) read as it comes.
async function* events(method, path, body, signal) {
  const init = { method, headers: { ...HEADER, Accept: "text/event-stream" }, credentials: "same-origin", signal };
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(API + path, init);
  if (!r.ok) {
    let message = `HTTP ${r.status}`;
    try { message = (await r.json()).message || message; } catch (e) { /* not JSON */ }
    throw new ApiError(r.status, message);
  }
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", kind = "message";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let at;
    while ((at = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, at); buffer = buffer.slice(at + 1);
      if (line.startsWith("event:")) kind = line.slice(6).trim();
      else if (line.startsWith("data:")) {
        const data = JSON.parse(line.slice(5));
        if (kind === "error") throw new ApiError(500, data.message || "the stream failed");
        yield data;
      } else if (line === "") kind = "message";
    }
  }
}

// h("tag", {attributes, on: {event: fn}}, children...): an element, text as text.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function announce(text) { document.getElementById("announce").textContent = text; }
const when = (s) => (s ? s.slice(0, 19).replace("T", " ") : "");
const money = (x) => `$${(x || 0).toFixed(4)}`;

function statusText(value) {
  const cls = { ready: "ok", running: "ok", idle: "ok", online: "ok", executable: "ok", provisioning: "warn",
    paused: "warn", planned: "warn", failed: "bad", offline: "bad" }[value];
  return h("span", { class: cls ? `status-${cls}` : "" }, value || "");
}

function field(label, input) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

function select(name, options, value) {
  return h("select", { name }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

function table(caption, headings, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("table", {}, h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, headings.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))));
}

function errorBox(err) { return h("p", { class: "error", role: "alert" }, err.message || String(err)); }

// A form whose submit runs fn (its errors shown in the form, announced).
function form(cls, children, fn) {
  const out = h("p", { class: "error", role: "alert" });
  const f = h("form", { class: cls }, children, out);
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    out.textContent = "";
    const button = f.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try { await fn(new FormData(f), f); } catch (err) { out.textContent = err.message; } finally {
      if (button) button.disabled = false;
    }
  });
  return f;
}

// -- the frame ------------------------------------------------------------------
const VIEWS = {
  overview: ["Overview", overview], computes: ["Computes", computes], sessions: ["Sessions", sessions],
  session: ["Session", session], providers: ["Providers", providers], keys: ["API Keys", keys],
  settings: ["Settings", settings], skill: ["Skill", skill],
};

async function route() {
  if (onScreen) onScreen.abort();
  onScreen = new AbortController();
  const signal = onScreen.signal; // a view still loading when the address changes must not replace the newer one
  const [name, ...rest] = (location.hash.replace(/^#\/?/, "").split("?")[0] || "overview").split("/");
  const view = name === "sessions" && rest.length ? "session" : name;
  const [title, render] = VIEWS[view] || VIEWS.overview;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  const heading = h("h1", { tabindex: "-1" }, title);
  main.replaceChildren(heading, h("p", { class: "muted" }, "Loading…"));
  document.title = `${title} · Cerver`;
  try {
    const body = await render(decodeURIComponent(rest.join("/")), signal);
    if (signal.aborted) return;
    main.replaceChildren(heading, ...[body].flat());
  } catch (err) {
    if (err.status === 401 || signal.aborted) return;
    main.replaceChildren(heading, errorBox(err));
  }
  heading.focus();
}

function showSignIn() {
  if (onScreen) { onScreen.abort(); onScreen = null; }
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  const main = document.getElementById("main");
  const heading = h("h1", { tabindex: "-1" }, "Sign in");
  const keyForm = form("", [
    field("API key", h("input", { name: "api_key", type: "password", autocomplete: "off", required: true,
      placeholder: "ck_…" })),
    h("p", {}, h("button", { type: "submit" }, "Sign in")),
  ], async (data) => {
    await call("POST", "/dashboard/session", { api_key: data.get("api_key") });
    signedIn();
  });
  const device = h("div");
  const start = h("button", { type: "button", class: "secondary", on: { click: () => deviceLogin(device) } },
    "Sign in with a code instead");
  main.replaceChildren(heading,
    h("p", {}, "Your key goes to this site's own cookie, which no script can read."), keyForm,
    h("h2", {}, "Or approve this browser from a signed-in device"), start, device);
  document.title = "Sign in · Cerver";
  heading.focus();
}

async function deviceLogin(box) {
  const started = await call("POST", "/v2/auth/device", { client_name: "the Cerver dashboard" }, true);
  const link = `/device?user_code=${encodeURIComponent(started.user_code)}`;
  box.replaceChildren(h("p", {}, "Approve the code ", h("strong", {}, started.user_code),
    " from a dashboard that is signed in (Computes, Approve a device), or on ",
    h("a", { href: link, target: "_blank", rel: "noopener" }, "the approval page"), " with a key you have."),
    h("p", { class: "muted" }, "Waiting for approval…"));
  let interval = (started.interval || 5) * 1000;
  const deadline = Date.now() + started.expires_in * 1000;
  while (Date.now() < deadline) {
    await new Promise((ok) => setTimeout(ok, interval));
    try {
      const polled = await call("POST", "/dashboard/session", { device_code: started.device_code });
      if (polled.account_id) return signedIn();
      if (polled.status === "denied" || polled.status === "expired") break;
      interval = (polled.interval || interval / 1000) * 1000;
    } catch (err) { box.append(errorBox(err)); return; }
  }
  box.append(h("p", { class: "error", role: "alert" }, "The code was not approved. Start again."));
}

function signedIn() {
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  announce("Signed in");
  if (!location.hash || location.hash === "#/") location.hash = "#/overview"; else route();
}

// -- Overview -------------------------------------------------------------------
async function allSessions(max) {
  const out = [];
  let cursor = "";
  do {
    const page = await call("GET", `/v2/sessions?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    out.push(...(page.sessions || []));
    cursor = page.next_cursor || "";
  } while (cursor && out.length < max);
  return out;
}

function card(label, figure, detail) {
  return h("div", { class: "card" }, h("div", { class: "figure" }, figure), h("div", { class: "label" }, label),
    detail ? h("div", { class: "muted" }, detail) : null);
}

// Bars per day, drawn as SVG; the figures also as a table for screen readers.
function chart(title, days, format) {
  const max = Math.max(...days.map((d) => d[1]), 0) || 1;
  const w = 24, gap = 6, height = 100;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${days.length * (w + gap)} ${height + 14}`);
  svg.setAttribute("aria-hidden", "true");
  days.forEach(([day, value], i) => {
    const bar = document.createElementNS(svg.namespaceURI, "rect");
    const barHeight = Math.max(value > 0 ? 2 : 0, (value / max) * height);
    bar.setAttribute("x", i * (w + gap)); bar.setAttribute("y", height - barHeight);
    bar.setAttribute("width", w); bar.setAttribute("height", barHeight);
    const tip = document.createElementNS(svg.namespaceURI, "title");
    tip.textContent = `${day}: ${format(value)}`;
    bar.append(tip);
    const label = document.createElementNS(svg.namespaceURI, "text");
    label.setAttribute("x", i * (w + gap)); label.setAttribute("y", height + 12);
    label.textContent = day.slice(8);
    svg.append(bar, label);
  });
  return h("figure", { class: "chart card" }, h("figcaption", {}, h("strong", {}, title)), svg,
    h("div", { class: "visually-hidden" }, table(title, ["Day", "Value"], days.map(([d, v]) => [d, format(v)]), "No data.")));
}

function byDay(list, value, reduce) {
  const days = [];
  for (let i = 13; i >= 0; i--) days.push(new Date(Date.now() - i * 86400000).toISOString().slice(0, 10));
  return days.map((day) => {
    const values = list.filter((s) => (s.created_at || "").startsWith(day)).map(value).filter((v) => v !== undefined);
    return [day, reduce(values)];
  });
}

async function overview() {
  const [account, keyList, computeList, list] = await Promise.all([
    call("GET", "/v2/auth/account"), call("GET", "/v2/auth/keys"), call("GET", "/v2/computes"), allSessions(1000)]);
  const online = (computeList.computes || []).filter((c) => c.status === "online").length;
  const states = { running: 0, idle: 0, ended: 0 };
  for (const s of list) states[s.state] = (states[s.state] || 0) + 1;
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const mean = (xs) => (xs.length ? sum(xs) / xs.length : 0);
  return [
    h("p", {}, `${account.email || account.name} · account ${account.account_id} · since ${when(account.created_at)}`),
    h("div", { class: "cards" },
      card("API keys", String((keyList.keys || []).length)),
      card("Computes online", `${online} / ${(computeList.computes || []).length}`),
      card("Sessions running", String(states.running)), card("Sessions idle", String(states.idle)),
      card("Sessions ended", String(states.ended)),
      card("Spend, all listed sessions", money(sum(list.map((s) => (s.metrics || {}).cost_estimate_usd || 0))))),
    h("h2", {}, "The last 14 days"),
    h("div", { class: "grid2" },
      chart("Spend per day (USD)", byDay(list, (s) => (s.metrics || {}).cost_estimate_usd || 0, sum), money),
      chart("Average run latency per day (ms)",
        byDay(list, (s) => (s.metrics || {}).average_exec_latency_ms, mean), (v) => `${v.toFixed(1)} ms`)),
  ];
}

// -- Computes -------------------------------------------------------------------
async function computes() {
  const listed = await call("GET", "/v2/computes");
  const caps = (c) => Object.entries(c.capabilities || {}).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}`).join("; ");
  const origin = location.origin;
  return [
    table("Computes", ["Name", "ID", "Kind", "Provider", "Status", "Last heartbeat", "Capabilities"],
      (listed.computes || []).map((c) => [c.name || "", h("code", {}, c.compute_id), c.kind || "", c.provider || "",
        statusText(c.status), when(c.last_heartbeat_at), caps(c)]), "No computes yet."),
    h("h2", {}, "Add a machine of yours"),
    h("p", {}, "On the machine, in a checkout of Cerver: install it, then start the relay. It prints a code; approve it ",
      "below, and the machine becomes a private compute of your account."),
    h("pre", {}, `make install\nsudo .venv/bin/cerver relay --url ${origin}`),
    h("h2", {}, "Approve a device"), ...approveDevice(),
  ];
}

// A code a device printed (cerver relay, cerver login, another browser):
// what is asking is shown first, then approved or denied with this account.
function approveDevice() {
  const shown = h("div");
  const decide = (code, deny) => h("button", { type: "button", class: deny ? "danger" : "", on: { click: async () => {
    const done = await call("POST", "/v2/auth/approve", { user_code: code, deny });
    shown.replaceChildren(h("p", { role: "status" }, `${done.status === "approved" ? "Approved" : "Denied"}: ${done.client_name || code}.`));
  } } }, deny ? "Deny" : "Approve");
  const lookup = form("inline", [field("Code shown on the device", h("input", { name: "user_code", autocomplete: "off", required: true, placeholder: "ABCD-EFGH" })),
    h("button", { type: "submit" }, "Look up")], async (data) => {
    const code = data.get("user_code").trim().toUpperCase();
    const pending = await call("GET", `/v2/auth/device/${encodeURIComponent(code)}`);
    shown.replaceChildren(h("dl", { class: "facts" }, h("dt", {}, "Asking"), h("dd", {}, pending.client_name || "a device"),
      h("dt", {}, "From"), h("dd", {}, pending.client_host || "—"), h("dt", {}, "Expires"), h("dd", {}, when(pending.expires_at))),
    h("p", {}, decide(code, false), " ", decide(code, true)));
  });
  return [lookup, shown];
}

// -- Sessions ------------------------------------------------------------------
async function sessions() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const [computeList, catalog] = await Promise.all([call("GET", "/v2/computes"), call("GET", "/v2/providers")]);
  const computeOptions = [["", "Any compute"], ...(computeList.computes || []).map((c) => [c.compute_id, c.name || c.compute_id])];
  const filters = form("filters", [
    field("State", select("state", [["", "Any"], ["running", "Running"], ["idle", "Idle"], ["ended", "Ended"]], params.get("state") || "")),
    field("Name", h("input", { name: "name", value: params.get("name") || "" })),
    field("Compute", select("compute", computeOptions, params.get("compute") || "")),
    field("Search transcripts", h("input", { name: "q", type: "search", value: params.get("q") || "" })),
    h("button", { type: "submit" }, "Filter"),
  ], async (data) => {
    const q = new URLSearchParams();
    for (const [k, v] of data.entries()) if (v) q.set(k, v);
    location.hash = `#/sessions${q.toString() ? "?" + q : ""}`;
  });
  const providers = (catalog.providers || []).filter((p) => p.status === "executable");
  const create = form("inline", [
    field("Name", h("input", { name: "session_name", placeholder: "my task" })),
    field("Provider", select("provider", [["", "The router decides"], ...providers.map((p) => [p.name, p.display_name || p.name])], "")),
    field("Runtime", select("runtime", [["shell", "shell"], ["python", "python"], ["node", "node"]], "shell")),
    h("button", { type: "submit" }, "New session"),
  ], async (data) => {
    const body = { session_name: data.get("session_name"), requirements: { runtime: data.get("runtime") } };
    if (data.get("provider")) body.compute = { provider: data.get("provider") };
    announce("Opening a session…");
    const s = await call("POST", "/v2/sessions", body);
    location.hash = `#/sessions/${encodeURIComponent(s.session_id)}`;
  });
  const out = [h("h2", {}, "Open a session"), create, h("h2", {}, "Your sessions"), filters];
  if (params.get("q")) {
    const found = await call("GET", `/v2/sessions/search?q=${encodeURIComponent(params.get("q"))}&limit=50`);
    out.push(table("Search results", ["Session", "Seq", "At", "Snippet"], (found.hits || []).map((x) => [
      h("a", { href: `#/sessions/${encodeURIComponent(x.session_id)}` }, x.session_name || x.session_id),
      String(x.seq), when(x.at), (x.snippet || "").replaceAll("**", "")]), "Nothing found."));
    return out;
  }
  const q = new URLSearchParams({ limit: "50" });
  for (const [k, name] of [["state", "state"], ["name", "name"], ["compute", "compute_id"]]) if (params.get(k)) q.set(name, params.get(k));
  const body = h("div");
  out.push(body);
  const more = h("button", { type: "button", class: "secondary" }, "More");
  let cursor = "", rows = [];
  const load = async () => {
    const page = await call("GET", `/v2/sessions?${q}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    rows = rows.concat(page.sessions || []);
    cursor = page.next_cursor || "";
    body.replaceChildren(table("Sessions", ["Name", "Status", "Provider", "Compute", "Entries", "Created"], rows.map((s) => [
      h("a", { href: `#/sessions/${encodeURIComponent(s.session_id)}` }, s.session_name || s.session_id),
      statusText(s.status), s.provider || "", s.compute_id || "", String(s.transcript_count || 0), when(s.created_at)]),
    "No sessions match."), cursor ? more : "");
  };
  more.addEventListener("click", load);
  await load();
  return out;
}

function entryItem(e) {
  return h("li", { "data-seq": e.seq }, h("div", { class: "head" }, `#${e.seq} · ${when(e.at)} · ${e.role}/${e.kind}`),
    h("pre", { class: "content" }, e.content || ""));
}

async function session(id, signal) {
  const path = `/v2/sessions/${encodeURIComponent(id)}`;
  let s = await call("GET", `${path}?tail=50`);
  const facts = h("dl", { class: "facts" });
  const metrics = h("div"), routing = h("div"), eventList = h("ol");
  const showSummary = () => {
    facts.replaceChildren(...[["ID", h("code", {}, s.session_id)], ["Name", s.session_name || "—"],
      ["Status", statusText(s.status)], ["Provider", s.provider || ""], ["Compute", s.compute_id || "—"],
      ["Task", s.task || "—"], ["Created", when(s.created_at)], ["Entries", String(s.transcript_count || 0)]]
      .flatMap(([k, v]) => [h("dt", {}, k), h("dd", { "data-fact": k.toLowerCase() }, v)]));
    const m = s.metrics || {};
    metrics.replaceChildren(table("Metrics", ["Figure", "Value"], [
      ["Runs", String(m.total_exec_count || 0)], ["Streams", String(m.total_stream_count || 0)],
      ["Provisioning", m.provision_time_ms !== undefined ? `${m.provision_time_ms.toFixed(1)} ms` : "—"],
      ["First run after create", m.time_to_first_exec_ms !== undefined ? `${m.time_to_first_exec_ms.toFixed(1)} ms` : "—"],
      ["Average run latency", m.average_exec_latency_ms !== undefined ? `${m.average_exec_latency_ms.toFixed(1)} ms` : "—"],
      ["Estimated cost", money(m.cost_estimate_usd)], ["Engagement", m.engagement_label || "—"]], ""));
    const r = s.routing || {};
    routing.replaceChildren(r.recommended_provider ? h("dl", { class: "facts" },
      h("dt", {}, "Recommended"), h("dd", {}, `${r.recommended_provider} (${r.confidence || ""} confidence)`),
      h("dt", {}, "Why"), h("dd", {}, r.primary_reason || ""),
      h("dt", {}, "Also"), h("dd", {}, (r.secondary_reasons || []).join(" ") || "—"),
      h("dt", {}, "Fallbacks"), h("dd", {}, (r.fallback_order || []).join(", ") || "—"))
      : h("p", { class: "muted" }, "No routing (a transcript-only session, or placed by hand)."));
  };
  const addEvents = (list) => { for (const e of list) eventList.append(h("li", {}, `${when(e.at)} · ${e.type}${e.detail ? ": " + e.detail : ""}`)); };
  addEvents(s.events || []);
  showSummary();

  const transcript = h("ol", { class: "transcript", "aria-live": "polite", "aria-label": "Transcript" },
    (s.transcript || []).map(entryItem));
  let first = (s.transcript || []).length ? s.transcript[0].seq : (s.transcript_count || 0) + 1;
  let last = s.transcript_count || 0;
  const older = h("button", { type: "button", class: "secondary", hidden: first <= 1 }, "Load older entries");
  older.addEventListener("click", async () => {
    const since = Math.max(0, first - 51);
    const page = await call("GET", `${path}?since=${since}&tail=${first - 1 - since}`);
    const items = (page.transcript || []).filter((e) => e.seq < first);
    if (items.length) { transcript.prepend(...items.map(entryItem)); first = items[0].seq; }
    older.hidden = first <= 1;
  });

  const act = (label, method, suffix, body, cls) => h("button", { type: "button", class: cls || "secondary", on: { click: async (ev) => {
    ev.target.disabled = true;
    try { s = { ...s, ...(await call(method, path + suffix, body)) }; showSummary(); announce(`${label}: ${s.status}`); }
    catch (err) { announce(err.message); alert(err.message); } finally { ev.target.disabled = false; }
  } } }, label);
  const actions = h("p", { class: "actions" }, act("Pause", "POST", "/pause", {}), " ", act("Resume", "POST", "/resume", {}),
    " ", act("Terminate", "DELETE", "", undefined, "danger"));

  const output = h("pre", { "aria-live": "polite", "aria-label": "Output of the last run", hidden: true });
  const run = form("", [
    field("Code", h("textarea", { name: "code", required: true, spellcheck: "false" })),
    h("div", { class: "filters" }, field("Runtime", select("runtime", [["", "As the session's"], ["shell", "shell"], ["python", "python"], ["node", "node"]], "")),
      h("button", { type: "submit" }, "Run")),
  ], async (data) => {
    output.hidden = false; output.textContent = "";
    const body = { code: data.get("code") };
    if (data.get("runtime")) body.runtime = data.get("runtime");
    for await (const ev of events("POST", `${path}/run/stream`, body)) {
      if (ev.type === "stdout" || ev.type === "stderr") output.append(ev.data || "");
      else if (ev.type === "exit") { output.append(`\n[exit ${ev.exit_code}${ev.timed_out ? ", timed out" : ""}]`); announce(`Run finished with exit code ${ev.exit_code}`); }
    }
    s = { ...s, ...(await call("GET", `${path}/metrics`)) }; // its figures, now with this run
    showSummary();
  });

  // Live: the session's changes pushed by the watch, until it ends (reconnecting where it left off).
  const live = h("p", { class: "muted" }, "Following live.");
  (async () => {
    while (!signal.aborted) {
      try {
        for await (const change of events("GET", `${path}/watch?since=${last}`, undefined, signal)) {
          for (const e of change.entries || []) { if (e.seq > last) { transcript.append(entryItem(e)); last = e.seq; } }
          addEvents(change.events || []);
          if (change.status && change.status !== s.status || (change.entries || []).length) {
            s = { ...s, status: change.status, state: change.state, transcript_count: last };
            showSummary();
          }
        }
        if (s.state === "ended") { live.textContent = "The session has ended."; return; }
        await new Promise((ok) => setTimeout(ok, 1000)); // the stream was cut: pick up where it left off
      } catch (err) {
        if (signal.aborted) return;
        live.textContent = `Reconnecting (${err.message})…`;
        await new Promise((ok) => setTimeout(ok, 2000));
        live.textContent = "Following live.";
      }
    }
  })();

  return [facts, actions, h("h2", {}, "Run code"), run, output, h("h2", {}, "Transcript"), live, older, transcript,
    h("h2", {}, "Events"), eventList, h("h2", {}, "Metrics"), metrics, h("h2", {}, "Routing"), routing];
}

// -- Providers --------------------------------------------------------------------
// Each cloud provider's credential names, read from the API's own document
// (the contract's rules, as /v2/docs publishes them).
async function credentialForms() {
  const docs = await (await fetch("/v2/docs")).json();
  const schema = docs.components.schemas["cerver.v2.EnableAccountProviderRequest"];
  const out = {};
  for (const rule of schema.allOf || []) {
    const [when, then] = rule.anyOf || [];
    const provider = when && when.properties && when.properties.provider && when.properties.provider.not;
    const creds = then && then.properties && then.properties.credentials;
    if (!provider || !creds) continue;
    for (const name of provider.enum) out[name] = { names: Object.keys(creds.properties || {}), required: creds.required || [] };
  }
  return out;
}

async function providers() {
  const [catalog, enabled, forms] = await Promise.all([call("GET", "/v2/providers"), call("GET", "/v2/account/providers"), credentialForms()]);
  const mine = new Set((enabled.providers || []).map((p) => p.provider));
  const fields = h("div", { class: "filters" });
  const choose = select("provider", Object.keys(forms).sort().map((n) => [n, n]), Object.keys(forms).sort()[0]);
  const showFields = () => {
    const f = forms[choose.value];
    fields.replaceChildren(...f.names.map((n) => field(`${n}${f.required.includes(n) ? "" : " (optional)"}`,
      h("input", { name: `cred:${n}`, required: f.required.includes(n), autocomplete: "off",
        type: /key|token|secret/.test(n) ? "password" : "text" }))));
  };
  choose.addEventListener("change", showFields);
  showFields();
  const add = form("", [field("Provider", choose), fields, h("button", { type: "submit" }, "Enable")], async (data, f) => {
    const credentials = {};
    for (const [k, v] of data.entries()) if (k.startsWith("cred:") && v) credentials[k.slice(5)] = v;
    await call("POST", "/v2/account/providers", { provider: data.get("provider"), credentials });
    f.reset(); // credentials are never kept or shown back
    announce(`Enabled ${data.get("provider")}`);
    route();
  });
  const disable = (name) => h("button", { type: "button", class: "danger", on: { click: async () => {
    if (!confirm(`Disable ${name}? Its credentials are deleted.`)) return;
    await call("DELETE", `/v2/account/providers/${encodeURIComponent(name)}`); announce(`Disabled ${name}`); route();
  } } }, "Disable");
  return [
    table("Providers", ["Provider", "Status", "Why", "Startup", "Enabled by you"], (catalog.providers || []).map((p) => [
      p.display_name || p.name, statusText(p.status), p.executable_reason || "", `${Math.round(p.startup_ms || 0)} ms`,
      mine.has(p.name) ? disable(p.name) : ""]), "No providers."),
    h("h2", {}, "Add Provider"),
    h("p", {}, "Your credentials are stored encrypted and never shown back; compute reads them for each call."), add,
  ];
}

// -- API keys ---------------------------------------------------------------------
async function keys() {
  const shown = h("div"), listing = h("div");
  const remove = (prefix) => h("button", { type: "button", class: "danger", "aria-label": `Delete key ${prefix}`, on: { click: async () => {
    if (!confirm(`Delete key ${prefix}? Whatever uses it stops working.`)) return;
    await call("DELETE", `/v2/auth/keys/${encodeURIComponent(prefix)}`); announce(`Deleted ${prefix}`); await list();
  } } }, "Delete");
  const list = async () => {
    const listed = await call("GET", "/v2/auth/keys");
    listing.replaceChildren(table("API keys", ["Prefix", "Name", "Created", "Last used", "Expires", ""],
      (listed.keys || []).map((k) => [h("code", {}, k.prefix), k.name || "", when(k.created_at), when(k.last_used_at),
        when(k.expires_at) || "never", remove(k.prefix)]), "No keys."));
  };
  const create = form("inline", [field("Name", h("input", { name: "name", placeholder: "ci" })),
    h("button", { type: "submit" }, "Create key")], async (data, f) => {
    const created = await call("POST", "/v2/auth/keys", { name: data.get("name") });
    f.reset();
    shown.replaceChildren(h("p", {}, "Your new key — shown this once; keep it somewhere safe:"),
      h("p", { class: "secret" }, h("code", { "data-new-key": "" }, created.api_key)));
    announce("Key created; it is shown once");
    await list();
  });
  await list();
  return [create, shown, listing];
}

// -- Settings, Skill ------------------------------------------------------------------
async function settings() {
  const a = await call("GET", "/v2/auth/account");
  return [h("dl", { class: "facts" }, h("dt", {}, "Account"), h("dd", {}, h("code", {}, a.account_id)),
    h("dt", {}, "E-mail"), h("dd", {}, a.email || "—"), h("dt", {}, "Name"), h("dd", {}, a.name || "—"),
    h("dt", {}, "Since"), h("dd", {}, when(a.created_at)), h("dt", {}, "API"), h("dd", {}, h("a", { href: "/v2/docs" }, `${location.origin}/v2/docs`))),
  h("h2", {}, "Command line and agents"),
  h("pre", {}, `export CERVER_API_URL=${location.origin}\ncerver login          # the cerver command\ncerver-mcp            # MCP for agents, with CERVER_API_TOKEN`),
  h("h2", {}, "This browser"),
  h("p", {}, "Signing out removes the key from this browser's cookie; the key itself stays valid (delete it under API Keys).")];
}

async function skill() {
  const text = await (await fetch("/skill.md")).text();
  return [h("p", {}, "A drop-in instruction set for any AI agent that uses Cerver. Save it as ",
    h("code", {}, "~/.claude/skills/cerver/SKILL.md"), " or drop it into an agent's system prompt."),
  h("p", {}, h("a", { href: "/skill.md", download: "SKILL.md" }, "Download skill.md"), " · ", h("a", { href: "/skill.md" }, "View raw")),
  h("pre", {}, text)];
}

// -- start ----------------------------------------------------------------------
document.getElementById("signout").addEventListener("click", async () => {
  await call("DELETE", "/dashboard/session");
  announce("Signed out");
  showSignIn();
});
window.addEventListener("hashchange", route);
(async () => {
  try { await call("GET", "/v2/auth/account"); } catch (err) { if (err.status !== 401) document.getElementById("main").replaceChildren(errorBox(err)); return; }
  signedIn();
})();
