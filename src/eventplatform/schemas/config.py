"""Options of the schema repository toolkit, read like jsonschema-tools' ``readConfig``.

Keys are the reference's camelCase names (``.jsonschema-tools.yaml``). Precedence: explicit overrides
(CLI or library argument) > config files (a later file beats an earlier one) > defaults. Only keys that are
absent are filled in, so an explicit ``None`` wins, except that a ``None`` ``schemaBaseUris`` falls back to
``[schemaBasePath]``. Relative paths are resolved against ``cwd`` (the repository root).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from eventplatform.schemas.tool_errors import SchemaToolError

MAX_SAFE_INTEGER = 9007199254740991

# camelCase key -> Options attribute
KEYS: dict[str, str] = {
    "shouldSymlinkExtensionless": "should_symlink_extensionless",
    "shouldSymlinkLatest": "should_symlink_latest",
    "contentTypes": "content_types",
    "currentName": "current_name",
    "schemaVersionField": "schema_version_field",
    "schemaTitleField": "schema_title_field",
    "shouldDereference": "should_dereference",
    "schemaBasePath": "schema_base_path",
    "schemaBaseUris": "schema_base_uris",
    "dryRun": "dry_run",
    "gitStaged": "git_staged",
    "shouldGitAdd": "should_git_add",
    "ignoreSchemas": "ignore_schemas",
    "skipSchemaTestCases": "skip_schema_test_cases",
    "logLevel": "log_level",
    "configPaths": "config_paths",
    "enforcedNumericBounds": "enforced_numeric_bounds",
    "shouldGenerateExample": "should_generate_example",
    "outputDir": "output_dir",
}


def default_values() -> dict[str, Any]:
    """The reference's defaults (``schemaBasePath`` is the cwd, filled in by :func:`load_options`)."""
    return {
        "shouldSymlinkExtensionless": True,
        "shouldSymlinkLatest": True,
        "contentTypes": ["yaml", "json"],
        "currentName": "current",
        "schemaVersionField": "$id",
        "schemaTitleField": "title",
        "shouldDereference": True,
        "schemaBasePath": None,
        "schemaBaseUris": None,
        "dryRun": False,
        "gitStaged": False,
        "shouldGitAdd": True,
        "ignoreSchemas": [],
        "skipSchemaTestCases": {},
        "logLevel": "warn",
        "configPaths": ["./.jsonschema-tools.yaml"],
        "enforcedNumericBounds": [-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER],
        "shouldGenerateExample": False,
        "outputDir": None,
    }


@dataclass(slots=True)
class Options:
    """Resolved options. ``schema_base_path`` is absolute; ``schema_base_uris`` keep their spelling."""

    should_symlink_extensionless: bool = True
    should_symlink_latest: bool = True
    content_types: list[str] = field(default_factory=lambda: ["yaml", "json"])
    current_name: str = "current"
    schema_version_field: str = "$id"
    schema_title_field: str = "title"
    should_dereference: bool = True
    schema_base_path: str = "."
    schema_base_uris: list[str] = field(default_factory=list)
    dry_run: bool = False
    git_staged: bool = False
    should_git_add: bool = True
    ignore_schemas: list[str] = field(default_factory=list)
    skip_schema_test_cases: dict[str, list[str]] = field(default_factory=dict)
    log_level: str = "warn"
    config_paths: list[str] = field(default_factory=lambda: ["./.jsonschema-tools.yaml"])
    enforced_numeric_bounds: list[float] | None = field(
        default_factory=lambda: [-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER]
    )
    should_generate_example: bool = False
    output_dir: str | None = None
    cwd: str = "."

    @property
    def current_file_name(self) -> str:
        """``currentName`` with ``.<contentTypes[0]>`` appended when it has no extension."""
        name = self.current_name
        if not os.path.splitext(name)[1]:
            name = f"{name}.{self.content_types[0]}"
        return name

    def get(self, key: str) -> Any:
        """Value by the reference's camelCase key (or the attribute name)."""
        return getattr(self, KEYS.get(key, key))

    def replace(self, **changes: Any) -> Options:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Options(**values)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _split_commas(values: list[Any]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(p for p in str(v).split(",") if p != "")
    return out


def _text(merged: dict[str, Any], key: str) -> str:
    """A string option; a list or mapping (a misplaced YAML value) is refused instead of str()-ed."""
    value = merged[key]
    if isinstance(value, (list, dict)):
        raise SchemaToolError("<options>", f"/{key}", f"must be a string, not {_yaml_type(value)}")
    return str(value)


def _yaml_type(value: Any) -> str:
    return "a list" if isinstance(value, list) else "a mapping"


def _bounds(value: Any) -> list[Any] | None:
    if not value:
        return None  # falsy disables
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise SchemaToolError("<options>", "/enforcedNumericBounds", "must be [min, max] (two numbers)")
    return list(value)


def _regexes(key: str, values: list[Any]) -> list[str]:
    """Regexes checked once here, so that matching them later cannot fail half-way through a run."""
    out = [str(v) for v in values]
    for index, pattern in enumerate(out):
        try:
            re.compile(pattern)
        except re.error as exc:
            message = f"invalid regex {pattern!r}: {exc}"
            raise SchemaToolError("<options>", f"/{key}/{index}", message) from exc
    return out


def _skips(value: Any) -> dict[str, Any]:
    """``skipSchemaTestCases``: schema $id regex -> a test case name or a list of them."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise SchemaToolError(
            "<options>", "/skipSchemaTestCases", "must be a mapping of $id regex to test case names"
        )
    for pattern, names in value.items():
        if isinstance(names, dict) or (
            isinstance(names, list) and any(isinstance(n, (list, dict)) for n in names)
        ):
            pointer = "/skipSchemaTestCases/" + str(pattern).replace("~", "~0").replace("/", "~1")
            raise SchemaToolError("<options>", pointer, "must be a test case name or a list of them")
    return dict(value)


def read_config_file(path: Path) -> dict[str, Any]:
    """One config file as a dict; a missing file is ignored like the reference does."""
    from eventplatform.schemas.yamlio import load_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SchemaToolError(str(path), "", f"cannot read config: {exc}") from exc
    data = load_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SchemaToolError(str(path), "", "config file must be a mapping")
    return data


def load_options(
    overrides: Mapping[str, Any] | None = None, cwd: str | os.PathLike[str] | None = None
) -> Options:
    """Merge overrides > config files > defaults and resolve paths against ``cwd``.

    ``overrides`` uses camelCase keys (snake_case attribute names are accepted too). A key that is present
    counts as explicit, even when its value is None.
    """
    cwd_path = Path(cwd if cwd is not None else os.getcwd()).resolve()
    snake_to_camel = {v: k for k, v in KEYS.items()}
    explicit: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        explicit[snake_to_camel.get(key, key)] = value

    config_paths = explicit.get("configPaths")
    if config_paths is None:
        config_paths = default_values()["configPaths"]
    config_paths = _split_commas(_as_list(config_paths))
    from_files: dict[str, Any] = {}
    for p in config_paths:
        from_files.update(read_config_file(cwd_path / p))

    merged: dict[str, Any] = dict(explicit)
    for key, value in from_files.items():
        merged.setdefault(key, value)
    for key, value in default_values().items():
        merged.setdefault(key, value)
    merged["configPaths"] = config_paths

    base_path = merged.get("schemaBasePath")
    if base_path is None:
        base_path = str(cwd_path)
    base_uris = merged.get("schemaBaseUris")
    base_uris = [str(base_path)] if base_uris is None else _split_commas(_as_list(base_uris))
    content_types = _split_commas(_as_list(merged.get("contentTypes"))) or ["yaml"]
    for ct in content_types:
        if ct not in ("yaml", "json"):
            raise SchemaToolError(
                "<options>", "/contentTypes", f"unsupported content type {ct!r} (yaml|json)"
            )
    bounds = _bounds(merged.get("enforcedNumericBounds"))
    for key in ("schemaBasePath", "outputDir"):
        if merged.get(key) is not None:
            _text(merged, key)
    return Options(
        should_symlink_extensionless=bool(merged["shouldSymlinkExtensionless"]),
        should_symlink_latest=bool(merged["shouldSymlinkLatest"]),
        content_types=content_types,
        current_name=_text(merged, "currentName"),
        schema_version_field=_text(merged, "schemaVersionField"),
        schema_title_field=_text(merged, "schemaTitleField"),
        should_dereference=bool(merged["shouldDereference"]),
        schema_base_path=str((cwd_path / str(base_path)).resolve()),
        schema_base_uris=base_uris,
        dry_run=bool(merged["dryRun"]),
        git_staged=bool(merged["gitStaged"]),
        should_git_add=bool(merged["shouldGitAdd"]),
        ignore_schemas=_regexes("ignoreSchemas", _as_list(merged["ignoreSchemas"])),
        skip_schema_test_cases=_skips(merged["skipSchemaTestCases"]),
        log_level=_text(merged, "logLevel"),
        config_paths=config_paths,
        enforced_numeric_bounds=bounds,
        should_generate_example=bool(merged["shouldGenerateExample"]),
        output_dir=merged.get("outputDir"),
        cwd=str(cwd_path),
    )
