// The official openai npm package against the service: create, stream, an error class, a Responses stream.
// Prints one JSON line for tests/test_openai_node_sdk.py to check.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.SERVICE_URL + "/v1", apiKey: "unused-by-the-service", maxRetries: 0 });
const messages = [{ role: "user", content: "Hello" }];

const created = await client.chat.completions.create({ model: "gpt-4o-mini", messages });
let streamed = "";
let usage = null;
const stream = await client.chat.completions.create({
  model: "gpt-4o-mini", messages, stream: true, stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  streamed += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}
let errorClass = null;
try {
  await client.chat.completions.create({ model: "gpt-9", messages });
} catch (error) {
  errorClass = error.constructor.name;
}
// The Responses API, streamed, as today's JavaScript libraries call it by default.
const events = [];
let responded = "";
const responseStream = await client.responses.create({ model: "gpt-4.1-mini", input: "Hello", stream: true });
for await (const event of responseStream) {
  events.push(event.type);
  if (event.type === "response.output_text.delta") responded += event.delta;
}
console.log(JSON.stringify({
  created: created.choices[0].message.content, streamed, usage, errorClass,
  responded, firstEvent: events[0], lastEvent: events[events.length - 1],
  deltas: events.filter((type) => type === "response.output_text.delta").length,
}));
