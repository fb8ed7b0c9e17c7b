"""The ``eventplatform schema`` click group, alone in its module so that command modules of several
parts (materialize commands in ``cli``, checks in ``cli_checks``) can attach to it without import cycles."""

from __future__ import annotations

import click


@click.group(name="schema", context_settings={"help_option_names": ["-h", "--help"]})
def schema() -> None:
    """Schema repository tools (run from the repository root; reads .jsonschema-tools.yaml)."""
