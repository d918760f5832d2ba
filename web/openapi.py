"""The agent API described for clients and tools: ``GET /api/openapi.json`` (OpenAPI 3.1).

Kept by hand next to the handlers, and held to them by a schemathesis run in the tests
(tests/web/test_openapi.py): every operation here is called with generated input, and none may
answer with a server error or a status it does not declare.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
_ANY_OBJECT: dict[str, Any] = {"type": "object"}
_ID = {"type": "integer", "minimum": 1}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _responses(ok: int = 200, *codes: int) -> dict[str, Any]:
    found: dict[str, Any] = {str(ok): {"description": "done", **_json(_ANY_OBJECT)}}
    # 413: a body above server.max_body_bytes, or a text above the 64 KB a message may hold.
    for code in (400, 401, 413, *codes):
        found[str(code)] = {"description": "refused", **_json(_ERROR)}
    return found


def _path_id(name: str = "id") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _ID}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, **_json(schema)}


_MESSAGE = {
    "type": "object",
    "required": ["text", "internal"],
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 65536},
        "internal": {"type": "boolean", "description": "true: a note no customer ever sees"},
        "reply_to_id": _ID,
        "attachments": {
            "type": "array",
            "maxItems": 10,
            "items": {
                "type": "object",
                "required": ["key"],
                "properties": {
                    "key": {"type": "string"},
                    "name": {"type": "string"},
                    "content_type": {"type": "string"},
                },
            },
        },
    },
}
_STATUS = {"type": "string", "enum": ["queued", "assigned", "pending_customer", "resolved"]}
_TIME = {"type": "string", "format": "date-time"}
_OPTIONAL_TIME = {"type": ["string", "null"], "format": "date-time"}
_REASON = {"type": ["string", "null"]}
_WAITING = {
    "type": "object",
    "required": ["total", "summary", "destinations", "items"],
    "properties": {
        "total": {"type": "integer", "minimum": 0},
        "summary": {"type": "string"},
        "destinations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["channel", "account", "count", "reason", "next_attempt_at"],
                "properties": {
                    "channel": {"type": "string"},
                    "account": {"type": "string"},
                    "count": {"type": "integer", "minimum": 1},
                    "reason": _REASON,
                    "next_attempt_at": _OPTIONAL_TIME,
                    "oldest_created_at": _TIME,
                    "conversation_ids": {"type": "array", "items": _ID},
                    "summary": {"type": "string"},
                },
            },
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["delivery_id", "message_id", "conversation_id", "reason"],
                "properties": {
                    "delivery_id": _ID,
                    "message_id": _ID,
                    "conversation_id": _ID,
                    "reference": {"type": "string"},
                    "channel": {"type": "string"},
                    "account": {"type": "string"},
                    "attempts": {"type": "integer", "minimum": 0},
                    "reason": _REASON,
                    "next_attempt_at": _TIME,
                    "created_at": _TIME,
                },
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/agents/me": {
        "get": {"operationId": "me", "responses": _responses()},
        "patch": {
            "operationId": "setPresence",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["presence"],
                    "properties": {
                        "presence": {"type": "string", "enum": ["online", "away", "dnd", "offline"]}
                    },
                }
            ),
            "responses": _responses(200, 403),
        },
    },
    "/api/conversations": {
        "get": {
            "operationId": "listConversations",
            "parameters": [
                _query("status", _STATUS),
                _query("assignee", {"type": "string"}),
                _query("before", _ID),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
            ],
            "responses": _responses(),
        }
    },
    "/api/conversations/{id}": {
        "get": {
            "operationId": "getConversation",
            "parameters": [_path_id()],
            "responses": _responses(200, 404),
        }
    },
    "/api/conversations/{id}/messages": {
        "post": {
            "operationId": "postMessage",
            "parameters": [
                _path_id(),
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                },
            ],
            "requestBody": _body(_MESSAGE),
            "responses": {**_responses(201, 403, 404, 409), "200": {"description": "a repeat"}},
        }
    },
    "/api/conversations/{id}/messages/{message}": {
        "patch": {
            "operationId": "editMessage",
            "parameters": [_path_id(), _path_id("message")],
            "requestBody": _body(
                {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
            ),
            "responses": _responses(200, 403, 404),
        }
    },
    "/api/conversations/{id}/messages/{message}/retract": {
        "post": {
            "operationId": "retractMessage",
            "parameters": [_path_id(), _path_id("message")],
            "responses": _responses(200, 403, 404, 409),
        }
    },
    **{
        f"/api/conversations/{{id}}/{action}": {
            "post": {
                "operationId": f"{action}Conversation",
                "parameters": [_path_id()],
                "responses": _responses(200, 403, 404, 409),
            }
        }
        for action in ("resolve", "reopen")
    },
    "/api/conversations/{id}/assign": {
        "post": {
            "operationId": "assignConversation",
            "parameters": [_path_id()],
            "requestBody": {
                "required": False,
                **_json({"type": "object", "properties": {"agent_id": _ID}}),
            },
            "responses": _responses(200, 403, 404, 409),
        }
    },
    "/api/conversations/{id}/escalate": {
        "post": {
            "operationId": "escalateConversation",
            "parameters": [_path_id()],
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["note"],
                    "properties": {
                        "note": {"type": "string", "minLength": 1},
                        "team": {"type": "string"},
                        "tier": {"type": "integer", "minimum": 1},
                    },
                }
            ),
            "responses": _responses(200, 403, 404, 409),
        }
    },
    "/api/conversations/{id}/read": {
        "post": {
            "operationId": "markRead",
            "parameters": [_path_id()],
            "requestBody": _body(
                {"type": "object", "required": ["message_id"], "properties": {"message_id": _ID}}
            ),
            "responses": _responses(200, 404),
        }
    },
    "/api/conversations/{id}/status-link": {
        "post": {
            "operationId": "statusLink",
            "parameters": [_path_id()],
            "responses": _responses(201, 404),
        }
    },
    "/api/conversations/{id}/rating": {
        "get": {
            "operationId": "rating",
            "parameters": [_path_id()],
            "responses": _responses(200, 404),
        }
    },
    "/api/queue": {
        "get": {
            "operationId": "queue",
            "parameters": [
                _query("team", {"type": "string"}),
                _query("tier", {"type": "integer", "minimum": 1}),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
            ],
            "responses": _responses(),
        }
    },
    "/api/queue/next": {
        "post": {
            "operationId": "takeNext",
            "responses": {
                **_responses(200, 403, 409),
                "204": {"description": "nobody is waiting in this agent's queue"},
            },
        }
    },
    "/api/stats": {
        "get": {
            "operationId": "stats",
            "parameters": [_query("hours", {"type": "integer", "minimum": 1, "maximum": 8760})],
            "responses": _responses(),
        }
    },
    "/api/search": {
        "get": {
            "operationId": "search",
            "parameters": [
                _query("q", {"type": "string"}),
                _query("status", _STATUS),
                _query("channel", {"type": "string"}),
                _query("team", {"type": "string"}),
                _query("tier", {"type": "integer", "minimum": 1}),
                _query("before", _ID),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
            ],
            "responses": _responses(),
        }
    },
    "/api/customers/{id}": {
        "get": {
            "operationId": "customer",
            "parameters": [_path_id()],
            "responses": _responses(200, 404),
        }
    },
    "/api/customers/{id}/merge": {
        "post": {
            "operationId": "mergeCustomers",
            "parameters": [_path_id()],
            "requestBody": _body(
                {"type": "object", "required": ["other_id"], "properties": {"other_id": _ID}}
            ),
            "responses": _responses(200, 403, 404, 409),
        }
    },
    "/api/templates": {
        "get": {"operationId": "templates", "responses": _responses()},
        "post": {
            "operationId": "addTemplate",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["name", "body"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "body": {"type": "string", "minLength": 1},
                        "checklist": {"type": "array", "items": {"type": "string"}},
                        "language": {"type": "string"},
                        "team": {"type": "string"},
                    },
                }
            ),
            "responses": _responses(201, 403, 409),
        },
    },
    "/api/templates/{id}/render": {
        "post": {
            "operationId": "renderTemplate",
            "parameters": [_path_id()],
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["conversation_id"],
                    "properties": {
                        "conversation_id": _ID,
                        "items": {"type": "array", "items": {"type": "string"}},
                    },
                }
            ),
            "responses": _responses(200, 404),
        }
    },
    "/api/files": {
        "post": {
            "operationId": "upload",
            "parameters": [_query("name", {"type": "string", "minLength": 1})],
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            },
            "responses": _responses(201),
        }
    },
    "/api/files/{key}": {
        "get": {
            "operationId": "download",
            "parameters": [
                {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "the file",
                    "content": {"application/octet-stream": {"schema": {"type": "string"}}},
                },
                "401": {"description": "refused", **_json(_ERROR)},
                "404": {"description": "no such file", **_json(_ERROR)},
            },
        }
    },
    "/api/supervisor": {
        "get": {"operationId": "supervisorFigures", "responses": _responses(200, 403)}
    },
    "/api/inbox/lists": {"get": {"operationId": "inboxLists", "responses": _responses()}},
    "/api/deliveries/waiting": {
        "get": {
            "operationId": "waitingDeliveries",
            "description": (
                "Replies accepted but not delivered yet, per channel with the reason (the "
                "channel's last error) and the next try, and the oldest of them one by one."
            ),
            "parameters": [_query("limit", {"type": "integer", "minimum": 1, "maximum": 500})],
            "responses": {
                **_responses(200, 503),
                "200": {"description": "done", **_json(_WAITING)},
            },
        }
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "support-bridge agent API",
        "version": "1",
        "description": (
            "Authenticate with `Authorization: Bearer <token>` (from `bridge agent add`), or the "
            "inbox's session cookie plus an `X-CSRF-Token` header on changes. Live events: "
            "`GET /api/events` (server-sent events)."
        ),
    },
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
    "paths": PATHS,
}


async def openapi(request: web.Request) -> web.Response:
    del request
    return web.json_response(DOCUMENT)


def routes() -> list[web.RouteDef]:
    return [web.get("/api/openapi.json", openapi)]
