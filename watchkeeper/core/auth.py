"""Credential checks shared by the intake (HTTP, gRPC) and the web server: one place, constant time."""

from __future__ import annotations

import base64
import binascii
import hmac


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
