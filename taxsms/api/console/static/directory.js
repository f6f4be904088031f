// Phones and consent: one phone's consent per taxpayer and its trail (phone and taxpayer ids masked).
"use strict";

const CONSENT = { "1": "yes", "0": "no" };

window.pageMain = async () => {
  document.getElementById("dir-lookup").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("dir-error");
    error.textContent = "";
    document.getElementById("dir-result").hidden = true;
    const phone = document.getElementById("dir-phone").value.trim();
    if (!phone) return;
    try {
      const r = await api(`/console/api/consent/${encodeURIComponent(phone)}`);
      fillTable(document.getElementById("dir-record"), [
        [t("dir.phone"), r.phone], [t("dir.subscribed"), t(r.subscribed ? "yes" : "no")], [t("dir.sms"), r.sms],
        [t("dir.taxpayers"), Object.entries(r.taxpayers).map(([tp, s]) => `${tp}: ${t(CONSENT[s] || "none")}`).join("; ")],
      ]);
      fillTable(document.getElementById("dir-trail"), r.trail.map((e) =>
        [chinaTime(e.at), `${e.taxpayer}: ${e.state}`, `${e.how} ${e.ref}`]));
      showEmpty("dir-trail-empty", !r.trail.length);
      document.getElementById("dir-result").hidden = false;
    } catch (exc) {
      say(error, exc);
    }
  });
};
