"""Loading settings, and explaining what is wrong with them in terms of the keys."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import ValidationError

from config.schema import Settings, _toml_file

#: Values of these keys are never echoed back in an error (they may carry credentials).
_SECRET_WORDS = ("token", "secret", "password", "_url")


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` name each bad key and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def config_path(explicit: str | None) -> Path | None:
    """The file to read: ``--config``, else ``$BRIDGE_CONFIG``, else none (defaults)."""
    chosen = explicit or os.environ.get("BRIDGE_CONFIG") or None
    return Path(chosen) if chosen else None


def load_settings(path: Path | None = None) -> Settings:
    if path is not None:
        if not path.is_file():
            raise ConfigError([f"{path}: no such file"])
        try:
            with path.open("rb") as handle:
                tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError([f"{path}: not valid TOML: {error}"]) from error
    token = _toml_file.set(path)
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(describe(error)) from error
    finally:
        _toml_file.reset(token)


def describe(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        env = "BRIDGE_" + "__".join(str(part).upper() for part in item["loc"])
        if item["type"] == "extra_forbidden":
            problems.append(f"{key}: unknown key (is it misspelt?)")
            continue
        message = item["msg"].removeprefix("Value error, ")
        given = item.get("input")
        secret = any(word in key for word in _SECRET_WORDS)
        shown = "" if isinstance(given, dict) or secret else f" (got {given!r})"
        problems.append(f"{key}: {message}{shown} [or set {env}]")
    return problems
