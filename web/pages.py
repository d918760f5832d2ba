"""Server-rendered pages (Jinja2, autoescaped) and the widget's script."""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import web

from web.render import static_file
from web.services import WebServices

WEB_ROOT = Path(__file__).parent
STATIC = WEB_ROOT / "static"

#: Pages run our own scripts only; inline styles are allowed for the demo page's looks.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(WEB_ROOT / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


class Pages:
    def __init__(self, services: WebServices) -> None:
        self._services = services
        self._templates = templates()

    def routes(self) -> list[web.RouteDef]:
        routes = [web.get(r"/static/{name}", static_file)]
        if self._services.webchat_enabled:
            routes += [web.get("/", self.demo), web.get("/webchat/widget.js", self.widget)]
        return routes

    async def demo(self, _request: web.Request) -> web.Response:
        html = self._templates.get_template("demo.html").render(
            title=self._services.title, widget_url="/webchat/widget.js"
        )
        return web.Response(
            text=html, content_type="text/html", headers={"Content-Security-Policy": PAGE_CSP}
        )

    async def widget(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(
            STATIC / "widget.js",
            headers={
                "Content-Type": "application/javascript; charset=utf-8",
                "Cache-Control": "public, max-age=300",
                # Sites on other origins embed this script.
                "Cross-Origin-Resource-Policy": "cross-origin",
            },
        )
