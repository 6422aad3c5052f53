// The playground: the reference client for the service's streams, in plain JS.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { history: [], sessionId: null, controller: null, streamId: null };

function authHeaders() {
  const token = $("token").value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// Each surface words its errors its own way: {"error": "..."} on the core, {"detail": ...} on /api.
// The message says what to do next where the status tells it.
async function errorMessage(response) {
  let text = "";
  try {
    const body = await response.json();
    const detail = body.error ?? body.detail;
    text = typeof detail === "string" ? detail : Array.isArray(detail) ? detail.map((d) => d.msg).join("; ")
      : detail?.message ?? JSON.stringify(body);
  } catch {
    text = response.statusText;
  }
  let advice = "";
  if (response.status === 401) {
    advice = " Put your service token in the Service token field.";
    $("token").focus();
  } else if (response.status === 429) {
    const wait = response.headers.get("Retry-After");
    advice = wait ? ` Try again in ${wait} s.` : " Try again in a moment.";
  } else if (response.status === 503 && /key/i.test(text) && !/OPENAI_API_KEY/.test(text)) {
    advice = " The server has no OpenAI key: its operator must set OPENAI_API_KEY_CYB_SEC.";
  }
  return `Error ${response.status}: ${text}${advice}`;
}

// The token, the settings and the theme are kept in this browser (localStorage) until "Forget".
const KEPT = ["model", "system", "token", "temperature", "max-tokens"];
const keep = () => KEPT.forEach((id) => localStorage.setItem(`playground.${id}`, $(id).value));

function restoreKept() {
  for (const id of KEPT) {
    const value = localStorage.getItem(`playground.${id}`);
    if (value !== null && id !== "model") $(id).value = value;
  }
}

function forget() {
  KEPT.forEach((id) => localStorage.removeItem(`playground.${id}`));
  KEPT.forEach((id) => { if (id !== "model") $(id).value = ""; });
  loadModels();
}

// The conversation is kept in this browser too, so that it survives a reload.
const HISTORY = "playground.history";
const saveHistory = () => localStorage.setItem(HISTORY, JSON.stringify(state.history));

function restoreHistory() {
  if (pending.load()) return;  // an answer in flight brings its own history back
  state.history = JSON.parse(localStorage.getItem(HISTORY) || "[]");
  for (const { role, content } of state.history) addTurn(role, content);
}

// "View code": the current conversation as curl, Python and JavaScript, with the token left out.
function showCode() {
  const system = $("system").value.trim();
  const typed = $("message").value.trim();
  const messages = (system ? [{ role: "system", content: system }] : []).concat(state.history)
    .concat(typed ? [{ role: "user", content: typed }] : []);
  const body = { model: $("model").value, messages, ...parameters() };
  const json = JSON.stringify(body, null, 2);
  const origin = window.location.origin;
  const auth = $("token").value.trim() ? ' \\\n  -H "Authorization: Bearer $TOKEN"' : "";
  $("code-curl").textContent = `curl ${origin}/v1/chat/completions \\\n  -H "Content-Type: application/json"${auth} \\\n`
    + `  -d '${JSON.stringify(body).replaceAll("'", "'\\''")}'`;
  $("code-python").textContent = `from openai import OpenAI\n\nclient = OpenAI(base_url="${origin}/v1", api_key="$TOKEN")\n`
    + `reply = client.chat.completions.create(**${json})\nprint(reply.choices[0].message.content)`;
  $("code-js").textContent = `const response = await fetch("${origin}/v1/chat/completions", {\n  method: "POST",\n`
    + `  headers: { "Content-Type": "application/json", Authorization: "Bearer $TOKEN" },\n`
    + `  body: JSON.stringify(${json}),\n});\nconsole.log((await response.json()).choices[0].message.content);`;
}

// The sampling parameters the user set; empty fields are left to the service's defaults.
function parameters() {
  const chosen = {};
  if ($("temperature").value !== "") chosen.temperature = Number($("temperature").value);
  if ($("max-tokens").value !== "") chosen.max_tokens = Number($("max-tokens").value);
  return chosen;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function addTurn(role, content) {
  const item = document.createElement("li");
  item.className = role;
  const label = document.createElement("span");
  label.className = "role";
  label.textContent = role === "user" ? "You" : "Assistant";
  const text = document.createElement("span");
  text.className = "content";
  if (role === "assistant") renderMarkdown(text, content);
  else text.textContent = content;
  item.append(label, text);
  $("conversation").append(item);
  return text;
}

async function loadModels() {
  const response = await fetch("/models", { headers: authHeaders() });
  if (!response.ok) {
    showError(await errorMessage(response));
    return;
  }
  const { models, default: fallback } = await response.json();
  const select = $("model");
  const chosen = select.value || localStorage.getItem("playground.model") || fallback;
  select.replaceChildren(...models.map((name) => new Option(name, name, false, name === chosen)));
}

// Server-Sent Events from /chat/stream: frames end with a blank line; each `data:` line is JSON, and a
// resumable stream's frames carry their number in an `id:` line.
async function* sseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const lines = buffer.slice(0, end).split("\n");
      buffer = buffer.slice(end + 2);
      const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
      const id = lines.find((l) => l.startsWith("id:"))?.slice(3).trim();
      if (data) yield { id: id ? Number(id) : null, ...JSON.parse(data) };
    }
  }
}

// A reply in flight is kept in sessionStorage, so that a reload, or a dropped connection, picks it up
// where it was (GET /streams/{id} after the last event seen), on whichever instance answers.
const PENDING = "playground.pending";
const pending = {
  save: (value) => sessionStorage.setItem(PENDING, JSON.stringify(value)),
  load: () => JSON.parse(sessionStorage.getItem(PENDING) || "null"),
  clear: () => sessionStorage.removeItem(PENDING),
};

function resumeFrom(streamId, lastId, signal) {
  return fetch(`/streams/${encodeURIComponent(streamId)}`, { signal, headers: { "Last-Event-ID": String(lastId),
                                                                                ...authHeaders() } });
}

// Reads a resumable stream to its end, reconnecting after a drop, and keeps `turn` up to date in sessionStorage.
async function followStream(response, turn, output, signal) {
  for (let attempt = 0; ; attempt++) {
    try {
      for await (const event of sseEvents(response.body)) {
        if (event.id) turn.lastId = event.id;
        if (event.error) throw Object.assign(new Error(`Error during the reply: ${event.error}`), { final: true });
        if (event.content) {
          turn.reply += event.content;
          showMarkdown(output, turn.reply);
        }
        if (event.done) showUsage(event.usage);
        pending.save(turn);
      }
      return turn.reply;
    } catch (error) {
      if (error.name === "AbortError" || error.final || attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));  // the network is back, maybe
      response = await resumeFrom(turn.streamId, turn.lastId, signal);
      if (!response.ok) throw new Error(await errorMessage(response));
    }
  }
}

async function* textChunks(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    yield value;
  }
}

function showUsage(usage) {
  $("usage").textContent = usage
    ? `Tokens: ${usage.prompt_tokens} prompt · ${usage.completion_tokens} completion · ${usage.total_tokens} total`
    : "";
}

async function streamFromCore(message, output, signal) {
  const system = $("system").value.trim();
  const messages = (system ? [{ role: "system", content: system }] : []).concat(state.history);
  const response = await fetch("/chat/stream", {
    method: "POST", signal,
    headers: { "Content-Type": "application/json", "X-Resumable": "true", ...authHeaders() },
    body: JSON.stringify({ message, model: $("model").value, messages, ...parameters() }),
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  state.streamId = response.headers.get("X-Stream-ID");
  const turn = { streamId: state.streamId, lastId: 0, message, reply: "", history: state.history };
  pending.save(turn);
  return followStream(response, turn, output, signal);
}

// After a reload: show the conversation so far and the reply in flight, then follow it to its end.
async function resumePending() {
  const turn = pending.load();
  if (!turn) return;
  state.history = turn.history;
  for (const { role, content } of turn.history) addTurn(role, content);
  addTurn("user", turn.message);
  const output = addTurn("assistant", turn.reply);
  state.controller = new AbortController();
  state.streamId = turn.streamId;
  setBusy(true);
  try {
    const response = await resumeFrom(turn.streamId, turn.lastId, state.controller.signal);
    if (!response.ok) throw new Error(await errorMessage(response));
    const reply = await followStream(response, turn, output, state.controller.signal);
    state.history.push({ role: "user", content: turn.message }, { role: "assistant", content: reply });
    saveHistory();
  } catch (error) {
    if (error.name !== "AbortError") showError(error.message);
  } finally {
    pending.clear();
    state.controller = null;
    state.streamId = null;
    setBusy(false);
  }
}

async function streamFromSessions(message, output, signal) {
  const response = await fetch("/api/chat", {
    method: "POST", signal,
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify({
      developer_message: $("system").value.trim() || "You are a helpful assistant.",
      user_message: message, model: $("model").value, session_id: state.sessionId, ...parameters(),
    }),
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  state.sessionId = response.headers.get("X-Session-ID");
  $("session").textContent = `Session ${state.sessionId}`;
  let reply = "";
  for await (const text of textChunks(response.body)) {
    reply += text;
    showMarkdown(output, reply);
  }
  showUsage(null);
  return reply;
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
}

async function send(event) {
  event?.preventDefault();
  const message = $("message").value.trim();
  if (!message || state.controller) return;
  showError("");
  $("message").value = "";
  addTurn("user", message);
  const output = addTurn("assistant", "");
  state.controller = new AbortController();
  setBusy(true);
  const stream = $("use-sessions").checked ? streamFromSessions : streamFromCore;
  try {
    const reply = await stream(message, output, state.controller.signal);
    state.history.push({ role: "user", content: message }, { role: "assistant", content: reply });
    saveHistory();
  } catch (error) {
    if (error.name === "AbortError") {
      drawNow(output);
      output.append(Object.assign(document.createElement("p"), { className: "stopped", textContent: "[stopped]" }));
    } else {
      output.closest("li").remove();
      showError(error.message);
    }
  } finally {
    pending.clear();
    state.controller = null;
    state.streamId = null;
    setBusy(false);
    $("message").focus();
  }
}

// Stop: the server stops generating (DELETE /streams/{id}, from any instance), and this page stops reading.
function stop() {
  if (state.streamId) {
    fetch(`/streams/${encodeURIComponent(state.streamId)}`, { method: "DELETE", headers: authHeaders() });
  }
  state.controller?.abort();
}

function newConversation() {
  state.history = [];
  saveHistory();
  state.sessionId = null;
  $("conversation").replaceChildren();
  $("session").textContent = "";
  showUsage(null);
  showError("");
}

$("composer").addEventListener("submit", send);
$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
});
$("stop").addEventListener("click", stop);
$("forget").addEventListener("click", forget);
$("code").addEventListener("toggle", () => $("code").open && showCode());
// On a phone the settings fold away, so that the conversation and the message box come first.
if (window.matchMedia("(max-width: 45rem)").matches) $("settings").open = false;
KEPT.forEach((id) => $(id).addEventListener("change", keep));
$("new-conversation").addEventListener("click", newConversation);
$("use-sessions").addEventListener("change", newConversation);
$("token").addEventListener("change", loadModels);
followTheme();
restoreKept();
restoreHistory();
loadModels();
resumePending();
