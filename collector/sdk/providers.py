"""Which provider a client talks to, derived from its class and base URL.

One mapping for every wrapper, so the same endpoint is always labelled the same way and detector baselines do
not split between spellings. The result is cached per client because the base URL rarely changes.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, NamedTuple
from urllib.parse import urlsplit

OPENAI = "openai"
AZURE_OPENAI = "azure.ai.openai"
AZURE_INFERENCE = "azure.ai.inference"
X_AI = "x_ai"
OPENAI_COMPATIBLE = "openai-compatible"

#: Exact hosts -> provider.
_HOSTS = {
    "api.openai.com": OPENAI,
    "api.x.ai": X_AI,
}
#: Host suffixes -> provider (checked in order; the more specific first).
_SUFFIXES = (
    (".openai.azure.com", AZURE_OPENAI),
    (".services.ai.azure.com", AZURE_INFERENCE),
    (".models.ai.azure.com", AZURE_INFERENCE),
)


class Endpoint(NamedTuple):
    """Where a client sends its calls: the provider name and the server address/port attributes."""

    provider: str
    address: str | None
    port: int | None


def provider_from_host(host: str | None, *, azure_client: bool = False) -> str:
    """Map a host name to a semconv provider name; an Azure client class wins over an unknown host."""
    host = (host or "").lower().rstrip(".")
    known = _HOSTS.get(host)
    if known:
        return known
    for suffix, provider in _SUFFIXES:
        if host.endswith(suffix):
            return provider
    return AZURE_OPENAI if azure_client else OPENAI_COMPATIBLE


def endpoint_from_url(url: str, *, azure_client: bool = False) -> Endpoint:
    """Parse a base URL once into provider, address and port (default ports filled in from the scheme)."""
    parts = urlsplit(url)
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None and parts.scheme:
        port = 443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None
    return Endpoint(provider_from_host(host, azure_client=azure_client), host, port)


def _is_azure_client(client: Any) -> bool:
    """True for openai's AzureOpenAI/AsyncAzureOpenAI (checked by class name: no import of openai.lib)."""
    return any(
        cls.__name__ in ("AzureOpenAI", "AsyncAzureOpenAI", "BaseAzureClient") for cls in type(client).__mro__
    )


_CACHE: weakref.WeakKeyDictionary[Any, tuple[Any, Endpoint]] = weakref.WeakKeyDictionary()


def endpoint_of_client(client: Any) -> Endpoint:
    """The endpoint of an openai client, cached per client and recomputed only when its base_url changes."""
    base_url = getattr(client, "base_url", None)
    try:
        cached = _CACHE.get(client)
    except TypeError:  # not weak-referenceable
        cached = None
    if cached is not None and cached[0] is base_url:
        return cached[1]
    endpoint = endpoint_from_url(str(base_url or ""), azure_client=_is_azure_client(client))
    with contextlib.suppress(TypeError):  # not weak-referenceable: just not cached
        _CACHE[client] = (base_url, endpoint)
    return endpoint
