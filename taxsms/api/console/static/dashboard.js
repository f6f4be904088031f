// The dashboard: polls /console/api/dashboard every second. Province operators see the platform (rates,
// lanes, SMSC binds and send windows from the workers' heartbeats); others see their unit's month. When Redis
// is down the figures are blanked and the banner says so, instead of showing stale numbers.
"use strict";

const HISTORY_S = 300;
const history = [];
let previous = null;

function blank() {
  for (const node of document.querySelectorAll(".card .value")) node.textContent = t("none");
  for (const id of ["lanes", "windows", "states"]) document.getElementById(id).replaceChildren();
  previous = null;
}

function platform(snap) {
  document.getElementById("platform").hidden = false;
  const c = snap.counts;
  const sent = c.submitted + c.delivered + c.undelivered;
  if (previous) {
    const dt = Math.max(snap.at - previous.at, 0.001);
    const rate = (now, before) => Math.max(0, (now - before) / dt);
    const point = {
      at: snap.at,
      sent: rate(sent, previous.sent),
      delivered: rate(c.delivered, previous.delivered),
      undelivered: rate(c.undelivered, previous.undelivered),
    };
    history.push(point);
    while (history.length && history[0].at < snap.at - HISTORY_S) history.shift();
    document.getElementById("rate-sent").textContent = fmt(point.sent);
    document.getElementById("rate-delivered").textContent = fmt(point.delivered);
    document.getElementById("rate-undelivered").textContent = fmt(point.undelivered);
  }
  previous = { at: snap.at, sent, delivered: c.delivered, undelivered: c.undelivered };
  const waiting = snap.lanes.reduce((sum, lane) => sum + lane.depth, 0);
  const delayed = snap.lanes.reduce((sum, lane) => sum + lane.delayed, 0);
  document.getElementById("depth").textContent = fmt(waiting);
  document.getElementById("delayed").textContent = fmt(delayed);
  document.getElementById("in-flight").textContent = fmt(snap.in_flight);
  document.getElementById("binds").textContent = `${fmt(snap.binds_up)} / ${fmt(snap.binds_wanted)}`;
  document.getElementById("workers").textContent = fmt(snap.workers.length);
  fillTable(document.getElementById("lanes"), snap.lanes.map((l) =>
    [t(`lane.${l.lane}`), fmt(l.depth - l.pending), fmt(l.pending), fmt(l.delayed)]));
  const windows = Object.entries(snap.windows).sort();
  document.getElementById("windows").replaceChildren(...windows.map(([kind, w]) => el("tr", {},
    el("td", {}, t(`kind.${kind}`)),
    el("td", {}, el("span", { class: `badge ${w.open ? "open" : "closed"}` }, t(w.open ? "dash.open" : "dash.closed"))),
    el("td", {}, w.open ? t("none") : chinaTime(w.next)))));
  showEmpty("windows-empty", !windows.length);
  const states = Object.entries(c).filter(([, n]) => n > 0);
  fillTable(document.getElementById("states"), states.map(([state, n]) => [stateName(state), fmt(n)]));
  showEmpty("states-empty", !states.length);
  lineChart(document.getElementById("rate-chart"), [
    { name: t("dash.sent"), colour: COLOURS.sent, points: history.map((p) => [p.at, p.sent]) },
    { name: t("dash.delivered"), colour: COLOURS.delivered, points: history.map((p) => [p.at, p.delivered]) },
    { name: t("dash.undelivered"), colour: COLOURS.undelivered, points: history.map((p) => [p.at, p.undelivered]) },
  ], { span: HISTORY_S });
}

function unitView(snap) {
  document.getElementById("unit-view").hidden = false;
  document.getElementById("unit-used").textContent = fmt(snap.usage.total || 0);
  document.getElementById("unit-quota").textContent = snap.quota === null ? t("dash.noquota") : fmt(snap.quota);
  const rows = Object.entries(snap.campaigns).map(([state, n]) => [stateName(state), fmt(n)]);
  fillTable(document.getElementById("unit-campaigns"), rows);
  showEmpty("unit-campaigns-empty", !rows.length);
}

async function refresh() {
  let snap;
  try {
    snap = await api("/console/api/dashboard");
  } catch (exc) {
    blank();
    return;
  }
  if (snap.scope === "platform") platform(snap);
  else unitView(snap);
  document.getElementById("updated").textContent = chinaTime(snap.at);
}

window.pageMain = async () => {
  await refresh();
  setInterval(refresh, 1000);
};
