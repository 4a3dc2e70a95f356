"""Judge the server's FHIR answers with a real FHIR library (`fhir.resources`, R4B models, which
validate R4 JSON for RiskAssessment, Bundle and OperationOutcome).

Each argument is a JSON file holding one resource. Every resource (and every resource inside a
Bundle) is validated by its own model; a RiskAssessment's probability must satisfy `ras-2` (at
most 100) and be a fraction, as the server states in its note. Prints a JSON summary: the count of
each resource type, and the probabilities read. Raises on the first invalid resource.
"""

import argparse
import json

from fhir.resources.R4B import get_fhir_model_class


def check(resource, seen, probabilities):
    kind = resource["resourceType"]
    try:
        get_fhir_model_class(kind).model_validate(resource)
    except Exception as e:  # name the resource, then fail
        raise SystemExit(f"not a valid {kind}: {e}")
    seen[kind] = seen.get(kind, 0) + 1
    if kind == "Bundle":
        for entry in resource.get("entry", []):
            check(entry["resource"], seen, probabilities)
    if kind == "RiskAssessment":
        for prediction in resource["prediction"]:
            p = prediction["probabilityDecimal"]
            if not 0 <= p <= 1:
                raise SystemExit(f"a probability outside 0-1: {p}")
            probabilities.append(p)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    seen, probabilities = {}, []
    for path in args.files:
        with open(path) as f:
            check(json.load(f), seen, probabilities)
    print(json.dumps({"resources": seen, "probabilities": probabilities}))


if __name__ == "__main__":
    main()
