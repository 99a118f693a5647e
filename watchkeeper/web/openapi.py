"""The OpenAPI 3.1 document of the REST API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from watchkeeper import __version__


def _list(ref: str, desc: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "summary": desc,
        "parameters": [
            *params,
            {"$ref": "#/components/parameters/limit"},
            {"$ref": "#/components/parameters/offset"},
        ],
        "responses": {
            "200": {
                "description": "a page; total in X-Total-Count, next page in Link",
                "headers": {
                    "X-Total-Count": {"schema": {"type": "integer"}},
                    "Link": {"schema": {"type": "string"}},
                },
                "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": ref}}}},
            },
            "400": {"$ref": "#/components/responses/Error"},
        },
    }


def _q(name: str, desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": desc,
        "schema": schema or {"type": "string"},
    }


def _action(desc: str) -> dict[str, Any]:
    return {
        "summary": desc,
        "parameters": [{"$ref": "#/components/parameters/id"}],
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"by": {"type": "string"}, "comment": {"type": "string"}},
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "the incident after the change",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Incident"}}},
            },
            "404": {"$ref": "#/components/responses/Error"},
            "409": {"$ref": "#/components/responses/Error"},
        },
    }


def document() -> dict[str, Any]:
    incident_props = {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["triggered", "acknowledged", "resolved"]},
        "severity": {"type": "string", "enum": ["critical", "error", "warning", "info"]},
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "first_seen": {"type": "number"},
        "last_seen": {"type": "number"},
        "finding_count": {"type": "integer"},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Watchkeeper API",
            "version": __version__,
            "description": "Incidents raised from LLM call telemetry; lists paginate with limit/offset.",
        },
        "paths": {
            "/api/v1/incidents": {
                "get": _list(
                    "#/components/schemas/Incident",
                    "List incidents",
                    [
                        _q(
                            "status",
                            "triggered, acknowledged, resolved, or open (= not resolved)",
                            {"type": "string", "enum": ["triggered", "acknowledged", "resolved", "open"]},
                        ),
                        _q("severity", "critical, error, warning, info"),
                        _q("app", "app (service.name)"),
                        _q("detector", "detector name"),
                        _q("q", "full-text search in title and labels"),
                    ],
                )
            },
            "/api/v1/incidents/{id}": {
                "get": {
                    "summary": "One incident with its findings timeline, evidence and notifications",
                    "parameters": [{"$ref": "#/components/parameters/id"}],
                    "responses": {
                        "200": {
                            "description": "the incident",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Incident"}}
                            },
                        },
                        "404": {"$ref": "#/components/responses/Error"},
                    },
                }
            },
            "/api/v1/incidents/{id}/ack": {"post": _action("Acknowledge an incident")},
            "/api/v1/incidents/{id}/resolve": {"post": _action("Resolve an incident (never reopened)")},
            "/api/v1/findings": {
                "get": _list(
                    "#/components/schemas/Finding",
                    "List findings",
                    [
                        _q("incident_id", "findings of one incident"),
                        _q("detector", "detector name"),
                        _q("since", "unix seconds", {"type": "number"}),
                    ],
                )
            },
            "/api/v1/silences": {
                "get": {
                    "summary": "List silences",
                    "parameters": [
                        _q(
                            "state",
                            "pending, active, expired",
                            {"type": "string", "enum": ["pending", "active", "expired"]},
                        )
                    ],
                    "responses": {
                        "200": {
                            "description": "silences",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Silence"},
                                    }
                                }
                            },
                        }
                    },
                },
                "delete": {
                    "summary": "Expire a silence (same as DELETE /api/v1/silences/{id})",
                    "parameters": [
                        {"name": "id", "in": "query", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "the expired silence"},
                        "404": {"$ref": "#/components/responses/Error"},
                    },
                },
                "post": {
                    "summary": "Create a silence",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/SilenceRequest"}}
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "created",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Silence"}}
                            },
                        },
                        "400": {"$ref": "#/components/responses/Error"},
                    },
                },
            },
            "/api/v1/silences/{id}": {
                "delete": {
                    "summary": "Expire a silence",
                    "parameters": [{"$ref": "#/components/parameters/id"}],
                    "responses": {
                        "200": {"description": "the expired silence"},
                        "404": {"$ref": "#/components/responses/Error"},
                    },
                }
            },
            "/api/v1/deadletters": {
                "get": {
                    "summary": "Notifications that could not be delivered",
                    "responses": {"200": {"description": "dead letters"}},
                }
            },
            "/api/v1/deadletters/{id}/replay": {
                "post": {
                    "summary": "Put a dead letter back in the outbox",
                    "parameters": [{"$ref": "#/components/parameters/id"}],
                    "responses": {
                        "200": {"description": "replayed"},
                        "404": {"$ref": "#/components/responses/Error"},
                    },
                }
            },
            "/api/v1/detectors": {
                "get": {
                    "summary": "Installed detectors: description, pager titles, severities, evidence schema",
                    "responses": {
                        "200": {
                            "description": "one entry per detector (built-in or plug-in)",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Detector"},
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/api/v1/detectors/{name}": {
                "get": {
                    "summary": "One detector's metadata",
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "the detector",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Detector"}}
                            },
                        },
                        "404": {"$ref": "#/components/responses/Error"},
                    },
                }
            },
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
            "/readyz": {
                "get": {
                    "summary": "Readiness per stage",
                    "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
                }
            },
            "/metrics": {
                "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}
            },
        },
        "components": {
            "parameters": {
                "id": {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                "limit": {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                },
                "offset": {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            },
            "responses": {
                "Error": {
                    "description": "error with a reason",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
            "schemas": {
                "Detector": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string", "description": "completes 'Watchkeeper saw ...'"},
                        "default_severity": {
                            "type": "string",
                            "enum": ["critical", "error", "warning", "info"],
                        },
                        "severity_reason": {"type": "string"},
                        "titles": {"type": "array", "items": {"type": "object"}},
                        "category_severities": {"type": "array", "items": {"type": "object"}},
                        "evidence_schema": {
                            "type": "object",
                            "description": "JSON Schema of Finding.evidence (x-layout: how it is shown)",
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "reason"],
                    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
                },
                "Incident": {
                    "type": "object",
                    "required": [
                        "id",
                        "status",
                        "severity",
                        "title",
                        "labels",
                        "first_seen",
                        "last_seen",
                        "finding_count",
                    ],
                    "properties": incident_props,
                },
                "Finding": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "detector": {"type": "string"},
                        "category": {"type": "string"},
                        "severity": {"type": "string"},
                        "score": {"type": "number"},
                        "summary": {"type": "string"},
                        "labels": {"type": "object"},
                        "evidence": {"type": "object"},
                        "time": {"type": "number"},
                    },
                },
                "SilenceRequest": {
                    "type": "object",
                    "required": ["matchers", "created_by", "comment"],
                    "properties": {
                        "matchers": {
                            "type": "array",
                            "items": {"type": "string"},
                            "examples": [['app="chatbot"']],
                        },
                        "starts_at": {"type": ["number", "null"]},
                        "ends_at": {"type": ["number", "null"]},
                        "created_by": {"type": "string"},
                        "comment": {"type": "string"},
                    },
                },
                "Silence": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "matchers": {"type": "array", "items": {"type": "string"}},
                        "starts_at": {"type": "number"},
                        "ends_at": {"type": "number"},
                        "created_by": {"type": "string"},
                        "comment": {"type": "string"},
                        "state": {"type": "string"},
                    },
                },
            },
        },
    }
