"""Outbound URL checks: which destinations a channel may call, and how a URL may appear in messages.

Webhook URLs carry their credential in the path (Slack, Teams), so a URL is only ever shown masked to scheme +
host. The checks run when the configuration is loaded (clear errors naming the key) and again before each
request when `refuse_private_addresses` is on, because DNS can change between the two (rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class UrlError(ValueError):
    """Not an acceptable destination; str() names the config key and the fix, never the URL's secret."""


class UrlResolveError(UrlError):
    """The host did not resolve: perhaps a passing DNS failure, so a delivery may try again later."""


def mask_url(url: str) -> str:
    """Scheme + host (+ port) only: the path and query of a webhook URL are its secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme or '?'}://{host}{port}"


def is_loopback_host(host: str) -> bool:
    """True for 'localhost' and loopback literals; names are not resolved (the private-address check does)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_url(
    url: str,
    *,
    key: str,
    allow_insecure: bool = False,
    refuse_private_addresses: bool = False,
) -> str:
    """Return `url` if a channel may POST to it, else raise UrlError naming `key`.

    https is always allowed; http only with `allow_insecure` or to a loopback host (a local relay).
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise UrlError(f"{key}: not a valid URL; write it as https://host/path") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        shown = scheme or "(none)"
        raise UrlError(f"{key}: scheme {shown!r} is not allowed; use an https:// URL")
    if not host:
        raise UrlError(f"{key}: the URL has no host; write it as https://host/path")
    if parts.username or parts.password:
        raise UrlError(
            f"{key}: credentials in the URL (user:password@) are not allowed; use the channel's secret keys"
        )
    if scheme == "http" and not allow_insecure and not is_loopback_host(host):
        raise UrlError(
            f"{key}: plain http to {host} would send the alert and its secret unencrypted; use https://, "
            "or set allow_insecure: true on this channel if the network is trusted"
        )
    if refuse_private_addresses:
        check_public_destination(host, parts.port or (443 if scheme == "https" else 80), key=key)
    return url.strip()


def check_public_destination(host: str, port: int, *, key: str) -> None:
    """Resolve `host`; refuse loopback, RFC 1918, link-local and other non-public addresses (SSRF guard)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise UrlResolveError(
            f"{key}: cannot resolve host {host} ({exc.strerror or exc}); check the hostname"
        ) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise UrlError(
                f"{key}: host {host} resolves to the non-public address {address}, and "
                "refuse_private_addresses is on; point the channel at a public endpoint or turn it off"
            )
