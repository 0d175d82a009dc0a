"""Bearer-token authentication and the per-token model allow-list; tokens are stored hashed."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from flask import g, request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.cache import ExpiringCache
from app.errors import ApiError
from app.extensions import db, settings
from app.models import Account, ApiToken, now

TOKEN_PREFIX = "vg_"
CACHED_TOKENS = 10_000


@dataclass(frozen=True)
class Caller:
    account_id: int
    token_id: int
    allowed_models: tuple[str, ...] | None

    def may_use(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models


# Valid tokens' callers by token hash, each trusted for a while in this process (see README, API notes).
callers: ExpiringCache[str, Caller] = ExpiringCache(CACHED_TOKENS)
_TOKEN = select(ApiToken.id, ApiToken.account_id, ApiToken.allowed_models, ApiToken.revoked_at).where(
    ApiToken.token_hash == bindparam("token_hash"))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, account_name: str, models: list[str] | None = None, name: str = ""
) -> tuple[str, ApiToken]:
    """Create the account if needed and a new token for it; the plain token exists only in the return value."""
    account = session.scalar(select(Account).where(Account.name == account_name))
    if account is None:
        account = Account(name=account_name)
        session.add(account)
        session.flush()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(account_id=account.id, name=name, token_hash=hash_token(token),
                   display_prefix=token[:10], allowed_models=models or None)
    session.add(row)
    session.flush()
    return token, row


def bearer_token(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def trusted_caller(header: str) -> Caller | None:
    """The caller of an Authorization header as this process already trusts it, without reading the database."""
    token = bearer_token(header)
    return callers.get(hash_token(token)) if token else None


def authenticate() -> Caller:
    """The caller of the request's bearer token: from this process's cache, else one autocommit read of its row."""
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is None:
        raise ApiError(401, "Missing bearer token: send 'Authorization: Bearer <token>'.", code="missing_api_key",
                       headers={"WWW-Authenticate": "Bearer"})
    token_hash = hash_token(token)
    caller = callers.get(token_hash)
    if caller is None:
        with db.autocommit() as connection:
            row = connection.execute(_TOKEN, {"token_hash": token_hash}).first()
        if row is None or row.revoked_at is not None:
            raise ApiError(401, "Invalid or revoked token.", code="invalid_api_key",
                           headers={"WWW-Authenticate": "Bearer"})
        caller = Caller(row.account_id, row.id, tuple(row.allowed_models) if row.allowed_models else None)
        callers.put(token_hash, caller, settings().token_cache_seconds)
    g.caller = caller
    return caller


def revoke_token(session: Session, token_id: int) -> bool:
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now()
    callers.drop(row.token_hash)  # other web processes stop trusting it within token_cache_seconds
    return True
