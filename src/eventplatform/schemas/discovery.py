"""Finding schema files in a repository and describing them (jsonschema-tools findSchemaPaths & co).

A file counts when its extension is one of ``contentTypes`` and its name is ``currentName`` or a semver
(``1.0.0.yaml``); the extensionless ``1.0.0`` and ``latest*`` symlinks are thereby excluded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eventplatform.schemas.config import Options
from eventplatform.schemas.tool_errors import SchemaToolError
from eventplatform.schemas.version import is_semver, schema_version, semver_key


@dataclass(slots=True)
class SchemaInfo:
    """One schema file: the reference's info record {title, path, version, current, contentType, schema}."""

    title: str
    path: str
    version: str
    current: bool
    content_type: str
    schema: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "path": self.path,
            "version": self.version,
            "current": self.current,
            "contentType": self.content_type,
            "schema": self.schema,
        }


def _is_current_name(name: str, stem: str, options: Options) -> bool:
    return name == options.current_file_name or stem == options.current_name or name == options.current_name


def is_schema_file_name(name: str, options: Options) -> bool:
    stem, ext = os.path.splitext(name)
    if not ext or ext[1:] not in options.content_types:
        return False
    return _is_current_name(name, stem, options) or is_semver(stem)


def find_schema_paths(options: Options, base_path: str | None = None) -> list[str]:
    """Every current or versioned schema file under ``schemaBasePath`` (sorted, absolute paths)."""
    root = base_path or options.schema_base_path
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if is_schema_file_name(name, options):
                found.append(os.path.join(dirpath, name))
    return found


def read_schema_file(path: str) -> Any:
    """Parse a schema file (JSON with orjson, otherwise YAML)."""
    if path.endswith(".json"):
        import orjson

        try:
            with open(path, "rb") as fh:
                return orjson.loads(fh.read())
        except OSError as exc:
            raise SchemaToolError(path, "", f"cannot read file: {exc}") from exc
        except orjson.JSONDecodeError as exc:
            raise SchemaToolError(path, "", f"unparsable JSON: {exc}") from exc
    from eventplatform.schemas.yamlio import load_yaml_file

    return load_yaml_file(path)


def schema_path_to_info(path: str, options: Options, schema: Any = None) -> SchemaInfo:
    """Info record of one file; the version comes from its ``$id`` (not its name)."""
    if schema is None:
        schema = read_schema_file(path)
    if not isinstance(schema, dict):
        raise SchemaToolError(path, "", "schema is not a mapping")
    name = os.path.basename(path)
    stem, ext = os.path.splitext(name)
    title = schema.get(options.schema_title_field)
    return SchemaInfo(
        title=title,  # type: ignore[arg-type]  # checked by the sort / tests
        path=path,
        version=schema_version(schema, options.schema_version_field, path),
        current=_is_current_name(name, stem, options),
        content_type=ext[1:],
        schema=schema,
    )


def info_sort_key(info: SchemaInfo) -> tuple[Any, ...]:
    """Titles containing "common" first, then fewer path segments, then semver, then current last."""
    if not isinstance(info.title, str):
        raise SchemaToolError(info.path, "/" + "title", "schema has no title")
    return (
        0 if "common" in info.title else 1,
        len(info.path.split(os.sep)),
        semver_key(info.version),
        1 if info.current else 0,
    )


def sort_infos(infos: Iterable[SchemaInfo]) -> list[SchemaInfo]:
    return sorted(infos, key=info_sort_key)


def is_ignored(schema: dict[str, Any], options: Options) -> bool:
    schema_id = schema.get("$id")
    if not isinstance(schema_id, str) or not options.ignore_schemas:
        return False
    return any(re.search(rx, schema_id) for rx in options.ignore_schemas)
