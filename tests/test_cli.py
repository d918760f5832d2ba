"""The command line, run as a user runs it: a separate process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def bridge(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_agent_add_prints_the_token_alone_on_its_last_line(tmp_path: Path) -> None:
    result = bridge(
        "agent", "add", "Ana Lima", "--email", "ana@example.com", "--tier", "2", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("brg_")
    assert " " not in lines[-1]
    assert "Ana Lima <ana@example.com>" in lines[0]
    # The default database was created under ./var/.
    assert (tmp_path / "var" / "bridge.db").exists()
    again = bridge("agent", "add", "Ana 2", "--email", "ana@example.com", cwd=tmp_path)
    assert again.returncode == 1
    assert "exists" in again.stderr


def test_agent_add_rejects_bad_arguments(tmp_path: Path) -> None:
    result = bridge("agent", "add", "X", "--email", "not-an-email", cwd=tmp_path)
    assert result.returncode == 2
    assert "not an email address" in result.stderr
    result = bridge("agent", "add", "X", "--email", "x@y.org", "--role", "boss", cwd=tmp_path)
    assert result.returncode == 2


def test_check_config_names_the_bad_key(tmp_path: Path) -> None:
    good = bridge(
        "check-config", "--config", str(ROOT / "config/bridge.example.toml"), cwd=tmp_path
    )
    assert good.returncode == 0, good.stderr
    assert "ok" in good.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = -1\n")
    result = bridge("check-config", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "server.port: Input should be greater than or equal to 0" in result.stderr
    env_bad = bridge("check-config", cwd=tmp_path, env={"BRIDGE_STORAGE__POOL_SIZE": "zero"})
    assert env_bad.returncode == 2
    assert "storage.pool_size" in env_bad.stderr


def test_migrate_creates_and_then_keeps_the_schema(tmp_path: Path) -> None:
    first = bridge("migrate", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "empty ->" in first.stdout
    second = bridge("migrate", cwd=tmp_path)
    assert second.returncode == 0
    assert "empty" not in second.stdout


def test_serve_answers_and_shuts_down_gracefully(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "BRIDGE_SERVER__PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"bridge did not come up: {process.communicate()[0]}")
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
            assert b"/webchat/widget.js" in r.read()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "bridge stopped" in output
