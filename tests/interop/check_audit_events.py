"""Judge the audit log's FHIR export with a real FHIR library (`fhir.resources`, R4B models, which
validate R4 JSON for AuditEvent).

Validates every line of an NDJSON file as an AuditEvent and prints a JSON summary: the count, the
actions and outcomes seen, and the log indexes carried in the entity details. Raises on the first
invalid resource.
"""

import argparse
import json

from fhir.resources.R4B.auditevent import AuditEvent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ndjson")
    args = parser.parse_args()
    count, actions, outcomes, indexes = 0, {}, {}, []
    with open(args.ndjson) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                event = AuditEvent.model_validate_json(line)
            except Exception as e:  # name the line, then fail
                raise SystemExit(f"line {number} is not a valid AuditEvent: {e}")
            count += 1
            actions[event.action] = actions.get(event.action, 0) + 1
            outcomes[event.outcome] = outcomes.get(event.outcome, 0) + 1
            for entity in event.entity or []:
                for detail in entity.detail or []:
                    if detail.type == "log-index":
                        indexes.append(int(detail.valueString))
    print(json.dumps({"count": count, "actions": actions, "outcomes": outcomes, "indexes": indexes}))


if __name__ == "__main__":
    main()
