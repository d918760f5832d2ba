"""Storage: SQLAlchemy Core tables and repositories, Alembic migrations, the event bus.

SQLite (WAL, one writer thread) is the embedded default; PostgreSQL (asyncpg) by URL. Every
repository implements a port from :mod:`bridge.ports` and passes the same contract suite on
both databases.
"""
