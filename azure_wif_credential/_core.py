"""What the sync and the async credential share, apart from the policy: argument handling, cache keys,
assertion checking, failure logging. Their own modules only add the I/O (threads or tasks)."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import threading
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

from ._config import CredentialConfig, check_options
from ._environment import read_environment
from ._errors import AssertionSourceError, TokenExchangeError, credential_unavailable, scrubbed
from ._exchange import MsalExchange
from ._policy import CachedToken, CacheKey, KeyState, finish_refresh
from ._redact import error_text, get_logger, remember, safe_text, without_secret_cause

_LOGGER = get_logger("azure_wif_credential")
#: An assertion is a compact JWS/JWE: base64url segments joined by dots, and small.
MAX_ASSERTION_LENGTH = 64 * 1024
_COMPACT_JWT = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]*){2,4}")
MAX_CLAIMS_LENGTH = 16 * 1024


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
        check_options(options, owner)  # a misspelled tokenfile= is named as such, not as a missing source
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
            f"authority={self.config.authority!r}, assertion={safe_text(repr_of(self.source))}"
        )

    def key(self, scopes: Tuple[str, ...], tenant_id: Optional[str], enable_cae: bool) -> CacheKey:
        if not scopes:
            raise ValueError(
                "get_token requires at least one scope, e.g. 'https://management.azure.com/.default'"
            )
        for scope in scopes:
            check_scope(scope)
        return CacheKey(tuple(scopes), self.config.resolve_tenant(tenant_id), bool(enable_cae))

    def settle(
        self,
        key: CacheKey,
        state: KeyState,
        lock: Optional[Any],
        generation: int,
        token: Optional[CachedToken],
        error: Optional[BaseException],
        *,
        counted: bool = True,
    ) -> None:
        """End lease ``generation`` of ``key`` (its token, or its error). The key is free afterwards
        whatever happens in here: this is where "every refresh that begins ends" holds. ``lock`` is the
        key's lock, or None when the caller already holds it."""
        try:
            with lock if lock is not None else contextlib.nullcontext():
                now = self.policy.clock()
                delay = finish_refresh(state, generation, self.policy, now, token, counted=counted)
            if error is not None and counted:
                self.log_failure(key, state, error, delay, now)
        finally:
            if state.generation == generation:
                state.refreshing = False

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
                error_text(error),
            )
        else:
            _LOGGER.debug(
                "Token request for scopes %s in tenant %s failed: %s",
                list(key.scopes),
                key.tenant_id,
                error_text(error),
            )


class SlotTable(Generic[S]):
    """The per-key slots of one credential. ``fresh()`` is the cache-hit path: one dict lookup keyed
    by the caller's own arguments (no validation, no key object), then the policy's FRESH test."""

    def __init__(self, core: CredentialCore, new_slot: Callable[[], S]) -> None:
        self._core = core
        self._clock = core.policy.clock
        self._new_slot = new_slot
        self._slots: Dict[CacheKey, S] = {}
        self._by_arguments: Dict[Tuple[Tuple[str, ...], Optional[str], bool], S] = {}
        self._lock = threading.Lock()

    def fresh(
        self, scopes: Tuple[str, ...], tenant_id: Optional[str], enable_cae: bool
    ) -> Optional[CachedToken]:
        try:
            slot = self._by_arguments.get((scopes, tenant_id, enable_cae))
        except TypeError:  # unhashable arguments: slot() explains what is wrong with them
            return None
        if slot is not None:
            token = slot.state.token
            if token is not None and self._clock() < token.refresh_on:
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
    if options is None:
        return None, None, False
    if not isinstance(options, Mapping):
        raise TypeError(f"options must be a mapping (TokenRequestOptions), not {type(options).__name__}")
    return options.get("claims"), options.get("tenant_id"), bool(options.get("enable_cae"))


def check_scope(scope: Any) -> None:
    if not isinstance(scope, str):
        raise TypeError(f"scopes must be strings, got {type(scope).__name__}")
    if not scope or len(scope) > 2048 or any(c.isspace() or not c.isprintable() for c in scope):
        raise ValueError(
            f"Invalid scope {scope[:80]!r}: a scope is one resource with '/.default', e.g. "
            "'https://management.azure.com/.default' (no spaces or control characters; pass several "
            "scopes as separate arguments)."
        )


def checked_claims(claims: Any) -> Optional[str]:
    """A claims challenge as MSAL needs it: a JSON object (text), or None for no challenge."""
    if claims is None or claims == "":
        return None
    if not isinstance(claims, str):
        raise TypeError(
            f"claims must be a JSON string (the decoded CAE challenge), not {type(claims).__name__}"
        )
    if len(claims) > MAX_CLAIMS_LENGTH:
        raise ValueError(f"claims is {len(claims)} characters long; a CAE challenge is a small JSON object")
    try:
        document = json.loads(claims)
    except (ValueError, RecursionError):
        raise ValueError(
            "claims is not JSON: pass the claims challenge decoded from the WWW-Authenticate header's "
            'base64 `claims` parameter, e.g. \'{"access_token": {"nbf": {"essential": true, "value": "..."}}}\''
        ) from None
    if not isinstance(document, dict):
        raise ValueError(f"claims must be a JSON object, not a JSON {type(document).__name__}")
    return claims


def checked_assertion(value: Any) -> str:
    """The source's answer if it is an assertion (registered as a secret), else an error that says what
    came back without showing it."""
    if inspect.iscoroutine(value):
        value.close()  # a coroutine function given to the sync credential: never awaited, so close it
        raise AssertionSourceError(
            "The assertion source returned a coroutine: the sync FederatedTokenCredential needs a "
            "plain callable (use azure_wif_credential.aio.FederatedTokenCredential for async sources)."
        )
    if isinstance(value, bytes):
        raise AssertionSourceError(
            "The assertion source returned bytes; it must return the assertion JWT as a str."
        )
    if not isinstance(value, str) or not value.strip():
        raise AssertionSourceError(
            f"The assertion source returned {type(value).__name__}"
            + (" (empty)" if isinstance(value, str) else "")
            + "; it must return the assertion JWT as a non-empty string."
        )
    remember(value)
    assertion = value.strip()
    if len(assertion) > MAX_ASSERTION_LENGTH:
        raise AssertionSourceError(
            f"The assertion source returned {len(assertion)} characters; an assertion is a JWT of "
            f"at most {MAX_ASSERTION_LENGTH} characters."
        )
    if not _COMPACT_JWT.fullmatch(assertion):
        bad = next((c for c in assertion if not (c.isalnum() and c.isascii()) and c not in "-_."), None)
        what = f"a character {bad!r} that a JWT cannot hold" if bad is not None else "too few '.' segments"
        raise AssertionSourceError(
            f"The assertion source returned a string that is not a JWT ({what}); it must return the "
            "compact JWT itself (header.payload.signature), without quotes, 'Bearer ' or JSON around it."
        )
    return assertion


@contextlib.contextmanager
def assertion_errors() -> Iterator[None]:
    """Around a call of the assertion source: CredentialUnavailableError and our own errors pass;
    anything else (a raw FileNotFoundError, a KeyError...) becomes a ClientAuthenticationError whose
    message is redacted, with the original chained only when its own text shows no secret."""
    try:
        yield
    except ClientAuthenticationError as error:  # CredentialUnavailableError is one too
        if without_secret_cause(error) is None:  # a user source's error that quotes a secret
            from azure.identity import CredentialUnavailableError

            kind = CredentialUnavailableError if isinstance(error, CredentialUnavailableError) else None
            text = safe_text(error.message if isinstance(error.message, str) else error)
            raise (scrubbed(kind(message=text)) if kind else AssertionSourceError(text)) from None
        raise
    except Exception as error:
        text = error_text(error, limit=200)
        shown = f": {text}" if text != type(error).__name__ else ""
        raise AssertionSourceError(
            f"The assertion source failed with {type(error).__name__}{shown}"
        ) from without_secret_cause(error)


def refresh_timed_out(key: CacheKey, policy: Any) -> TokenExchangeError:
    """What a waiter gets when the refresh it waits for outlives its lease."""
    return TokenExchangeError(
        f"No token for scopes {list(key.scopes)}: the refresh in progress did not finish within "
        f"refresh_timeout={policy.refresh_timeout:g} s (is the assertion source hanging?). The next "
        "call starts a new one.",
        retryable=True,
    )


def repr_of(value: object) -> str:
    """``repr(value)``, or its type's name when its ``__repr__`` fails (a user's callable)."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def shared_error(error: Optional[BaseException]) -> Exception:
    """What the waiters of a failed refresh get: the leader's Exception itself, or, for an interrupt
    (KeyboardInterrupt, SystemExit, a cancellation) that stays with the leader, an error saying so."""
    if isinstance(error, Exception):
        return error
    try:
        return TokenExchangeError(
            "The token refresh was interrupted before it finished; try again.", retryable=True
        )
    except Exception as broken:  # never leave waiters without an answer
        return broken


_IGNORED_GET_TOKEN_KWARGS: set[str] = set()


def warn_ignored(kwargs: Mapping[str, Any]) -> None:
    """Unknown get_token keywords are logged (once each, as a WARNING), as azure-identity tolerates them."""
    for name in kwargs:
        if name not in _IGNORED_GET_TOKEN_KWARGS:
            _IGNORED_GET_TOKEN_KWARGS.add(name)
            _LOGGER.warning("get_token ignores the keyword argument %r", name)


class _Unavailable:
    """The assertion source of a credential whose environment is incomplete: every call raises
    CredentialUnavailableError saying what is missing (so chains move on)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self) -> str:
        raise credential_unavailable(self.message)

    def __repr__(self) -> str:
        return "unavailable"


GET_TOKEN_DOC = """Request an access token for ``scopes`` (azure-core's ``TokenCredential``).

:param str scopes: one or more scopes, e.g. ``"https://management.azure.com/.default"``.
:keyword str claims: a claims challenge (the decoded JSON of a CAE ``WWW-Authenticate`` challenge); it
    always reaches Entra, and its token replaces the cached one.
:keyword str tenant_id: another tenant for this request; it must be in ``additionally_allowed_tenants``.
:keyword bool enable_cae: request a CAE-capable token (cached apart from non-CAE tokens).
:return: the cached token while it is fresh, else a new one (see the refresh policy).
:rtype: ~azure.core.credentials.AccessToken
:raises ~azure.identity.CredentialUnavailableError: the environment provides no assertion (a chain
    moves on).
:raises ~azure_wif_credential.TokenExchangeError: Entra refused the exchange, answered something that is
    not a token, or could not be reached (see ``error_codes``, ``hint``, ``retryable``).
:raises ~azure.core.exceptions.ClientAuthenticationError: the assertion source failed.
:raises ValueError: no scope, or a malformed scope, tenant or claims (TypeError for the wrong type).
"""

GET_TOKEN_INFO_DOC = """Request an access token for ``scopes`` (azure-core's ``SupportsTokenInfo``).

:param str scopes: one or more scopes, e.g. ``"https://graph.microsoft.com/.default"``.
:keyword options: ``TokenRequestOptions``: ``claims``, ``tenant_id`` and ``enable_cae`` as for
    :meth:`get_token`.
:return: the token with ``expires_on``, ``refresh_on`` (when this credential will refresh it) and
    ``token_type``.
:rtype: ~azure.core.credentials.AccessTokenInfo
:raises: as :meth:`get_token`.
"""

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
        *args: Any,
        assertion: Optional[A] = None,
        token_file: Optional[str | os.PathLike[str]] = None,
        authority: Optional[str] = None,
        additionally_allowed_tenants: Optional[Iterable[str]] = None,
        disable_instance_discovery: bool = False,
        **kwargs: Any,
    ) -> None:
        if args:
            raise TypeError(
                f"{type(self).__name__}() takes the assertion source as a keyword argument: "
                "assertion=<callable returning the JWT> (or token_file=<path>), not positionally "
                f"({len(args)} extra positional argument{'s' if len(args) > 1 else ''} given)."
            )
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
    "GET_TOKEN_DOC",
    "GET_TOKEN_INFO_DOC",
    "CredentialBase",
    "CredentialCore",
    "SlotTable",
    "assertion_errors",
    "checked_assertion",
    "checked_claims",
    "refresh_timed_out",
    "request_options",
    "shared_error",
    "warn_ignored",
]
