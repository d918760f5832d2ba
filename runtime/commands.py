"""The CLI's commands. Each returns the process exit code."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bridge.clock import SystemClock
from bridge.model import Role
from bridge.ports import NewAgent
from bridge.tokens import hash_token, new_token
from config.loader import ConfigError, config_path, load_settings
from config.logging import setup_logging
from config.schema import Settings
from storage.migrate import SchemaOutdated, current_revision, head_revision, upgrade
from storage.store import Storage


def _settings(config: str | None) -> Settings:
    try:
        return load_settings(config_path(config))
    except ConfigError as error:
        print("configuration error:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from error


def serve(config: str | None) -> int:
    from runtime.serve import serve as run

    settings = _settings(config)
    setup_logging(settings.logging)
    try:
        asyncio.run(run(settings))
    except ConfigError as error:
        print("configuration error:", *error.problems, sep="\n  ", file=sys.stderr)
        return 2
    except SchemaOutdated as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def check_config(config: str | None) -> int:
    path = config_path(config)
    settings = _settings(config)
    source = str(path) if path else "defaults and environment (no file)"
    enabled = [
        name
        for name, section in (("webchat", settings.channels.webchat),)
        if getattr(section, "enabled", False)
    ]
    print(f"{source}: ok")
    print(f"  storage: {settings.storage.database_url.split('://', 1)[0]}")
    print(f"  bus: {'redis' if settings.storage.redis_url else 'in-process'}")
    print(f"  channels: {', '.join(enabled) or 'none'}")
    print(f"  listening on {settings.server.host}:{settings.server.port}")
    return 0


def migrate(config: str | None) -> int:
    settings = _settings(config)

    async def run() -> None:
        storage = Storage.open(settings.storage.database_url)
        try:
            before = await current_revision(storage.database)
            await upgrade(storage.database)
            print(f"schema: {before or 'empty'} -> {head_revision()}")
        finally:
            await storage.close()

    asyncio.run(run())
    return 0


def agent_add(
    config: str | None,
    *,
    name: str,
    email: str,
    role: str,
    tier: int,
    capacity: int | None,
    teams: list[str] | None,
    slack_user: str | None,
    password_stdin: bool = False,
) -> int:
    settings = _settings(config)
    password_hash = _read_password(from_stdin=True) if password_stdin else None
    token = new_token("brg")
    new = NewAgent(
        name=name,
        email=email,
        role=Role(role),
        tier=tier,
        teams=tuple(teams or [settings.routing.default_team]),
        capacity=capacity or settings.routing.default_capacity,
        slack_user_id=slack_user,
    )

    async def run() -> int:
        storage = Storage.open(settings.storage.database_url)
        try:
            await storage.prepare(auto_migrate=settings.storage.auto_migrate)
            agent = await storage.agents.add_agent(new, hash_token(token), SystemClock().now())
            if password_hash is not None:
                await storage.sessions.set_password(agent.id, password_hash)
        finally:
            await storage.close()
        print(
            f"agent {agent.id} added: {agent.name} <{agent.email}> ({agent.role.value}, "
            f"tier {agent.tier}, teams {', '.join(agent.teams)}, capacity {agent.capacity})"
        )
        print("API token (shown once, store it now):")
        print(token)
        return 0

    from bridge.errors import Conflict

    try:
        return asyncio.run(run())
    except Conflict as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _read_password(*, from_stdin: bool) -> str:
    """A password from standard input (its first line) or typed twice at the terminal,
    returned hashed; exits with a message when it is unusable."""
    import getpass

    from bridge.errors import InvalidInput
    from web.passwords import Passwords

    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            raise SystemExit(1)
    try:
        return Passwords().hash(password)
    except InvalidInput as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from error


def agent_password(config: str | None, *, email: str) -> int:
    """Set the inbox password of the agent with ``email``; their browsers are signed out."""
    settings = _settings(config)
    password_hash = _read_password(from_stdin=False)

    async def run() -> int:
        storage = Storage.open(settings.storage.database_url)
        try:
            await storage.prepare(auto_migrate=settings.storage.auto_migrate)
            found = await storage.sessions.credentials(email)
            if found is None:
                print(f"error: no agent with email {email}", file=sys.stderr)
                return 1
            await storage.sessions.set_password(found[0].id, password_hash)
        finally:
            await storage.close()
        print(f"password set for {found[0].name} <{found[0].email}>")
        return 0

    return asyncio.run(run())


def default_config_hint() -> Path:
    return Path("config/bridge.example.toml")


def queue(config: str | None, *, watch: bool, interval: float, count: int | None) -> int:
    from runtime.queue_view import queue_command

    return queue_command(config, watch=watch, interval=interval, count=count)


def email_import(config: str | None, *, mailbox: str | None, quiet: bool) -> int:
    from runtime.email import import_command

    settings = _settings(config)
    setup_logging(settings.logging)
    return import_command(settings, mailbox=mailbox, quiet=quiet)
