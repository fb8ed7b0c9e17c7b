"""``$ref`` dereferencing like json-schema-ref-parser 7.1.4 with jsonschema-tools' base-URI resolver.

* The root is dereferenced in place; its base is the cwd (a directory URL ending in ``/``), so internal
  refs (``#``, ``#/...``, ``./#/...``) are JSON pointers into the root *as written* (before any merging).
* Every object with a non-empty string ``$ref`` is replaced wherever it is (schemas, examples, keywords).
* External refs are tried against each ``schemaBaseUris`` entry in order (plain string concatenation when the
  ref has no scheme; a result without scheme is a path relative to the cwd). The first that reads wins.
* All refs to the same target become the same object; an extended ref (sibling keys) becomes a new object with
  the siblings first, then the target's missing keys.
* Unlike the reference, a ``$ref`` cycle, a target that does not exist, an empty target and an unreachable
  http(s) base are errors naming the file and the JSON pointer of the ``$ref``.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import unquote, urljoin

from eventplatform.schemas.tool_errors import SchemaToolError

_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_WINDOWS_DRIVE_RE = re.compile(r"^[a-zA-Z]:[\\/]")


def has_scheme(url: str) -> bool:
    return bool(_SCHEME_RE.match(url)) and not _WINDOWS_DRIVE_RE.match(url)


def is_ref(value: Any) -> bool:
    """json-schema-ref-parser's isAllowed$Ref: an object with a non-empty string ``$ref``."""
    return isinstance(value, dict) and isinstance(value.get("$ref"), str) and value["$ref"] != ""


def escape_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def join_pointer(tokens: list[str]) -> str:
    return "".join("/" + escape_token(str(t)) for t in tokens)


def parse_document(text: str, where: str) -> Any:
    """Parse a fetched document: JSON first when it looks like JSON, else YAML (like ref-parser's order)."""
    stripped = text.strip()
    if not stripped:
        raise SchemaToolError(where, "", "empty document")
    if stripped[0] in "{[":
        import orjson

        try:
            return orjson.loads(stripped)
        except orjson.JSONDecodeError:
            pass
    from eventplatform.schemas.yamlio import load_yaml

    return load_yaml(text, where)


def clone(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """Deep copy of JSON-like data that keeps shared sub-objects shared (like lodash cloneDeep)."""
    if memo is None:
        memo = {}
    if isinstance(value, dict):
        found = memo.get(id(value))
        if found is not None:
            return found
        out: dict[str, Any] = {}
        memo[id(value)] = out
        for k, v in value.items():
            out[k] = clone(v, memo) if isinstance(v, (dict, list)) else v
        return out
    if isinstance(value, list):
        found = memo.get(id(value))
        if found is not None:
            return found
        lst: list[Any] = []
        memo[id(value)] = lst
        for v in value:
            lst.append(clone(v, memo) if isinstance(v, (dict, list)) else v)
        return lst
    return value


class Fetcher:
    """Reads external documents: local files (with an in-memory overlay for outputs of the same run) and
    http(s) URLs. Parsed documents are cached for the whole run; every dereference call gets its own copy.
    """

    def __init__(self, base_uris: list[str], cwd: str, overlay: dict[str, str] | None = None) -> None:
        self.base_uris = list(base_uris)
        self.cwd = cwd
        self.overlay: dict[str, str] = overlay if overlay is not None else {}
        self._parsed: dict[str, Any] = {}
        self._http: Any = None

    def invalidate(self, path: str) -> None:
        self._parsed.pop(os.path.abspath(path), None)

    def set_overlay(self, path: str, text: str) -> None:
        path = os.path.abspath(path)
        self.overlay[path] = text
        self._parsed.pop(path, None)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- reading
    def _read_local(self, path: str) -> Any:
        """Parsed content of a local file, or raises FileNotFoundError."""
        path = os.path.abspath(path)
        text = self.overlay.get(path)
        if text is not None:
            cached = self._parsed.get(path)
            if cached is not None:
                return cached[1]
            data = parse_document(text, path)
            self._parsed[path] = (None, data)
            return data
        try:
            st = os.stat(path)
        except NotADirectoryError as exc:
            raise FileNotFoundError(path) from exc
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._parsed.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (IsADirectoryError, NotADirectoryError) as exc:
            raise FileNotFoundError(path) from exc
        except UnicodeDecodeError as exc:
            raise SchemaToolError(path, "", f"not UTF-8 text: {exc}") from exc
        data = parse_document(text, path)
        self._parsed[path] = (stamp, data)
        return data

    def _read_http(self, url: str) -> Any:
        cached = self._parsed.get(url)
        if cached is not None:
            return cached[1]
        import httpx

        if self._http is None:
            self._http = httpx.Client(timeout=5.0, follow_redirects=True, max_redirects=5)
        try:
            resp = self._http.get(url)
        except httpx.TooManyRedirects as exc:
            raise LookupError(f"too many redirects for {url}") from exc
        except httpx.HTTPError as exc:
            raise ConnectionError(f"{url} is unreachable ({type(exc).__name__}: {exc})") from exc
        if resp.status_code >= 400:
            raise LookupError(f"{url} answered HTTP {resp.status_code}")
        data = parse_document(resp.text, url)
        self._parsed[url] = (None, data)
        return data

    def _read_url(self, url: str) -> Any:
        if url.startswith(("http://", "https://")):
            return self._read_http(url)
        if url.startswith("file://"):
            return self._read_local(unquote(url[len("file://") :]))
        if has_scheme(url):
            raise LookupError(f"unsupported URL scheme in {url}")
        return self._read_local(os.path.join(self.cwd, unquote(url)))

    def fetch(self, url: str) -> tuple[Any, str]:
        """(parsed document, the URL it was read from). Raises LookupError/ConnectionError when nowhere."""
        if has_scheme(url):
            try:
                return self._read_url(url), url
            except FileNotFoundError as exc:
                raise LookupError(f"{url} does not exist") from exc
        tried: list[str] = []
        down: list[str] = []
        for base in self.base_uris:
            candidate = base + url
            try:
                return self._read_url(candidate), candidate
            except FileNotFoundError:
                tried.append(candidate)
            except LookupError as exc:
                tried.append(f"{candidate} ({exc})")
            except ConnectionError as exc:
                down.append(str(exc))
        if down:
            raise ConnectionError("; ".join(down))
        raise LookupError("tried " + ", ".join(tried) if tried else "no schemaBaseUris configured")

    def candidate_paths(self, url: str) -> list[str]:
        """Absolute local paths a ref URL (without hash) may resolve to, in base-URI order."""
        if has_scheme(url):
            return [os.path.abspath(unquote(url[7:]))] if url.startswith("file://") else []
        out = []
        for base in self.base_uris:
            candidate = base + url
            if candidate.startswith("file://"):
                out.append(os.path.abspath(unquote(candidate[7:])))
            elif not has_scheme(candidate):
                out.append(os.path.abspath(os.path.join(self.cwd, unquote(candidate))))
        return out


def root_url(cwd: str) -> str:
    return cwd.rstrip("/") + "/"


def split_hash(url: str) -> tuple[str, str]:
    base, _sep, frag = url.partition("#")
    return base, frag


def external_refs(schema: Any, cwd: str) -> list[str]:
    """Hash-less URLs of every external ``$ref`` in a document (for dependency ordering)."""
    root = root_url(cwd)
    found: list[str] = []
    stack = [schema]
    seen: set[int] = set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            ref = obj.get("$ref")
            if isinstance(ref, str) and ref:
                base, _ = split_hash(urljoin(root, ref))
                if base != root and base not in found:
                    found.append(base)
            stack.extend(v for v in obj.values() if isinstance(v, (dict, list)))
        elif isinstance(obj, list):
            stack.extend(v for v in obj if isinstance(v, (dict, list)))
    return found


class Dereferencer:
    """One dereference call (ref-parser's ``dereference``): documents are cached for its duration only."""

    def __init__(self, fetcher: Fetcher, source: str, cwd: str) -> None:
        self.fetcher = fetcher
        self.source = source
        self.root_url = root_url(cwd)
        self.docs: dict[str, Any] = {}

    def run(self, root: Any) -> Any:
        self.docs[self.root_url] = root
        return self._crawl(root, self.root_url, [], [])

    # -- errors
    def _error(self, tokens: list[str], message: str) -> SchemaToolError:
        return SchemaToolError(self.source, join_pointer(tokens), message)

    # -- pointer resolution
    def _document(self, base: str, ref: str, tokens: list[str]) -> Any:
        doc = self.docs.get(base)
        if doc is not None or base in self.docs:
            return doc
        try:
            data, _where = self.fetcher.fetch(base)
        except ConnectionError as exc:
            raise self._error(tokens, f"$ref {ref!r}: base URI is down: {exc}") from exc
        except LookupError as exc:
            raise self._error(tokens, f"$ref {ref!r} resolves nowhere: {exc}") from exc
        except SchemaToolError as exc:
            raise self._error(tokens, f"$ref {ref!r}: target {exc.file}: {exc.message}") from exc
        if not isinstance(data, (dict, list)):
            raise self._error(tokens, f"$ref {ref!r}: target {base} is not a schema document")
        data = clone(data, {})
        self.docs[base] = data
        return data

    def _resolve(self, url: str, ref: str, tokens: list[str], resolving: set[str]) -> tuple[Any, str]:
        """(value at url, the document URL it lives in); follows $refs met along the pointer."""
        if url in resolving:
            raise self._error(tokens, f"$ref cycle through {ref!r}")
        resolving = resolving | {url}
        base, frag = split_hash(url)
        value = self._document(base, ref, tokens)
        doc_url = base
        if frag not in ("", "/"):
            if not frag.startswith("/"):
                raise self._error(tokens, f"$ref {ref!r}: invalid JSON pointer #{frag}")
            for raw in frag[1:].split("/"):
                token = unquote(raw).replace("~1", "/").replace("~0", "~")
                if is_ref(value):
                    value, doc_url = self._resolve(
                        urljoin(doc_url, value["$ref"]), value["$ref"], tokens, resolving
                    )
                if isinstance(value, dict) and token in value:
                    value = value[token]
                elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
                    value = value[int(token)]
                else:
                    where = "this document" if base == self.root_url else base
                    raise self._error(tokens, f"$ref {ref!r} resolves nowhere: no {token!r} in {where}")
        if is_ref(value):
            target = urljoin(doc_url, value["$ref"])
            value, doc_url = self._resolve(target, value["$ref"], tokens, resolving)
        return value, doc_url

    def _dereference_ref(
        self, obj: dict[str, Any], doc_url: str, tokens: list[str], parents: list[int]
    ) -> Any:
        ref = obj["$ref"]
        target_url = urljoin(doc_url, ref)
        value, value_doc = self._resolve(target_url, ref, tokens, set())
        if isinstance(value, (dict, list)) and id(value) in parents:
            raise self._error(tokens, f"$ref cycle: {ref!r} points to an enclosing object")
        if isinstance(value, dict) and len(obj) > 1:
            merged = {k: v for k, v in obj.items() if k != "$ref"}
            for k, v in value.items():
                if k not in merged:
                    merged[k] = v
            value = merged
        return self._crawl(value, value_doc, tokens, parents)

    def _crawl(self, obj: Any, doc_url: str, tokens: list[str], parents: list[int]) -> Any:
        if not isinstance(obj, (dict, list)):
            return obj
        parents.append(id(obj))
        try:
            if is_ref(obj):
                return self._dereference_ref(obj, doc_url, tokens, parents)
            if isinstance(obj, dict):
                for key, value in obj.items():
                    if isinstance(value, (dict, list)):
                        if id(value) in parents and not is_ref(value):
                            raise self._error([*tokens, key], "circular structure")
                        obj[key] = self._crawl(value, doc_url, [*tokens, key], parents)
            else:
                for i, value in enumerate(obj):
                    if isinstance(value, (dict, list)):
                        if id(value) in parents and not is_ref(value):
                            raise self._error([*tokens, str(i)], "circular structure")
                        obj[i] = self._crawl(value, doc_url, [*tokens, str(i)], parents)
            return obj
        finally:
            parents.pop()


def dereference(schema: Any, fetcher: Fetcher, *, source: str = "<schema>", cwd: str | None = None) -> Any:
    """Dereference ``schema`` in place (and return it)."""
    return Dereferencer(fetcher, source, cwd or fetcher.cwd).run(schema)
