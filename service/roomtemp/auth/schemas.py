"""Request and response bodies of the token endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from roomtemp.auth.service import NAME_MAX_LENGTH, Scope, TokenInfo
from roomtemp.keys import KEY_MAX_LENGTH, KEY_PATTERN


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=r"^[ -~]+$")]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=3)]
    buildings: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN)]]
        | None,
        Field(
            min_length=1,
            max_length=1000,
            description="Keys of the only buildings (and their rooms and sensors) the token "
            "reaches; each must exist. Omitted: every building",
        ),
    ] = None


class TokenOut(BaseModel):
    id: str = Field(description="Public id (part of the token; not secret)")
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    buildings: list[str] | None = Field(
        description="The only buildings the token reaches; null: every building"
    )

    @classmethod
    def of(cls, info: TokenInfo) -> TokenOut:
        return cls(
            id=info.public_id,
            name=info.name,
            scopes=list(info.scopes),
            created_at=info.created_at,
            revoked_at=info.revoked_at,
            buildings=None if info.buildings is None else list(info.buildings),
        )


class TokenCreated(TokenOut):
    token: str = Field(description="The bearer token. Shown only in this response; store it now")


class TokenList(BaseModel):
    items: list[TokenOut]
