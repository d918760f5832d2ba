"""Schema migrations (Alembic), run programmatically on the bridge's own engine.

``bridge migrate`` upgrades to the newest revision. ``bridge serve`` creates the schema in an
empty database by itself, and refuses to run on a database whose schema is older than the
code unless told to migrate automatically, so an upgrade is a decision, not an accident.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from storage.database import Database


class SchemaOutdated(RuntimeError):
    """The database's schema is older than this code."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "storage:migrations")
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(database: Database) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    return await database.run_read(read)


async def upgrade(database: Database, revision: str = "head") -> None:
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    await database.run_write(run)


async def ensure_schema(database: Database, *, auto_migrate: bool) -> None:
    """Create the schema in an empty database; refuse an outdated one unless ``auto_migrate``."""
    current = await current_revision(database)
    head = head_revision()
    if current == head:
        return
    if current is None or auto_migrate:
        await upgrade(database)
        return
    raise SchemaOutdated(
        f"the database schema is at revision {current} but this version needs {head}: "
        "run `bridge migrate` (back up the database first)"
    )
