"""Token rules: format, scopes, HMAC-SHA256 hashing with a server key, constant-time checks.

A token looks like `rt_<public id>_<secret>`: the public id (12 hex digits) finds the row, and
HMAC-SHA256(TOKEN_HASH_KEY, whole token) is compared with the stored digest in constant time.
Tokens carry 256 random bits, so a keyed fast hash is enough (no password stretching needed);
the key means a stolen table alone cannot be used to check guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.auth import queries
from roomtemp.errors import ErrorDetail, InvalidInput, NotFound
from roomtemp.tenancy import EVERY_BUILDING, BuildingScope

TOKEN_PREFIX = "rt"  # noqa: S105 - the public prefix, not a secret
_TOKEN = re.compile(r"^rt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
PUBLIC_ID_PATTERN = r"^[0-9a-f]{12}$"
NAME_MAX_LENGTH = 100


class Scope(StrEnum):
    INGEST = "ingest"  # POST /v1/captures
    READ = "read"  # averages, registry reads, exports
    ADMIN = "admin"  # registry writes, token management


@dataclass(frozen=True)
class TokenInfo:
    public_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    #: The building keys a scoped token reaches; None: every building.
    buildings: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's public id, name, scopes and the buildings it reaches."""

    public_id: str
    name: str
    scopes: frozenset[str]
    reach: BuildingScope = EVERY_BUILDING


def digest(key: bytes, token: str) -> bytes:
    return hmac.new(key, token.encode(), hashlib.sha256).digest()


def new_token() -> tuple[str, str]:
    """(public id, full token)."""
    public_id = secrets.token_hex(6)
    return public_id, f"{TOKEN_PREFIX}_{public_id}_{secrets.token_urlsafe(32)}"


def _info(row: Sequence[object]) -> TokenInfo:
    public_id, name, scopes, created_at, revoked_at, scoped, buildings = row
    assert isinstance(scopes, list)
    assert isinstance(buildings, list)
    return TokenInfo(
        str(public_id),
        str(name),
        tuple(scopes),
        created_at,  # type: ignore[arg-type]
        revoked_at,  # type: ignore[arg-type]
        tuple(buildings) if scoped else None,
    )


def _check(name: str, scopes: Sequence[str]) -> list[str]:
    problems = []
    if not name.strip() or len(name) > NAME_MAX_LENGTH or not name.isprintable():
        problems.append(
            ErrorDetail(f"name must be 1 to {NAME_MAX_LENGTH} printable characters", field="name")
        )
    unknown = sorted(set(scopes) - {s.value for s in Scope})
    if unknown or not scopes:
        problems.append(
            ErrorDetail(
                f"scopes must be one or more of {', '.join(s.value for s in Scope)}", field="scopes"
            )
        )
    if problems:
        raise InvalidInput("invalid token request", problems)
    return sorted(set(scopes), key=[s.value for s in Scope].index)


async def _building_ids(conn: AsyncConnection, keys: Sequence[str]) -> list[int]:
    """The ids of `keys`; InvalidInput naming every key that is not a building."""
    found = await queries.select_building_ids(conn, keys)
    unknown = sorted(set(keys) - set(found))
    if unknown or not keys:
        message = (
            f"unknown building(s): {', '.join(map(repr, unknown))}; register them first"
            if unknown
            else "buildings, when given, must name at least one building"
        )
        raise InvalidInput("invalid token request", [ErrorDetail(message, field="buildings")])
    return sorted(found.values())


async def create_token(
    conn: AsyncConnection,
    key: bytes,
    name: str,
    *,
    scopes: Sequence[str],
    buildings: Sequence[str] | None = None,
) -> tuple[TokenInfo, str]:
    """Store a new token's hash; return its description and the token (shown once only).

    `buildings`: the keys of the only buildings it reaches (each must exist); None: all."""
    ordered = _check(name, scopes)
    building_ids = None if buildings is None else await _building_ids(conn, buildings)
    public_id, token = new_token()
    row = await queries.insert_token(
        conn, public_id, name, ordered, digest(key, token), building_ids
    )
    return _info(row), token


async def authenticate(conn: AsyncConnection, key: bytes, presented: str) -> Principal | None:
    """The principal of a valid, unrevoked token; None for anything else."""
    match = _TOKEN.match(presented)
    if match is None:
        return None
    row = await queries.select_token_for_auth(conn, match.group(1))
    if row is None:
        # Same work as a hit, so response time says nothing about which public ids exist.
        hmac.compare_digest(digest(key, presented), bytes(32))
        return None
    stored, scopes, revoked_at, name, scoped, buildings = row
    if not hmac.compare_digest(digest(key, presented), bytes(stored)) or revoked_at is not None:
        return None
    # Keys read at each request: a renamed or deleted building takes effect at once.
    reach = BuildingScope(frozenset(buildings) if scoped else None)
    return Principal(match.group(1), name, frozenset(scopes), reach)


async def list_tokens(conn: AsyncConnection, *, include_revoked: bool = False) -> list[TokenInfo]:
    return [_info(r) for r in await queries.select_tokens(conn, include_revoked=include_revoked)]


async def revoke_token(conn: AsyncConnection, public_id: str) -> TokenInfo:
    row = await queries.revoke_token(conn, public_id)
    if row is None:
        raise NotFound(f"no token {public_id!r}")
    return _info(row)
