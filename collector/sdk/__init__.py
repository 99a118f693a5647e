"""The SDK that runs inside the user's app: `instrument()`, `trace_call`, the openai wrappers, exporters.

It imports nothing of the daemon (no intake, no translation, no detectors or alerts), so an instrumented app
pays only for OpenTelemetry; the names apps use are re-exported by `watchkeeper.collector`.
"""
