from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from config.loader import ConfigError, load_settings
from config.schema import Settings

EXAMPLE = Path(__file__).parents[2] / "config" / "bridge.example.toml"


def keys_of_model(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= keys_of_model(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


#: Tables of free-form entries (per channel, per team, per language): documented as a whole.
MAPPINGS = {
    "routing.first_response_targets",
    "routing.next_response_targets",
    "routing.idle_after",
    "routing.teams",
    "routing.texts",
}


def keys_of_toml(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in data.items():
        if f"{prefix}{name}" in MAPPINGS:
            keys.add(f"{prefix}{name}")
        elif isinstance(value, dict):
            keys |= keys_of_toml(value, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


SAMPLE_LINE = re.compile(r"^# (\[routing\.[\w.]+\]|[a-z_]+ = .*)$")


def uncommented(text: str) -> str:
    """The example with its commented-out sample tables and keys switched on."""
    return "\n".join(line[2:] if SAMPLE_LINE.match(line) else line for line in text.splitlines())


def test_the_example_documents_every_key_with_its_default() -> None:
    text = EXAMPLE.read_text()
    data = tomllib.loads(text)
    documented = keys_of_toml(data) | {
        key for key in MAPPINGS if f"[{key}." in text or f"[{key}]" in text
    }
    assert documented == keys_of_model(Settings)
    assert load_settings(EXAMPLE) == Settings()


def test_the_commented_samples_in_the_example_are_valid(tmp_path: Path) -> None:
    sample = tmp_path / "sample.toml"
    sample.write_text(uncommented(EXAMPLE.read_text()))
    settings = load_settings(sample)
    assert settings.routing.teams["support"].timezone == "Europe/Lisbon"
    assert "ack" in settings.routing.texts["en"]


def test_without_a_file_the_defaults_are_the_embedded_setup() -> None:
    settings = load_settings(None)
    assert settings.storage.database_url == "sqlite+aiosqlite:///var/bridge.db"
    assert settings.storage.redis_url == ""
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.channels.webchat.enabled
    assert settings.public_url == "http://127.0.0.1:8080"


def test_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\n[channels.webchat]\ntitle = "Help"\n')
    monkeypatch.setenv("BRIDGE_SERVER__PORT", "9100")
    monkeypatch.setenv("BRIDGE_CHANNELS__WEBCHAT__ENABLED", "false")
    settings = load_settings(path)
    assert settings.server.port == 9100
    assert settings.server.host == "0.0.0.0"
    assert not settings.channels.webchat.enabled
    assert settings.channels.webchat.title == "Help"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[server]\nport = 70000\n", "server.port: Input should be less than or equal to 65535"),
        ("[server]\nprot = 1\n", "server.prot: unknown key (is it misspelt?)"),
        ('[storage]\ndatabase_url = "mysql://x"\n', "storage.database_url: must start with"),
        ('[logging]\nlevel = "LOUD"\n', "logging.level: Input should be"),
        ("[channels.webchat]\nsession_ttl_days = 0\n", "channels.webchat.session_ttl_days"),
        ("[channels.telgram]\n", "channels.telgram: unknown key"),
    ],
)
def test_a_bad_key_is_named_with_the_reason(tmp_path: Path, toml: str, expected: str) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert any(problem.startswith(expected) for problem in raised.value.problems), raised.value


def test_secret_values_are_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text('[storage]\ndatabase_url = "mysql://user:hunter2@db/x"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert "hunter2" not in str(raised.value)


def test_invalid_toml_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text("[server\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "missing.toml")
