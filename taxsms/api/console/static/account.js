// The account page: who I am, when the session ends, and changing my password.
"use strict";

window.pageMain = async () => {
  const s = taxsms.session;
  fillTable(document.getElementById("account-info"), [
    [t("account.id"), s.operator], [t("account.name"), s.name], [t("account.unit"), `${s.unit_name} (${s.unit})`],
    [t("account.roles"), s.roles.join(", ")], [t("account.expires"), chinaTime(s.expires_at)],
  ]);
  document.getElementById("password-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("password-error");
    const ok = document.getElementById("password-ok");
    error.textContent = ok.textContent = "";
    try {
      taxsms.session = await api("/console/api/password", {
        method: "POST",
        body: { old: document.getElementById("old-password").value, new: document.getElementById("new-password").value },
      });
      ok.textContent = t("account.changed");
      event.target.reset();
    } catch (exc) {
      say(error, exc);
    }
  });
};
