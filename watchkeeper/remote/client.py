"""The HTTP client of the live commands: one place for the daemon's URL, its token and every error message."""

from __future__ import annotations

import functools
import getpass
import json as _json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

DEFAULT_URL = "http://127.0.0.1:8686"
URL_ENV = "WATCHKEEPER_URL"
TOKEN_ENV = "WATCHKEEPER_TOKEN"
PAGE = 500


class DaemonError(click.ClickException):
    """The daemon could not be reached, refused the credentials, or refused the request (its reason given)."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return _json.loads(self.text) if self.text else None


class DaemonClient:
    """JSON over HTTP to one daemon.

    The standard library's client, not httpx: a command must start in well under a second, and importing
    httpx alone costs about half a second on a busy machine; these commands make one or two requests."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def close(self) -> None:
        """Nothing to release: each request opens and closes its own connection."""

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> Response:
        """The response of a request that succeeded; DaemonError (with the API's reason) otherwise."""
        import urllib.error
        import urllib.parse
        import urllib.request

        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        query = f"?{urllib.parse.urlencode(clean)}" if clean else ""
        headers = {"Accept": "application/json", "User-Agent": "watchkeeper-cli"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if json is not None:
            data = _json.dumps(json).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path + query, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as raw:
                resp = Response(raw.status, dict(raw.headers.items()), raw.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            resp = Response(exc.code, dict(exc.headers.items()), exc.read().decode("utf-8", "replace"))
        except TimeoutError:
            raise DaemonError(
                f"the Watchkeeper daemon at {self.url} did not answer within {self.timeout_s:g} s; "
                "is it overloaded? retry, or raise --timeout"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DaemonError(
                f"cannot reach the Watchkeeper daemon at {self.url} ({_reason(reason)}). Is it running "
                f"(`watchkeeper run`)? Point this command at it with --url URL or {URL_ENV}=URL"
            ) from None
        if resp.status == 401:
            raise DaemonError(
                f"the daemon at {self.url} needs credentials: pass --token-file FILE or set {TOKEN_ENV} "
                "(its web.auth_token or one of web.api_tokens)"
            )
        if resp.status >= 400:
            raise DaemonError(f"{method} {path} failed ({resp.status}): {_api_reason(resp)}")
        return resp

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=body or {}).json()

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path).json()

    def pages(self, path: str, limit: int | None = None, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list (following offsets), or the first `limit` items."""
        offset = 0
        remaining = limit
        while True:
            size = PAGE if remaining is None else min(PAGE, remaining)
            resp = self.request("GET", path, params={**params, "limit": size, "offset": offset})
            items = resp.json()
            yield from items
            offset += len(items)
            if remaining is not None:
                remaining -= len(items)
            total = int(resp.headers.get("X-Total-Count", offset))
            if not items or offset >= total or (remaining is not None and remaining <= 0):
                return


def _reason(exc: object) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _api_reason(resp: Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300] or f"HTTP {resp.status}"
    if isinstance(body, dict):
        return str(body.get("reason") or body.get("error") or body)
    return str(body)[:300]


def read_token(token_file: Path | None) -> str | None:
    """The token from --token-file (first line, stripped), else WATCHKEEPER_TOKEN, else none."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise click.BadParameter(
                f"cannot read {token_file}: {exc.strerror}", param_hint="--token-file"
            ) from None
        if not token:
            raise click.BadParameter(f"{token_file} is empty", param_hint="--token-file")
        return token
    return os.environ.get(TOKEN_ENV) or None


def whoami() -> str:
    """Who the command acts for when the daemon does not authenticate a person (the login name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def live(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --url, --token-file and --timeout to a command and hands it a `client` (closed afterwards)."""

    @click.option(
        "--url",
        envvar=URL_ENV,
        default=DEFAULT_URL,
        show_default=True,
        show_envvar=True,
        help="the daemon's dashboard/API address",
    )
    @click.option(
        "--token-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"file holding the API token (else ${TOKEN_ENV})",
    )
    @click.option(
        "--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, help="seconds"
    )
    @functools.wraps(command)
    def wrapper(*args: Any, url: str, token_file: Path | None, timeout: float, **kwargs: Any) -> Any:
        client = DaemonClient(url, read_token(token_file), timeout)
        try:
            return command(*args, client=client, **kwargs)
        finally:
            client.close()

    return wrapper
