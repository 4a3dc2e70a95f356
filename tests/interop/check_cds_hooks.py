"""Judge CDS Hooks 2.0 documents by the rules of the specification's text (cds-hooks.hl7.org 2.0),
independently of the Rust checks.

Each argument is `KIND=PATH` with KIND one of `discovery`, `response`, `feedback`. Rules:
- discovery: `services`, each with `hook`, `description` and `id` strings, `title` a string if
  present, and `prefetch` a map of strings whose `{{...}}` tokens name `context.*` fields or the
  user (`userPractitionerId` and kin);
- response: `cards`, each with `summary` (a string under 140 characters), `indicator` (`info`,
  `warning`, `critical`), `source` with a `label` (and `url` a string, `topic` a Coding, if
  present), `uuid` a string if present, `overrideReasons` Codings with `code`, `system` and `display`,
  `links` with `label`, `url` and `type` (`absolute` or `smart`; `appContext` only with `smart`),
  `selectionBehavior` present when `suggestions` are;
- feedback: `feedback`, each with `card`, `outcome` (`accepted`, `overridden`), an
  `overrideReason` only when overridden, and `outcomeTimestamp`.
Prints a JSON summary of what was checked; exits non-zero naming the first rule broken.
"""

import json
import re
import sys

TOKEN = re.compile(r"\{\{([^}]*)\}\}")
USER_TOKENS = {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}


def fail(where, why):
    raise SystemExit(f"{where}: {why}")


def need_str(obj, key, where, optional=False):
    if key not in obj:
        if optional:
            return
        fail(where, f"{key} is required")
    if not isinstance(obj[key], str):
        fail(where, f"{key} must be a string")


def coding(value, where):
    if not isinstance(value, dict):
        fail(where, "must be a Coding")
    need_str(value, "code", where)
    need_str(value, "system", where, optional=True)
    need_str(value, "display", where, optional=True)


def discovery(doc, where):
    services = doc.get("services")
    if not isinstance(services, list):
        fail(where, "services must be an array")
    for i, s in enumerate(services):
        w = f"{where} services[{i}]"
        for key in ("hook", "description", "id"):
            need_str(s, key, w)
        need_str(s, "title", w, optional=True)
        for name, template in (s.get("prefetch") or {}).items():
            if not isinstance(template, str):
                fail(w, f"prefetch {name} must be a string")
            for token in TOKEN.findall(template):
                if not (token.startswith("context.") or token in USER_TOKENS):
                    fail(w, f"prefetch {name}: unknown token {{{{{token}}}}}")
    return len(services)


def response(doc, where):
    cards = doc.get("cards")
    if not isinstance(cards, list):
        fail(where, "cards must be an array")
    for i, c in enumerate(cards):
        w = f"{where} cards[{i}]"
        need_str(c, "summary", w)
        if len(c["summary"]) >= 140:
            fail(w, f"summary is {len(c['summary'])} characters; it must be under 140")
        if c.get("indicator") not in ("info", "warning", "critical"):
            fail(w, f"indicator {c.get('indicator')!r} is not info, warning or critical")
        source = c.get("source")
        if not isinstance(source, dict):
            fail(w, "source is required")
        need_str(source, "label", f"{w} source")
        need_str(source, "url", f"{w} source", optional=True)
        if "topic" in source:
            coding(source["topic"], f"{w} source.topic")
        need_str(c, "uuid", w, optional=True)
        need_str(c, "detail", w, optional=True)
        for j, reason in enumerate(c.get("overrideReasons") or []):
            coding(reason, f"{w} overrideReasons[{j}]")
            need_str(reason, "display", f"{w} overrideReasons[{j}]")
        for j, link in enumerate(c.get("links") or []):
            lw = f"{w} links[{j}]"
            for key in ("label", "url", "type"):
                need_str(link, key, lw)
            if link["type"] not in ("absolute", "smart"):
                fail(lw, f"type {link['type']!r} is not absolute or smart")
            if "appContext" in link and link["type"] != "smart":
                fail(lw, "appContext is only for smart links")
        if c.get("suggestions") and "selectionBehavior" not in c:
            fail(w, "selectionBehavior is required with suggestions")
    return len(cards)


def feedback(doc, where):
    items = doc.get("feedback")
    if not isinstance(items, list):
        fail(where, "feedback must be an array")
    for i, f in enumerate(items):
        w = f"{where} feedback[{i}]"
        need_str(f, "card", w)
        need_str(f, "outcomeTimestamp", w)
        if f.get("outcome") not in ("accepted", "overridden"):
            fail(w, "outcome is accepted or overridden")
        if "overrideReason" in f and f["outcome"] != "overridden":
            fail(w, "overrideReason only when overridden")
        if "overrideReason" in f and "reason" in f["overrideReason"]:
            coding(f["overrideReason"]["reason"], f"{w} overrideReason.reason")
    return len(items)


def main():
    summary = {"discovery": 0, "response": 0, "feedback": 0, "services": 0, "cards": 0, "outcomes": 0}
    for arg in sys.argv[1:]:
        kind, path = arg.split("=", 1)
        with open(path) as f:
            doc = json.load(f)
        count = {"discovery": discovery, "response": response, "feedback": feedback}[kind](doc, path)
        summary[kind] += 1
        summary[{"discovery": "services", "response": "cards", "feedback": "outcomes"}[kind]] += count
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
