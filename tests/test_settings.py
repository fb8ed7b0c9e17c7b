"""Configuration precedence: command line > EVENTPLATFORM_* environment > config file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from eventplatform.cli.serve import serve
from eventplatform.examples import SCHEMA_BASE_DIR, STREAM_CONFIG_PATH
from eventplatform.settings import Settings, SettingsError, load_settings, normalize_log_url


def test_defaults_are_the_bundled_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8192)
    assert s.schemas.base_uris == [str(SCHEMA_BASE_DIR)]
    assert s.streamconfig.source == str(STREAM_CONFIG_PATH)
    assert s.log.url == f"sqlite://{tmp_path.resolve()}/.eventplatform/log"
    assert s.intake.resolved_error_stream == "eventplatform.error.validation"
    assert s.server.max_body_size == 4 * 1024 * 1024
    assert s.log.datacenter is None and s.intake.output is None
    assert s.server.resolved_workers >= 1


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "eventplatform.yaml"
    cfg.write_text(
        "port: 9000\nhost: 0.0.0.0\ndatacenter: codfw\nmax_body_size: 1mb\n"
        "sse: {port: 1}\n"  # other parts' keys are ignored here
        "intake:\n  service_name: from-file\n"
    )
    env = {"EVENTPLATFORM_PORT": "9100", "EVENTPLATFORM_SCHEMA_BASE_URIS": "/a, /b"}
    s = load_settings(None, {"port": None, "datacenter": "eqiad", "schema_base_uris": ()}, environ=env)
    assert s.server.port == 9100  # env over file
    assert s.server.host == "0.0.0.0"  # file over default
    assert s.log.datacenter == "eqiad"  # CLI over file
    assert s.intake.service_name == "from-file"  # the intake: section
    assert s.server.max_body_size == 1024 * 1024
    assert s.schemas.base_uris == ["/a", "/b"]
    s = load_settings(None, {"port": 9200, "schema_base_uris": ("/c",)}, environ=env)
    assert s.server.port == 9200 and s.schemas.base_uris == ["/c"]
    other = tmp_path / "other.yaml"
    other.write_text("port: 9300\n")
    assert load_settings(str(other), environ={}).server.port == 9300
    assert load_settings(None, environ={"EVENTPLATFORM_CONFIG": str(other)}).server.port == 9300


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"EVENTPLATFORM_PORT": "http"}, "EVENTPLATFORM_PORT"),
        ({"EVENTPLATFORM_PORT": "70000"}, "out of range"),
        ({"EVENTPLATFORM_CORS": "maybe"}, "expected a boolean"),
        ({"EVENTPLATFORM_MAX_BODY_SIZE": "lots"}, "max_body_size"),
    ],
)
def test_bad_values_name_their_source(
    env: dict[str, str], fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=fragment):
        load_settings(environ=env)


def test_log_url_normalization(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        normalize_log_url("sqlite:///./x?synchronous=normal")
        == f"sqlite://{tmp_path.resolve()}/x?synchronous=normal"
    )
    assert normalize_log_url("sqlite:///abs/x") == "sqlite:///abs/x"
    assert normalize_log_url("kafka://h:9092") == "kafka://h:9092"


def test_cli_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: [1\n")
    r = CliRunner().invoke(serve, ["--config", str(bad)])
    assert r.exit_code == 2 and "not valid YAML" in r.output
    r = CliRunner().invoke(serve, ["--max-body-size", "huge"])
    assert r.exit_code == 2 and "max_body_size" in r.output
    assert "--schema-base-uri" in CliRunner().invoke(serve, ["--help"]).output
    assert Settings().server.test_events


def test_each_part_reads_its_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "eventplatform.yaml"
    cfg.write_text(
        "stream_config: /sc.yaml\nstream_config_refresh: 30\nschema_file_extension: .yaml\ndatacenter: 1\n"
        "lake: {directory: /data/lake, hourly: true}\n"
    )
    s = load_settings(environ={"EVENTPLATFORM_LEGACY__DATABASE": "mysql://x", "EVENTPLATFORM_CSP": "off"})
    assert (s.streamconfig.source, s.streamconfig.refresh) == ("/sc.yaml", 30.0)
    assert s.schemas.file_extension == ".yaml"
    assert s.log.datacenter == "1"  # YAML numbers are text where the key is text, as before
    assert s.server.csp is False and s.server.cors is True
    assert s.lake.model_dump() == {"directory": "/data/lake", "hourly": True}  # room for the parts to come
    assert s.legacy.database == "mysql://x"  # a section with fields of its own (eventplatform.legacy)
    assert s.flat()["stream_config"] == "/sc.yaml" and s.flat()["log"] == s.log.url


def test_settings_do_not_import_the_command_line() -> None:
    import subprocess
    import sys

    code = "import sys, eventplatform.settings; print([m for m in sys.modules if 'eventplatform' in m])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "cli" not in out and "gate" not in out and "log" not in out, out
