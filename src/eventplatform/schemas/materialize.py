"""Materializing schemas: ``current.yaml`` -> immutable, fully dereferenced ``X.Y.Z.<ct>`` plus symlinks.

``materialize_schema`` = dereference -> allOf merge -> drop foreign examples -> numeric bounds -> generated
example, exactly as jsonschema-tools 1.3.0. Whole runs (``materialize_paths``, ``materialize_all``,
``materialize_modified``) fix the reference's hazards: schemas are built in ``$ref`` dependency order with
the outputs of the same run served from memory, every schema is built before anything is written (a failing
schema leaves the repository untouched), and files and symlinks are replaced atomically (temp + rename).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from eventplatform.schemas.bounds import enforce_numeric_bounds
from eventplatform.schemas.config import Options
from eventplatform.schemas.dereference import Fetcher, clone, dereference, external_refs
from eventplatform.schemas.examples import ExampleError, generate_example
from eventplatform.schemas.forking import fork_map, free_workers
from eventplatform.schemas.merge import MergeError, merge_all_of
from eventplatform.schemas.tool_errors import SchemaToolError
from eventplatform.schemas.version import coerce_version, schema_version, semver_key

__all__ = [
    "MaterializeResult",
    "SchemaToolError",
    "dereference_schema",
    "make_fetcher",
    "materialize_all",
    "materialize_modified",
    "materialize_paths",
    "materialize_schema",
    "materialize_to_path",
    "serialize_schema",
]

_fetchers: dict[tuple[str, tuple[str, ...]], Fetcher] = {}


def make_fetcher(options: Options) -> Fetcher:
    """A fetcher shared per (cwd, base URIs); local files are re-read when they change on disk."""
    key = (options.cwd, tuple(options.schema_base_uris))
    fetcher = _fetchers.get(key)
    if fetcher is None:
        fetcher = _fetchers[key] = Fetcher(options.schema_base_uris, options.cwd)
    return fetcher


def _check_root(schema: Any, source: str) -> dict[str, Any]:
    if not isinstance(schema, dict):
        what = "empty" if schema is None else f"a {type(schema).__name__}, not a mapping"
        raise SchemaToolError(source, "", f"schema is {what}")
    return schema


def dereference_schema(
    schema: dict[str, Any], options: Options, *, source: str = "<schema>", fetcher: Fetcher | None = None
) -> dict[str, Any]:
    """Dereference and merge ``allOf`` (in place); root examples pulled in from fragments are dropped."""
    schema = _check_root(schema, source)
    had_examples = "examples" in schema
    try:
        schema = dereference(schema, fetcher or make_fetcher(options), source=source, cwd=options.cwd)
    except RecursionError as exc:
        raise SchemaToolError(source, "", "$ref: schema nests too deeply") from exc
    schema = _check_root(schema, source)
    try:
        merge_all_of(schema)
    except MergeError as exc:
        raise SchemaToolError(source, exc.pointer, f"allOf: {exc}") from exc
    except RecursionError as exc:
        raise SchemaToolError(source, "", "allOf: schema nests too deeply") from exc
    if not had_examples:
        schema.pop("examples", None)
    return schema


def materialize_schema(
    schema: dict[str, Any],
    options: Options,
    *,
    source: str = "<schema>",
    fetcher: Fetcher | None = None,
    copy: bool = True,
) -> dict[str, Any]:
    """The materialized form of ``schema`` (the input is not changed unless ``copy=False``)."""
    schema = _check_root(schema, source)
    if copy:
        schema = clone(schema, {})
    if options.should_dereference:
        schema = dereference_schema(schema, options, source=source, fetcher=fetcher)
    if options.enforced_numeric_bounds:
        schema = enforce_numeric_bounds(schema, options.enforced_numeric_bounds, copy=False)
    if options.should_generate_example:
        examples = schema.get("examples")
        if not examples:
            try:
                schema["examples"] = [generate_example(schema)]
            except ExampleError as exc:
                raise SchemaToolError(source, "", f"cannot generate an example: {exc}") from exc
            except RecursionError as exc:
                raise SchemaToolError(
                    source, "", "cannot generate an example: schema nests too deeply"
                ) from exc
    return schema


# ----------------------------------------------------------------------------------------- runs


@dataclass(slots=True)
class MaterializeResult:
    """What one schema of a run produced (paths are absolute)."""

    source: str
    version: str
    schema: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)  # path -> content
    symlinks: list[str] = field(default_factory=list)  # symlinks created or refreshed


@dataclass(slots=True)
class _Job:
    source: str
    schema: dict[str, Any]
    out_dir: str
    version: str = ""
    produced: list[str] = field(default_factory=list)
    deps: list[int] = field(default_factory=list)
    owned: bool = False  # the schema was read by this run, so it may be changed in place


def _log(options: Options, message: str) -> None:
    if options.log_level in ("info", "debug", "trace"):
        print(message, file=sys.stderr)


def _read_schema(path: str) -> Any:
    from eventplatform.schemas.discovery import read_schema_file

    return read_schema_file(path)


def _order_jobs(jobs: list[_Job], fetcher: Fetcher, options: Options) -> list[_Job]:
    """Dependency order: a schema comes after the schemas of this run whose outputs it ``$ref``s."""
    producer: dict[str, int] = {}
    for i, job in enumerate(jobs):
        for p in job.produced:
            producer.setdefault(p, i)
    if len(jobs) > 1:
        for i, job in enumerate(jobs):
            for url in external_refs(job.schema, options.cwd):
                for candidate in fetcher.candidate_paths(url):
                    j = producer.get(candidate)
                    if j is not None:
                        if j != i and j not in job.deps:
                            job.deps.append(j)
                        break
                    if os.path.exists(candidate):
                        break
    order: list[_Job] = []
    state = [0] * len(jobs)  # 0 new, 1 visiting, 2 done

    def visit(i: int, chain: list[int]) -> None:
        if state[i] == 2:
            return
        if state[i] == 1:
            cycle = " -> ".join(jobs[k].source for k in [*chain[chain.index(i) :], i])
            raise SchemaToolError(jobs[i].source, "", f"$ref cycle between schemas of this run: {cycle}")
        state[i] = 1
        for j in jobs[i].deps:
            visit(j, [*chain, i])
        state[i] = 2
        order.append(jobs[i])

    for i in range(len(jobs)):
        visit(i, [])
    return order


def _materialize_job(job: _Job, options: Options, fetcher: Fetcher) -> MaterializeResult:
    schema = materialize_schema(job.schema, options, source=job.source, fetcher=fetcher, copy=not job.owned)
    result = MaterializeResult(job.source, job.version, schema)
    for ct in options.content_types:
        path = os.path.join(job.out_dir, f"{job.version}.{ct}")
        result.files[path] = serialize_schema(schema, ct, job.source)
    return result


def serialize_schema(schema: Any, content_type: str, source: str) -> str:
    """``schema`` as ``content_type`` text; what cannot be written is an error naming ``source``."""
    from eventplatform.schemas.yamldump import serialize

    try:
        return serialize(schema, content_type)
    except (TypeError, RecursionError) as exc:
        raise SchemaToolError(source, "", f"cannot serialize as {content_type}: {exc}") from exc


def _levels(order: list[_Job], jobs: list[_Job]) -> list[list[_Job]]:
    """Jobs grouped by dependency depth (each level only needs outputs of earlier levels)."""
    depth: dict[int, int] = {}
    for job in order:
        depth[id(job)] = 1 + max((depth[id(jobs[d])] for d in job.deps), default=-1)
    levels: list[list[_Job]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for job in order:
        levels[depth[id(job)]].append(job)
    return levels


_MIN_PARALLEL = 8  # a level of fewer schemas is not worth a fork


def _materialize_jobs(jobs: list[_Job], options: Options, fetcher: Fetcher) -> list[MaterializeResult]:
    return [_materialize_job(job, options, fetcher) for job in jobs]


def _build(jobs: list[_Job], options: Options, fetcher: Fetcher) -> list[MaterializeResult]:
    for job in jobs:
        job.version = schema_version(job.schema, options.schema_version_field, job.source)
        job.produced = [os.path.join(job.out_dir, f"{job.version}.{ct}") for ct in options.content_types]
        if options.should_symlink_extensionless:
            job.produced.append(os.path.join(job.out_dir, job.version))
    order = _order_jobs(jobs, fetcher, options)
    done: dict[int, MaterializeResult] = {}
    overlay_paths: list[str] = []
    try:
        for level in _levels(order, jobs):
            if free_workers(len(level), _MIN_PARALLEL) >= 2:
                theirs, mine = level[1::2], level[0::2]
                parts = fork_map(lambda js: _materialize_jobs(js, options, fetcher), [theirs, mine])
                for part_jobs, part in zip((theirs, mine), parts, strict=True):
                    for job, result in zip(part_jobs, part, strict=True):
                        done[id(job)] = result
            else:
                for job in level:
                    done[id(job)] = _materialize_job(job, options, fetcher)
            for job in level:
                result = done[id(job)]
                for path, text in result.files.items():
                    fetcher.set_overlay(path, text)
                    overlay_paths.append(path)
                primary = os.path.join(job.out_dir, f"{job.version}.{options.content_types[0]}")
                fetcher.set_overlay(os.path.join(job.out_dir, job.version), result.files[primary])
                overlay_paths.append(os.path.join(job.out_dir, job.version))
    finally:
        for p in overlay_paths:
            fetcher.overlay.pop(os.path.abspath(p), None)
            fetcher.invalidate(p)
    return [done[id(job)] for job in order]


_ID_YAML_RE = re.compile(r"^\$id:[ \t]*(.+?)[ \t]*$", re.M)
_ID_JSON_RE = re.compile(r'^  "\$id": "([^"\\]*)"', re.M)


def _version_of_file(path: str, options: Options) -> str | None:
    """Version of the schema a (latest) symlink points to, read from its ``$id``; None if unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return None
    if options.schema_version_field == "$id":
        m = (_ID_JSON_RE if text.lstrip().startswith("{") else _ID_YAML_RE).search(text)
        if m:
            value = m.group(1)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            if "#" not in value[:1]:
                return coerce_version(value.rstrip("/").rsplit("/", 1)[-1])
    try:
        data = _read_schema(path)
        return schema_version(data, options.schema_version_field, path)
    except SchemaToolError:
        return None


def _atomic_write(path: str, text: str) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _atomic_symlink(target: str, path: str) -> None:
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{os.getpid()}.lnk")
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except IsADirectoryError:
        os.unlink(tmp)
        raise


def _points_at(link: str, target: str) -> bool:
    try:
        return os.readlink(link) == target
    except OSError:
        return False


def _update_latest(link: str, target: str, version: str, options: Options) -> bool:
    """Point ``link`` at ``target`` unless it points to a newer version; True when it points at target."""
    if _points_at(link, target):
        return True  # already right: nothing to do
    if os.path.exists(link):
        current = _version_of_file(link, options)
        if current is not None and semver_key(current) > semver_key(version):
            return False
    _atomic_symlink(target, link)
    return True


def _same_content(path: str, text: str) -> bool:
    """Whether ``path`` is a regular file holding exactly ``text`` (then rewriting it changes nothing)."""
    try:
        if os.path.islink(path):
            return False
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read() == text
    except (OSError, UnicodeDecodeError):
        return False


def _ensure_symlink(target: str, link: str) -> None:
    if not _points_at(link, target):
        _atomic_symlink(target, link)


def _write(results: list[MaterializeResult], options: Options) -> None:
    """Write every file (atomically; identical content is left alone), then create the symlinks."""
    for result in results:
        for path, text in result.files.items():
            if not _same_content(path, text):
                _atomic_write(path, text)
            _log(options, f"Materialized schema at {path}.")
    for result in results:
        out_dir = os.path.dirname(next(iter(result.files)))
        for i, ct in enumerate(options.content_types):
            target = f"{result.version}.{ct}"
            if options.should_symlink_latest:
                link = os.path.join(out_dir, f"latest.{ct}")
                if _update_latest(link, target, result.version, options):
                    result.symlinks.append(link)
            if i == 0 and options.should_symlink_extensionless:
                link = os.path.join(out_dir, result.version)
                _ensure_symlink(target, link)
                result.symlinks.append(link)
                if options.should_symlink_latest:
                    link = os.path.join(out_dir, "latest")
                    if _update_latest(link, target, result.version, options):
                        result.symlinks.append(link)
        if options.log_level in ("info", "debug", "trace"):
            for link in result.symlinks:
                _log(options, f"Symlink {link} -> {os.readlink(link)}.")


def _out_dir(source: str, options: Options, write: bool) -> str:
    if not write:  # nothing is written: outputs are only named, next to the source
        return os.path.dirname(os.path.abspath(source)) if source != "<stdin>" else options.cwd
    if options.output_dir:
        return os.path.abspath(os.path.join(options.cwd, options.output_dir))
    if source == "<stdin>":
        raise SchemaToolError(source, "", "--output-dir is required when reading a schema from stdin")
    return os.path.dirname(os.path.abspath(source))


def materialize_documents(
    documents: list[tuple[str, Any]],
    options: Options,
    *,
    fetcher: Fetcher | None = None,
    write: bool = True,
    owned: bool = False,
) -> list[MaterializeResult]:
    """Materialize already-parsed documents ``(source path or "<stdin>", schema)`` as one run.

    ``owned=True`` lets the run change the given documents in place (they were read for it).
    """
    fetcher = fetcher or make_fetcher(options)
    jobs = [
        _Job(source, _check_root(schema, source), _out_dir(source, options, write), owned=owned)
        for source, schema in documents
    ]
    results = _build(jobs, options, fetcher)
    if write and not options.dry_run:
        _write(results, options)
    elif write:
        for r in results:
            for path in r.files:
                _log(options, f"Would materialize schema at {path} (dry run).")
    return results


def materialize_paths(
    paths: list[str], options: Options, *, fetcher: Fetcher | None = None, write: bool = True
) -> list[MaterializeResult]:
    """``materialize PATH...``: every file, in dependency order, all or nothing."""
    documents = []
    for p in paths:
        abspath = os.path.abspath(os.path.join(options.cwd, p))
        documents.append((abspath, _read_schema(abspath)))
    return materialize_documents(documents, options, fetcher=fetcher, write=write, owned=True)


def materialize_to_path(
    schema_dir: str, schema: dict[str, Any], options: Options, *, source: str | None = None
) -> MaterializeResult:
    """The reference's ``materializeSchemaToPath(dir, schema)``: write ``<dir>/<version>.<ct>`` + symlinks."""
    opts = options.replace(output_dir=os.path.abspath(schema_dir))
    return materialize_documents([(source or os.path.join(schema_dir, "<schema>"), schema)], opts)[0]


def find_current_paths(options: Options) -> list[str]:
    """Every ``currentName`` file under ``schemaBasePath`` (sorted)."""
    name = options.current_file_name
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(options.schema_base_path):
        dirnames.sort()
        if name in filenames:
            found.append(os.path.join(dirpath, name))
    return found


def materialize_all(options: Options, *, fetcher: Fetcher | None = None) -> list[MaterializeResult]:
    """``materialize-all``: every current schema under ``schemaBasePath`` (``ignoreSchemas`` respected)."""
    from eventplatform.schemas.discovery import is_ignored

    if not os.path.isdir(options.schema_base_path):
        raise SchemaToolError(options.schema_base_path, "", "schema base path is not a directory")
    documents = []
    for path in find_current_paths(options):
        schema = _read_schema(path)
        if isinstance(schema, dict) and is_ignored(schema, options):
            continue
        documents.append((path, schema))
    return materialize_documents(documents, options, fetcher=fetcher, owned=True)


def modified_current_paths(options: Options) -> list[str]:
    """Current files changed in git (``git diff [--cached] --name-only --diff-filter=ACM``)."""
    from eventplatform.schemas.githook import run_git  # not needed by plain materialize runs

    cwd = options.schema_base_path
    root = run_git(["rev-parse", "--show-toplevel"], cwd)
    args = ["diff", "--name-only", "--diff-filter=ACM"]
    if options.git_staged:
        args.insert(1, "--cached")
    names = [line for line in run_git(args, cwd).splitlines() if line]
    name = options.current_file_name
    return [os.path.join(root, n) for n in names if os.path.basename(n) == name]


def materialize_modified(options: Options, *, fetcher: Fetcher | None = None) -> list[MaterializeResult]:
    """``materialize-modified``: changed current files in dependency order, then ``git add`` the outputs."""
    paths = modified_current_paths(options)
    if not paths:
        _log(options, "No modified current schemas to materialize.")
        return []
    results = materialize_paths(paths, options, fetcher=fetcher)
    if options.should_git_add and not options.dry_run:
        generated: list[str] = []
        for r in results:
            generated.extend(r.files)
            generated.extend(r.symlinks)
        if generated:
            from eventplatform.schemas.githook import run_git

            run_git(["add", "--", *generated], options.schema_base_path)
            _log(options, f"git added {len(generated)} generated files.")
    return results
