"""Credential checks shared by the intake (HTTP, gRPC) and the web server: one place, constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import re


def bearer_matches(header: str, token: bytes) -> bool:
    """`Authorization: Bearer <token>` (scheme case-insensitive, as RFC 6750 allows)."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)


def basic_matches(header: str, username: str, password: str) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, given = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Both compared, always: no early exit that tells which half was wrong.
    user_ok = hmac.compare_digest(user.encode(), username.encode())
    password_ok = hmac.compare_digest(given.encode(), password.encode())
    return user_ok and password_ok


# -- who may be named in the Host header (DNS rebinding) --------------------------------------------------
#: Names that resolve to this machine on every host; IP literals need no entry (they cannot be rebound).
LOOPBACK_NAMES = ("localhost",)


def is_loopback_address(host: str) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: reachable from this machine only."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower-cased ("" when unusable)."""
    value = host_header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else ""
    name, _, _port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return name.rstrip(".")


def host_allowed(host_header: str, allowed: tuple[str, ...] | list[str]) -> bool:
    """Whether a request naming `host_header` is meant for us.

    A page on a rebound name (`evil.example` now resolving to 127.0.0.1) sends its own name: refusing names
    we do not serve is the defence. IP literals always pass (no DNS is involved), as do the loopback names and
    `allowed` entries: exact names, `.example.com` for a domain and its subdomains, `*` for anything.
    """
    name = host_name(host_header)
    if not name:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    for entry in (*LOOPBACK_NAMES, *allowed):
        entry = entry.lower().rstrip(".")
        if entry == "*" or name == entry:
            return True
        if entry.startswith(".") and (name == entry[1:] or name.endswith(entry)):
            return True
    return name.endswith(".localhost")


_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def valid_host_patterns(patterns: list[str]) -> list[str]:
    """Validate allowlist entries (for config validators): names, `.domain` or `*`, no ports or schemes."""
    out: list[str] = []
    for raw in patterns:
        entry = str(raw).strip().lower().rstrip(".")
        labels = entry.removeprefix(".").split(".")
        if entry != "*" and not all(_HOST_LABEL.match(label) for label in labels):
            raise ValueError(
                f"{raw!r} is not a host name: give names like 'watchkeeper.example.com', '.example.com' "
                "(a domain and its subdomains) or '*', without scheme or port"
            )
        out.append(entry)
    return out
