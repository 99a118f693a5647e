"""Recent model calls: recorded after the detectors judged them, kept for a bounded time and size, read by the
calls explorer, the call page and the overview's latency, token and error-rate charts."""
