"""What ``serve``, ``tail`` and ``produce`` share: the settings, the stream config, the log and the
intake, with their failures as click errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from eventplatform.intake.builder import Intake
    from eventplatform.log import EventLog
    from eventplatform.settings import Settings
    from eventplatform.streamconfig.config import StreamConfig


def load_settings_and_streams(
    config_file: str | None, options: Mapping[str, Any]
) -> tuple[Settings, StreamConfig]:
    """Settings as ``serve`` resolves them (options over $EVENTPLATFORM_* over the file) and their stream
    config; a bad option is a usage error, a stream config that cannot be read a plain one."""
    from eventplatform.settings import SettingsError, load_settings
    from eventplatform.streamconfig.config import StreamConfigError, load_stream_config

    try:
        settings = load_settings(config_file, options)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        streams = load_stream_config(settings.streamconfig.source)
    except (StreamConfigError, OSError) as exc:
        raise click.ClickException(f"cannot load the stream config: {exc}") from None
    return settings, streams


def open_event_log(url: str) -> EventLog:
    from eventplatform.log import open_log

    try:
        return open_log(url)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


async def build_intake(settings: Settings, streams: StreamConfig) -> Intake:
    """The intake of ``settings`` with the stream config already loaded; the log's partition is claimed
    with the first event (a command that produces nothing leaves the log as it was)."""
    from eventplatform.intake.builder import build

    try:
        return await build(settings, streams=streams, claim=False)
    except ValueError as exc:  # a log URL that no log understands
        raise click.UsageError(str(exc)) from None
