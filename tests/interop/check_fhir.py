"""Judge FHIR R4 written by Longitude with a real FHIR library (`fhir.resources`, R4B models,
which validate R4 JSON for the resources used here).

Validates every resource of every NDJSON file (or the first --limit per type), every Bundle in
fhir/bundles/, and checks that each reference resolves to a resource that exists. Prints a JSON
summary; raises on the first invalid resource.
"""

import argparse
import glob
import importlib
import json
import os

MODULES = {
    "Patient": "patient",
    "Encounter": "encounter",
    "Condition": "condition",
    "Observation": "observation",
    "MedicationRequest": "medicationrequest",
    "Procedure": "procedure",
    "DocumentReference": "documentreference",
    "Bundle": "bundle",
}


def model(resource_type):
    module = importlib.import_module(f"fhir.resources.R4B.{MODULES[resource_type]}")
    return getattr(module, resource_type)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("fhir_dir")
    p.add_argument("--limit", type=int, default=0)
    args = p.parse_args()

    counts, ids, references = {}, set(), []
    for path in sorted(glob.glob(os.path.join(args.fhir_dir, "*.ndjson"))):
        resource_type = os.path.basename(path).split(".")[0]
        cls = model(resource_type)
        n = 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                obj = json.loads(line)
                assert obj["resourceType"] == resource_type, path
                ids.add(f"{resource_type}/{obj['id']}")
                for field in ("subject", "encounter"):
                    if field in obj:
                        references.append(obj[field]["reference"])
                if args.limit == 0 or n < args.limit:
                    cls.model_validate(obj)
                n += 1
        counts[resource_type] = n
    for reference in references:
        assert reference in ids, f"dangling reference {reference}"

    bundles = sorted(glob.glob(os.path.join(args.fhir_dir, "bundles", "*.json")))
    bundle_cls = model("Bundle")
    for path in bundles[: args.limit or None]:
        with open(path, encoding="utf-8") as f:
            bundle = json.load(f)
        bundle_cls.model_validate(bundle)
        full_urls = {e["fullUrl"] for e in bundle["entry"]}
        for e in bundle["entry"]:
            assert e["fullUrl"].startswith("urn:uuid:")
            for field in ("subject", "encounter"):
                if field in e["resource"]:
                    assert e["resource"][field]["reference"] in full_urls, "bundle reference not in bundle"
    print(json.dumps({"resources": counts, "references": len(references), "bundles": len(bundles)}))


if __name__ == "__main__":
    main()
