"""One-time notices after a form post ("Taken #12", "Nobody is waiting"), carried to the next
page in a short-lived HttpOnly cookie: a query parameter would let any link put words of its
choosing on our page."""

from __future__ import annotations

import json
from urllib.parse import quote, unquote

from aiohttp import web

FLASH = "bridge_flash"


def set_flash(response: web.StreamResponse, kind: str, text: str, *, secure: bool) -> None:
    value = quote(json.dumps({"kind": kind, "text": text[:500]}, ensure_ascii=False))
    response.set_cookie(
        FLASH, value, path="/", max_age=60, httponly=True, samesite="Strict", secure=secure
    )


def read_flash(request: web.Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH)
    if not raw:
        return None
    try:
        data = json.loads(unquote(raw))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kind = "error" if data.get("kind") == "error" else "ok"
    return {"kind": kind, "text": str(data.get("text", ""))[:500]}


def clear_flash(request: web.Request, response: web.StreamResponse) -> None:
    if request.cookies.get(FLASH):
        response.del_cookie(FLASH, path="/")
