"""Discovery of schema files and their info records (findSchemaPaths, schemaPathToInfo, sort order)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eventplatform.schemas.config import Options, load_options
from eventplatform.schemas.discovery import (
    SchemaInfo,
    find_schema_paths,
    is_ignored,
    schema_path_to_info,
    sort_infos,
)
from eventplatform.schemas.tool_errors import SchemaToolError
from eventplatform.schemas.version import coerce_version, schema_version


def _write(root: Path, rel: str, title: str, sid: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"title: {title}\n$id: {sid}\n")


def find_all_schemas_info(options: Options) -> list[SchemaInfo]:
    """What ``schema test`` does with the files it finds (in parallel there): info, ignoreSchemas, order."""
    infos = [schema_path_to_info(path, options) for path in find_schema_paths(options)]
    return sort_infos(info for info in infos if not is_ignored(info.schema, options))


def test_find_and_sort(tmp_path: Path) -> None:
    base = tmp_path / "s"
    _write(base, "b/current.yaml", "b", "/b/2.0.0")
    _write(base, "b/2.0.0.yaml", "b", "/b/2.0.0")
    _write(base, "b/1.10.0.yaml", "b", "/b/1.10.0")
    _write(base, "b/1.9.0.yaml", "b", "/b/1.9.0")
    _write(base, "x/common/current.yaml", "x/common", "/x/common/1.0.0")
    _write(base, "b/notes.yaml", "n", "/n/1.0.0")
    _write(base, "b/1.0.0.json", "b", "/b/1.0.0")
    os.symlink("2.0.0.yaml", base / "b" / "2.0.0")
    os.symlink("2.0.0.yaml", base / "b" / "latest.yaml")
    options = load_options({"schemaBasePath": "s", "contentTypes": ["yaml"]}, tmp_path)
    paths = [os.path.relpath(p, base) for p in find_schema_paths(options)]
    assert sorted(paths) == [
        "b/1.10.0.yaml",
        "b/1.9.0.yaml",
        "b/2.0.0.yaml",
        "b/current.yaml",
        "x/common/current.yaml",
    ]
    infos = find_all_schemas_info(options)
    assert [(i.title, i.version, i.current) for i in infos] == [
        ("x/common", "1.0.0", True),  # "common" titles first
        ("b", "1.9.0", False),
        ("b", "1.10.0", False),
        ("b", "2.0.0", False),
        ("b", "2.0.0", True),  # current after the materialized file of the same version
    ]
    ignored = load_options(
        {"schemaBasePath": "s", "contentTypes": ["yaml"], "ignoreSchemas": ["common"]}, tmp_path
    )
    assert [i.title for i in find_all_schemas_info(ignored)] == ["b"] * 4


@pytest.mark.parametrize(
    ("sid", "version"),
    [
        ("/a/1.2.3", "1.2.3"),
        ("/a/2", "2.0.0"),
        ("/a/v1.2#", "1.2.0"),
        ("/a/1.0.0/", "1.0.0"),
        ("/a/01.002.3", "1.2.3"),
    ],
)
def test_version_from_id(sid: str, version: str) -> None:
    assert schema_version({"$id": sid}) == version


def test_versionless() -> None:
    assert coerce_version("latest") is None
    with pytest.raises(SchemaToolError):
        schema_version({"$id": "/a/latest"}, source="f.yaml")
