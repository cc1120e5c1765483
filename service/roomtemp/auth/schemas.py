"""Request and response bodies of the token endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from roomtemp.auth.service import NAME_MAX_LENGTH, Scope, TokenInfo


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=r"^[ -~]+$")]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=3)]


class TokenOut(BaseModel):
    id: str = Field(description="Public id (part of the token; not secret)")
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, info: TokenInfo) -> TokenOut:
        return cls(
            id=info.public_id,
            name=info.name,
            scopes=list(info.scopes),
            created_at=info.created_at,
            revoked_at=info.revoked_at,
        )


class TokenCreated(TokenOut):
    token: str = Field(description="The bearer token. Shown only in this response; store it now")


class TokenList(BaseModel):
    items: list[TokenOut]
