from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.outcome import Outcome
from ...models.proof import Proof
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    index: int,
    size: int | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    params["index"] = index

    params["size"] = size


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/audit/proof",
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Outcome | Proof | None:
    if response.status_code == 200:
        response_200 = Proof.from_dict(response.json())



        return response_200

    if response.status_code == 401:
        response_401 = Outcome.from_dict(response.json())



        return response_401

    if response.status_code == 403:
        response_403 = Outcome.from_dict(response.json())



        return response_403

    if response.status_code == 404:
        response_404 = Outcome.from_dict(response.json())



        return response_404

    if response.status_code == 429:
        response_429 = Outcome.from_dict(response.json())



        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Outcome | Proof]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    index: int,
    size: int | Unset = UNSET,

) -> Response[Outcome | Proof]:
    """ Proves that one of the tenant's audit records is in the log under a signed checkpoint.

    Args:
        index (int):
        size (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Outcome | Proof]
     """


    kwargs = _get_kwargs(
        index=index,
size=size,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    index: int,
    size: int | Unset = UNSET,

) -> Outcome | Proof | None:
    """ Proves that one of the tenant's audit records is in the log under a signed checkpoint.

    Args:
        index (int):
        size (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Outcome | Proof
     """


    return sync_detailed(
        client=client,
index=index,
size=size,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    index: int,
    size: int | Unset = UNSET,

) -> Response[Outcome | Proof]:
    """ Proves that one of the tenant's audit records is in the log under a signed checkpoint.

    Args:
        index (int):
        size (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Outcome | Proof]
     """


    kwargs = _get_kwargs(
        index=index,
size=size,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    index: int,
    size: int | Unset = UNSET,

) -> Outcome | Proof | None:
    """ Proves that one of the tenant's audit records is in the log under a signed checkpoint.

    Args:
        index (int):
        size (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Outcome | Proof
     """


    return (await asyncio_detailed(
        client=client,
index=index,
size=size,

    )).parsed
