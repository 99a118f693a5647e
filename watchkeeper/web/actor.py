"""Who is acting: the authenticated identity when the daemon has one, else the name the client claims.

The auth middleware stores the identity a request proved (a personal token's actor from `web.api_tokens`, or
the basic-auth user). A shared `web.auth_token`, or no auth at all on loopback, proves no person: the
claimed name is then recorded as unverified, and the audit log says so in the entry itself.
"""

from __future__ import annotations

from aiohttp import web

ACTOR_KEY: web.RequestKey[str] = web.RequestKey("actor", str)


def actor_of(request: web.Request, claimed: object = None, default: str = "api") -> tuple[str, bool]:
    """(name, verified) of the person behind a request."""
    proven = request.get(ACTOR_KEY)
    if proven:
        return proven, True
    name = str(claimed or "").strip()[:200] or default
    return name, False


def audit_actor(request: web.Request, claimed: object = None) -> str:
    """The actor string of an audit entry: the proven identity, or the claim marked as unverified."""
    name, verified = actor_of(request, claimed)
    return name if verified else f"{name} (unverified)"
