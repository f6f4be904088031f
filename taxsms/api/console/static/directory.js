// Phones and taxpayers: a phone's consent per taxpayer, its trail and its recent messages with their receipts;
// a taxpayer's phones with their consent and messages. Everything masked; only my jurisdiction's messages.
"use strict";

const CONSENT = { "1": "yes", "0": "no" };

function messagesTable(body) {
  // The messages of one phone: a table, or the empty state in words; and how many other units sent.
  const box = el("div", {});
  if (body.messages.length) {
    const head = el("tr", {}, ...["dir.msg_at", "dir.msg_kind", "dir.msg_unit", "dir.msg_state", "dir.msg_receipt", "dir.msg_id"]
      .map((key) => el("th", {}, t(key))));
    box.append(el("table", { class: "messages" }, el("thead", {}, head), el("tbody", {}, ...body.messages.map((m) => el("tr", {},
      el("td", {}, chinaTime(m.at)), el("td", {}, t(`kind.${m.kind}`)), el("td", {}, m.unit_name),
      el("td", {}, stateName(m.state) + (m.error ? `（${m.error}）` : "")), el("td", {}, m.receipt || t("none")),
      el("td", {}, m.id))))));
  } else {
    box.append(el("p", { class: "muted" }, t("dir.nomessages")));
  }
  if (body.other_units) box.append(el("p", { class: "muted" }, t("dir.othermessages", { n: fmt(body.other_units) })));
  return box;
}

async function lookUpPhone(phone) {
  const [consent, messages] = await Promise.allSettled([
    api(`/console/api/consent/${encodeURIComponent(phone)}`),
    api(`/console/api/phones/${encodeURIComponent(phone)}/messages`),
  ]);
  if (messages.status === "rejected") throw messages.reason;
  const none = document.getElementById("dir-noconsent");
  none.hidden = true;
  if (consent.status === "fulfilled") {
    const r = consent.value;
    fillTable(document.getElementById("dir-record"), [
      [t("dir.phone"), r.phone], [t("dir.subscribed"), t(r.subscribed ? "yes" : "no")], [t("dir.sms"), r.sms],
      [t("dir.taxpayers"), Object.entries(r.taxpayers).map(([tp, s]) => `${tp}: ${t(CONSENT[s] || "none")}`).join("; ")],
    ]);
    fillTable(document.getElementById("dir-trail"), r.trail.map((e) =>
      [chinaTime(e.at), `${e.taxpayer}: ${e.state}`, `${e.how} ${e.ref}`]));
    showEmpty("dir-trail-empty", !r.trail.length);
  } else if (consent.reason.status === 404) {
    fillTable(document.getElementById("dir-record"), [[t("dir.phone"), messages.value.phone]]);
    document.getElementById("dir-trail").replaceChildren();
    none.textContent = t("dir.noconsent");
    none.hidden = false;
    showEmpty("dir-trail-empty", true);
  } else {
    throw consent.reason;
  }
  document.getElementById("dir-messages").replaceChildren(messagesTable(messages.value));
  document.getElementById("dir-result").hidden = false;
}

async function lookUpTaxpayer(id) {
  const r = await api(`/console/api/taxpayers/${encodeURIComponent(id)}`);
  fillTable(document.getElementById("dir-taxpayer-record"), [
    [t("dir.tp_id"), r.id], [t("dir.tp_name"), r.name], [t("dir.tp_unit"), r.unit_name],
  ]);
  document.getElementById("dir-taxpayer-phones").replaceChildren(...r.phones.map((p) => el("div", { class: "phone" },
    el("h3", {}, `${p.phone} · ${t(`role.${p.role}`)} · ${t("dir.subscribed")}: ${t(CONSENT[p.consent] || "none")}`),
    messagesTable(p))));
  if (!r.phones.length) document.getElementById("dir-taxpayer-phones").append(el("p", { class: "muted" }, t("dir.nophones")));
  document.getElementById("dir-taxpayer").hidden = false;
}

window.pageMain = async () => {
  document.getElementById("dir-lookup").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("dir-error");
    error.textContent = "";
    document.getElementById("dir-result").hidden = true;
    document.getElementById("dir-taxpayer").hidden = true;
    const query = document.getElementById("dir-phone").value.trim();
    if (!query) return;
    try {
      // A mobile number (11 digits, +86 or spaces allowed) is a phone; anything else a taxpayer id.
      if (/^(\+?86)?1\d{10}$/.test(query.replace(/[\s-]/g, ""))) await lookUpPhone(query);
      else await lookUpTaxpayer(query);
    } catch (exc) {
      say(error, exc);
    }
  });
};
