"""What ``tail`` and ``produce`` share: serve's settings and stream config, and the log, as click errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from eventplatform.gate.settings import Settings
    from eventplatform.log import EventLog
    from eventplatform.streams.config import StreamConfig


def load_settings_and_streams(
    config_file: str | None, options: Mapping[str, Any]
) -> tuple[Settings, StreamConfig]:
    """Settings as ``serve`` resolves them (options over $EVENTPLATFORM_* over the file) and their stream
    config; a bad option is a usage error, a stream config that cannot be read a plain one."""
    from eventplatform.gate.settings import SettingsError, load_settings
    from eventplatform.streams.config import StreamConfigError, load_stream_config

    try:
        settings = load_settings(config_file, options)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        streams = load_stream_config(settings.stream_config)
    except (StreamConfigError, OSError) as exc:
        raise click.ClickException(f"cannot load the stream config: {exc}") from None
    return settings, streams


def open_event_log(url: str) -> EventLog:
    from eventplatform.log import open_log

    try:
        return open_log(url)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
