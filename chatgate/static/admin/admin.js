// The admin page: the admin API (/admin/api/...) with the token typed here, sent as a bearer on every request
// (no cookie). Everything shown is text (textContent): a token's, a model's or a caller's name that is HTML stays
// text. The token is kept in this tab only (sessionStorage); the page talks to no host but this one.
"use strict";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 3000;

class ApiError extends Error {}

async function api(method, path, body) {
  const token = $("token").value.trim();
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/admin/api${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(`${response.status}: ${answer.error ?? response.statusText}`);
  return answer;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function cell(row, text) {
  const td = row.insertCell();
  td.textContent = text ?? "–";
  return td;
}

function button(label, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.addEventListener("click", onClick);
  return element;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

function money(dollars) {
  return `$${(dollars ?? 0).toFixed(dollars >= 1 ? 2 : 6)}`;
}

function limits(token) {
  const parts = [["spend", token.spend_limit], ["rate", token.rate_limit], ["tokens", token.token_limit]];
  const set = parts.filter(([, value]) => value).map(([name, value]) => `${name} ${value}`);
  return set.length ? set.join(", ") : "defaults";
}

async function loadTokens() {
  const { tokens } = await api("GET", "/tokens");
  const rows = $("tokens").tBodies[0];
  rows.replaceChildren();
  for (const token of tokens) {
    const row = rows.insertRow();
    row.dataset.name = token.name;
    cell(row, token.name + (token.admin ? " (admin)" : ""));
    cell(row, token.state + (token.expires_at ? ` until ${when(token.expires_at)}` : ""));
    cell(row, limits(token));
    cell(row, token.models ? token.models.join(", ") : "all");
    cell(row, `${token.tokens_today.toLocaleString()} tokens, ${money(token.spend_today_usd)}`);
    cell(row, when(token.last_used_at));
    const actions = cell(row, "");
    if (token.state === "active") {
      actions.append(button("Edit", () => openEdit(token)), button("Revoke", () => revoke(token.name)));
    }
  }
}

async function createToken(event) {
  event.preventDefault();
  const body = { name: $("new-name").value.trim(), admin: $("new-admin").checked };
  if ($("new-spend").value.trim()) body.spend_limit = $("new-spend").value.trim();
  const models = $("new-models").value.split(",").map((m) => m.trim()).filter(Boolean);
  if (models.length) body.models = models;
  try {
    const made = await api("POST", "/tokens", body);
    $("new-token").reset();
    $("shown-token").textContent = made.token;
    $("shown-once").showModal();
    showError("");
    await refresh();
  } catch (error) {
    showError(error.message);
  }
}

function openEdit(token) {
  $("edit-name").textContent = token.name;
  $("edit").dataset.name = token.name;
  $("edit-spend").value = token.spend_limit ?? "";
  $("edit-rate").value = token.rate_limit ?? "";
  $("edit-tokens").value = token.token_limit ?? "";
  $("edit-models").value = (token.models ?? []).join(", ");
  $("edit-expires").value = "";
  $("edit-error").hidden = true;
  $("edit").showModal();
}

async function saveEdit(event) {
  if (event.submitter?.value !== "save") return;
  event.preventDefault();
  const models = $("edit-models").value.split(",").map((m) => m.trim()).filter(Boolean);
  const body = {
    spend_limit: $("edit-spend").value.trim() || null,
    rate_limit: $("edit-rate").value.trim() || null,
    token_limit: $("edit-tokens").value.trim() || null,
    models: models.length ? models : null,
  };
  if ($("edit-expires").value.trim()) body.expires_in = $("edit-expires").value.trim();
  try {
    await api("PATCH", `/tokens/${encodeURIComponent($("edit").dataset.name)}`, body);
    $("edit").close();
    await refresh();
  } catch (error) {
    $("edit-error").textContent = error.message;
    $("edit-error").hidden = false;
  }
}

async function revoke(name) {
  if (!window.confirm(`Revoke the token ${name}? Every instance refuses it within a second.`)) return;
  try {
    await api("DELETE", `/tokens/${encodeURIComponent(name)}`);
    await refresh();
  } catch (error) {
    showError(error.message);
  }
}

function stat(list, name, value) {
  const term = document.createElement("dt");
  term.textContent = name;
  const detail = document.createElement("dd");
  detail.textContent = value;
  list.append(term, detail);
}

async function loadUpstreams() {
  const { upstreams } = await api("GET", "/upstreams");
  const cards = upstreams.map((upstream) => {
    const card = document.createElement("article");
    card.className = "card";
    card.dataset.name = upstream.name;
    const title = document.createElement("h3");
    title.textContent = upstream.name;
    const state = document.createElement("p");
    state.className = `state${upstream.resting ? " resting" : ""}`;
    state.textContent = upstream.resting ? `resting until ${when(upstream.resting_until)} (${upstream.why})` : "serving";
    const list = document.createElement("dl");
    for (const [window, figures] of Object.entries(upstream.stats)) {
      const rate = figures.error_rate === null ? "–" : `${(figures.error_rate * 100).toFixed(1)}%`;
      stat(list, `last ${window}`, `${figures.calls} calls, ${rate} errors`);
      stat(list, `  p50 / p95`, figures.calls ? `${figures.p50_ms} / ${figures.p95_ms} ms` : "–");
    }
    card.append(title, state, list);
    if (upstream.can_rest) {
      card.append(upstream.resting
        ? button("Resume", () => act(`/upstreams/${encodeURIComponent(upstream.name)}/resume`))
        : button("Rest 10 min", () => act(`/upstreams/${encodeURIComponent(upstream.name)}/rest`, { seconds: 600 })));
    }
    return card;
  });
  $("upstreams").replaceChildren(...cards);
}

async function act(path, body) {
  try {
    await api("POST", path, body ?? {});
    await refresh();
  } catch (error) {
    showError(error.message);
  }
}

async function loadCalls() {
  const query = new URLSearchParams({ limit: "100" });
  for (const name of ["caller", "model", "upstream", "status"]) {
    const value = $(`filter-${name}`).value.trim();
    if (value) query.set(name, value);
  }
  const { calls, total, kept } = await api("GET", `/calls?${query}`);
  $("calls-count").textContent = `${total} of the last ${kept} calls`;
  const rows = $("calls").tBodies[0];
  rows.replaceChildren();
  for (const call of calls) {
    const row = rows.insertRow();
    row.dataset.requestId = call.request_id;
    if (call.status >= 400 || (call.ended && call.ended !== "finished")) row.className = "failed";
    cell(row, new Date(call.at * 1000).toLocaleTimeString());
    cell(row, call.caller);
    cell(row, call.surface + (call.stream ? " (stream)" : "") + (call.cached ? " (cache)" : ""));
    cell(row, call.model + (call.served_by ? ` → ${call.served_by}` : ""));
    cell(row, call.upstream);
    cell(row, `${call.status}${call.ended && call.ended !== "finished" ? ` ${call.ended}` : ""}`);
    cell(row, `${call.prompt_tokens}+${call.completion_tokens}`);
    cell(row, money(call.cost_usd));
    cell(row, call.ttfb_ms === null ? "–" : `${call.ttfb_ms} ms`);
    cell(row, `${call.duration_ms} ms`);
  }
}

async function loadAudit() {
  const { audit } = await api("GET", "/audit");
  $("audit").replaceChildren(...audit.slice(0, 50).map((line) => {
    const item = document.createElement("li");
    item.textContent = `${new Date(line.at * 1000).toLocaleString()}: ${line.who} ${line.action} ${line.target}`;
    return item;
  }));
}

async function refresh() {
  sessionStorage.setItem("admin.token", $("token").value);
  if (!$("token").value.trim()) {  // asking without one would only count as failed authentications
    showError("Type an admin token, or an admin's sign-in token, above.");
    return;
  }
  try {
    await Promise.all([loadTokens(), loadUpstreams(), loadCalls(), loadAudit()]);
    showError("");
    document.body.dataset.loaded = "true";
  } catch (error) {
    showError(error.message);
    if (error instanceof ApiError && /^40[13]/.test(error.message)) $("token").focus();
  }
}

$("token").addEventListener("change", refresh);
$("new-token").addEventListener("submit", createToken);
$("edit-form").addEventListener("submit", saveEdit);
$("filters").addEventListener("input", () => loadCalls().catch((error) => showError(error.message)));
$("filters").addEventListener("submit", (event) => event.preventDefault());
$("copy").addEventListener("click", () => navigator.clipboard?.writeText($("shown-token").textContent));
$("close-once").addEventListener("click", () => {
  $("shown-token").textContent = "";
  $("shown-once").close();
});
followTheme();
$("token").value = sessionStorage.getItem("admin.token") ?? "";
setInterval(() => {
  if (!document.hidden && $("token").value.trim()) loadCalls().catch(() => {});
}, REFRESH_MS);
refresh();
