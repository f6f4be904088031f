// Message lookup by id: the record of a job of the operator's jurisdiction, phone masked.
"use strict";

window.pageMain = async () => {
  document.getElementById("lookup").addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = document.getElementById("job-id").value.trim();
    const out = document.getElementById("job-record");
    const error = document.getElementById("job-error");
    error.textContent = "";
    out.replaceChildren();
    if (!id) return;
    try {
      const body = await api(`/console/api/jobs/${encodeURIComponent(id)}`);
      const rows = Object.entries(body.record).sort();
      fillTable(out, rows.map(([k, v]) => [k, k.startsWith("at:") || k.endsWith("_at") ? chinaTime(Number(v)) : v]));
    } catch (exc) {
      say(error, exc);
    }
  });
};
