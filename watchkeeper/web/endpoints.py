"""Every HTTP endpoint declared once: route, request models, response model and docs.

An API module keeps an `EndpointTable` (like aiohttp's `RouteTableDef`) and declares its handlers on it; the
server registers every table, and the OpenAPI document is built from the same tables (`openapi.document`),
so what is served and what is documented cannot drift apart. Query strings and JSON bodies are validated
with the pydantic models named in the declaration before the handler runs; a bad request is a 400 whose
reason names the field, never a 500.

    routes = EndpointTable(tag="silences")

    @routes.post("/api/v1/silences", operation_id="createSilence", body=SilenceRequest,
                 response=Silence, status=201, errors=(400,))
    async def create_silence(request: web.Request, body: SilenceRequest) -> dict[str, Any]: ...
"""

from __future__ import annotations

import functools
import json
import math
import re
import types
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from watchkeeper.web.times import json_response

Handler = Callable[..., Awaitable[Any]]

_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")


class ApiError(Exception):
    """A request the endpoint cannot serve: `{"error": error, "reason": reason, **details}` with `status`."""

    def __init__(self, status: int, error: str, reason: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason
        self.details = details or {}


@dataclass(frozen=True)
class Endpoint:
    """One method on one path, with everything the server and the OpenAPI document need to know."""

    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tags: tuple[str, ...]
    description: str | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    response: Any = None  # a model, list[Model], a JSON-schema dict, or None (no documented body)
    response_description: str = "success"
    response_content_type: str = "application/json"
    status: int = 200
    errors: tuple[int, ...] = ()
    paginated: bool = False
    auth: bool = True
    deprecated: bool = False
    include_in_schema: bool = True
    extra_responses: dict[int, str] = field(default_factory=dict)

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    def bind(self) -> Handler:
        """The aiohttp handler: validates the declared inputs, calls the handler, serializes its result."""
        wants_query = self.query is not None
        wants_body = self.body is not None
        handler = self.handler

        @functools.wraps(handler)
        async def bound(request: web.Request) -> web.StreamResponse:
            kwargs: dict[str, Any] = {}
            if wants_query:
                kwargs["query"] = parse_query(self.query, request)  # type: ignore[arg-type]
            if wants_body:
                kwargs["body"] = await parse_body(self.body, request, required=self.body_required)  # type: ignore[arg-type]
            result = await handler(request, **kwargs)
            if isinstance(result, web.StreamResponse):
                return result
            return json_response(to_jsonable(result), status=self.status)

        return bound


class EndpointTable:
    """The endpoints of one API module; `tag` groups them in the OpenAPI document."""

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def __iter__(self) -> typing.Iterator[Endpoint]:
        return iter(self.endpoints)

    def route(
        self, method: str, path: str, *, operation_id: str, summary: str, **options: Any
    ) -> Callable[[Handler], Handler]:
        tags = tuple(options.pop("tags", ()) or ((self.tag,) if self.tag else ()))

        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method.upper(),
                    path=path,
                    handler=handler,
                    operation_id=operation_id,
                    summary=summary,
                    tags=tags,
                    **options,
                )
            )
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)


def register(app: web.Application, tables: Iterable[EndpointTable]) -> None:
    """Add every endpoint of `tables` to the app's router (once per method and path)."""
    seen: set[tuple[str, str]] = set()
    operation_ids: set[str] = set()
    for table in tables:
        for endpoint in table:
            key = (endpoint.method, endpoint.path)
            if key in seen:
                raise ValueError(f"{endpoint.method} {endpoint.path} is declared twice")
            if endpoint.operation_id in operation_ids:
                raise ValueError(f"operationId {endpoint.operation_id!r} is used twice")
            seen.add(key)
            operation_ids.add(endpoint.operation_id)
            app.router.add_route(endpoint.method, endpoint.path, endpoint.bind())


# -- request parsing ---------------------------------------------------------------------------------------
def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return False


def query_fields(model: type[BaseModel]) -> list[tuple[str, Any, bool]]:
    """(query parameter name, field info, repeated) for each field of a query model."""
    out = []
    for name, info in model.model_fields.items():
        out.append((info.alias or name, info, _is_list(info.annotation)))
    return out


def parse_query(model: type[BaseModel], request: web.Request) -> BaseModel:
    """The query string as `model`: repeated parameters for list fields, the last value otherwise."""
    data: dict[str, Any] = {}
    for key, _info, repeated in query_fields(model):
        values = request.query.getall(key, [])
        if not values:
            continue
        data[key] = list(values) if repeated else values[-1]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "bad_request", "query: " + describe_errors(exc)) from None


async def parse_body(model: type[BaseModel], request: web.Request, *, required: bool) -> BaseModel | None:
    """The JSON body as `model`; an absent body is `{}` unless required."""
    if not request.can_read_body:
        if required:
            raise ApiError(400, "bad_request", "a JSON request body is required")
        return None
    raw = await request.read()
    if not raw.strip():
        if required:
            raise ApiError(400, "bad_request", "a JSON request body is required")
        return None
    try:
        data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity, an int over 4300 digits
        raise ApiError(400, "bad_request", f"request body is not valid JSON: {str(exc)[:200]}") from None
    except RecursionError:
        raise ApiError(400, "bad_request", "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "bad_request", describe_errors(exc)) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number: send a finite number or null")


def _finite_float(text: str) -> float:
    """1e999 parses as infinity (a silence that never ends): refused like NaN."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:30]} is out of range: send a finite number")
    return value


def describe_errors(exc: ValidationError, limit: int = 5) -> str:
    """`field: problem; other.field: problem` (never echoes the input, which may hold a secret)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


__all__ = [
    "ApiError",
    "Endpoint",
    "EndpointTable",
    "describe_errors",
    "parse_body",
    "parse_query",
    "register",
    "to_jsonable",
]
