"""What the sync and the async credential share, apart from the policy: argument handling, cache keys,
assertion checking, failure logging. Their own modules only add the I/O (threads or tasks)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    Protocol,
    Tuple,
    Type,
    TypeVar,
)

from azure.core.exceptions import ClientAuthenticationError

from ._config import CredentialConfig
from ._environment import read_environment
from ._errors import credential_unavailable
from ._exchange import MsalExchange
from ._policy import CachedToken, CacheKey, KeyState

_LOGGER = logging.getLogger("azure_wif_credential")


class HasState(Protocol):
    state: KeyState


S = TypeVar("S", bound=HasState)


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


class SlotTable(Generic[S]):
    """The per-key slots of one credential. ``fresh()`` is the cache-hit path: one dict lookup keyed
    by the caller's own arguments (no validation, no key object), then the policy's FRESH test."""

    def __init__(self, core: CredentialCore, new_slot: Callable[[], S]) -> None:
        self._core = core
        self._new_slot = new_slot
        self._slots: Dict[CacheKey, S] = {}
        self._by_arguments: Dict[Tuple[Tuple[str, ...], Optional[str], bool], S] = {}
        self._lock = threading.Lock()

    def fresh(
        self, scopes: Tuple[str, ...], tenant_id: Optional[str], enable_cae: bool
    ) -> Optional[CachedToken]:
        slot = self._by_arguments.get((scopes, tenant_id, enable_cae))
        if slot is not None:
            token = slot.state.token
            if token is not None and time.time() < token.refresh_on:
                return token
        return None

    def slot(self, scopes: Tuple[str, ...], tenant_id: Optional[str], enable_cae: bool) -> Tuple[CacheKey, S]:
        """The key (validated: scopes present, tenant allowed) and its slot, created on first use."""
        key = self._core.key(scopes, tenant_id, enable_cae)
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = self._new_slot()
            self._by_arguments[(scopes, tenant_id, bool(enable_cae))] = slot
        return key, slot

    def clear(self) -> None:
        with self._lock:
            self._by_arguments.clear()
            self._slots.clear()


def request_options(options: Optional[Mapping[str, Any]]) -> Tuple[Optional[str], Optional[str], bool]:
    """``get_token_info``'s options as (claims, tenant_id, enable_cae)."""
    opts = options or {}
    return opts.get("claims"), opts.get("tenant_id"), bool(opts.get("enable_cae"))


def checked_assertion(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ClientAuthenticationError(
            message=f"The assertion source returned {type(value).__name__}"
            + (" (empty)" if isinstance(value, str) else "")
            + "; it must return the assertion JWT as a non-empty string."
        )
    return value.strip()


@contextlib.contextmanager
def assertion_errors() -> Iterator[None]:
    """Around a call of the assertion source: CredentialUnavailableError and our own errors pass;
    anything else (a raw FileNotFoundError, a KeyError...) becomes a ClientAuthenticationError with
    the original chained as its cause."""
    try:
        yield
    except ClientAuthenticationError:  # CredentialUnavailableError is one too
        raise
    except Exception as error:
        text = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise ClientAuthenticationError(
            message=f"The assertion source failed with {type(error).__name__}" + (f": {text}" if text else "")
        ) from error


class _Unavailable:
    """The assertion source of a credential whose environment is incomplete: every call raises
    CredentialUnavailableError saying what is missing (so chains move on)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self) -> str:
        raise credential_unavailable(self.message)

    def __repr__(self) -> str:
        return "unavailable"


A = TypeVar("A")  # what the credential accepts as ``assertion``
B = TypeVar("B", bound="CredentialBase[Any, Any]")


class CredentialBase(Generic[A, S]):
    """Construction, ``from_environment``, ``repr`` and the cache-hit path of both credentials; each
    subclass adds its I/O (threads or tasks) and says which slot type it keeps per key."""

    _slot_type: Callable[[], S]

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        *,
        assertion: Optional[A] = None,
        token_file: Optional[str | os.PathLike[str]] = None,
        authority: Optional[str] = None,
        additionally_allowed_tenants: Optional[Iterable[str]] = None,
        disable_instance_discovery: bool = False,
        **kwargs: Any,
    ) -> None:
        self._core = CredentialCore(
            tenant_id,
            client_id,
            assertion=assertion,
            token_file=token_file,
            authority=authority,
            additionally_allowed_tenants=additionally_allowed_tenants,
            disable_instance_discovery=disable_instance_discovery,
            options=kwargs,
            owner=type(self).__name__,
        )
        self._slots: SlotTable[S] = SlotTable(self._core, self._slot_type)
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_environment(cls: Type[B], **kwargs: Any) -> B:
        """A credential from AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_AUTHORITY_HOST,
        AZURE_ADDITIONALLY_ALLOWED_TENANTS (';'-separated) and the first assertion source the
        environment provides (AZURE_FEDERATED_TOKEN_FILE, GitHub Actions, Azure Pipelines). Never raises for missing variables: ``get_token`` then raises
        CredentialUnavailableError naming them, so ``ChainedTokenCredential`` moves on."""
        settings = read_environment(**kwargs)
        arguments: Dict[str, Any] = {**kwargs, "authority": settings.authority}
        message = settings.unavailable_message
        if message is None:
            assert settings.tenant_id and settings.client_id
            tenant_id, client_id = settings.tenant_id, settings.client_id
            arguments["assertion"] = settings.source
            if (
                settings.additionally_allowed_tenants
                and arguments.get("additionally_allowed_tenants") is None
            ):
                arguments["additionally_allowed_tenants"] = settings.additionally_allowed_tenants
            _LOGGER.debug(
                "from_environment: tenant %s, client %s, assertion from %s",
                tenant_id,
                client_id,
                settings.source_description,
            )
        else:
            tenant_id, client_id, arguments["assertion"] = "unavailable", "unavailable", _Unavailable(message)
            arguments["additionally_allowed_tenants"] = ["*"]
        return cls(tenant_id, client_id, **arguments)

    def __repr__(self) -> str:
        flavour = "aio." if ".aio." in type(self).__module__ else ""
        return f"{flavour}{type(self).__name__}({self._core!r})"

    def _closed_error(self) -> RuntimeError:
        return RuntimeError(f"This {type(self).__name__} is closed.")


__all__ = [
    "CredentialBase",
    "CredentialCore",
    "SlotTable",
    "assertion_errors",
    "checked_assertion",
    "request_options",
]
