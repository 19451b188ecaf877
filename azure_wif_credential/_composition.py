"""The composition root of both credentials: it assembles a credential's parts (configuration,
assertion source, MSAL exchange, token cache, transport, slots, flows) from the constructor's arguments
or ``from_environment()``, and owns their lifecycle (``with``, ``close``, reopen, fork) and ``repr``.
The per-call protocol is ``_flow``'s; each shell adds only the I/O (threads or tasks)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Generic, Iterable, Optional, Tuple, Type, TypeVar

from ._cache import MemoryTokenCache, TokenCache
from ._config import CredentialConfig, check_options
from ._environment import azure_proxy_enabled, ca_file_option, read_environment
from ._errors import credential_unavailable
from ._flow import Flow, Flows
from ._fork import after_fork_of, reset_in_children
from ._inputs import check_scope
from ._msal import MsalExchange
from ._pipeline import check_transport, is_async_transport
from ._redact import get_logger, safe_text
from ._slots import SlotTable
from ._tokens import CacheKey

_LOGGER = get_logger("azure_wif_credential")


class CredentialCore:
    """One credential's configuration, assertion source, MSAL exchange, token cache and transport."""

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
        enable_azure_proxy: bool = False,
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
        )
        if assertion is None:
            from .assertions._file import FileAssertion

            assert token_file is not None
            assertion = FileAssertion(token_file)
        self.source = assertion
        self.transport = self.config.pipeline_options.get("transport")
        check_transport(self.transport, owner)
        if not isinstance(enable_azure_proxy, bool):
            raise TypeError(
                f"enable_azure_proxy must be True or False, not {type(enable_azure_proxy).__name__}"
            )
        transport_factory: Optional[Callable[[], Any]] = None  # the AKS token proxy's, when enabled
        if enable_azure_proxy:
            from ._azure_proxy import AzureProxyTransport, CaBundle, proxy_settings

            settings = proxy_settings()  # ValueError for an inconsistent configuration, as azure-identity
            if settings is not None:
                if self.transport is not None:
                    raise ValueError(
                        "enable_azure_proxy=True sends token requests through the AKS token proxy with a "
                        "transport of its own: do not pass transport= as well"
                    )
                pipeline = self.config.pipeline_options
                extra = {
                    k: pipeline[k] for k in ("connection_cert", "connection_data_block_size") if k in pipeline
                }
                ca = CaBundle(
                    settings.ca_file, settings.ca_data
                )  # an empty or unreadable CA file: ValueError now
                transport_factory = lambda: AzureProxyTransport(settings, ca, **extra)  # noqa: E731
        self.policy = self.config.refresh_policy
        self.cache: TokenCache = MemoryTokenCache()
        documents = None
        if self.config.cache_persistence_options is not None:
            from ._persistent_cache import PersistentTokenCache

            self.cache = documents = PersistentTokenCache(
                self.config.cache_persistence_options,
                authority=self.config.authority,
                client_id=self.config.client_id,
            )
        self.exchange = MsalExchange(self.config, documents=documents, transport_factory=transport_factory)

    # The caller's transport is theirs to configure and ours to enter and close, as in azure-identity;
    # our own transport is created with the first token request (no network at construction).

    def enter(self) -> None:
        if self.transport is not None and not is_async_transport(self.transport):
            self.transport.__enter__()

    async def aenter(self) -> None:
        if self.transport is not None and is_async_transport(self.transport):
            await self.transport.__aenter__()
        else:
            self.enter()

    def after_fork(self) -> None:
        """In a forked child: the exchange, the cache and the source drop what the parent's threads
        and connections left; a caller's requests transport drops its pooled connections."""
        self.exchange.after_fork()
        after_fork_of(self.cache)
        after_fork_of(self.source)
        session = getattr(self.transport, "session", None)
        if session is not None and callable(getattr(session, "close", None)):
            session.close()  # a requests.Session stays usable; its pools start empty

    def close(self) -> None:
        """Drop the MSAL clients and close the transport; the next call starts afresh (reopen)."""
        self.exchange.close()
        if self.transport is not None and not is_async_transport(self.transport):
            self.transport.__exit__(None, None, None)

    async def aclose(self) -> None:
        self.close()  # the exchange, and a sync transport
        if self.transport is not None and is_async_transport(self.transport):
            await self.transport.__aexit__(None, None, None)

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


def repr_of(value: object) -> str:
    """``repr(value)``, or its type's name when its ``__repr__`` fails (a user's callable)."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


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
B = TypeVar("B", bound="CredentialBase[Any]")


class CredentialBase(Generic[A]):
    """Construction, ``from_environment``, ``repr`` and the lifecycle of both credentials; each
    subclass performs the flow's effects with its own I/O (threads or tasks)."""

    _executor: Optional[ThreadPoolExecutor] = None  # created when first needed
    _thread_name = "azure-wif"

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
        enable_azure_proxy: bool = False,
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
            enable_azure_proxy=enable_azure_proxy,
            options=kwargs,
            owner=("aio." if ".aio." in type(self).__module__ else "") + type(self).__name__,
        )
        self._slots = SlotTable(self._core.policy)
        self._flows = Flows(self._core)
        self._lock = threading.Lock()
        reset_in_children(self)

    def _after_fork(self) -> None:
        """In a forked child: new locks and worker pool, no refresh in flight, no shared connection
        (see ``_fork``); cached tokens are kept."""
        self._lock = threading.Lock()
        self._executor = None  # the parent's pool: its workers do not exist here
        for name in ("_jobs", "_tasks"):
            self.__dict__.pop(name, None)
        self._slots.after_fork()
        self._core.after_fork()

    @classmethod
    def from_environment(cls: Type[B], **kwargs: Any) -> B:
        """A credential from AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_AUTHORITY_HOST,
        AZURE_ADDITIONALLY_ALLOWED_TENANTS (';'-separated) and the first assertion source the
        environment provides (AZURE_FEDERATED_TOKEN_FILE, GitHub Actions, Azure Pipelines). Never raises for missing variables: ``get_token`` then raises
        CredentialUnavailableError naming them, so ``ChainedTokenCredential`` moves on. Without
        ``connection_verify=`` or ``transport=``, AZURE_WIF_CA_FILE (a CA bundle, e.g. the sandbox's) is
        trusted."""
        kwargs = ca_file_option(kwargs)
        settings = read_environment(**kwargs)
        arguments: Dict[str, Any] = {**kwargs, "authority": settings.authority}
        if "enable_azure_proxy" not in kwargs and azure_proxy_enabled():
            arguments["enable_azure_proxy"] = True
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

    @property
    def authority(self) -> str:
        """The authority host this credential asks for tokens (``https://login.microsoftonline.com``)."""
        return self._core.config.authority

    def __repr__(self) -> str:
        flavour = "aio." if ".aio." in type(self).__module__ else ""
        return f"{flavour}{type(self).__name__}({self._core!r})"

    def _call(
        self, scopes: Tuple[str, ...], claims: Optional[str], tenant_id: Optional[str], enable_cae: bool
    ) -> Flow:
        """The flow of one call that the cache-hit path did not answer."""
        key = self._core.key(scopes, tenant_id, enable_cae)  # validated: scopes present, tenant allowed
        return self._flows.get_token(self._slots.slot(key, scopes, tenant_id, enable_cae), claims)

    def _worker(self) -> ThreadPoolExecutor:
        """The credential's worker threads (background refreshes; blocking calls of the aio shell)."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix=self._thread_name)
            return self._executor

    def _detach_worker(self) -> Optional[ThreadPoolExecutor]:
        """close(): the worker threads to shut down (a later call starts new ones: a closed credential
        reopens, as azure-identity's do)."""
        with self._lock:
            executor, self._executor = self._executor, None
        return executor
