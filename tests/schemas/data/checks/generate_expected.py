"""Produce expected_*.json by running the reference tool (jsonschema-tools 1.3.0) on the case files.

Not part of the test suite. Run once, after `npm install @wikimedia/jsonschema-tools@1.3.0 mocha@6.2.3`
into a scratch directory outside the repository:

    JST_DIR=/work/scratch/jst-checks .venv/bin/python tests/schemas/data/checks/generate_expected.py

Each case becomes a title of a throw-away schema repository (written as JSON, which js-yaml reads as
YAML, so both tools see the same data); the reference's mocha suite is run with the JSON reporter and the
verdict of every test is recorded by case and test-case name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[3]))

from tests.schemas.data.checks.cases import (  # noqa: E402
    DESCRIPTIONS,
    compat_documents,
    load_cases,
    robustness_document,
)

CONFIG = "schemaBasePath: ./jsonschema/\ncontentTypes: [yaml]\n"


def run_reference(repo: Path, suite: str, jst: Path) -> dict[str, Any]:
    (repo / "test").mkdir(exist_ok=True)
    (repo / "test" / "run.js").write_text(
        f"require({json.dumps(str(jst / 'node_modules/@wikimedia/jsonschema-tools'))})"
        f".tests.{suite}({{logLevel: 'warn'}});\n"
    )
    return mocha_report(repo, jst, "test/run.js")


def mocha_report(repo: Path, jst: Path, spec: str) -> dict[str, Any]:
    """Run mocha on ``spec`` in ``repo``; its JSON report (log lines printed before it are skipped)."""
    proc = subprocess.run(
        [str(jst / "node_modules/.bin/mocha"), "--reporter", "json", spec],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    out = proc.stdout
    return json.loads(out[out.index("\n{\n") + 1 :] if not out.startswith("{") else out)


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, verdict in (("passes", "pass"), ("failures", "fail"), ("pending", "skip")):
        for test in report[key]:
            result[test["fullTitle"]] = verdict
    return result


def write(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    jst = Path(os.environ.get("JST_DIR", "/work/scratch/jst-checks"))
    compat_cases = load_cases("compat_cases.yaml")
    rob_cases = load_cases("robustness_cases.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        (repo / ".jsonschema-tools.yaml").write_text(CONFIG)
        base = repo / "jsonschema"
        for case in compat_cases:
            old, new = compat_documents(case)
            write(base / "compat" / case["name"] / "1.0.0.yaml", old)
            write(base / "compat" / case["name"] / "1.1.0.yaml", new)
        report = verdicts(run_reference(repo, "compatibility", jst))
        expected = {}
        for case in compat_cases:
            title = (
                f"Schema Compatibility in Repository ./jsonschema/ compat/{case['name']} Major Version 1 "
                "1.1.0 must be compatible with 1.0.0"
            )
            expected[case["name"]] = report.pop(title)
        assert not report, report
        (HERE / "expected_compat.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        (repo / ".jsonschema-tools.yaml").write_text(CONFIG)
        base = repo / "jsonschema"
        for case in rob_cases:
            document = robustness_document(case)
            write(base / "rob" / case["name"] / "1.0.0.yaml", document)
            if case.get("current"):
                write(base / "rob" / case["name"] / "current.yaml", document)
        report = verdicts(run_reference(repo, "robustness", jst))
        by_description = {d: n for n, d in DESCRIPTIONS.items()}
        expected_rob: dict[str, dict[str, str]] = {}
        prefix = "Schema Robustness in Repository ./jsonschema/ rob/"
        for full_title, verdict in report.items():
            assert full_title.startswith(prefix), full_title
            rest = full_title[len(prefix) :]
            name, _, rest = rest.partition(" ")
            file_name, _, description = rest.partition(" ")
            key = name if file_name == "1.0.0.yaml" else f"{name}@{file_name}"
            expected_rob.setdefault(key, {})[by_description[description]] = verdict
        (HERE / "expected_robustness.json").write_text(
            json.dumps(expected_rob, indent=1, sort_keys=True) + "\n"
        )


def fixture_results(jst: Path) -> None:
    """The reference's verdict for every test on the primary fixture, unchanged and made incompatible."""
    import gzip

    from tests.schemas.data.checks.fixture import copy_fixture, make_incompatible

    out = {}
    for variant in ("primary", "incompatible"):
        with tempfile.TemporaryDirectory() as tmp:
            repo = copy_fixture(Path(tmp) / "repo")
            if variant == "incompatible":
                make_incompatible(repo)
            (repo / "node_modules").symlink_to(jst / "node_modules")
            report = mocha_report(repo, jst, "test/jsonschema")
            out[variant] = {"stats": report["stats"], "tests": sorted(verdicts(report).items())}
            for key in ("start", "end", "duration"):
                out[variant]["stats"].pop(key, None)
    data = json.dumps(out, indent=0, sort_keys=True).encode()
    (HERE / "reference_fixture_results.json.gz").write_bytes(gzip.compress(data, mtime=0))


if __name__ == "__main__":
    main()
    fixture_results(Path(os.environ.get("JST_DIR", "/work/scratch/jst-checks")))
