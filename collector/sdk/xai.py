"""The official xAI SDK (`xai-sdk`, gRPC) -> Watchkeeper: route its spans to our tracer provider.

xai-sdk already emits GenAI spans (`gen_ai.provider.name = "xai"`, `gen_ai.prompt.N.*`,
`gen_ai.completion.N.*`, usage, `gen_ai.response.system_fingerprint`), which the intake reads as they are. But
each SDK module takes its tracer once, at import, from the *global* tracer provider, so a provider that is not
the global one never sees a Grok call, and `xai_sdk.telemetry.Telemetry(provider=...)` alone is silently a
no-op. `trace_xai_sdk(provider)` rebinds those module tracers to the given provider (for example the one
`collector.instrument()` returns), whatever the global state of the process; `untrace_xai_sdk()` undoes it.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType
from typing import Any

from opentelemetry.trace import TracerProvider

logger = logging.getLogger("watchkeeper.collector.xai")

#: xai-sdk modules that hold a module-level `tracer` (sync and asyncio flavours); missing ones are skipped.
TRACED_MODULES = tuple(
    f"xai_sdk.{flavour}.{name}"
    for flavour in ("sync", "aio")
    for name in ("chat", "image", "video", "files", "collections", "models", "tokenizer", "auth", "batch")
)
_DISABLE_ENV = "XAI_SDK_DISABLE_TRACING"

_ORIGINALS: dict[str, Any] = {}


def _sdk_version() -> str | None:
    try:
        from xai_sdk.__about__ import __version__
    except ImportError:
        return None
    return str(__version__)


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def tracing_disabled() -> bool:
    """xai-sdk's own switch (XAI_SDK_DISABLE_TRACING=1/true): we honour it rather than re-enable spans."""
    return os.environ.get(_DISABLE_ENV, "0").strip().lower() in ("1", "true")


def trace_xai_sdk(tracer_provider: TracerProvider) -> bool:
    """Send every span xai-sdk makes to `tracer_provider`. False when xai-sdk is absent or tracing is off.

    Calling it again switches to the new provider; the SDK's original tracers are kept for untrace_xai_sdk().
    """
    if tracing_disabled():
        logger.info("%s is set: xai-sdk calls stay untraced", _DISABLE_ENV)
        return False
    version = _sdk_version()
    if version is None:
        return False
    rebound = 0
    for name in TRACED_MODULES:
        module = _module(name)
        if module is None or not hasattr(module, "tracer"):
            continue
        _ORIGINALS.setdefault(name, module.tracer)
        module.tracer = tracer_provider.get_tracer(name, version)
        rebound += 1
    if rebound == 0:
        logger.warning("xai-sdk %s has no module tracers where expected: its calls are not traced", version)
    return rebound > 0


def untrace_xai_sdk() -> None:
    """Give xai-sdk its own tracers back (the global provider's)."""
    for name, tracer in list(_ORIGINALS.items()):
        module = _module(name)
        if module is not None:
            module.tracer = tracer
        del _ORIGINALS[name]


def is_traced() -> bool:
    return bool(_ORIGINALS)
