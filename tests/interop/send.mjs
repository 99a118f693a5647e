// A Node.js app's GenAI chat spans, exported to a Watchkeeper intake by the OpenTelemetry JS OTLP/HTTP
// exporter (OTLP/JSON, hex trace and span ids, as any Node service would send them).
//
// Usage: node send.mjs '<json>' where json is
//   {"endpoint": "http://127.0.0.1:4318", "service": "app", "calls": [{"system": "...", "prompt": "..."}]}
// Each call is exported in its own request, in order; one JSON line {"trace_id", "span_id"} per call is
// printed once the intake accepted it. Exits non-zero when an export fails.

import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";

const MODEL = "gpt-4o-mini";

function chatAttributes(call) {
  const answer = call.answer ?? "Happy to help.";
  return {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": MODEL,
    "gen_ai.response.model": `${MODEL}-2024-07-18`,
    "gen_ai.request.temperature": 0.2,
    "gen_ai.usage.input_tokens": 31,
    "gen_ai.usage.output_tokens": 9,
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.response.id": "chatcmpl-node-1",
    "gen_ai.conversation.id": call.conversation ?? "node-conv-1",
    "server.address": "api.openai.com",
    "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: call.system }]),
    "gen_ai.input.messages": JSON.stringify([
      { role: "user", parts: [{ type: "text", content: call.prompt }] },
    ]),
    "gen_ai.output.messages": JSON.stringify([
      { role: "assistant", parts: [{ type: "text", content: answer }], finish_reason: "stop" },
    ]),
  };
}

function exportOnce(exporter, spans) {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

async function main() {
  const request = JSON.parse(process.argv[2]);
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      "service.name": request.service,
      "deployment.environment.name": request.environment ?? "prod",
      "telemetry.sdk.language": "nodejs",
    }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer("watchkeeper-interop", "1.0.0");
  const exporter = new OTLPTraceExporter({ url: `${request.endpoint.replace(/\/$/, "")}/v1/traces` });
  let failed = false;
  for (const call of request.calls) {
    const span = tracer.startSpan(`chat ${MODEL}`, { kind: SpanKind.CLIENT, attributes: chatAttributes(call) });
    span.setStatus({ code: SpanStatusCode.UNSET });
    span.end();
    const finished = memory.getFinishedSpans();
    memory.reset();
    const result = await exportOnce(exporter, finished);
    if (result.code !== 0) {
      console.error(`export failed: ${result.error ?? "unknown error"}`);
      failed = true;
      break;
    }
    const ctx = span.spanContext();
    console.log(JSON.stringify({ trace_id: ctx.traceId, span_id: ctx.spanId }));
  }
  await exporter.shutdown();
  await provider.shutdown();
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(2);
});
