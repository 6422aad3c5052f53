// The dashboard: /usage by day for the last 31 days (and since the first of the month), drawn with uPlot.
// The token is the playground's, kept in this browser; the page talks to no host but this one.
"use strict";

const $ = (id) => document.getElementById(id);
const DAY = 86400;
const COLOURS = ["#2563eb", "#f59e0b", "#059669", "#7c3aed", "#dc2626", "#0891b2", "#65a30d", "#db2777"];
const charts = {};

function headers() {
  const token = $("token").value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function money(dollars) {
  return `$${dollars.toFixed(dollars >= 1 ? 2 : dollars >= 0.01 ? 4 : 6)}`;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

// Day buckets -> x (day starts, seconds) and one series per model of `field`.
function series(buckets, field, days) {
  const models = [...new Set(buckets.map((b) => b.model))].sort();
  const index = new Map(days.map((day, i) => [day, i]));
  const data = models.map(() => days.map(() => 0));
  for (const bucket of buckets) {
    const day = Date.parse(bucket.start) / 1000;
    if (index.has(day)) data[models.indexOf(bucket.model)][index.get(day)] += bucket[field] ?? 0;
  }
  return { models, data };
}

function draw(id, days, { models, data }, format) {
  const element = $(id);
  charts[id]?.destroy();
  const styles = getComputedStyle(document.documentElement);
  const text = styles.getPropertyValue("--text").trim();
  const line = styles.getPropertyValue("--line").trim();
  const axis = { stroke: text, grid: { stroke: line }, ticks: { stroke: line } };
  charts[id] = new uPlot({
    width: Math.max(240, element.clientWidth),
    height: 240,
    series: [{}, ...models.map((model, i) => ({ label: model, stroke: COLOURS[i % COLOURS.length], width: 2,
                                                value: (u, v) => (v == null ? "–" : format(v)) }))],
    axes: [axis, { ...axis, values: (u, values) => values.map(format), size: 90 }],
    scales: { x: { time: true } },
  }, [days, ...data], element);
}

function totalsSince(buckets, since, field = "cost_usd") {
  return buckets.filter((b) => Date.parse(b.start) / 1000 >= since).reduce((sum, b) => sum + (b[field] ?? 0), 0);
}

function startOfWeek(now) {
  const day = new Date(now * 1000);
  const monday = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate() - ((day.getUTCDay() + 6) % 7));
  return monday / 1000;
}

async function load() {
  localStorage.setItem("playground.token", $("token").value);
  const now = Math.floor(Date.now() / 1000);
  const today = now - (now % DAY);
  const monthStart = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1) / 1000;
  const since = Math.min(today - 30 * DAY, monthStart);
  const response = await fetch(`/usage?by=day&since=${since}&until=${today + DAY}`, { headers: headers() });
  const body = await response.json();
  if (!response.ok) {
    showError(`Error ${response.status}: ${body.error ?? JSON.stringify(body)}`);
    if (response.status === 401) $("token").focus();
    return;
  }
  showError("");
  $("scope").textContent = body.scope === "all" ? "Everyone's usage (admin token)." : `Your usage: ${body.caller}.`;
  const buckets = body.buckets;
  $("today").textContent = money(totalsSince(buckets, today));
  $("week").textContent = money(totalsSince(buckets, startOfWeek(now)));
  $("month").textContent = money(totalsSince(buckets, monthStart));
  $("cache-hits").textContent = totalsSince(buckets, monthStart, "cache_hits").toLocaleString();
  $("cache-saved").textContent = money(totalsSince(buckets, monthStart, "saved_usd"));
  const days = [];
  for (let day = today - 30 * DAY; day <= today; day += DAY) days.push(day);
  draw("spend-chart", days, series(buckets, "cost_usd", days), money);
  draw("tokens-chart", days, series(buckets, "total_tokens", days), (v) => Math.round(v).toLocaleString());
  const callers = new Map();
  for (const b of buckets) {
    const sums = callers.get(b.caller) ?? { tokens: 0, cost: 0 };
    sums.tokens += b.total_tokens;
    sums.cost += b.cost_usd ?? 0;
    callers.set(b.caller, sums);
  }
  $("callers-section").hidden = body.scope !== "all";
  const rows = $("callers").tBodies[0];
  rows.replaceChildren(...[...callers].sort((a, b) => b[1].cost - a[1].cost).map(([caller, sums]) => {
    const row = rows.insertRow();
    for (const text of [caller, sums.tokens.toLocaleString(), money(sums.cost)]) row.insertCell().textContent = text;
    return row;
  }));
  document.body.dataset.drawn = "true";
}

$("token").addEventListener("change", load);
followTheme(load);  // the charts take the new colours
$("token").value = localStorage.getItem("playground.token") ?? "";
load();
