"""What every command shares, the main ones (``cli``) and the parts' own (``lake``, ``retention``,
``legacy``): the settings, the stream config and the log, opened as ``serve`` opens them, with their failures
as click errors (a bad option is a usage error, a stream config that cannot be read a plain one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from eventplatform.log import EventLog
    from eventplatform.settings import Settings
    from eventplatform.streamconfig.config import StreamConfig


def load_settings(config_file: str | None, options: Mapping[str, Any]) -> Settings:
    """Settings as ``serve`` resolves them: options over $EVENTPLATFORM_* over the file."""
    from eventplatform.settings import SettingsError
    from eventplatform.settings import load_settings as load

    try:
        return load(config_file, options)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def load_streams(settings: Settings) -> StreamConfig:
    from eventplatform.streamconfig.config import StreamConfigError, load_stream_config

    try:
        return load_stream_config(settings.streamconfig.source)
    except (StreamConfigError, OSError) as exc:
        raise click.ClickException(f"cannot load the stream config: {exc}") from None


def load_settings_and_streams(
    config_file: str | None, options: Mapping[str, Any]
) -> tuple[Settings, StreamConfig]:
    settings = load_settings(config_file, options)
    return settings, load_streams(settings)


def open_event_log(url: str) -> EventLog:
    from eventplatform.log import open_log

    try:
        return open_log(url)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
