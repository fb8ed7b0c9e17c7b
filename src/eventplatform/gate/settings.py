"""The configuration of ``eventplatform serve``.

Sources, highest precedence first: command-line flags, ``EVENTPLATFORM_<FIELD>`` environment variables,
the config file (``--config FILE``, else ``$EVENTPLATFORM_CONFIG``, else ``./eventplatform.yaml`` if it
exists; its top-level keys, overridden by an optional ``intake:`` section), then the defaults below, which
make a complete platform with the bundled example schema repository and stream config.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eventplatform.examples import LINK_HOVER_SCHEMA_URI, SCHEMA_BASE_DIR, STREAM_CONFIG_PATH, TEST_STREAM

ENV_PREFIX = "EVENTPLATFORM_"
DEFAULT_CONFIG_FILE = "eventplatform.yaml"


def _default_test_events() -> list[dict[str, Any]]:
    return [
        {
            "$schema": LINK_HOVER_SCHEMA_URI,
            "meta": {"stream": TEST_STREAM},
            "link_href": "https://example.org/wiki/Test",
            "link_title": "test event of GET /v1/_test/events",
        }
    ]


class SettingsError(ValueError):
    """A configuration value is wrong; the message names the key and its source."""


@dataclass(slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8192
    schema_base_uris: list[str] = field(default_factory=lambda: [str(SCHEMA_BASE_DIR)])
    schema_file_extension: str | None = None
    allow_absolute_schema_uris: bool = False
    stream_config: str = str(STREAM_CONFIG_PATH)
    stream_config_refresh: float | None = None  # seconds between refetches of the stream config
    log: str = "sqlite:///./.eventplatform/log"
    datacenter: str | None = None
    service_name: str = "eventplatform"
    error_stream: str | None = None  # default "<service_name>.error.validation"; "" disables error events
    output: str | None = None
    workers: int = 0  # 0: one per core
    max_body_size: int = 4 * 1024 * 1024
    max_events_per_request: int = 10_000
    test_events: list[Any] = field(default_factory=_default_test_events)
    schema_uri_query_param: str | None = None
    stream_query_param: str | None = None
    cors: bool = True
    csp: bool = True

    @property
    def resolved_workers(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)

    @property
    def resolved_error_stream(self) -> str | None:
        if self.error_stream == "":
            return None
        return self.error_stream or f"{self.service_name}.error.validation"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, value: Any, source: str) -> Any:
    """Convert a file/env/CLI value to the field's type, or raise a SettingsError naming the source."""
    default = getattr(Settings(), name)
    try:
        if name == "schema_base_uris":
            if isinstance(value, str):
                return [v for v in value.replace(",", " ").split() if v]
            if isinstance(value, list | tuple):
                return [str(v) for v in value]
            raise TypeError("expected a list of URIs")
        if name == "test_events":
            if isinstance(value, str):
                value = yaml.safe_load(value)
            if not isinstance(value, list):
                raise TypeError("expected a list of events")
            return value
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected a boolean")
        if name in ("port", "workers", "max_body_size", "max_events_per_request"):
            out = _parse_size(value) if name == "max_body_size" else int(value)
            if out < 0 or (name == "port" and out > 65535):
                raise ValueError("out of range")
            return out
        if name == "stream_config_refresh":
            return None if value in (None, "") else float(value)
        return None if value is None else str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{source}: invalid value for {name!r}: {value!r} ({exc})") from None


def _parse_size(value: Any) -> int:
    """``4194304``, ``4mb``, ``100kb``, ``1MiB``."""
    if isinstance(value, int):
        return value
    text = str(value).strip().lower().replace("ib", "b")
    for suffix, mult in (
        ("kb", 1024),
        ("mb", 1024**2),
        ("gb", 1024**3),
        ("k", 1024),
        ("m", 1024**2),
        ("b", 1),
    ):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * mult)
    return int(text)


def _from_mapping(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in _FIELDS:
            continue  # other parts of the platform have their own keys in the same file
        out[name] = _coerce(name, value, source)
    return out


def load_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except OSError as exc:
        raise SettingsError(f"cannot read config file {p}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {p} is not valid YAML: {exc}") from None
    if not isinstance(doc, Mapping):
        raise SettingsError(f"config file {p} must be a mapping")
    out = _from_mapping({k: v for k, v in doc.items() if k != "intake"}, str(p))
    section = doc.get("intake")
    if isinstance(section, Mapping):
        out.update(_from_mapping(section, f"{p} (intake)"))
    return out


def load_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _FIELDS:
        key = ENV_PREFIX + name.upper()
        if key in environ:
            out[name] = _coerce(name, environ[key], f"environment variable {key}")
    return out


def load_settings(
    config_file: str | None = None,
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge defaults < file < environment < command line (None values on the command line are unset)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        values.update(load_file(path))
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        values.update(load_file(DEFAULT_CONFIG_FILE))
    values.update(load_env(env))
    for name, value in (cli or {}).items():
        if value is None or value == () or name not in _FIELDS:
            continue
        values[name] = _coerce(name, list(value) if isinstance(value, tuple) else value, f"--{name}")
    settings = Settings(**values)
    settings.log = normalize_log_url(settings.log)
    return settings


def normalize_log_url(url: str) -> str:
    """``sqlite:///./dir`` and ``sqlite:///../dir`` mean a directory relative to the working directory (as
    the documented default ``sqlite:///./.eventplatform/log`` does): make it absolute, so every worker and
    every message names the same place."""
    for prefix in ("sqlite:///./", "sqlite:///../"):
        if url.startswith(prefix):
            path, sep, query = url[len("sqlite:///") :].partition("?")
            return f"sqlite://{Path(path).resolve()}{sep}{query}"
    return url
