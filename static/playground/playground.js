// The playground: the reference client for the service's streams, in plain JS.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { history: [], sessionId: null, controller: null };

function authHeaders() {
  const token = $("token").value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// Each surface words its errors its own way: {"error": "..."} on the core, {"detail": ...} on /api.
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
  return `Error ${response.status}: ${text}`;
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
  text.textContent = content;
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
  const chosen = select.value || fallback;
  select.replaceChildren(...models.map((name) => new Option(name, name, false, name === chosen)));
}

// Server-Sent Events from /chat/stream: frames end with a blank line; each `data:` line is JSON.
async function* sseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
      if (data) yield JSON.parse(data);
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
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify({ message, model: $("model").value, messages }),
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  let reply = "";
  for await (const event of sseEvents(response.body)) {
    if (event.error) throw new Error(`Error during the reply: ${event.error}`);
    if (event.content) {
      reply += event.content;
      output.textContent = reply;
    }
    if (event.done) showUsage(event.usage);
  }
  return reply;
}

async function streamFromSessions(message, output, signal) {
  const response = await fetch("/api/chat", {
    method: "POST", signal,
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify({
      developer_message: $("system").value.trim() || "You are a helpful assistant.",
      user_message: message, model: $("model").value, session_id: state.sessionId,
    }),
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  state.sessionId = response.headers.get("X-Session-ID");
  $("session").textContent = `Session ${state.sessionId}`;
  let reply = "";
  for await (const text of textChunks(response.body)) {
    reply += text;
    output.textContent = reply;
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
  } catch (error) {
    if (error.name === "AbortError") {
      output.textContent += " [stopped]";
    } else {
      output.closest("li").remove();
      showError(error.message);
    }
  } finally {
    state.controller = null;
    setBusy(false);
    $("message").focus();
  }
}

function newConversation() {
  state.history = [];
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
$("stop").addEventListener("click", () => state.controller?.abort());
$("new-conversation").addEventListener("click", newConversation);
$("use-sessions").addEventListener("change", newConversation);
$("token").addEventListener("change", loadModels);
loadModels();
