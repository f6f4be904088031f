// The log-in page: operator code and password; wrong, locked (with the wait) and expired sessions in words.
"use strict";

window.pageMain = async () => {
  const notice = document.getElementById("login-notice");
  if (new URLSearchParams(window.location.search).has("expired")) {
    notice.textContent = t("login.expired");
    notice.hidden = false;
  }
  document.getElementById("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("login-error");
    error.textContent = "";
    try {
      await api("/console/api/login", {
        method: "POST",
        body: { operator: document.getElementById("operator").value, password: document.getElementById("password").value },
      });
      window.location.href = "/console/";
    } catch (exc) {
      if (exc.status === 429) error.textContent = t("login.locked", { s: exc.message.match(/\d+/)?.[0] ?? "" });
      else if (exc.status === 401) error.textContent = t("login.wrong");
      else say(error, exc);
    }
  });
};
