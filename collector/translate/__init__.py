"""Translation of received telemetry: OTLP spans and content log events -> ModelCall; OTLP JSON -> protobuf.

Only the daemon runs it (the intake for OTLP JSON, the detectors stage for ModelCalls); apps never import it.
"""
