// Campaigns: the approval queue, every campaign of my jurisdiction, one campaign's progress (polled), and the
// create form with a live preview (signature, segments, cost, forbidden terms) and its recipients: a directory
// audience of my jurisdiction (its size and a masked sample asked for when chosen) or an uploaded list.
"use strict";

const PROGRESS = [
  ["delivered", COLOURS.delivered], ["submitted", "#6c9bd2"], ["submitting", "#9db8dc"], ["queued", "#c9d4e3"],
  ["delayed", "#d9c98f"], ["undelivered", COLOURS.undelivered], ["unconfirmed", "#c97b5a"], ["failed", "#7a1c14"],
  ["expired", "#b08a6a"], ["suppressed", "#8a8f98"], ["rejected", "#444a52"], ["cancelled", "#5d6470"],
  ["pending_approval", "#e3d9b5"],
];
let shown = null;
let templates = [];
let detailTimer = null;
let audiences = [];
let audienceSize = null; // recipients of the chosen audience, once counted

function link(campaign) {
  return el("a", { href: `/console/campaigns?id=${encodeURIComponent(campaign.id)}`, onclick: (event) => {
    event.preventDefault();
    history.pushState(null, "", `/console/campaigns?id=${encodeURIComponent(campaign.id)}`);
    showCampaign(campaign.id);
  } }, campaign.name);
}

async function loadLists() {
  const { campaigns } = await api("/console/api/campaigns");
  const queue = campaigns.filter((c) => c.may_decide);
  document.getElementById("queue").replaceChildren(...queue.map((c) => el("tr", {},
    el("td", {}, link(c)), el("td", {}, c.unit_name), el("td", {}, fmt(c.recipients)),
    el("td", { class: "sample" }, c.sample.slice(0, 2).join("；")), el("td", {}, chinaTime(c.created_at)))));
  showEmpty("queue-empty", !queue.length);
  document.getElementById("campaigns").replaceChildren(...campaigns.map((c) => el("tr", {},
    el("td", {}, link(c)), el("td", {}, c.unit_name), el("td", {}, stateName(c.state)), el("td", {}, fmt(c.recipients)),
    el("td", {}, chinaTime(c.created_at)))));
  showEmpty("campaigns-empty", !campaigns.length);
}

async function showCampaign(id) {
  clearTimeout(detailTimer);
  const error = document.getElementById("detail-error");
  error.textContent = "";
  let c;
  try {
    c = await api(`/console/api/campaigns/${encodeURIComponent(id)}`);
  } catch (exc) {
    document.getElementById("detail").hidden = false;
    say(error, exc);
    return;
  }
  shown = c;
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-name").textContent = c.name;
  fillTable(document.getElementById("detail-record"), [
    [t("camp.id"), c.id], [t("camp.state"), stateName(c.state)], [t("camp.unit"), c.unit_name],
    [t("camp.creator"), c.creator], [t("camp.created"), chinaTime(c.created_at)],
    [t("camp.approver"), c.approver ? `${c.approver} · ${chinaTime(c.decided_at)}` : t("none")],
    ...(c.reason ? [[t("camp.reason"), c.reason]] : []),
    [t("camp.recipients"), fmt(c.recipients)], ...(c.audience ? [[t("camp.audience"), audienceText(c.audience, c.audience_unit_name)]] : []),
    [t("camp.text_final"), c.text],
  ]);
  const counts = Object.entries(c.counts).filter(([, n]) => n > 0);
  stackedBar(document.getElementById("progress-chart"),
    PROGRESS.map(([state, colour]) => ({ label: stateName(state), value: c.counts[state] || 0, colour })));
  fillTable(document.getElementById("detail-counts"), counts.map(([state, n]) => [stateName(state), fmt(n)]));
  const reasons = Object.entries(c.reasons);
  fillTable(document.getElementById("detail-reasons"), reasons.length ? reasons.map(([why, n]) => [why, fmt(n)])
    : [[t("camp.noreasons"), ""]]);
  document.getElementById("detail-sample").replaceChildren(...c.sample.map((line) => el("li", {}, line)));
  document.getElementById("decide").hidden = !c.may_decide;
  document.getElementById("cancel-form").hidden = !c.may_cancel;
  const busy = ["pending_approval", "approved"].includes(c.state) &&
    ((c.counts.queued || 0) + (c.counts.submitting || 0) + (c.counts.submitted || 0) + (c.counts.delayed || 0) > 0 ||
     c.state === "pending_approval");
  if (busy) detailTimer = setTimeout(() => showCampaign(c.id), 2000);
}

async function decide(action) {
  const error = document.getElementById("detail-error");
  error.textContent = document.getElementById("detail-ok").textContent = "";
  const field = action === "cancel" ? "cancel-reason" : "decide-reason";
  const reason = document.getElementById(field).value.trim();
  if (action !== "approve" && !reason) {
    error.textContent = t("camp.needreason");
    return;
  }
  try {
    const body = action === "approve" ? {} : { reason };
    const result = await api(`/console/api/campaigns/${encodeURIComponent(shown.id)}/${action}`, { method: "POST", body });
    document.getElementById("detail-ok").textContent =
      action === "approve" ? t("camp.approved_ok", { n: fmt(result.enqueued) }) : t(`camp.${action}ed_ok`);
  } catch (exc) {
    say(error, exc);
  }
  await loadLists();
  await showCampaign(shown.id);
}

function byAudience() {
  return document.querySelector("input[name=c-by]:checked").value === "audience";
}

function chosenAudience() {
  const index = document.getElementById("c-audience").value;
  return index === "" ? null : audiences[Number(index)];
}

function draft() {
  const vars = {};
  for (const input of document.querySelectorAll("#c-vars input")) vars[input.name] = input.value;
  const template = document.getElementById("c-template").value;
  const audience = byAudience() ? chosenAudience() : null;
  const body = {
    name: document.getElementById("c-name").value,
    kind: document.getElementById("c-kind").value,
    text: template ? "" : document.getElementById("c-text").value,
    template,
    vars: template ? vars : {},
    recipients: byAudience() ? "" : document.getElementById("c-recipients").value,
  };
  if (audience) body.audience = { kind: audience.kind, unit: audience.unit, subscribed: audience.subscribed };
  return body;
}

function audienceText(text, unitName) {
  // A campaign's audience as the campaign book words it ("taxpayers of county-e1, subscribed"), in my language.
  const m = /^(taxpayers|staff) of ([^,]+)(, subscribed)?(, not filed (.+))?$/.exec(text);
  if (!m) return text;
  const unit = unitName || m[2];
  return t(m[1] === "staff" ? "camp.aud_staff" : m[3] ? "camp.aud_taxpayers" : "camp.aud_all", { unit }) +
    (m[5] ? t("camp.aud_unfiled", { filing: m[5] }) : "");
}

function audienceLabel(a) {
  return t(a.kind === "staff" ? "camp.aud_staff" : "camp.aud_taxpayers", { unit: a.unit_name });
}

async function showAudiences() {
  try {
    audiences = (await api("/console/api/audiences")).audiences;
  } catch (exc) {
    audiences = [];
    say(document.getElementById("c-audience-size"), exc);
  }
  document.getElementById("c-audience").replaceChildren(...audiences.map((a, i) => el("option", { value: String(i) },
    audienceLabel(a))));
  showEmpty("c-audience-none", !audiences.length);
  await countAudience();
}

async function countAudience() {
  // The chosen audience's size and a masked sample, read from the directory now; its kind preselected.
  const size = document.getElementById("c-audience-size");
  const sample = document.getElementById("c-audience-sample");
  const audience = chosenAudience();
  audienceSize = null;
  sample.replaceChildren();
  size.className = "";
  size.textContent = audience ? t("camp.aud_counting") : "";
  schedulePreview();
  if (!audience) return;
  document.getElementById("c-kind").value = audience.campaign_kind;
  const query = new URLSearchParams({ kind: audience.kind, unit: audience.unit, subscribed: audience.subscribed ? "1" : "0" });
  try {
    const r = await api(`/console/api/audiences/size?${query}`);
    if (chosenAudience() !== audience) return; // chosen another meanwhile
    audienceSize = r.recipients;
    size.textContent = !r.recipients ? t("camp.aud_empty")
      : t(audience.kind === "staff" ? "camp.aud_staffsize" : "camp.aud_size", { r: fmt(r.recipients), tp: fmt(r.taxpayers) });
    sample.replaceChildren(...r.sample.map((line) => el("li", {}, line)));
  } catch (exc) {
    size.className = "error";
    say(size, exc);
  }
  schedulePreview();
}

function showRecipientChoice() {
  document.getElementById("c-by-audience").hidden = !byAudience();
  document.getElementById("c-by-upload").hidden = byAudience();
  schedulePreview();
}

let previewTimer = null;
function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(preview, 250);
}

async function preview() {
  const review = document.getElementById("p-review");
  try {
    const body = draft();
    delete body.audience; // the preview counts the uploaded list; the audience was counted when chosen
    const p = await api("/console/api/campaigns/preview", { method: "POST", body });
    const recipients = byAudience() ? audienceSize : p.recipients;
    const cost = recipients === null ? null : recipients * p.segments;
    document.getElementById("p-text").textContent = p.text;
    document.getElementById("p-segments").textContent =
      t("camp.segments", { n: p.segments, chars: p.characters, r: fmt(recipients), cost: fmt(cost) }) +
      (p.quota !== null ? ` · ${t("camp.quota", { used: fmt(p.used_this_month), quota: fmt(p.quota) })}` : "");
    review.className = p.clean ? "ok" : "error";
    review.textContent = p.clean ? t("camp.clean")
      : t("camp.forbidden", { terms: p.matches.map((m) => `${m.term}（${m.found}）`).join("、") });
  } catch (exc) {
    review.className = "error";
    say(review, exc);
  }
}

function showVariables() {
  const chosen = templates.find((x) => x.name === document.getElementById("c-template").value);
  const box = document.getElementById("c-vars");
  document.getElementById("c-text").disabled = Boolean(chosen);
  if (chosen) document.getElementById("c-text").value = chosen.body;
  box.replaceChildren(...(chosen ? chosen.variables : []).map((name) =>
    el("label", {}, name, el("input", { name, autocomplete: "off", oninput: schedulePreview }))));
  schedulePreview();
}

async function create(event) {
  event.preventDefault();
  const error = document.getElementById("create-error");
  const ok = document.getElementById("create-ok");
  error.textContent = ok.textContent = "";
  const body = draft();
  if (!body.audience && !body.recipients.trim()) {
    error.textContent = t("camp.needrecipients");
    return;
  }
  try {
    const c = await api("/console/api/campaigns", { method: "POST", body });
    ok.textContent = t("camp.created_ok", { id: c.id });
    event.target.reset();
    showVariables();
    showRecipientChoice();
    await countAudience();
    await loadLists();
  } catch (exc) {
    say(error, exc);
  }
}

window.pageMain = async () => {
  try {
    templates = (await api("/console/api/templates")).templates;
  } catch (exc) {
    templates = [];
  }
  const select = document.getElementById("c-template");
  for (const tpl of templates) select.append(el("option", { value: tpl.name, "data-kind": tpl.kind }, `${tpl.name} · ${tpl.description}`));
  select.addEventListener("change", showVariables);
  for (const id of ["c-name", "c-text", "c-recipients", "c-kind"]) {
    document.getElementById(id).addEventListener("input", schedulePreview);
  }
  document.getElementById("c-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) document.getElementById("c-recipients").value = await file.text();
    schedulePreview();
  });
  for (const radio of document.querySelectorAll("input[name=c-by]")) radio.addEventListener("change", showRecipientChoice);
  document.getElementById("c-audience").addEventListener("change", countAudience);
  document.getElementById("create").addEventListener("submit", create);
  document.getElementById("approve").addEventListener("click", () => decide("approve"));
  document.getElementById("reject").addEventListener("click", () => decide("reject"));
  document.getElementById("cancel").addEventListener("click", () => decide("cancel"));
  window.addEventListener("popstate", () => {
    const id = new URLSearchParams(window.location.search).get("id");
    if (id) showCampaign(id);
  });
  try {
    await loadLists();
  } catch (exc) {
    say(document.getElementById("create-error"), exc);
  }
  const id = new URLSearchParams(window.location.search).get("id");
  if (id) await showCampaign(id);
  await showAudiences();
};
