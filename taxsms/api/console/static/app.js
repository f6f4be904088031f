// The console's shared script: session, CSRF header, JSON calls, and each page's behaviour.
"use strict";

const taxsms = { session: null };

async function api(path, options = {}) {
  const headers = { "Accept": "application/json", ...(options.headers || {}) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.method && options.method !== "GET" && taxsms.session) headers["X-CSRF-Token"] = taxsms.session.csrf;
  const response = await fetch(path, { ...options, headers, credentials: "same-origin" });
  if (response.status === 401 && !path.endsWith("/login")) {
    window.location.href = "/console/login";
    throw new Error("not logged in");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(`${body.error}: ${body.detail}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function fillTable(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)))));
}

const fmt = (n) => Number(n).toLocaleString("en-US", { maximumFractionDigits: 1 });

async function startSession() {
  taxsms.session = await api("/console/api/session");
  document.getElementById("who").textContent = `${taxsms.session.name} (${taxsms.session.unit})`;
  document.getElementById("logout").addEventListener("click", async () => {
    await api("/console/api/logout", { method: "POST" });
    window.location.href = "/console/login";
  });
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === window.location.pathname) link.classList.add("active");
  }
}

// -- dashboard ------------------------------------------------------------------------------------------
let previous = null;

async function refreshDashboard() {
  const snap = await api("/console/api/dashboard");
  const receipts = snap.counts.delivered + snap.counts.undelivered;
  if (previous) {
    const dt = Math.max(snap.at - previous.at, 0.001);
    document.getElementById("throughput").textContent = fmt((snap.sent - previous.sent) / dt);
    const prevReceipts = previous.counts.delivered + previous.counts.undelivered;
    document.getElementById("receipt-rate").textContent = fmt((receipts - prevReceipts) / dt);
  }
  previous = snap;
  const depth = snap.lanes.reduce((sum, lane) => sum + lane.depth + lane.delayed, 0);
  document.getElementById("depth").textContent = fmt(depth);
  document.getElementById("sent").textContent = fmt(snap.sent);
  document.getElementById("delivered-ratio").textContent =
    receipts ? `${fmt((100 * snap.counts.delivered) / receipts)} %` : "–";
  const laneNames = ["0 replies", "1 overdue", "2 reminders", "3 bulk"];
  fillTable(document.getElementById("lanes"),
    snap.lanes.map((l) => [laneNames[l.lane] || l.lane, fmt(l.depth), fmt(l.pending), fmt(l.delayed)]));
  fillTable(document.getElementById("states"),
    Object.entries(snap.counts).filter(([, n]) => n > 0).map(([state, n]) => [state, fmt(n)]));
  const windows = document.getElementById("windows");
  windows.replaceChildren(...Object.entries(snap.windows).map(([kind, open]) =>
    el("tr", {}, el("td", {}, kind), el("td", {}, el("span", { class: `badge ${open ? "open" : "closed"}` },
      open ? "open" : "closed")))));
  document.getElementById("updated").textContent = new Date(snap.at * 1000).toLocaleTimeString();
}

// -- job lookup -------------------------------------------------------------------------------------------
async function lookUpJob(event) {
  event.preventDefault();
  const id = document.getElementById("job-id").value.trim();
  const out = document.getElementById("job-record");
  const error = document.getElementById("job-error");
  error.textContent = "";
  out.replaceChildren();
  if (!id) return;
  try {
    const body = await api(`/console/api/jobs/${encodeURIComponent(id)}`);
    fillTable(out, Object.entries(body.record).sort().map(([k, v]) => [k, v]));
  } catch (exc) {
    error.textContent = exc.message;
  }
}

// -- optional features (campaigns, inbox) -------------------------------------------------------------------
async function featurePage(name) {
  const available = await api("/console/api/features");
  const note = document.getElementById("feature-note");
  if (!available[name]) {
    note.textContent = `The ${name} feature is not installed in this deployment yet.`;
    return false;
  }
  note.textContent = "";
  return true;
}

document.addEventListener("DOMContentLoaded", async () => {
  const page = document.body.dataset.page;
  await startSession();
  if (page === "dashboard") {
    await refreshDashboard();
    setInterval(() => refreshDashboard().catch((exc) => console.warn(exc)), 1000);
  } else if (page === "jobs") {
    document.getElementById("lookup").addEventListener("submit", lookUpJob);
  } else if (page === "campaigns" || page === "inbox") {
    if (await featurePage(page) && window[`${page}Page`]) window[`${page}Page`]();
  }
});
