from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.outcome import Outcome
from ...models.predict_json_body import PredictJsonBody
from ...models.predict_request import PredictRequest
from ...models.predict_response import PredictResponse
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    body:    PredictJsonBody  |     PredictRequest  | Unset = UNSET,
    tasks: str | Unset = UNSET,
    model: str | Unset = UNSET,
    format_: str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}


    

    params: dict[str, Any] = {}

    params["tasks"] = tasks

    params["model"] = model

    params["format"] = format_


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/predict",
        "params": params,
    }

    if isinstance(body, PredictJsonBody):
        _kwargs["json"] = body.to_dict()

        headers["Content-Type"] = "application/fhir+json"
    if isinstance(body, PredictRequest):
        _kwargs["json"] = body.to_dict()

        headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Outcome | PredictResponse | None:
    if response.status_code == 200:
        response_200 = PredictResponse.from_dict(response.json())



        return response_200

    if response.status_code == 400:
        response_400 = Outcome.from_dict(response.json())



        return response_400

    if response.status_code == 401:
        response_401 = Outcome.from_dict(response.json())



        return response_401

    if response.status_code == 403:
        response_403 = Outcome.from_dict(response.json())



        return response_403

    if response.status_code == 404:
        response_404 = Outcome.from_dict(response.json())



        return response_404

    if response.status_code == 413:
        response_413 = Outcome.from_dict(response.json())



        return response_413

    if response.status_code == 415:
        response_415 = Outcome.from_dict(response.json())



        return response_415

    if response.status_code == 422:
        response_422 = Outcome.from_dict(response.json())



        return response_422

    if response.status_code == 429:
        response_429 = Outcome.from_dict(response.json())



        return response_429

    if response.status_code == 503:
        response_503 = Outcome.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Outcome | PredictResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body:    PredictJsonBody  |     PredictRequest  | Unset = UNSET,
    tasks: str | Unset = UNSET,
    model: str | Unset = UNSET,
    format_: str | Unset = UNSET,

) -> Response[Outcome | PredictResponse]:
    """ Scores a patient's record with the model deployed for the caller's site.

    Args:
        tasks (str | Unset):
        model (str | Unset):
        format_ (str | Unset):
        body (PredictJsonBody):
        body (PredictRequest): A prediction request (`Content-Type: application/json`). A FHIR
            document sent as
            `application/fhir+json` is the record itself, with the tasks and model in the query.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Outcome | PredictResponse]
     """


    kwargs = _get_kwargs(
        body=body,
tasks=tasks,
model=model,
format_=format_,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    body:    PredictJsonBody  |     PredictRequest  | Unset = UNSET,
    tasks: str | Unset = UNSET,
    model: str | Unset = UNSET,
    format_: str | Unset = UNSET,

) -> Outcome | PredictResponse | None:
    """ Scores a patient's record with the model deployed for the caller's site.

    Args:
        tasks (str | Unset):
        model (str | Unset):
        format_ (str | Unset):
        body (PredictJsonBody):
        body (PredictRequest): A prediction request (`Content-Type: application/json`). A FHIR
            document sent as
            `application/fhir+json` is the record itself, with the tasks and model in the query.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Outcome | PredictResponse
     """


    return sync_detailed(
        client=client,
body=body,
tasks=tasks,
model=model,
format_=format_,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body:    PredictJsonBody  |     PredictRequest  | Unset = UNSET,
    tasks: str | Unset = UNSET,
    model: str | Unset = UNSET,
    format_: str | Unset = UNSET,

) -> Response[Outcome | PredictResponse]:
    """ Scores a patient's record with the model deployed for the caller's site.

    Args:
        tasks (str | Unset):
        model (str | Unset):
        format_ (str | Unset):
        body (PredictJsonBody):
        body (PredictRequest): A prediction request (`Content-Type: application/json`). A FHIR
            document sent as
            `application/fhir+json` is the record itself, with the tasks and model in the query.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Outcome | PredictResponse]
     """


    kwargs = _get_kwargs(
        body=body,
tasks=tasks,
model=model,
format_=format_,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    body:    PredictJsonBody  |     PredictRequest  | Unset = UNSET,
    tasks: str | Unset = UNSET,
    model: str | Unset = UNSET,
    format_: str | Unset = UNSET,

) -> Outcome | PredictResponse | None:
    """ Scores a patient's record with the model deployed for the caller's site.

    Args:
        tasks (str | Unset):
        model (str | Unset):
        format_ (str | Unset):
        body (PredictJsonBody):
        body (PredictRequest): A prediction request (`Content-Type: application/json`). A FHIR
            document sent as
            `application/fhir+json` is the record itself, with the tasks and model in the query.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Outcome | PredictResponse
     """


    return (await asyncio_detailed(
        client=client,
body=body,
tasks=tasks,
model=model,
format_=format_,

    )).parsed
