"""The deployment kit in deploy/: systemd units, image, compose file, alert rules, dashboard, all checked here.

`systemd-analyze verify` and `promtool` run when installed (.ci/run installs Debian's prometheus for promtool);
every file is also parsed, and every command it runs is parsed by the real `taxsms` argument parser.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from taxsms.api.metrics import ApiMetrics
from taxsms.api.snapshot import LaneDepth, Snapshot
from taxsms.cli import build_parser
from taxsms.dispatcher.metrics import WorkerMetrics
from taxsms.dispatcher.worker import Worker, WorkerConfig

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
TAXSMS = Path(sys.executable).parent / "taxsms"


def _unit_lines(path: Path, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in path.read_text().splitlines() if line.startswith(f"{key}=")]


def _parses(argv: list[str]) -> None:
    """The real parser accepts the command (SystemExit would mean an unknown command or option)."""
    args = build_parser().parse_args(argv)
    assert callable(args.handler)


def test_the_kit_has_units_for_every_long_running_process() -> None:
    assert [unit.name for unit in UNITS] == [
        "taxsms-replies.service", "taxsms-serve.service", "taxsms-webhook.service", "taxsms-worker@.service"
    ]  # fmt: skip


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_unit_commands_exist_and_are_sandboxed(unit: Path) -> None:
    (command,) = _unit_lines(unit, "ExecStart")
    binary, *argv = shlex.split(command.replace("%H", "host").replace("%i", "1"))
    assert binary == "/opt/taxsms/bin/taxsms"
    _parses(argv)
    assert "password" not in command.lower() and "secret" not in command.lower()
    text = unit.read_text()
    for option in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "RestartPreventExitStatus=2 3",
    ):
        assert option in text, option  # fmt: skip
    assert _unit_lines(unit, "User") == ["taxsms"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_finds_nothing_to_say(tmp_path: Path) -> None:
    names = []
    for unit in UNITS:
        name = unit.name.replace("@.", "@1.")  # a template is verified as an instance
        (tmp_path / name).write_text(unit.read_text().replace("/opt/taxsms/bin/taxsms", str(TAXSMS)))
        names.append(str(tmp_path / name))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], capture_output=True, text=True)
    ours = [line for line in (done.stdout + done.stderr).splitlines() if "taxsms" in line]
    assert done.returncode == 0 and ours == [], done.stderr


def test_image_and_compose_run_real_commands_with_secrets_out_of_the_command_line() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["taxsms"]' in dockerfile and "USER taxsms" in dockerfile
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, flags=re.M):
        for name in source.split():
            assert (ROOT / name).exists(), name
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"redis", "worker", "replies", "serve"} <= set(services)
    assert services["redis"]["command"][:3] == ["redis-server", "--appendonly", "yes"]
    for name in ("worker", "replies", "serve", "simulator"):
        _parses(services[name]["command"])
        assert services[name]["environment"]["TAXSMS_SMPP_PASSWORD_FILE"] == "/run/secrets/smpp-password"
        assert not any("password" in arg for arg in services[name]["command"])
    assert compose["secrets"]["smpp-password"]["file"] == "./smpp-password"


def _exposed_names() -> set[str]:
    """Every metric and sample name the worker and the API expose."""
    worker = WorkerMetrics(Worker(WorkerConfig(redis_url="redis://127.0.0.1:1/0")))
    snapshot = Snapshot(0.0, {"submitted": 1, "delivered": 1, "dead_lettered": 1}, {"segments": 1},
                        [LaneDepth(0, 1, 0, 0, 1)], {"notice": True}, 1)  # fmt: skip
    api = ApiMetrics()
    api.latency.labels("GET", "/v1/usage", "200").observe(0.01)
    names = set()
    for text in (worker.render(), api.render(snapshot)):
        for family in text_string_to_metric_families(text.decode()):
            names |= {family.name, *(sample.name for sample in family.samples)}
    return names


def _metrics_in(promql: str) -> set[str]:
    return set(re.findall(r"\btaxsms_[a-z_]+\b", promql))


def test_alert_rules_and_dashboard_use_only_metrics_taxsms_exposes() -> None:
    exposed = _exposed_names()
    rules = yaml.safe_load((DEPLOY / "prometheus" / "taxsms-rules.yml").read_text())
    alerts = {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}
    assert {"TaxsmsNoSmppBind", "TaxsmsQueueGrowingWhileWindowsOpen", "TaxsmsReceiptsStalling",
            "TaxsmsRateLimitSaturated", "TaxsmsDeadLettersRising"} <= set(alerts)  # fmt: skip
    dashboard = json.loads((DEPLOY / "grafana" / "taxsms-dashboard.json").read_text())
    panels = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for expr in [*alerts.values(), *panels]:
        used = _metrics_in(expr)
        assert used and used <= exposed, (expr, used - exposed)


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus)")
def test_promtool_checks_the_rules_and_each_alert_fires_on_its_test_series() -> None:
    def promtool(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(PROMTOOL), *argv], cwd=DEPLOY / "prometheus", capture_output=True, text=True)

    check = promtool("check", "rules", "taxsms-rules.yml")
    assert check.returncode == 0 and "SUCCESS: 8 rules found" in check.stdout, check.stdout + check.stderr
    test = promtool("test", "rules", "taxsms-rules.test.yml")
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr
