"""What the sync and the async credential share, apart from the policy: argument handling, cache keys,
assertion checking, failure logging. Their own modules only add the I/O (threads or tasks)."""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, Iterable, Optional, Tuple

from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError

from ._config import CredentialConfig
from ._environment import read_environment
from ._errors import TokenExchangeError
from ._exchange import MsalExchange
from ._policy import CacheKey, KeyState

_LOGGER = logging.getLogger("azure_wif_credential")


class CredentialCore:
    """Configuration, the MSAL exchange and the per-key states of one credential."""

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        *,
        assertion: Any,
        token_file: Optional[str | os.PathLike[str]],
        authority: Optional[str],
        additionally_allowed_tenants: Optional[Iterable[str]],
        disable_instance_discovery: bool,
        options: Dict[str, Any],
        owner: str,
    ) -> None:
        if (assertion is None) == (token_file is None):
            raise ValueError(
                f"{owner} needs exactly one of assertion= (a callable returning the assertion) or "
                "token_file= (a path to a file holding it)."
            )
        if assertion is not None and not callable(assertion):
            raise TypeError(
                f"assertion must be callable (returning the assertion string), got {type(assertion)!r}"
            )
        self.config = CredentialConfig.build(
            tenant_id,
            client_id,
            authority=authority,
            additionally_allowed_tenants=additionally_allowed_tenants,
            disable_instance_discovery=disable_instance_discovery,
            options=options,
            owner=owner,
        )
        if assertion is None:
            from .assertions._file import FileAssertion

            assert token_file is not None
            assertion = FileAssertion(token_file)
        self.source = assertion
        self.exchange = MsalExchange(self.config)
        self.policy = self.config.refresh_policy

    def __repr__(self) -> str:
        return (
            f"tenant_id={self.config.tenant_id!r}, client_id={self.config.client_id!r}, "
            f"authority={self.config.authority!r}, assertion={self.source!r}"
        )

    def key(self, scopes: Tuple[str, ...], tenant_id: Optional[str], enable_cae: bool) -> CacheKey:
        if not scopes:
            raise ValueError(
                "get_token requires at least one scope, e.g. 'https://management.azure.com/.default'"
            )
        return CacheKey(scopes, self.config.resolve_tenant(tenant_id), bool(enable_cae))

    def log_failure(
        self, key: CacheKey, state: KeyState, error: BaseException, delay: float, now: float
    ) -> None:
        token = state.token
        if token is not None and token.expires_on > now:
            _LOGGER.warning(
                "Token refresh for scopes %s in tenant %s failed; keeping the cached token (expires in %ds), "
                "next attempt in %.0fs: %s",
                list(key.scopes),
                key.tenant_id,
                token.expires_on - now,
                delay,
                error,
            )
        else:
            _LOGGER.debug(
                "Token request for scopes %s in tenant %s failed: %s", list(key.scopes), key.tenant_id, error
            )


def checked_assertion(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ClientAuthenticationError(
            message=f"The assertion source returned {type(value).__name__}"
            + (" (empty)" if isinstance(value, str) else "")
            + "; it must return the assertion JWT as a non-empty string."
        )
    return value.strip()


def source_error(error: Exception) -> Exception:
    """CredentialUnavailableError and our own errors pass; anything else becomes a
    ClientAuthenticationError (the caller chains the cause)."""
    if isinstance(error, (CredentialUnavailableError, ClientAuthenticationError)):
        return error
    text = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    return ClientAuthenticationError(
        message=f"The assertion source failed with {type(error).__name__}" + (f": {text}" if text else "")
    )


def environment_arguments(environ: Optional[Dict[str, str]] = None) -> Tuple[Optional[str], Dict[str, Any]]:
    """``from_environment``'s constructor arguments, or the message explaining what is missing."""
    settings = read_environment(environ)
    message = settings.unavailable_message
    if message:
        return message, {}
    return None, {
        "tenant_id": settings.tenant_id,
        "client_id": settings.client_id,
        "assertion": settings.source,
        "authority": settings.authority,
    }


__all__ = ["CredentialCore", "TokenExchangeError", "checked_assertion", "source_error"]
