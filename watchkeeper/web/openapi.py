"""The OpenAPI 3.1 document, built from the endpoint tables the server serves (never kept by hand).

Schemas come from the pydantic models the handlers validate with (`TypeAdapter.json_schema`): request
models in validation mode, responses in serialization mode, every model once under
`#/components/schemas/<Name>`. Served at /api/v1/openapi.json.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, TypeAdapter

from watchkeeper import __version__
from watchkeeper.web.endpoints import Endpoint, EndpointTable, query_fields
from watchkeeper.web.models import Error

REF = "#/components/schemas/{model}"

_STATUS_TEXT = {
    400: "the request is invalid; the reason names the parameter or field",
    401: "credentials are missing or wrong",
    403: "refused (cross-site request)",
    404: "no such object",
    405: "method not allowed",
    409: "conflict with the object's current state",
    415: "send the body as application/json",
    503: "the stage serving this is not running in this process",
}

SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "web.auth_token (or a named token); required when auth is configured",
    },
    "basicAuth": {
        "type": "http",
        "scheme": "basic",
        "description": "web.basic_auth_username / web.basic_auth_password",
    },
}


class _Schemas:
    """Collects component schemas; the same name must always mean the same schema."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def _add(self, name: str, schema: dict[str, Any]) -> None:
        known = self.components.get(name)
        if known is not None and known != schema:
            raise ValueError(f"two different schemas are both named {name!r}: rename one of the models")
        self.components[name] = schema

    def of(self, tp: Any, mode: str) -> dict[str, Any]:
        """A schema for `tp` (a model, a type such as list[Model], or a literal JSON schema dict)."""
        if isinstance(tp, dict):
            return tp
        schema = TypeAdapter(tp).json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        for name, sub in schema.pop("$defs", {}).items():
            self._add(name, sub)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            name = tp.__name__
            self._add(name, schema)
            return {"$ref": REF.format(model=name)}
        return schema


def _parameters(endpoint: Endpoint, schemas: _Schemas) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in endpoint.path_params
    ]
    if endpoint.query is None:
        return params
    model_schema = endpoint.query.model_json_schema(ref_template=REF, mode="validation")
    for name, sub in model_schema.pop("$defs", {}).items():
        schemas._add(name, sub)
    properties = model_schema.get("properties", {})
    required = set(model_schema.get("required", []))
    for key, info, repeated in query_fields(endpoint.query):
        prop = dict(properties.get(key, {}))
        description = prop.pop("description", None) or info.description
        prop.pop("title", None)
        param: dict[str, Any] = {"name": key, "in": "query", "required": key in required, "schema": prop}
        if description:
            param["description"] = description
        if repeated:
            param["style"], param["explode"] = "form", True
        params.append(param)
    return params


def _operation(endpoint: Endpoint, schemas: _Schemas) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": list(endpoint.tags),
    }
    if endpoint.description:
        op["description"] = endpoint.description
    if endpoint.deprecated:
        op["deprecated"] = True
    params = _parameters(endpoint, schemas)
    if params:
        op["parameters"] = params
    if endpoint.body is not None:
        op["requestBody"] = {
            "required": endpoint.body_required,
            "content": {"application/json": {"schema": schemas.of(endpoint.body, "validation")}},
        }
    success: dict[str, Any] = {"description": endpoint.response_description}
    if endpoint.response is not None:
        success["content"] = {
            endpoint.response_content_type: {"schema": schemas.of(endpoint.response, "serialization")}
        }
    if endpoint.paginated:
        success["headers"] = {
            "X-Total-Count": {"description": "items in all pages", "schema": {"type": "integer"}},
            "Link": {
                "description": '<next page URL>; rel="next" (absent on the last page)',
                "schema": {"type": "string"},
            },
        }
    responses: dict[str, Any] = {str(endpoint.status): success}
    codes = set(endpoint.errors)
    if endpoint.query is not None or endpoint.body is not None:
        codes.add(400)
    if endpoint.auth:
        codes.add(401)
    if endpoint.method not in ("GET", "HEAD"):
        codes.update((403, 415))
    for code in sorted(codes):
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    for code, text in endpoint.extra_responses.items():
        responses[str(code)] = {"description": text}
    op["responses"] = responses
    if not endpoint.auth:
        op["security"] = []
    return op


def document(tables: Iterable[EndpointTable], *, title: str = "Watchkeeper API") -> dict[str, Any]:
    """The OpenAPI 3.1 document of every endpoint in `tables`."""
    schemas = _Schemas()
    schemas.of(Error, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for table in tables:
        for endpoint in table:
            if not endpoint.include_in_schema:
                continue
            paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
            tags.update(dict.fromkeys(endpoint.tags))
    error_ref = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": __version__,
            "description": (
                "Incidents raised from LLM call telemetry. Lists are JSON arrays paginated with limit/offset "
                "(total in X-Total-Count, next page in Link). Errors are {error, reason}."
            ),
        },
        "tags": [{"name": t} for t in tags],
        "paths": paths,
        "security": [{"bearerAuth": []}, {"basicAuth": []}],
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "responses": {
                f"E{code}": {"description": text, "content": error_ref} for code, text in _STATUS_TEXT.items()
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
