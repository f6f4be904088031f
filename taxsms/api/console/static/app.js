// What every console page shares: the session, JSON calls with the CSRF header, errors in words, the Redis
// banner, China-time formatting, and el() to build nodes (text always goes in as text nodes, never as HTML).
"use strict";

const taxsms = { session: null, page: document.body.dataset.page };

class ApiFailure extends Error {
  constructor(status, body) {
    super(body.detail || body.error || String(status));
    this.status = status;
    this.code = body.error || "";
    this.body = body;
  }
}

async function api(path, options = {}) {
  const headers = { "Accept": "application/json", ...(options.headers || {}) };
  let body = options.body;
  if (body !== undefined && typeof body !== "string") body = JSON.stringify(body);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (options.method && options.method !== "GET" && taxsms.session) headers["X-CSRF-Token"] = taxsms.session.csrf;
  let response;
  try {
    response = await fetch(path, { ...options, body, headers, credentials: "same-origin" });
  } catch (exc) {
    showBanner(t("err.network"));
    throw new ApiFailure(0, { error: "network", detail: t("err.network") });
  }
  const payload = await response.json().catch(() => ({ error: "http_error", detail: response.statusText }));
  if (response.status === 401 && taxsms.page !== "login") {
    window.location.href = "/console/login?expired=1";
    throw new ApiFailure(401, payload);
  }
  if (response.status === 503 && payload.error === "unavailable") {
    showBanner(t("err.redis"));
    throw new ApiFailure(503, payload);
  }
  if (!response.ok) throw new ApiFailure(response.status, payload);
  hideBanner();
  return payload;
}

function showBanner(text) {
  const banner = document.getElementById("banner");
  banner.textContent = text;
  banner.hidden = false;
}

function hideBanner() {
  document.getElementById("banner").hidden = true;
}

function say(node, exc) {
  // An API error in words, into `node` (as text).
  if (!(exc instanceof ApiFailure)) exc = new ApiFailure(0, { detail: String(exc) });
  node.textContent = exc.status === 403 ? t("err.forbidden", { detail: exc.message }) : t("err.generic", { detail: exc.message });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function fillTable(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)))));
}

function showEmpty(id, empty) {
  document.getElementById(id).hidden = !empty;
}

const NUMBER = new Intl.NumberFormat(LANG === "en" ? "en-US" : "zh-CN", { maximumFractionDigits: 1 });
const fmt = (n) => (n === null || n === undefined || Number.isNaN(n) ? t("none") : NUMBER.format(n));
const CHINA = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai", hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const CHINA_TIME = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai", hourCycle: "h23", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

function chinaTime(epochSeconds) {
  // "2026/12/02 09:30:05", China time, 24-hour clock; "—" for none.
  return epochSeconds ? CHINA.format(new Date(epochSeconds * 1000)) : t("none");
}

function clockTime(epochSeconds) {
  return CHINA_TIME.format(new Date(epochSeconds * 1000));
}

function stateName(state) {
  return t(`state.${state}`);
}

async function startSession() {
  document.getElementById("lang").textContent = t("lang");
  document.getElementById("lang").addEventListener("click", () => {
    localStorage.setItem("taxsms.lang", LANG === "en" ? "zh" : "en");
    window.location.reload();
  });
  if (taxsms.page === "login") return;
  taxsms.session = await api("/console/api/session");
  const s = taxsms.session;
  document.getElementById("who").textContent =
    `${s.name} · ${s.unit_name} · ${t("session.until", { time: clockTime(s.expires_at) })}`;
  document.getElementById("logout").addEventListener("click", async () => {
    await api("/console/api/logout", { method: "POST" });
    window.location.href = "/console/login";
  });
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === window.location.pathname) link.classList.add("active");
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  translatePage();
  try {
    await startSession();
  } catch (exc) {
    return; // sent to the log-in page, or the banner says why
  }
  if (window.pageMain) await window.pageMain();
});
