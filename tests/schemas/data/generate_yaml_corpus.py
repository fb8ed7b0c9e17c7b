"""Differential corpus for the YAML dumper: random strings/keys at random depths dumped by js-yaml 3.14
(the reference's YAML library, with ``sortKeys: true``). Usage: python generate_yaml_corpus.py <dir with
node_modules/js-yaml> > yaml_corpus.json"""

from __future__ import annotations

import json
import random
import sys

from node_corpus import run_node  # a sibling module: run this file as a script

ALPHABET = [
    *"ab xyz:#-?,[]{}&*!|>'\"%@`=~.\n\t0123456789_/\\é中",
    "\u2028",
    "\u00a0",
    "\U0001f600",
    "\u0085",
    "\ufeff",
    "  ",
    "\n\n",
    "word " * 5,
]
WORDS = [
    "yes",
    "No",
    "0o12",
    "+1",
    "-.5",
    ".5",
    "1_000",
    "0b101",
    "0x_1",
    "1__",
    "12:60",
    "1:2:3",
    "2001-12-14t21:59:43.10-05:00",
    "2002-12-14",
    "-",
    "?",
    ":",
    "",
    "null",
    "Null",
    "~",
    "true",
    "tRUE",
    ".NaN",
    ".inf",
    "-.Inf",
    "1e1",
    "1E+1",
    "1.",
    "1.e5",
    "01",
    "09",
    "+0",
    "-0",
    "0.",
    "<<",
    "=",
    "a: b",
    "a:b",
    " a",
    "a ",
    "#a",
    "a#",
    "a #",
]


def main() -> None:
    random.seed(7)
    docs: list[object] = []
    for _ in range(800):
        s = "".join(random.choice(ALPHABET) for _ in range(random.choice([1, 2, 3, 5, 8, 20, 60, 120])))
        d: object = {"k": s}
        for _ in range(random.choice([0, 1, 3, 6])):
            d = {"n": d}
        docs.append({s[:30] or "e": d, "list": [s]})
    docs.extend({"k": w, w or "e": 1} for w in WORDS)
    script = (
        'const y=require("js-yaml");const d=JSON.parse(require("fs").readFileSync(0,"utf8"));'
        "process.stdout.write(JSON.stringify(d.map(x=>y.dump(x,{sortKeys:true}))))"
    )
    out = run_node(script, docs, sys.argv[1])
    json.dump(
        [{"input": d, "output": o} for d, o in zip(docs, json.loads(out), strict=True)],
        sys.stdout,
        ensure_ascii=True,
        indent=0,
    )


if __name__ == "__main__":
    main()
