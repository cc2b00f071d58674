"""The alert rules as code: promtool checks them and runs their unit tests
(deploy/prometheus/alerts_test.yml: every alert firing and not firing).

promtool comes from Debian's ``prometheus`` package; ``make test`` installs it
(scripts/ensure-promtool.sh). A missing promtool fails rather than skips: a skipped check of
the alerts would look green while nobody checked them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> None:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool is not on PATH: run scripts/ensure-promtool.sh (make test does)")
    result = subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    if result.returncode != 0:
        pytest.fail(f"promtool {' '.join(args)} failed ({result.returncode}):\n"
                    f"{result.stdout}\n{result.stderr}")


def test_alert_rules_pass_promtool_check() -> None:
    promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))


def test_prometheus_config_passes_promtool_check() -> None:
    promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))


def test_alert_rule_unit_tests_pass() -> None:
    promtool("test", "rules", str(PROMETHEUS / "alerts_test.yml"))


def test_every_alert_has_a_firing_and_a_quiet_case_and_says_what_to_do() -> None:
    rules = [rule for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
             for rule in group["rules"]]
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    checks = [check for case in tests for check in case["alert_rule_test"]]
    runbook = (ROOT / "docs" / "operations.md").read_text()
    for rule in rules:
        name = rule["alert"]
        mine = [check for check in checks if check["alertname"] == name]
        assert any(check["exp_alerts"] for check in mine), f"{name}: no firing case"
        assert any(not check["exp_alerts"] for check in mine), f"{name}: no quiet case"
        assert {"summary", "description"} <= set(rule["annotations"]), name
        assert f"### {name}" in runbook, f"{name}: no runbook entry in docs/operations.md"
