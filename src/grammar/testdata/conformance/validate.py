#!/usr/bin/env python3
"""Checks documents generated under JSON Schema grammars (see src/engine/conformance.cpp) with an independent
validator: Debian's python3-jsonschema (the validator class the schema's $schema names, 2020-12 otherwise)
with format checking. Formats jsonschema leaves unchecked on Debian (date-time: rfc3339-validator is not
packaged; its "time" is the draft-3 one) or checks loosely (email: an "@" anywhere) are checked here with the
standard library.

usage: validate.py DOCS.jsonl SCHEMA_DIR [MIN_VALID_PER_SCHEMA]
Each line of DOCS.jsonl is {"file", "model", "done_reason", "text"}. Documents that ended with "stop" must
parse and validate, with nothing after the value; "length" ones (num_predict reached) are counted apart.
Exits 1 on any invalid document or when a schema has fewer valid documents than asked."""
import collections
import datetime
import json
import os
import re
import sys

import jsonschema
from jsonschema import validators


def rfc3339_time(s):
    m = re.fullmatch(r"(\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))", s)
    if not m:
        return False
    if int(m[1]) > 23 or int(m[2]) > 59 or int(m[3]) > 60:
        return False
    if m[6] is not None and (int(m[6]) > 23 or int(m[7]) > 59):
        return False
    return True


def rfc3339_date_time(s):
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[Tt](.+)", s)
    if not m:
        return False
    try:
        datetime.date.fromisoformat(m[1])
    except ValueError:
        return False
    return rfc3339_time(m[2])


ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


def email(s):
    local, at, domain = s.rpartition("@")
    return (at == "@" and 0 < len(local) <= 64 and re.fullmatch(ATOM + r"(?:\." + ATOM + r")*", local) is not None
            and re.fullmatch(LABEL + r"(?:\." + LABEL + r")+", domain) is not None)


def format_checker():
    checker = jsonschema.FormatChecker()
    checker.checks("date-time")(lambda s: not isinstance(s, str) or rfc3339_date_time(s))
    checker.checks("time")(lambda s: not isinstance(s, str) or rfc3339_time(s))
    checker.checks("email")(lambda s: not isinstance(s, str) or email(s))
    return checker


def main():
    docs_path, schema_dir = sys.argv[1], sys.argv[2]
    min_valid = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    checker = format_checker()
    checkers = {}
    stats = collections.defaultdict(lambda: collections.Counter())
    failures = []
    for line in open(docs_path, encoding="utf-8"):
        doc = json.loads(line)
        name = doc["file"]
        if name not in checkers:
            schema = json.load(open(os.path.join(schema_dir, name), encoding="utf-8"))["schema"]
            cls = validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            cls.check_schema(schema)
            checkers[name] = cls(schema, format_checker=checker)
        s = stats[name]
        s["generated"] += 1
        s["model " + doc["model"]] += 1
        if doc["done_reason"] == "length":
            s["length"] += 1
            continue
        text = doc["text"]
        problem = None
        if doc["done_reason"] != "stop":
            problem = "done_reason " + doc["done_reason"]
        elif text[-1:].isspace():
            problem = "whitespace after the value"
        else:
            try:
                value = json.loads(text)
                errors = list(checkers[name].iter_errors(value))
                if errors:
                    problem = "; ".join(e.message[:200] for e in errors[:3])
            except json.JSONDecodeError as e:
                problem = "not JSON: " + str(e)
        if problem:
            s["invalid"] += 1
            failures.append((name, doc["model"], problem, text[:300]))
        else:
            s["valid"] += 1
    total_valid = 0
    short = []
    print("%-32s %9s %6s %7s %7s" % ("schema", "generated", "valid", "length", "invalid"))
    for name in sorted(stats):
        s = stats[name]
        total_valid += s["valid"]
        print("%-32s %9d %6d %7d %7d" % (name, s["generated"], s["valid"], s["length"], s["invalid"]))
        if s["valid"] < min_valid:
            short.append(name)
    print("total: %d documents valid under python3-jsonschema" % total_valid)
    for name, model, problem, text in failures[:20]:
        print("INVALID %s (%s): %s\n  %r" % (name, model, problem, text))
    for name in short:
        print("TOO FEW valid documents for %s (%d < %d)" % (name, stats[name]["valid"], min_valid))
    return 1 if failures or short else 0


if __name__ == "__main__":
    sys.exit(main())
