#!/bin/bash
# Interleaved A/B/C of the SQLite log (order rotated every round, so load drifts hit every variant alike):
#   old    = another tree's src and bench (e.g. `git archive <commit> | tar -x -C /tmp/flog-old`)
#   inline = this tree (group commit on the event loop)
#   thread = this tree with the one-writer-thread experiment (bench/sqlite_writer_thread.py)
# Usage: bench/log_sqlite_ab.sh OLD_TREE [ROUNDS]   (run from a scratch directory: the logs go to ./tmp*)
set -u
OLD=$1
ROUNDS=${2:-6}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=$HERE/.venv/bin/python
run() {
  v=$1; shift
  case $v in
    old) PYTHONPATH=$OLD/src $PY "$OLD/bench/log_sqlite.py" "$@" ;;
    inline) $PY "$HERE/bench/log_sqlite.py" "$@" ;;
    thread) $PY "$HERE/bench/log_sqlite.py" --writer thread "$@" ;;
  esac 2>&1 | grep produce | sed "s/^/$v r$round: /"
}
orders=("old inline thread" "inline thread old" "thread old inline")
for round in $(seq 1 "$ROUNDS"); do
  for v in ${orders[$((round % 3))]}; do
    run "$v" --scenarios 1x8,100x8,1x64 --events 20000
    run "$v" --scenarios 1x8 --events 20000 --synchronous normal
  done
done
