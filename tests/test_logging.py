"""Logs: a start-up line per process, access logs, JSON lines for log shippers, phone numbers masked."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from taxsms import runtime
from tests.test_worker_metrics import free_port


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_with_phones_masked(root_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    runtime.setup_logging("info", "json")
    logging.getLogger("taxsms.test").info("reply to %s sent", "13800138000")
    logging.getLogger("taxsms.test").debug("not at info")
    try:
        raise ValueError("from +86 139-0013-9000")
    except ValueError:
        logging.getLogger("taxsms.test").exception("failed")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{"))
    assert first["level"] == "info" and first["logger"] == "taxsms.test" and first["ts"].endswith("Z")
    assert first["message"] == "reply to 138****8000 sent"
    assert second["message"] == "failed" and "139****9000" in second["exc"] and "0013" not in second["exc"]


def test_serve_logs_its_start_and_every_request_as_json(redis_url: str) -> None:
    port = free_port()
    command = [sys.executable, "-m", "taxsms", "serve", "--redis-url", redis_url, "--port", str(port)]
    proc = subprocess.Popen([*command, "--log-format", "json"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert requests.get(f"http://127.0.0.1:{port}/healthz?to=13800138000", timeout=5).status_code == 200
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    entries = [json.loads(line) for line in err.splitlines()]
    messages = [entry["message"] for entry in entries]
    started = f"taxsms serve 0.1.0 starting: redis={redis_url} prefix=taxsms listen=127.0.0.1:{port}"
    assert messages[0].startswith(started)
    assert f"taxsms API listening on http://127.0.0.1:{port} (prefix taxsms)" in messages
    access = [entry for entry in entries if entry["logger"] == "aiohttp.access"]
    assert access and '"GET /healthz?to=138****8000 HTTP/1.1" 200' in access[0]["message"]
    assert "13800138000" not in err
