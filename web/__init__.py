"""The web layer: one aiohttp application with the agent API, health endpoints and pages.

It sees the core through its ports and services only; the composition root (runtime/) hands
it a :class:`web.app.WebServices` and the channels' routes.
"""
