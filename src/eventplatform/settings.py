"""The platform's configuration: one section per part, read from file < environment < command line.

Sources, highest precedence first: command-line flags, ``EVENTPLATFORM_<KEY>`` environment variables,
the config file (``--config FILE``, else ``$EVENTPLATFORM_CONFIG``, else ``./eventplatform.yaml`` if it
exists; its top-level keys, overridden by an optional ``intake:`` section), then the defaults below, which
make a complete platform with the bundled example schema repository and stream config.

The keys of the file, the environment and the command line are flat and stable (``port``, ``log``,
``stream_config``, …: the contract of ``serve``); :data:`KEYS` says which section and field each one
fills. A part reads only its own section (``settings.schemas.base_uris``, ``settings.log.url``). Parts that
have no flat keys yet (eventstreams, lake, retention, legacy) get their section from a mapping of the same
name in the file, or ``EVENTPLATFORM_<SECTION>__<FIELD>``. pydantic-settings merges the sources and
pydantic converts the values; this module only maps keys and names the source of a bad value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from eventplatform.examples import LINK_HOVER_SCHEMA_URI, SCHEMA_BASE_DIR, STREAM_CONFIG_PATH, TEST_STREAM

ENV_PREFIX = "EVENTPLATFORM_"
DEFAULT_CONFIG_FILE = "eventplatform.yaml"
DEFAULT_LOG = "sqlite:///./.eventplatform/log"


class SettingsError(ValueError):
    """A configuration value is wrong; the message names the key and its source."""


# -- value forms accepted from text (environment, command line) ---------------------------------------


def parse_size(value: Any) -> Any:
    """``4194304``, ``4mb``, ``100kb``, ``1MiB``."""
    if isinstance(value, int) or not isinstance(value, str):
        return value
    text = value.strip().lower().replace("ib", "b")
    for suffix, mult in (("kb", 1024), ("mb", 1024**2), ("gb", 1024**3), ("k", 1024), ("m", 1024**2)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * mult)
    return int(text.removesuffix("b"))


def _uri_list(value: Any) -> Any:
    """``/a, /b`` or ``/a /b`` (environment) as a list."""
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return [str(v) for v in value] if isinstance(value, list | tuple) else value


def _yaml_list(value: Any) -> Any:
    return yaml.safe_load(value) if isinstance(value, str) else value


def _bool_text(value: Any) -> Any:
    """Only the words of the documented forms (pydantic alone would also take t/f/y/n)."""
    if isinstance(value, str) and value.strip().lower() not in BOOL_WORDS:
        raise ValueError("expected a boolean")
    return value.strip() if isinstance(value, str) else value


def _empty_none(value: Any) -> Any:
    return None if value == "" else value


BOOL_WORDS = ("1", "true", "yes", "on", "0", "false", "no", "off")
Flag = Annotated[bool, BeforeValidator(_bool_text)]
Size = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]
Count = Annotated[int, Field(ge=0)]


def _default_test_events() -> list[Any]:
    return [
        {
            "$schema": LINK_HOVER_SCHEMA_URI,
            "meta": {"stream": TEST_STREAM},
            "link_href": "https://example.org/wiki/Test",
            "link_title": "test event of GET /v1/_test/events",
        }
    ]


# -- the sections ------------------------------------------------------------------------------------


class Section(BaseModel):
    """A part's settings. Unknown keys are refused by the sections that have fields."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True)


class OpenSection(BaseModel):
    """Room for a part that has no settings of its own yet: keeps whatever the file gives it."""

    model_config = ConfigDict(extra="allow")


class ServerSettings(Section):
    """The HTTP server of ``serve`` (eventplatform.gate)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8192
    workers: Count = 0  # 0: one per core
    max_body_size: Size = 4 * 1024 * 1024
    # slow clients and drain (gate.uvicorn_patches.limits; docs/operations.md): seconds, 0 = none
    header_timeout: Annotated[float, Field(ge=0)] = 10.0  # the request head, from connect or last answer
    body_timeout: Annotated[float, Field(ge=0)] = 30.0  # the request body, from the end of its head
    keep_alive_timeout: Annotated[float, Field(gt=0)] = 5.0  # an idle keep-alive connection
    max_connections: Count = 4096  # open connections per worker; beyond: 503 and close (0 = no limit)
    drain_delay: Annotated[float, Field(ge=0)] = 0.0  # after SIGTERM: keep serving, not ready, this long
    shutdown_timeout: Annotated[float, Field(gt=0)] = 30.0  # then in-flight requests get this long
    max_events_per_request: Count = 10_000
    test_events: Annotated[list[Any], BeforeValidator(_yaml_list)] = Field(
        default_factory=_default_test_events
    )
    cors: Flag = True
    csp: Flag = True
    access_log: Flag = False  # one stderr line per request (gate.access)

    @property
    def resolved_workers(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)


class IntakeSettings(Section):
    """The validation pipeline (eventplatform.intake)."""

    service_name: str = "eventplatform"
    error_stream: str | None = None  # default "<service_name>.error.validation"; "" disables error events
    output: str | None = None  # also append accepted events to this file
    schema_uri_query_param: str | None = None  # fill $schema from ?<param> when the event lacks it
    stream_query_param: str | None = None  # fill meta.stream from ?<param> when the event lacks it

    @property
    def resolved_error_stream(self) -> str | None:
        if self.error_stream == "":
            return None
        return self.error_stream or f"{self.service_name}.error.validation"


class LogSettings(Section):
    """The event log (eventplatform.log)."""

    url: str = DEFAULT_LOG
    datacenter: str | None = None  # topics are <datacenter>.<stream>


class StreamConfigSettings(Section):
    """Where the stream configuration comes from (eventplatform.streamconfig)."""

    source: str = str(STREAM_CONFIG_PATH)  # a file or an http(s) URL
    refresh: Annotated[float | None, BeforeValidator(_empty_none)] = None  # seconds between refetches


class SchemaSettings(Section):
    """The schema repositories (eventplatform.schemas)."""

    base_uris: Annotated[list[str], BeforeValidator(_uri_list)] = Field(
        default_factory=lambda: [str(SCHEMA_BASE_DIR)]
    )
    file_extension: str | None = None
    allow_absolute_uris: Flag = False


class EventStreamsSettings(Section):
    """Live streams over server-sent events and the web console (eventplatform.eventstreams): the
    ``eventstreams:`` mapping of the file, or ``EVENTPLATFORM_EVENTSTREAMS__<FIELD>``."""

    enabled: Flag = True  # mounted by `serve` on its own port
    port: Annotated[int, Field(ge=0, le=65535)] = 8092  # of `eventplatform eventstreams` alone
    heartbeat: Annotated[float, Field(gt=0)] = 15.0  # seconds of silence before a comment line is sent
    retry_ms: Count = 2000  # the `retry:` hint sent to EventSource clients
    client_ip_connection_limit: Count = 100  # concurrent streams per client IP (0: no limit)
    connection_limit: Count = 2000  # concurrent streams of this process (0: no limit)
    buffer_events: Annotated[int, Field(ge=10)] = 20_000  # per client: a client this far behind is cut off
    buffer_bytes: Size = 16 * 1024 * 1024  # per client, the same in bytes
    allowed_streams: Annotated[list[str] | None, BeforeValidator(_uri_list)] = None  # None: all configured
    log_id: str | None = None  # names the log in ids (default: from the log URL); same id = same offsets


def _revisions(value: Any) -> Any:
    """``{Schema: {revision: version}}``, also as YAML text (environment)."""
    return yaml.safe_load(value) if isinstance(value, str) else value


class LegacySettings(Section):
    """Legacy EventLogging (eventplatform.legacy): the beacon and its capsule."""

    # largest beacon query string, bytes: the historical 1,014 that varnishncsa kept (longer ones were cut)
    max_query_size: Size = 1014
    # schema -> metawiki revision -> version of /analytics/legacy/<schema>/; a schema not listed: latest
    revisions: Annotated[dict[str, dict[int, str]], BeforeValidator(_revisions)] = Field(default_factory=dict)
    dev: Flag = False  # development mode: warn on the console for each oversized beacon
    database: str | None = None  # mysql://USER[:PASS]@HOST[:PORT]/log of `legacy mysql` and `legacy purge`


# flat key (file, environment, command line) -> (section, field)
KEYS: dict[str, tuple[str, str]] = {
    "host": ("server", "host"),
    "port": ("server", "port"),
    "workers": ("server", "workers"),
    "max_body_size": ("server", "max_body_size"),
    "header_timeout": ("server", "header_timeout"),
    "body_timeout": ("server", "body_timeout"),
    "keep_alive_timeout": ("server", "keep_alive_timeout"),
    "max_connections": ("server", "max_connections"),
    "drain_delay": ("server", "drain_delay"),
    "shutdown_timeout": ("server", "shutdown_timeout"),
    "max_events_per_request": ("server", "max_events_per_request"),
    "test_events": ("server", "test_events"),
    "cors": ("server", "cors"),
    "csp": ("server", "csp"),
    "access_log": ("server", "access_log"),
    "service_name": ("intake", "service_name"),
    "error_stream": ("intake", "error_stream"),
    "output": ("intake", "output"),
    "schema_uri_query_param": ("intake", "schema_uri_query_param"),
    "stream_query_param": ("intake", "stream_query_param"),
    "log": ("log", "url"),
    "datacenter": ("log", "datacenter"),
    "stream_config": ("streamconfig", "source"),
    "stream_config_refresh": ("streamconfig", "refresh"),
    "schema_base_uris": ("schemas", "base_uris"),
    "schema_file_extension": ("schemas", "file_extension"),
    "allow_absolute_schema_uris": ("schemas", "allow_absolute_uris"),
    "dev": ("legacy", "dev"),
}
OPEN_SECTIONS = ("eventstreams", "lake", "retention", "legacy")

# the per-source requests of load_settings (a Settings() built directly has its defaults only)
_sources: ContextVar[tuple[PydanticBaseSettingsSource, ...]] = ContextVar("settings_sources", default=())


class Settings(BaseSettings):
    """The whole platform's configuration. ``Settings()`` is the defaults; :func:`load_settings` reads."""

    model_config = SettingsConfigDict(extra="ignore", validate_assignment=True)

    server: ServerSettings = Field(default_factory=ServerSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    streamconfig: StreamConfigSettings = Field(default_factory=StreamConfigSettings)
    schemas: SchemaSettings = Field(default_factory=SchemaSettings)
    eventstreams: EventStreamsSettings = Field(default_factory=EventStreamsSettings)
    lake: OpenSection = Field(default_factory=OpenSection)
    retention: OpenSection = Field(default_factory=OpenSection)
    legacy: LegacySettings = Field(default_factory=LegacySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, *_sources.get())

    def flat(self) -> dict[str, Any]:
        """The values under their flat keys (as the file, environment and command line name them)."""
        return {key: getattr(getattr(self, sec), name) for key, (sec, name) in KEYS.items()}


# -- sources -----------------------------------------------------------------------------------------

_adapters: dict[str, TypeAdapter[Any]] = {}


def _adapter(key: str) -> TypeAdapter[Any]:
    if key not in _adapters:
        section, name = KEYS[key]
        field: FieldInfo = Settings.model_fields[section].annotation.model_fields[name]  # type: ignore[union-attr]
        kind = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
        _adapters[key] = TypeAdapter(kind, config=Section.model_config)
    return _adapters[key]


def _check(key: str, value: Any, source: str) -> Any:
    """``value`` converted for ``key``, or a SettingsError naming the key and the source."""
    try:
        return _adapter(key).validate_python(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        kind = err["type"]
        if kind == "bool_parsing":
            why = "expected a boolean"
        elif kind in ("greater_than_equal", "less_than_equal"):
            why = "out of range"
        else:
            why = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{source}: invalid value for {key!r}: {value!r} ({why})") from None


def _nest(flat: Mapping[str, Any], source: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        section, name = KEYS[key]
        out.setdefault(section, {})[name] = _check(key, value, source)
    return out


def _merge(into: dict[str, dict[str, Any]], more: Mapping[str, Mapping[str, Any]]) -> None:
    for section, values in more.items():
        into.setdefault(section, {}).update(values)


class _Source(PydanticBaseSettingsSource):
    """A source whose values are already nested by section."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, dict[str, Any]]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.values


def file_values(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The sections given by a config file: flat keys, then the ``intake:`` section's, then the sections
    of the parts without flat keys. Keys of other parts (``sse:``, …) are left to them."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except OSError as exc:
        raise SettingsError(f"cannot read config file {p}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {p} is not valid YAML: {exc}") from None
    if not isinstance(doc, Mapping):
        raise SettingsError(f"config file {p} must be a mapping")

    def flat(data: Mapping[str, Any]) -> dict[str, Any]:
        return {n: v for k, v in data.items() if (n := str(k).replace("-", "_")) in KEYS}

    out = _nest(flat({k: v for k, v in doc.items() if k != "intake"}), str(p))
    section = doc.get("intake")
    if isinstance(section, Mapping):
        _merge(out, _nest(flat(section), f"{p} (intake)"))
    for name in OPEN_SECTIONS:
        if isinstance(doc.get(name), Mapping):
            out[name] = dict(doc[name])
    return out


def env_values(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``EVENTPLATFORM_<KEY>`` for the flat keys, ``EVENTPLATFORM_<SECTION>__<FIELD>`` for open sections."""
    out: dict[str, dict[str, Any]] = {}
    for key in KEYS:
        var = ENV_PREFIX + key.upper()
        if var in environ:
            _merge(out, _nest({key: environ[var]}, f"environment variable {var}"))
    for name in OPEN_SECTIONS:
        prefix = f"{ENV_PREFIX}{name.upper()}__"
        for var, value in environ.items():
            if var.startswith(prefix):
                out.setdefault(name, {})[var[len(prefix) :].lower()] = value
    return out


def cli_values(options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Command-line options under their flat keys; None (and an empty repeatable option) is unset."""
    given = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in options.items()
        if k in KEYS and v is not None and v != ()
    }
    out: dict[str, dict[str, Any]] = {}
    for key, value in given.items():
        _merge(out, _nest({key: value}, f"--{key}"))
    return out


@contextmanager
def _reading(*sources: PydanticBaseSettingsSource) -> Iterator[None]:
    token = _sources.set(sources)
    try:
        yield
    finally:
        _sources.reset(token)


def load_settings(
    config_file: str | None = None,
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge defaults < file < environment < command line (None values on the command line are unset)."""
    env = os.environ if environ is None else environ
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if not path and Path(DEFAULT_CONFIG_FILE).is_file():
        path = DEFAULT_CONFIG_FILE
    from_file = file_values(path) if path else {}
    sources = (
        _Source(Settings, cli_values(cli or {})),
        _Source(Settings, env_values(env)),
        _Source(Settings, from_file),
    )
    with _reading(*sources):
        try:
            settings = Settings()
        except ValidationError as exc:  # an open section's value, the only ones not checked per key
            raise SettingsError(str(exc)) from None
    settings.log.url = normalize_log_url(settings.log.url)
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
