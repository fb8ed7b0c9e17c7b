"""Root command. Subcommands are imported lazily so `eventplatform schema …` starts fast."""

from __future__ import annotations

import importlib

import click

from eventplatform import __version__

# name -> "module:attribute" of a click command or group; each part owns its own commands.
SUBCOMMANDS: dict[str, str] = {
    "schema": "eventplatform.schemas.cli:schema",
    "streams": "eventplatform.cli.streams:streams",
    "serve": "eventplatform.cli.serve:serve",
    "tail": "eventplatform.cli.tail:tail",
    "produce": "eventplatform.cli.produce:produce",
    "legacy": "eventplatform.legacy.cli:legacy",
    "eventstreams": "eventplatform.cli.eventstreams:eventstreams",
    "refine": "eventplatform.lake.cli:refine",
    "query": "eventplatform.lake.cli:query",
    "lake": "eventplatform.lake.cli:lake",
    "canary": "eventplatform.retention.cli:canary",
    "replay": "eventplatform.retention.cli:replay",
    "purge": "eventplatform.retention.cli:purge",
    "sanitize": "eventplatform.retention.cli:sanitize",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when invoked (or listed in --help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(SUBCOMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS:
            module_name, attr = SUBCOMMANDS[cmd_name].split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.startswith(module_name.rsplit(".", 1)[0]):
                    return None  # part not built yet
                raise
            return getattr(module, attr)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eventplatform")
def cli() -> None:
    """eventplatform: schemas, streams, intake, event log."""


def main() -> None:
    cli()
