"""The generated client against a live server (run by the server's Rust tests, which start one).

Reads LONGITUDE_URL, LONGITUDE_KEY (a clinician's API key) and LONGITUDE_RECORD (a FHIR Bundle
file of one patient). Lists the deployed models, asks for the patient's risks, and checks that a
wrong key is refused with an OperationOutcome. Prints a JSON summary; fails on the first surprise.
Hand-written: the rest of clients/python is generated (scripts/python-client).
"""

import json
import os
import sys

from longitude_client import AuthenticatedClient, Client
from longitude_client.api.models import list_
from longitude_client.api.operations import health
from longitude_client.api.predictions import predict
from longitude_client.models import Outcome, PredictRequest, PredictRequestRecord, PredictResponse


def main():
    url, key = os.environ["LONGITUDE_URL"], os.environ["LONGITUDE_KEY"]
    with open(os.environ["LONGITUDE_RECORD"]) as f:
        record = json.load(f)

    assert health.sync(client=Client(base_url=url)).status == "ok"
    client = AuthenticatedClient(base_url=url, token=key)
    models = list_.sync(client=client)
    assert models is not None and len(models.models) == 1, models
    model = models.models[0]

    body = PredictRequest(record=PredictRequestRecord.from_dict(record), tasks=[t.task for t in model.tasks])
    answer = predict.sync(client=client, body=body)
    if not isinstance(answer, PredictResponse):
        sys.exit(f"no prediction: {answer}")
    assert answer.model.id == model.id
    assert answer.predictions, answer
    for p in answer.predictions:
        assert 0.0 <= p.probability <= 1.0 and p.band in ("low", "moderate", "high"), p
    assert answer.audit.index >= 0 and len(answer.audit.leaf) == 64

    refused = predict.sync_detailed(client=AuthenticatedClient(base_url=url, token="lgk_wrong"), body=body)
    assert refused.status_code == 401 and isinstance(refused.parsed, Outcome), refused

    print(json.dumps({
        "model": model.id,
        "predictions": [{"task": p.task, "probability": p.probability, "band": p.band} for p in answer.predictions],
        "receipt": answer.audit.index,
    }))


if __name__ == "__main__":
    main()
