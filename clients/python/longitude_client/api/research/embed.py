from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.embed_request import EmbedRequest
from ...models.embed_response import EmbedResponse
from ...models.outcome import Outcome
from typing import cast



def _get_kwargs(
    *,
    body: EmbedRequest,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}


    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/embed",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> EmbedResponse | Outcome | None:
    if response.status_code == 200:
        response_200 = EmbedResponse.from_dict(response.json())



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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[EmbedResponse | Outcome]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: EmbedRequest,

) -> Response[EmbedResponse | Outcome]:
    """ Embeds a patient's record with the foundation model of the version deployed for the caller.

    Args:
        body (EmbedRequest): An embedding request.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[EmbedResponse | Outcome]
     """


    kwargs = _get_kwargs(
        body=body,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    body: EmbedRequest,

) -> EmbedResponse | Outcome | None:
    """ Embeds a patient's record with the foundation model of the version deployed for the caller.

    Args:
        body (EmbedRequest): An embedding request.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        EmbedResponse | Outcome
     """


    return sync_detailed(
        client=client,
body=body,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: EmbedRequest,

) -> Response[EmbedResponse | Outcome]:
    """ Embeds a patient's record with the foundation model of the version deployed for the caller.

    Args:
        body (EmbedRequest): An embedding request.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[EmbedResponse | Outcome]
     """


    kwargs = _get_kwargs(
        body=body,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    body: EmbedRequest,

) -> EmbedResponse | Outcome | None:
    """ Embeds a patient's record with the foundation model of the version deployed for the caller.

    Args:
        body (EmbedRequest): An embedding request.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        EmbedResponse | Outcome
     """


    return (await asyncio_detailed(
        client=client,
body=body,

    )).parsed
