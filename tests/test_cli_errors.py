"""Ordinary mistakes end in one line on stderr (what was wrong; what to do) and a documented exit code.

No traceback without -v; with -v the traceback comes first, for a bug report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taxsms import cli, errors
from taxsms.cli import main

DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1
REDIS_DOWN = (
    f"cannot reach Redis at {DOWN}: Error 111 connecting to 127.0.0.1:1. Connection refused; "
    "check redis_url (--redis-url, $TAXSMS_REDIS_URL) and that Redis is running"
)
JOB = '{"id": "e1", "kind": "notice", "to": "13800138000", "text": "【某县税务局】通知"}\n'

#: (argv, environment, files to write, exit code, the one line on stderr). {tmp} is the test's directory,
#: {redis} a live test Redis.
# fmt: off
MISTAKES = [
    (["status", "--redis-url", DOWN], {}, {}, errors.UNAVAILABLE, f"taxsms status: {REDIS_DOWN}"),
    (["enqueue", "--redis-url", DOWN, "{tmp}/jobs.jsonl"], {}, {"jobs.jsonl": JOB}, 4, f"taxsms enqueue: {REDIS_DOWN}"),
    (["replies", "run", "--redis-url", DOWN], {}, {}, 4, f"taxsms replies run: {REDIS_DOWN}"),
    (["webhook", "--redis-url", DOWN, "--url", "http://127.0.0.1:1/"], {"TAXSMS_WEBHOOK_SECRET": "k"}, {}, 4,
     f"taxsms webhook: {REDIS_DOWN}"),
    (["worker", "--redis-url", DOWN], {}, {}, 4, f"taxsms worker: {REDIS_DOWN}"),
    (["units", "list", "--redis-url", DOWN], {}, {}, 4, f"taxsms units list: {REDIS_DOWN}"),
    (["template", "load", "--redis-url", DOWN], {}, {}, 4, f"taxsms template load: {REDIS_DOWN}"),
    (["status", "--redis-url", "127.0.0.1:6379"], {}, {}, errors.CONFIG,
     "taxsms status: redis_url '127.0.0.1:6379' (flag --redis-url): needs a scheme; write it as redis://HOST:PORT/DB "
     "(or rediss://, unix://, redis+cluster://)"),
    (["enqueue", "--redis-url", "{redis}", "{tmp}/nope.jsonl"], {}, {}, errors.USAGE,
     "taxsms enqueue: cannot open {tmp}/nope.jsonl: No such file or directory; give an existing file of JSON lines, "
     "or -"),
    (["status", "--config", "/nonexistent.toml"], {}, {}, 3,
     "taxsms status: settings file /nonexistent.toml not found; give an existing file to --config or $TAXSMS_CONFIG"),
    (["status", "--config", "{tmp}/bad.toml"], {}, {"bad.toml": "window = \n"}, 3,
     "taxsms status: settings file {tmp}/bad.toml is not valid TOML: Invalid value (at line 1, column 10); "
     "fix the file (see deploy/taxsms.toml.sample)"),
    (["status"], {"TAXSMS_CONFIG": "{tmp}/t.toml"}, {"t.toml": 'prefx = "x"\n'}, 3,
     "taxsms status: unknown setting prefx in file {tmp}/t.toml ($TAXSMS_CONFIG); did you mean prefix?"),
    (["worker", "--config", "{tmp}/t.toml"], {}, {"t.toml": '[smpp]\nwindow = "sixty"\n'}, 3,
     "taxsms worker: smpp.window = 'sixty' (file {tmp}/t.toml): expected int, got str; fix it in {tmp}/t.toml"),
    (["worker"], {"TAXSMS_WINDOW": "abc"}, {}, 3,
     "taxsms worker: environment variable TAXSMS_WINDOW is not a setting; use TAXSMS_SMPP_WINDOW"),
    (["worker"], {"TAXSMS_SMPP_WINDOW": "abc"}, {}, 3,
     "taxsms worker: smpp.window = 'abc' (env TAXSMS_SMPP_WINDOW): expected int, got str; fix TAXSMS_SMPP_WINDOW"),
    (["worker"], {"TAXSMS_DAYS_OFF": "maybe"}, {}, 3,
     "taxsms worker: days_off = 'maybe' (env TAXSMS_DAYS_OFF): expected bool, got str; fix TAXSMS_DAYS_OFF"),
    (["worker"], {"TAXSMS_PASSWORD": "x"}, {}, 3,
     "taxsms worker: environment variable TAXSMS_PASSWORD is not a setting; use TAXSMS_SMPP_PASSWORD or "
     "TAXSMS_OPERATOR_PASSWORD"),
    (["worker"], {"TAXSMS_SMPP_PASSWORD_FILE": "/nonexistent"}, {}, 3,
     "taxsms worker: TAXSMS_SMPP_PASSWORD_FILE: cannot read /nonexistent: No such file or directory; "
     "point it at a readable file"),
    (["worker", "--send-window", "25:00-18:00"], {}, {}, 3,
     "taxsms worker: send_window (flag --send-window): send window '25:00-18:00': expected HH:MM-HH:MM; "
     "write it as HH:MM-HH:MM, e.g. 08:00-18:00"),
    (["worker", "--window", "0"], {}, {}, 3,
     "taxsms worker: smpp.window = '0' (flag --window): expected int >= 1; give --window a valid value"),
    (["worker", "--tps", "-5"], {}, {}, 3,
     "taxsms worker: smpp.tps = '-5' (flag --tps): expected float >= 0.0; give --tps a valid value"),
    (["worker", "--smsc", "nohost"], {}, {}, errors.USAGE,
     "taxsms worker: argument --smsc: expected HOST:PORT, got 'nohost'; see taxsms worker --help"),
    (["serve", "--port", "99999"], {}, {}, 3,
     "taxsms serve: serve.port = '99999' (flag --port): expected int <= 65535; give --port a valid value"),
    (["status", "--prefix", "a b"], {}, {}, 3,
     "taxsms status: prefix = 'a b' (flag --prefix): expected str matching regex '^[A-Za-z0-9_.-]+$'; "
     "give --prefix a valid value"),
    (["webhook", "--url", "http://127.0.0.1:1/"], {}, {}, 3,
     "taxsms webhook: webhook.secret is not set; set $TAXSMS_WEBHOOK_SECRET or $TAXSMS_WEBHOOK_SECRET_FILE"),
    (["webhook"], {"TAXSMS_WEBHOOK_SECRET": "k"}, {}, 3,
     "taxsms webhook: webhook.url is not set; give --url, $TAXSMS_WEBHOOK_URL or [webhook] url"),
    (["plan", "{tmp}/nope.jsonl", "--tps", "10"], {}, {}, 2,
     "taxsms plan: cannot open {tmp}/nope.jsonl: No such file or directory; give an existing file of JSON lines, or -"),
    (["plan", "{tmp}/jobs.jsonl", "--tps", "0"], {}, {"jobs.jsonl": JOB}, 2,
     "taxsms plan: --tps 0: must be more than 0; give the link's segments per second"),
    (["plan", "{tmp}/jobs.jsonl", "--tps", "5", "--start", "yesterday"], {}, {"jobs.jsonl": JOB}, 2,
     "taxsms plan: --start 'yesterday': not an ISO 8601 time; e.g. 2026-11-14T08:00"),
    (["status", "--redis-url", "{redis}", "nosuchjob"], {}, {}, errors.REFUSED,
     "taxsms status: no job 'nosuchjob'; check the id (taxsms status lists the counts)"),
    (["api-token", "create", "--redis-url", "{redis}", "--unit", "nosuch", "--kinds", "notice", "--as", "a1"], {}, {},
     2,
     "taxsms api-token create: unknown unit nosuch; load the unit tree first: taxsms units load FILE"),
    (["api-token", "revoke", "--redis-url", "{redis}", "nosuch", "--as", "a1"], {}, {}, 1,
     "taxsms api-token revoke: no token 'nosuch'; check the id printed when it was created"),
    (["nosuch"], {}, {}, 2,
     "taxsms: argument command: invalid choice: 'nosuch' (choose from {commands}); see taxsms --help"),
]
# fmt: on


def _fill(text: str, tmp: Path, redis_url: str) -> str:
    commands = ", ".join(f"'{name}'" for name in cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    return text.replace("{tmp}", str(tmp)).replace("{redis}", redis_url).replace("{commands}", commands)


@pytest.mark.parametrize(("argv", "env", "files", "code", "line"), MISTAKES)
def test_each_mistake_ends_in_one_line_and_its_exit_code(
    argv: list[str], env: dict[str, str], files: dict[str, str], code: int, line: str,
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    for name, value in env.items():
        monkeypatch.setenv(name, _fill(value, tmp_path, redis_url))
    with pytest.raises(SystemExit) if code == errors.USAGE and "--help" in line else _nothing() as raised:
        result = main([_fill(arg, tmp_path, redis_url) for arg in argv])
    result = raised.value.code if raised else result
    err = capsys.readouterr().err
    assert result == code
    assert err.splitlines() == [_fill(line, tmp_path, redis_url)]


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_the_table_covers_twenty_mistakes() -> None:
    assert len(MISTAKES) >= 20
    assert {code for *_, code, _ in MISTAKES} == {1, 2, 3, 4}


def test_a_bug_is_one_line_asking_for_v_and_v_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object, cfg: object) -> int:
        raise KeyError("surprise")

    monkeypatch.setattr(cli, "cmd_plan", broken)
    assert main(["plan", "-", "--tps", "1"]) == errors.INTERNAL
    assert capsys.readouterr().err.splitlines() == [
        "taxsms plan: internal error: KeyError: 'surprise'; run again with -v for the traceback and report it"
    ]
    assert main(["plan", "-", "--tps", "1", "-v"]) == errors.INTERNAL
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "KeyError: 'surprise'" in err


def test_the_installed_command_exits_with_the_code(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "taxsms", "status", "--redis-url", DOWN], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == errors.UNAVAILABLE
    assert done.stderr.splitlines() == [f"taxsms status: {REDIS_DOWN}"] and not done.stdout
