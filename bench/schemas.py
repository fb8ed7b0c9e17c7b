"""Schema repository benchmark: ``python bench/schemas.py`` (see ``--help``).

Times, side by side with the reference tool (``@wikimedia/jsonschema-tools`` 1.3.0 from npm, installed by
this script into ``~/.cache/eventplatform/bench/jst``):

* **materialize**: materializing all ``current.yaml`` of the primary fixture in one command
  (``jsonschema-tools materialize <53 paths>`` vs ``eventplatform schema materialize <53 paths>``);
* **test**: the full repository test run (``npm test``, i.e. mocha + ``tests.all``, vs
  ``eventplatform schema test``).

Every run gets a fresh copy of the fixture (symlinks restored; copying is not timed). The two commands of
a benchmark alternate (A B, B A, ...) so that both see the same machine load; one warm-up round, then
``--runs`` rounds. The script prints the median and best wall time of each, the median CPU time (user+sys
of the command's processes), and the ratio reference/ours of the medians.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT.parent / "shared" / "fixtures" / "schemas-primary"
JST_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "eventplatform" / "bench" / "jst"
PACKAGES = ["@wikimedia/jsonschema-tools@1.3.0", "mocha@6.2.3"]
EVENTPLATFORM = str(Path(sys.executable).with_name("eventplatform"))
_LINK_NAME = re.compile(r"latest(\.\w+)?|\d+\.\d+\.\d+")


def install_reference(jst: Path) -> Path:
    """``npm install --prefix`` the reference (once); returns its node_modules."""
    marker = jst / "node_modules" / "@wikimedia" / "jsonschema-tools" / "package.json"
    if not marker.exists() or '"version": "1.3.0"' not in marker.read_text():
        jst.mkdir(parents=True, exist_ok=True)
        print(f"installing {' '.join(PACKAGES)} into {jst} ...", file=sys.stderr)
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(jst),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                *PACKAGES,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return jst / "node_modules"


def fresh_copy(parent: Path, node_modules: Path) -> Path:
    """A writable copy of the fixture with its symlinks (stored as text files) restored."""
    repo = Path(tempfile.mkdtemp(prefix="repo-", dir=parent))
    shutil.copytree(FIXTURE, repo, symlinks=True, dirs_exist_ok=True)
    for dirpath, _, filenames in os.walk(repo):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_symlink():
                continue
            os.chmod(path, 0o644)
            if _LINK_NAME.fullmatch(name) and path.stat().st_size < 256:
                target = path.read_text().strip()
                if target and "/" not in target and (path.parent / target).is_file():
                    path.unlink()
                    path.symlink_to(target)
    (repo / "node_modules").symlink_to(node_modules)
    return repo


def current_paths(repo: Path) -> list[str]:
    return sorted(str(p.relative_to(repo)) for p in (repo / "jsonschema").rglob("current.yaml"))


def timed(argv: list[str], cwd: Path, expect_ok: bool = True) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if expect_ok and proc.returncode != 0:
        output = proc.stdout.decode(errors="replace")[-3000:]
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(argv[:4])} ...\n{output}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def bench(
    name: str,
    commands: dict[str, Callable[[Path], list[str]]],
    runs: int,
    scratch: Path,
    node_modules: Path,
) -> dict[str, tuple[float, float, float]]:
    """Runs the commands interleaved (A B, B A, ...) so both see the same machine load; each run on a fresh
    copy. Returns label -> (median wall, min wall, median CPU)."""
    walls: dict[str, list[float]] = {label: [] for label in commands}
    cpus: dict[str, list[float]] = {label: [] for label in commands}
    labels = list(commands)
    for i in range(runs + 1):
        for label in labels if i % 2 == 0 else reversed(labels):
            repo = fresh_copy(scratch, node_modules)
            wall, cpu = timed(commands[label](repo), repo)
            shutil.rmtree(repo)
            if i:  # the first round warms caches up
                walls[label].append(wall)
                cpus[label].append(cpu)
    out = {}
    print(f"{name}:")
    for label in labels:
        median, best, cpu = statistics.median(walls[label]), min(walls[label]), statistics.median(cpus[label])
        print(
            f"  {label:<36} median {median:.3f} s  "
            f"(min {best:.3f} max {max(walls[label]):.3f}; CPU {cpu:.3f} s)"
        )
        out[label] = (median, best, cpu)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (after 1 warm-up)")
    parser.add_argument("--jst-dir", type=Path, default=JST_DIR, help="where the reference is installed")
    parser.add_argument(
        "--only",
        choices=["materialize", "test"],
        action="append",
        help="run only this benchmark (repeatable)",
    )
    args = parser.parse_args()
    if not FIXTURE.is_dir():
        raise SystemExit(f"fixture not found: {FIXTURE}")
    node_modules = install_reference(args.jst_dir)
    jst_bin = str(node_modules / ".bin" / "jsonschema-tools")
    npm = shutil.which("npm") or "npm"
    print(f"fixture {FIXTURE}; {args.runs} runs after 1 warm-up, fresh copy per run; {os.cpu_count()} CPUs")
    print(
        f"node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}, "
        f"python {sys.version.split()[0]}"
    )

    scenarios = {
        "materialize": (
            lambda repo: [jst_bin, "materialize", *current_paths(repo)],
            lambda repo: [EVENTPLATFORM, "schema", "materialize", *current_paths(repo)],
        ),
        "test": (
            lambda repo: [npm, "test", "--silent"],
            lambda repo: [EVENTPLATFORM, "schema", "test"],
        ),
    }
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-schemas-") as tmp:
        scratch = Path(tmp)
        for name, (reference, ours) in scenarios.items():
            if args.only and name not in args.only:
                continue
            ref_label = "reference (npm test)" if name == "test" else "reference (jsonschema-tools)"
            timings = bench(
                name, {ref_label: reference, "eventplatform": ours}, args.runs, scratch, node_modules
            )
            results[name] = (timings[ref_label], timings["eventplatform"])
    print()
    header = (
        f"{'benchmark':<12} {'reference':>10} {'ours':>8} {'speed-up':>9}  {'best ref':>9} {'best ours':>9}"
    )
    print(header + f"  {'CPU ref':>8} {'CPU ours':>9}")
    for name, ((ref_wall, ref_best, ref_cpu), (our_wall, our_best, our_cpu)) in results.items():
        print(
            f"{name:<12} {ref_wall:>9.3f}s {our_wall:>7.3f}s {ref_wall / our_wall:>8.2f}x"
            f"  {ref_best:>8.3f}s {our_best:>8.3f}s  {ref_cpu:>7.3f}s {our_cpu:>8.3f}s"
        )
    print("(wall medians; speed-up = reference median / ours; best = fastest run; CPU = user+sys median)")


if __name__ == "__main__":
    main()
