"""Agents' passwords, hashed with Argon2id, so a copy of the database does not give the
passwords away. The parameters are OWASP's recommended minimum for Argon2id (19 MiB, two
passes, one lane: https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html);
each hash carries its parameters, so raising them later keeps old hashes verifiable.

Hashing takes tens of milliseconds of CPU on purpose; it runs in a worker thread (the binding
releases the GIL), so a sign-in never stalls the event loop. An unknown email is checked
against a dummy hash, so the answer's timing does not tell which emails exist.
"""

from __future__ import annotations

import asyncio
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bridge.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 1024


def check_password(password: str) -> None:
    """Refuse a password too short to resist guessing, with a reason a person can act on."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"a password may have at most {MAX_LENGTH} characters")


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

    @cached_property
    def _dummy(self) -> str:
        return self._hasher.hash("not the password of anyone")

    def hash(self, password: str) -> str:
        check_password(password)
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        if len(password) > MAX_LENGTH:
            return False
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    async def verify_async(self, stored: str | None, password: str) -> bool:
        return await asyncio.to_thread(self.verify, stored, password)

    async def hash_async(self, password: str) -> str:
        return await asyncio.to_thread(self.hash, password)
