"""The token types every layer shares: what makes two requests share a token (:class:`CacheKey`) and a
token as the cache holds it (:class:`CachedToken`, with what callers get built once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Tuple

from azure.core.credentials import AccessToken, AccessTokenInfo


class CacheKey(NamedTuple):
    """What makes two requests share a token. ``claims`` challenges are not part of it: they always
    reach Entra, and the token they bring replaces the entry (a CAE challenge means the old one is
    revoked)."""

    scopes: Tuple[str, ...]
    tenant_id: str
    enable_cae: bool


@dataclass(frozen=True)
class CachedToken:
    token: str = field(repr=False)
    expires_on: int
    refresh_on: int
    token_type: str = "Bearer"
    # What callers get, built once per token rather than once per cache hit.
    info: AccessTokenInfo = field(init=False, repr=False, compare=False)
    access_token: AccessToken = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        info = AccessTokenInfo(
            self.token, self.expires_on, token_type=self.token_type, refresh_on=self.refresh_on
        )
        object.__setattr__(self, "info", info)
        object.__setattr__(self, "access_token", AccessToken(self.token, self.expires_on))
