"""What ``serve``, ``tail`` and ``produce`` share: the settings, the stream config, the log and the
intake, with their failures as click errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from eventplatform.commandline import load_settings_and_streams, open_event_log

__all__ = ["build_intake", "load_settings_and_streams", "open_event_log"]

if TYPE_CHECKING:
    from eventplatform.intake.builder import Intake
    from eventplatform.settings import Settings
    from eventplatform.streamconfig.config import StreamConfig


async def build_intake(settings: Settings, streams: StreamConfig) -> Intake:
    """The intake of ``settings`` with the stream config already loaded; the log's partition is claimed
    with the first event (a command that produces nothing leaves the log as it was)."""
    from eventplatform.intake.builder import build

    try:
        return await build(settings, streams=streams, claim=False)
    except ValueError as exc:  # a log URL that no log understands
        raise click.UsageError(str(exc)) from None
