"""``eventplatform schema init [DIR]``: a new schema repository that passes its own ``schema test`` at once.

It holds the minimal ``.jsonschema-tools.yaml``, the ``fragment/analytics/common`` fragment and the
``analytics/link_hover`` schema of the Event Platform instrumentation how-to (copied from the bundled example
repository), materialized, a README saying how to work in it, and, when DIR is in a git repository, the
pre-commit hook.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from eventplatform.examples import SCHEMA_BASE_DIR
from eventplatform.schemas.config import load_options
from eventplatform.schemas.githook import install_git_hook, run_git
from eventplatform.schemas.materialize import materialize_all
from eventplatform.schemas.tool_errors import SchemaToolError

CONFIG = """\
# jsonschema-tools configuration (camelCase keys, as Wikimedia's jsonschema-tools reads them)
schemaBasePath: ./jsonschema/
# materialize YAML only (the versions are X.Y.Z.yaml, the X.Y.Z and latest symlinks point at them)
contentTypes: [yaml]
# skip named test cases for the schemas whose $id matches a regex, e.g.
# skipSchemaTestCases:
#   '/analytics/legacy/.*': [schema-snake-case-properties]
"""

README = """\
# Schema repository

JSON Schemas of events, one directory per schema title under `jsonschema/`. Each title has a `current.yaml`
(the one to edit) and its materialized versions (`1.0.0.yaml`, with the `1.0.0`, `latest` and `latest.yaml`
symlinks), which are generated: never edit them, they are immutable once committed.

```sh
eventplatform schema install-git-hook          # once per clone: materialize and check on every commit
$EDITOR jsonschema/analytics/link_hover/current.yaml   # change the schema and bump the version in $id
git commit -am 'analytics/link_hover 1.1.0'    # the hook materializes 1.1.0 and refuses incompatible changes
eventplatform schema test                      # structure, robustness and compatibility of every version
eventplatform serve --schema-base-uri ./jsonschema   # intake validating against these schemas
```

A new minor version may only add optional fields; anything else needs a new major version
(`eventplatform schema check` says which bump a change needs).
"""

SCHEMAS = ("fragment/analytics/common", "analytics/link_hover")


def init_repository(directory: str | Path) -> list[str]:
    """Create the repository in ``directory`` (created if needed); returns what was done, line by line."""
    root = Path(directory).resolve()
    config = root / ".jsonschema-tools.yaml"
    if config.exists():
        raise SchemaToolError(str(config), "", "already exists: this is a schema repository already")
    base = root / "jsonschema"
    for title in SCHEMAS:
        if (base / title).exists():
            raise SchemaToolError(str(base / title), "", "already exists; not overwriting it")
    root.mkdir(parents=True, exist_ok=True)
    config.write_text(CONFIG, encoding="utf-8")
    readme = root / "README.md"
    if not readme.exists():
        readme.write_text(README, encoding="utf-8")
    for title in SCHEMAS:
        (base / title).mkdir(parents=True)
        shutil.copyfile(SCHEMA_BASE_DIR / title / "current.yaml", base / title / "current.yaml")
    done = [f"created {config}", f"created {base}/{{{','.join(SCHEMAS)}}}/current.yaml"]
    results = materialize_all(load_options(cwd=root))
    versions = ", ".join(f"{r.schema.get('title')} {r.version}" for r in results)
    done.append(f"materialized {versions}")
    try:
        run_git(["rev-parse", "--show-toplevel"], str(root))
    except SchemaToolError:
        done.append("not in a git repository: run `eventplatform schema install-git-hook` after `git init`")
    else:
        done.append(f"installed the pre-commit hook at {install_git_hook(str(root))}")
    return done
