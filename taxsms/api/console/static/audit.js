// Audit and usage: monthly segments per unit (chart, quotas), the audit log with filters and a verify button.
"use strict";

async function loadUsage(event) {
  if (event) event.preventDefault();
  const error = document.getElementById("usage-error");
  error.textContent = "";
  const month = document.getElementById("usage-month").value;
  try {
    const report = await api(`/console/api/usage${month ? `?month=${month}` : ""}`);
    document.getElementById("usage-month").value = report.month;
    barChart(document.getElementById("usage-chart"),
      report.units.map((u) => ({ label: u.name, value: u.total, limit: u.quota })));
    fillTable(document.getElementById("usage-rows"), report.units.map((u) =>
      [`${u.name} (${u.unit})`, fmt(u.own), fmt(u.total), u.quota === null ? t("dash.noquota") : fmt(u.quota)]));
  } catch (exc) {
    say(error, exc);
  }
}

async function loadAudit(event) {
  if (event) event.preventDefault();
  const error = document.getElementById("audit-error");
  error.textContent = "";
  const query = new URLSearchParams();
  const action = document.getElementById("audit-action").value.trim();
  const operator = document.getElementById("audit-operator").value.trim();
  if (action) query.set("action", action);
  if (operator) query.set("operator", operator);
  try {
    const { entries } = await api(`/console/api/audit?${query}`);
    fillTable(document.getElementById("audit-rows"), entries.map((e) =>
      [e.seq, e.at.replace("T", " ").slice(0, 19), e.actor, e.action, e.subject, e.details]));
    showEmpty("audit-empty", !entries.length);
  } catch (exc) {
    document.getElementById("audit-rows").replaceChildren();
    say(error, exc);
  }
}

window.pageMain = async () => {
  document.getElementById("usage-form").addEventListener("submit", loadUsage);
  document.getElementById("audit-form").addEventListener("submit", loadAudit);
  document.getElementById("audit-verify").addEventListener("click", async () => {
    const verdict = document.getElementById("audit-verdict");
    try {
      const v = await api("/console/api/audit/verify", { method: "POST" });
      verdict.className = v.ok ? "ok" : "error";
      verdict.textContent = v.ok ? t("audit.ok", { n: fmt(v.entries) }) : t("audit.broken", { at: v.broken_at, reason: v.reason });
    } catch (exc) {
      verdict.className = "error";
      say(verdict, exc);
    }
  });
  await Promise.all([loadUsage(), loadAudit()]);
};
