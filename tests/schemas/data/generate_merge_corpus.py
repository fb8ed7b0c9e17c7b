# ruff: noqa: E501, SIM114
"""Differential corpus for allOf merging: random schemas merged by json-schema-merge-allof 0.6.0 itself with
jsonschema-tools' options. Usage: python generate_merge_corpus.py <dir with node_modules> > merge_corpus.json"""

import random
import sys

from node_corpus import run_node  # a sibling module: run this file as a script

random.seed(11)
TYPES = ["string", "integer", "number", "object", "array", "boolean", "null"]


def leaf(depth):
    s = {}
    for _ in range(random.randint(0, 4)):
        k = random.choice(
            [
                "type",
                "type_list",
                "required",
                "enum",
                "minimum",
                "maximum",
                "minLength",
                "maxLength",
                "pattern",
                "format",
                "title",
                "description",
                "default",
                "examples",
                "properties",
                "additionalProperties",
                "items",
                "multipleOf",
                "uniqueItems",
                "not",
                "allOf",
                "definitions",
                "oneOf",
                "minItems",
                "maxItems",
                "exclusiveMinimum",
                "const",
                "x-custom",
            ]
        )
        if k == "type":
            s["type"] = random.choice(TYPES[:3])
        elif k == "type_list":
            s["type"] = random.sample(TYPES[:4], random.randint(1, 3))
        elif k == "required":
            s["required"] = random.sample(["a", "b", "C", "aa", "B"], random.randint(0, 3))
        elif k == "enum":
            s["enum"] = random.sample(["x", "y", "z", 1, 2], random.randint(1, 4))
        elif k in (
            "minimum",
            "maximum",
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "exclusiveMinimum",
        ):
            s[k] = random.randint(0, 20)
        elif k == "multipleOf":
            s[k] = random.choice([2, 3, 4, 6])
        elif k == "pattern":
            s[k] = random.choice(["^a", "^b", "c$"])
        elif k == "format":
            s[k] = random.choice(["date-time", "uri"])
        elif k in ("title", "description"):
            s[k] = random.choice(["t1", "t2", "d"])
        elif k == "default":
            s[k] = random.choice(["v", 1, None])
        elif k == "examples":
            s[k] = [random.choice(["e1", "e2"])]
        elif k == "const":
            s[k] = random.choice(["c", "d"])
        elif k == "x-custom":
            s[k] = random.choice([1, 2])
        elif k == "uniqueItems":
            s[k] = random.choice([True, False])
        elif depth < 3:
            if k == "properties":
                s[k] = {random.choice(["a", "b", "C"]): leaf(depth + 1) for _ in range(random.randint(0, 3))}
            elif k == "additionalProperties":
                s[k] = random.choice([True, False, None]) if random.random() < 0.6 else leaf(depth + 1)
            elif k == "items":
                s[k] = leaf(depth + 1)
            elif k == "not":
                s[k] = leaf(depth + 1)
            elif k == "allOf":
                s[k] = [leaf(depth + 1) for _ in range(random.randint(1, 3))]
            elif k == "definitions":
                s[k] = {random.choice(["d1", "d2"]): leaf(depth + 1)}
            elif k == "oneOf":
                s[k] = [leaf(depth + 1) for _ in range(random.randint(1, 2))]
        if s.get("additionalProperties", 0) is None:
            del s["additionalProperties"]
    return s


docs = []
for _ in range(700):
    root = leaf(1)
    root["allOf"] = [leaf(1) for _ in range(random.randint(1, 3))]
    docs.append(root)
SCRIPT = (
    'const m=require("json-schema-merge-allof");const d=JSON.parse(require("fs").readFileSync(0,"utf8"));'
    "process.stdout.write(JSON.stringify(d.map(x=>{try{return {input:x,output:{ok:m(JSON.parse(JSON.stringify(x)),"
    "{ignoreAdditionalProperties:true,resolvers:{examples:(v)=>v[0]}})}}}catch(e){return {input:x,output:{err:e.message}}}})))"
)
sys.stdout.write(run_node(SCRIPT, docs, sys.argv[1]))
