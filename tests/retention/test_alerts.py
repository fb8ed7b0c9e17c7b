"""The alert rules (promtool check + unit tests) and the Grafana dashboard: they name metrics that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "docs" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "docs" / "prometheus" / "alerts.test.yml"
DASHBOARD = REPO / "docs" / "grafana" / "eventplatform.json"
RUNBOOK = REPO / "docs" / "operations.md"
METRIC = re.compile(r"\beventplatform_[a-z_]+")
SUFFIXES = ("_total", "_count", "_bucket", "_sum")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not installed (Debian's prometheus package: scripts/deps/privacy.sh)")
    return found


def test_promtool_check_rules() -> None:
    r = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 7 rules found" in r.stdout


def test_promtool_test_rules_fire_and_stay_silent() -> None:
    r = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name], capture_output=True, text=True, cwd=RULES.parent
    )
    assert r.returncode == 0, r.stdout + r.stderr


def defined_metrics() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "src" / "eventplatform").rglob("*.py"):
        names |= set(re.findall(r'"(eventplatform_[a-z_]+)"', path.read_text()))
    return names


def base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_alerts_and_dashboard_name_metrics_the_code_exports() -> None:
    defined = defined_metrics()
    rules = yaml.safe_load(RULES.read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {base(m) for e in exprs for m in METRIC.findall(e)}
    assert used - defined == set()
    assert "eventplatform_consumer_lag_records" in used


def test_every_alert_has_a_runbook_section() -> None:
    rules = yaml.safe_load(RULES.read_text())
    runbook = RUNBOOK.read_text().lower()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert f"### {rule['alert'].lower()}" in runbook, rule["alert"]
            assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"
