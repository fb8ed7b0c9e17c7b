"""Names vulture reports as unused that are used: read by vulture only (`make lint`), never imported.

Each entry says who uses the name. Code that is really dead is deleted instead of listed here.
"""

# ruff: noqa
from eventplatform import errors, examples
from eventplatform.gate import app, server
from eventplatform.log import base, sqlite
from eventplatform.schemas import cli, cli_checks
from eventplatform.streams import cli as streams_cli
from eventplatform.streams import config as streams_config

# click commands: registered on their group by the decorator, called by click
cli.materialize_cmd
cli.materialize_all_cmd
cli.materialize_modified_cmd
cli.dereference_cmd
cli.install_git_hook_cmd
cli_checks.test_cmd
cli_checks.check_cmd
cli_checks.diff_cmd
streams_cli.list_streams
streams_cli.show_streams

# signal handler signature (signum, frame) imposed by signal.signal
server.signum

# --- outside schemas/: listed for the owners of those parts to keep (used) or delete (dead) ----------
# errors: EventFailure.retryable has no caller; Codes.MESSAGE_KEY_FIELD_MISSING is never raised
errors.EventFailure.retryable
errors.Codes.MESSAGE_KEY_FIELD_MISSING
# examples: LINK_HOVER_STREAM has no caller
examples.LINK_HOVER_STREAM
# gate.app.create_app: the documented ASGI factory (uvicorn --factory), no caller in the tree
app.create_app
# log: Start.at_offsets, SQLiteLog.counters and delete_before are used by tests/log only (log protocol v2)
base.Start.at_offsets
sqlite.SQLiteLog.counters
sqlite.SQLiteLog.delete_before
# streams.config: StreamConfig.to_document and StreamConfigSource.static have no caller; the
# `requested` parameter of _entry_matches is never read
streams_config.StreamConfig.to_document
streams_config.StreamConfigSource.static
streams_config.requested
