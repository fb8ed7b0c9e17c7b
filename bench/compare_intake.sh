#!/usr/bin/env bash
# Interleaved before/after runs of bench/intake.py: the server runs the code of REV (old) and of the working tree
# (new) in turn, with the same load generator, so that both see the same machine load.
#
#   bench/compare_intake.sh REV ROUNDS [bench/intake.py options...]
#   bench/compare_intake.sh 3280879 3 --duration 6 --batches 100 --invalid 0 --log kafka://127.0.0.1:9092
set -euo pipefail
rev=${1:?usage: bench/compare_intake.sh REV ROUNDS [bench/intake.py options...]}
rounds=${2:?usage: bench/compare_intake.sh REV ROUNDS [bench/intake.py options...]}
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
python="$root/.venv/bin/python"
old=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$old" >/dev/null 2>&1 || rm -rf "$old"' EXIT
git -C "$root" worktree add --detach --force "$old" "$rev" >/dev/null 2>&1
for round in $(seq 1 "$rounds"); do
  for side in old new; do
    src="$root/src"
    [ "$side" = old ] && src="$old/src"
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "== round $round, $side (load $load)"
    PYTHONPATH="$src" "$python" "$root/bench/intake.py" "$@" 2>/dev/null | tail -n +2
  done
done
