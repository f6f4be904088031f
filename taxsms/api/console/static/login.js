"use strict";

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const response = await fetch("/console/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({
      operator: document.getElementById("operator").value,
      password: document.getElementById("password").value,
    }),
  });
  if (response.ok) {
    window.location.href = "/console/";
  } else {
    const body = await response.json();
    error.textContent = body.detail;
  }
});
