"""HTTP endpoints for API tokens (admin scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from roomtemp.api import API_PREFIX
from roomtemp.api.auth import AuthFirstRoute
from roomtemp.api.deps import State, Transaction
from roomtemp.api.responses import json_response
from roomtemp.auth import service
from roomtemp.auth.schemas import TokenCreated, TokenIn, TokenList, TokenOut
from roomtemp.auth.service import PUBLIC_ID_PATTERN
from roomtemp.errors import NotConfigured

router = APIRouter(prefix=API_PREFIX, tags=["tokens"], route_class=AuthFirstRoute)
TokenId = Annotated[str, Path(pattern=PUBLIC_ID_PATTERN, description="Public id of the token")]


def _key(state: State) -> bytes:
    key = state.settings.token_hash_key
    if key is None:
        # A configuration state, not an outage: retrying cannot help, so not 503.
        raise NotConfigured(
            "this server was started without TOKEN_HASH_KEY, so it cannot issue tokens; "
            "restart it with TOKEN_HASH_KEY set (a random secret of at least 32 characters)",
            code="tokens_not_configured",
        )
    return key.get_secret_value().encode()


@router.post(
    "/tokens",
    status_code=201,
    responses={
        422: {"description": "Invalid request"},
        409: {
            "description": "The server was started without TOKEN_HASH_KEY (as `make run` "
            "does): it cannot issue tokens until restarted with one"
        },
    },
    response_model=TokenCreated,
)
async def create_token(body: TokenIn, state: State, conn: Transaction) -> Response:
    """Issue a token. The token itself is in this response only; the server keeps a hash.

    A server started without TOKEN_HASH_KEY (authentication off, local development) answers
    409 `tokens_not_configured`: a permanent configuration state, not an outage to retry.
    """
    info, token = await service.create_token(
        conn,
        _key(state),
        body.name,
        scopes=[s.value for s in body.scopes],
        buildings=body.buildings,
    )
    return json_response(
        TokenCreated(**TokenOut.of(info).model_dump(), token=token), status_code=201
    )


@router.get("/tokens", response_model=TokenList)
async def list_tokens(
    conn: Transaction,
    include_revoked: Annotated[bool, Query(description="Also list revoked tokens")] = False,
) -> Response:
    """Tokens by creation time (never the tokens themselves)."""
    infos = await service.list_tokens(conn, include_revoked=include_revoked)
    return json_response(TokenList(items=[TokenOut.of(i) for i in infos]))


@router.delete(
    "/tokens/{token_id}", responses={404: {"description": "Unknown token"}}, response_model=TokenOut
)
async def revoke_token(token_id: TokenId, conn: Transaction) -> Response:
    """Revoke a token; it stops working for the next request, in every process."""
    return json_response(TokenOut.of(await service.revoke_token(conn, token_id)))
