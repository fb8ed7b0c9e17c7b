"""Names vulture reports as unused that are used: read by vulture only (`make lint`), never imported.

Each entry says who uses the name. Code that is really dead is deleted instead of listed here.
"""

# ruff: noqa
from eventplatform import errors, examples
from eventplatform.gate import app, server
from eventplatform import settings
from eventplatform.gate import uvicorn_patches
from eventplatform.intake import builder
from eventplatform.log import base
from eventplatform.log.kafka import log as kafka_log
from eventplatform.lake import cli as lake_cli, naming as lake_naming
from eventplatform.schemas import cli, cli_checks, cli_repo
from eventplatform.cli import streams as streams_cli
from eventplatform.streamconfig import config as streams_config

# click commands: registered on their group by the decorator, called by click
cli.materialize_cmd
cli.materialize_all_cmd
cli.materialize_modified_cmd
cli.dereference_cmd
cli.install_git_hook_cmd
cli_checks.test_cmd
cli_checks.check_cmd
cli_checks.diff_cmd
cli_repo.init_cmd
cli_repo.pre_commit_cmd
streams_cli.list_streams
streams_cli.show_streams
lake_cli.refine
lake_cli.lake_tables
lake_cli.lake_describe
lake_cli.lake_status
lake_cli.lake_ddl
# the inverse of Hour.path: the reference's partition-path test vector (tests/lake) reads raw paths with it
lake_naming.Hour.from_path

# signal handler signature (signum, frame) imposed by signal.signal
server.signum

# --- used outside src/ (tests, docs, bench) or by a framework -------------------------------------------
# errors: EventFailure.retryable is part of the error model (clients and replay read it); the key-field code is
# the documented code for a missing message key field
errors.EventFailure.retryable
errors.Codes.MESSAGE_KEY_FIELD_MISSING
examples.LINK_HOVER_STREAM
# gate.app.create_app: the documented ASGI factory (uvicorn --factory)
app.create_app
# gate.uvicorn_patches.version_supported: tests/gate/test_uvicorn_patches.py pins the supported range
uvicorn_patches.version_supported
# intake.builder.open_intake: the builder's context manager for new parts (docs/architecture.md)
builder.open_intake
# log protocol helpers used by the contract suite and by callers of the protocol
base.Start.at_offsets
base.Batch.to
# KafkaLog.testing: documented test hooks (tests/log/kafka)
kafka_log.KafkaLog.testing
kafka_log.KafkaTestHooks.fatal_error
kafka_log.KafkaTestHooks.producer_statistics
kafka_log.KafkaTestHooks.reader_statistics
kafka_log.KafkaTestHooks.produce_raw
# settings: sections read by the parts that own them; pydantic-settings' hook and its fixed signature
settings.Settings.eventstreams
settings.Settings.lake
settings.Settings.retention
settings.Settings.legacy
settings.Settings.settings_customise_sources
settings.env_settings
settings.dotenv_settings
settings.file_secret_settings
# streamconfig.config: StreamConfig.to_document and StreamConfigSource.static are API for the parts
streams_config.StreamConfig.to_document
streams_config.StreamConfigSource.static
streams_config.requested
# log protocol: delete_before is the retention call (tests/log/test_contract.py; the purge command)
base.EventLog.delete_before
# pydantic-settings: a settings source's hook
settings.get_field_value
# gate.app: the routes served before Starlette's routing, read by tests/gate/test_openapi.py
app.GateApp.RAW_ROUTES
# legacy: the bundled legacy example stream's name, for tests and docs
examples.NAVIGATION_TIMING_STREAM
# click commands of `eventplatform legacy`, registered on their group by the decorator
from eventplatform.legacy import cli as legacy_cli

legacy_cli.mysql_cmd
legacy_cli.purge_cmd

# eventplatform.client: the public API of the Python client (used by applications and tests/client)
from eventplatform.client import base as client_base, sync as client_sync

client_base.ClientBase.stats
client_sync.EventClient.closed
# gate.uvicorn_patches.limits: uvicorn's RequestResponseCycle reads keep_alive (Connection: close while draining)
from eventplatform.gate.uvicorn_patches import limits as _limits  # noqa: E402

_limits.GateHttpProtocol.keep_alive  # type: ignore[attr-defined]

# pyspark's class attribute, reset with _gateway so that a later session launches a new JVM (lake/spark.stop)
from pyspark import SparkContext

SparkContext._jvm
_.exit_code  # click.ClickException subclass attribute read by click (cli/serve.py LogCorrupt)
