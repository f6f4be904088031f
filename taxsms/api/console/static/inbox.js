// The inbox: taxpayers' tickets of my unit and below (phones masked, texts shown as text), and answering one
// through the gate.
"use strict";

let chosen = null;

async function loadTickets() {
  const status = document.querySelector("input[name=status]:checked").value;
  const error = document.getElementById("inbox-error");
  error.textContent = "";
  let tickets = [];
  try {
    tickets = (await api(`/console/api/inbox${status ? `?status=${status}` : ""}`)).tickets;
  } catch (exc) {
    say(error, exc);
  }
  document.getElementById("tickets").replaceChildren(...tickets.map((ticket) => el("tr", {
    class: "clickable", onclick: () => choose(ticket), "data-ticket": ticket.id,
  }, el("td", {}, ticket.id), el("td", {}, chinaTime(ticket.created_at)), el("td", {}, t(`ticket.${ticket.kind}`)),
    el("td", {}, ticket.phone), el("td", {}, ticket.unit_name), el("td", { class: "text" }, ticket.text),
    el("td", {}, t(`status.${ticket.status}`)))));
  showEmpty("tickets-empty", !tickets.length);
}

function choose(ticket) {
  chosen = ticket;
  document.getElementById("answer-box").hidden = false;
  document.getElementById("answer-ticket").textContent = ticket.id;
  document.getElementById("answer-quote").textContent = ticket.text;
  document.getElementById("answer-error").textContent = "";
  document.getElementById("answer-ok").textContent = ticket.answer ? `${ticket.operator}: ${ticket.answer}` : "";
}

window.pageMain = async () => {
  for (const radio of document.querySelectorAll("input[name=status]")) radio.addEventListener("change", loadTickets);
  document.getElementById("answer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("answer-error");
    const ok = document.getElementById("answer-ok");
    error.textContent = ok.textContent = "";
    try {
      const result = await api(`/console/api/inbox/${encodeURIComponent(chosen.id)}/answer`, {
        method: "POST", body: { text: document.getElementById("answer-text").value },
      });
      ok.textContent = t("inbox.sent", { text: result.text });
      event.target.reset();
      await loadTickets();
    } catch (exc) {
      say(error, exc);
    }
  });
  await loadTickets();
};
