"""Secrets handed to people and programs: API tokens and visitor session tokens.

Tokens are 256 random bits; only their SHA-256 is stored, which is enough for values that
cannot be guessed (a slow password hash buys nothing here and would cost every request).
"""

from __future__ import annotations

import hashlib
import secrets


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
