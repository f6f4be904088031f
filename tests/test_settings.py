"""Settings validated once: file < environment < flags, tables kept apart, secrets from *_FILE, the sample file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from taxsms import settings
from taxsms.cli import main
from taxsms.errors import ConfigError

SAMPLE = Path(__file__).parent.parent / "deploy" / "taxsms.toml.sample"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "taxsms.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_then_environment_then_flags_each_recorded_as_the_source(tmp_path: Path) -> None:
    path = write(tmp_path, 'prefix = "from-file"\n[smpp]\nwindow = 16\nbinds = 2\n[serve]\nport = 9000\n')
    environ = {"TAXSMS_SMPP_WINDOW": "32", "TAXSMS_DAYS_OFF": "yes"}
    resolved = settings.load(path, {"smpp.binds": "3"}, flag_names={"smpp.binds": "--binds"}, environ=environ)
    cfg = resolved.settings
    assert (cfg.prefix, cfg.smpp.window, cfg.smpp.binds, cfg.serve.port) == ("from-file", 32, 3, 9000)
    assert cfg.days_off is True
    assert resolved.sources["prefix"] == f"file {path}"
    assert resolved.sources["smpp.window"] == "env TAXSMS_SMPP_WINDOW"
    assert resolved.sources["smpp.binds"] == "flag --binds"
    assert resolved.sources["worker.batch"] == "default"


def test_tables_keep_same_named_keys_apart(tmp_path: Path) -> None:
    path = write(tmp_path, '[worker]\nconsumer = "w1"\nbatch = 50\n[replies]\nconsumer = "r1"\nbatch = 7\n')
    cfg = settings.load(path, environ={}).settings
    assert cfg.worker_config().consumer == "w1" and cfg.worker_config().batch == 50
    assert cfg.reply_config().consumer == "r1" and cfg.reply_config().batch == 7


def test_the_worker_the_api_and_plan_share_one_send_window(tmp_path: Path) -> None:
    path = write(tmp_path, 'send_window = "09:00-17:00"\nkind_windows = "internal=07:30-20:00"\n')
    cfg = settings.load(path, environ={}).settings
    assert cfg.worker_config().windows() == cfg.api_config().windows == cfg.windows()
    assert "09:00-17:00" in cfg.windows().window_text() and "07:30-20:00" in cfg.windows().window_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[smpp]\nwindow = "sixty"\n', "smpp.window = 'sixty' (file {path}): expected int, got str; fix it in {path}"),
        ('prefx = "x"\n', "unknown setting prefx in file {path}; did you mean prefix?"),
        ("[smpp]\nwindw = 3\n", "unknown setting smpp.windw in file {path}; did you mean smpp.window?"),
        ("[wroker]\nbatch = 3\n", "unknown setting [wroker] in file {path}; did you mean [worker]?"),
        ('[serve]\nport = "8080"\n', "serve.port = '8080' (file {path}): expected int, got str; fix it in {path}"),
        ("[serve]\nport = 99999\n", "serve.port = 99999 (file {path}): expected int <= 65535; fix it in {path}"),
        ('log_level = "loud"\n', "log_level = 'loud' (file {path}): invalid enum value 'loud'; fix it in {path}"),
    ],
)
def test_wrong_types_unknown_keys_and_ranges_are_refused_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        settings.load(path, environ={})
    assert caught.value.line() == message.format(path=path)


def test_environment_values_are_parsed_strictly() -> None:
    with pytest.raises(ConfigError, match=r"days_off = 'maybe' \(env TAXSMS_DAYS_OFF\): expected bool"):
        settings.load(environ={"TAXSMS_DAYS_OFF": "maybe"})
    with pytest.raises(ConfigError, match=r"smpp.window = 'abc' \(env TAXSMS_SMPP_WINDOW\): expected int"):
        settings.load(environ={"TAXSMS_SMPP_WINDOW": "abc"})
    assert settings.load(environ={"TAXSMS_DAYS_OFF": "off", "TAXSMS_SMPP_TPS": "12.5"}).settings.smpp.tps == 12.5


def test_secrets_come_from_files_and_are_never_shown(tmp_path: Path) -> None:
    (tmp_path / "smpp").write_text("s3cret\n")
    environ = {
        "TAXSMS_SMPP_PASSWORD_FILE": str(tmp_path / "smpp"),
        "TAXSMS_WEBHOOK_SECRET": "hmac-key",
        "TAXSMS_REDIS_URL": "redis://:redispw@10.0.0.5:6379/0",
    }
    resolved = settings.load(environ=environ)
    assert resolved.settings.smpp.password == "s3cret" and resolved.settings.worker_config().password == "s3cret"
    shown = settings.show(resolved)
    assert "s3cret" not in shown and "hmac-key" not in shown and "redispw" not in shown
    assert 'redis_url              = "redis://:****@10.0.0.5:6379/0"' in shown
    assert "env TAXSMS_SMPP_PASSWORD_FILE" in shown and "env TAXSMS_WEBHOOK_SECRET" in shown


def test_the_smpp_and_the_operator_password_are_distinct_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        settings.load(environ={"TAXSMS_PASSWORD": "x"})
    assert "TAXSMS_SMPP_PASSWORD or TAXSMS_OPERATOR_PASSWORD" in caught.value.line()
    assert settings.secret("TAXSMS_OPERATOR_PASSWORD", {"TAXSMS_OPERATOR_PASSWORD": "op"}) == "op"
    settings.load(environ={"TAXSMS_OPERATOR_PASSWORD": "op"})  # not a setting, and not refused


def test_sample_file_lists_every_key_and_is_what_the_model_generates(tmp_path: Path) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    assert text == settings.sample(), "regenerate: taxsms config sample > deploy/taxsms.toml.sample"
    uncommented = "\n".join(line.removeprefix("# ") if " = " in line else line for line in text.splitlines())
    data = tomllib.loads(uncommented)
    listed = {k for k, v in data.items() if not isinstance(v, dict)}
    listed |= {f"{table}.{k}" for table, values in data.items() if isinstance(values, dict) for k in values}
    assert listed == set(settings.KEYS)
    path = write(tmp_path, uncommented)
    assert settings.load(path, environ={}).settings == settings.load(environ={}).settings


def test_config_show_prints_the_effective_settings_with_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[smpp]\nwindow = 16\n")
    monkeypatch.setenv("TAXSMS_SMPP_PASSWORD", "pw")
    assert main(["config", "show", "--config", str(path), "--prefix", "p1"]) == 0
    out = capsys.readouterr().out
    assert f"window                 = 16                             # file {path}" in out
    assert 'prefix                 = "p1"                           # flag --prefix' in out
    assert 'password               = "****"                         # env TAXSMS_SMPP_PASSWORD' in out
    assert main(["config", "sample"]) == 0
    assert capsys.readouterr().out == settings.sample()
