// useChat's own transport (DefaultChatTransport) and readUIMessageStream, pointed at the service's /api/chat.
// Each step prints one JSON line; tests/live/test_use_chat.py queues the fake upstream's behaviour for each in order.
import { DefaultChatTransport, readUIMessageStream } from "ai";

const url = process.env.SERVICE_URL;
const token = process.env.SERVICE_TOKEN;
const other = process.env.OTHER_TOKEN;
const auth = (t) => ({ Authorization: `Bearer ${t}` });
const transport = (headers = {}, body = {}) =>
  new DefaultChatTransport({ api: `${url}/api/chat`, headers: { ...auth(token), ...headers }, body });
const user = (id, text) => ({ id, role: "user", parts: [{ type: "text", text }] });
const say = (step, result) => console.log(JSON.stringify({ step, ...result }));

async function chunksOf(stream) {
  const chunks = [];
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return chunks;
    chunks.push(value);
  }
}

async function textOf(stream) {
  let last;
  for await (const message of readUIMessageStream({ stream })) last = message;
  return last?.parts.filter((p) => p.type === "text").map((p) => p.text).join("") ?? "";
}

async function send(t, chatId, messages, extra = {}) {
  return t.sendMessages({ chatId, messages, trigger: "submit-message", messageId: undefined, ...extra });
}

// 1. A first turn: the chunk types in order, and the message readUIMessageStream builds.
const chunks = await chunksOf(await send(transport(), "chat-1", [user("m1", "Hello")]));
say("first", { types: chunks.map((c) => c.type), finish: chunks.at(-1) });
say("first-text", { text: await textOf(await send(transport(), "chat-1", [user("m1", "Hello")])) });

// 2. History, with a model and a system prompt from the transport's body.
const history = [user("m1", "Hi"), { id: "a1", role: "assistant", parts: [{ type: "text", text: "Hello!" }] },
  user("m2", "And now?")];
say("history", { text: await textOf(await send(transport({}, { model: "gpt-4o", system: "Be brief." }), "chat-2",
  history)) });

// 3. Regenerate: the last assistant message is answered again.
say("regenerate", { text: await textOf(await transport().sendMessages({ chatId: "chat-2", messages: history.slice(0, 2),
  trigger: "regenerate-message", messageId: "a1" })) });

// 4. An upstream failure before the first chunk: the transport throws with the status.
try {
  await send(transport(), "chat-3", [user("m1", "fail")]);
  say("failed-before", { thrown: false });
} catch (error) {
  say("failed-before", { thrown: true, status: error.statusCode ?? null, message: String(error.message) });
}

// 5. A failure after the first chunk: an error chunk ends the stream.
const cut = await chunksOf(await send(transport(), "chat-4", [user("m1", "cut")]));
say("failed-after", { types: cut.map((c) => c.type), errorText: cut.find((c) => c.type === "error")?.errorText });

// 6. Stop: aborting the fetch cancels the upstream call.
const stop = new AbortController();
const stopped = await send(transport(), "chat-5", [user("m1", "long")], { abortSignal: stop.signal });
const stopReader = stopped.getReader();
await stopReader.read();
stop.abort();
await stopReader.read().catch(() => null);
say("stopped", { aborted: true });

// 7. Leave mid-stream, then reconnectToStream (what useChat({ resume: true }) calls) gets the whole answer.
const leave = new AbortController();
const resumable = transport({ "X-Resumable": "true" });
const first = await send(resumable, "chat-6", [user("m1", "resume me")], { abortSignal: leave.signal });
const firstReader = first.getReader();
await firstReader.read();
leave.abort();
await firstReader.read().catch(() => null);
const back = await resumable.reconnectToStream({ chatId: "chat-6" });
say("resumed", { text: back ? await textOf(back) : null });

// 8. 204 for a chat with no stream, and for another caller's chat.
say("none", { stream: await transport().reconnectToStream({ chatId: "never-streamed" }) });
const otherCaller = new DefaultChatTransport({ api: `${url}/api/chat`, headers: auth(other) });
say("others", { stream: await otherCaller.reconnectToStream({ chatId: "chat-6" }) });
