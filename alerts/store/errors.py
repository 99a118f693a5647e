"""Exceptions the store raises for requests it refuses; the API maps them to 4xx answers."""

from __future__ import annotations


class StoreError(ValueError):
    """A request the store refuses (unknown id, invalid transition, bad input); str() says why."""


class NotFound(StoreError, KeyError):
    """No such incident, silence or dead letter (a KeyError too, for callers that map lookups to 404)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class InvalidTransition(StoreError):
    """The incident is not in a state that allows the requested change."""
