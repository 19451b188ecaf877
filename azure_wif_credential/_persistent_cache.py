"""The host-wide token cache (``cache_persistence_options=``): one token request per key per host.

Tokens and Entra's discovery documents are kept in one document per cache ``name``, stored through
msal-extensions (encrypted where the platform offers it; a 0600 file only with
``allow_unencrypted_storage=True``) beside azure-identity's persistent caches, in a file of our own
(``<name>.wif``: never a file in a format another library owns). Reads and writes hold the cache's
file lock, so no one sees a torn document; a refresh holds the key's cache lock (another lock file), so N
processes starting cold make one token request: the others wait for it (bounded) and read its token.

Everything read is hostile until checked: a corrupt, truncated, empty, oversized or foreign document
is ignored and rewritten (one WARNING, no secret in it); a directory or lock we cannot use falls back
to this process's memory with a WARNING. Nothing here raises into the credential.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from typing import Any, Dict, Optional, Tuple

from ._cache import NO_LOCK, CacheLock, MemoryTokenCache
from ._files import FileTooLarge
from ._host_files import HostLock, Untrusted, read_document, trusted_directory, write_document
from ._redact import error_text, get_logger, remember
from ._tokens import CachedToken, CacheKey

_LOGGER = get_logger("azure_wif_credential")
FORMAT = "azure-wif-credential.token-cache"
VERSION = 1
#: A document larger than this is not ours (a cache holds a few tokens and discovery documents).
MAX_DOCUMENT_BYTES = 4 << 20
#: Discovery documents are reused for a day, as MSAL's own in-process cache does.
DISCOVERY_LIFETIME = 24 * 3600.0
SUFFIX = ".wif"
#: Seconds the document lock is waited for (a read or a write takes milliseconds) ...
DOCUMENT_LOCK_WAIT = 2.0
#: ... and a key's refresh lease (another process's token request: normally well under a second).
LEASE_WAIT = 5.0
#: After a failure (a lock not had, a full disk), this process's memory only for this long.
RETRY_HOST_CACHE_AFTER = 60.0


def cache_directory() -> str:
    """Where azure-identity keeps its persistent caches (``~/.IdentityService``; on Windows under
    ``%LOCALAPPDATA%``), so an operator finds ours beside them."""
    if sys.platform.startswith("win") and "LOCALAPPDATA" in os.environ:
        return os.path.join(os.environ["LOCALAPPDATA"], ".IdentityService")
    return os.path.join(os.path.expanduser("~"), ".IdentityService")


def check_persistence_options(options: Any) -> Tuple[str, bool]:
    """``(name, allow_unencrypted_storage)`` of azure-identity's TokenCachePersistenceOptions."""
    from azure.identity import TokenCachePersistenceOptions

    if not isinstance(options, TokenCachePersistenceOptions):
        raise TypeError(
            "cache_persistence_options must be azure.identity.TokenCachePersistenceOptions, not "
            f"{type(options).__name__}"
        )
    name = options.name
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 100
        or not all(c.isalnum() or c in "._-" for c in name)
        or name.startswith(".")
    ):
        raise ValueError(
            f"cache_persistence_options.name {str(name)[:80]!r} must be 1-100 letters, digits, '.', '_' or "
            "'-' (it names a file), e.g. 'deploy'"
        )
    return name, bool(options.allow_unencrypted_storage)


def build_persistence(location: str, allow_unencrypted: bool) -> Any:
    """msal-extensions' encrypted persistence for this platform; None for our own plain ``0600`` file
    (only when allowed); a ValueError naming ``allow_unencrypted_storage`` otherwise."""
    import msal_extensions

    try:
        return msal_extensions.build_encrypted_persistence(location)
    except Exception as error:
        if not allow_unencrypted:
            raise ValueError(
                "The persistent token cache cannot be encrypted here (no DPAPI, Keychain or usable "
                f"libsecret: {error_text(error, limit=160)}). Pass "
                "TokenCachePersistenceOptions(allow_unencrypted_storage=True) to store it in a file only "
                "your user can read, or leave cache_persistence_options out."
            ) from None
        _LOGGER.debug(
            "Persistent token cache: no encryption available (%s); using a 0600 file", error_text(error)
        )
    return None


def _key_id(authority: str, client_id: str, key: CacheKey) -> str:
    canonical = json.dumps([authority, client_id, key.tenant_id, list(key.scopes), key.enable_cae])
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class PersistentTokenCache:
    """A :class:`~azure_wif_credential._cache.TokenCache` shared by every process of this user on this
    host. Blocking (file I/O, lock waits): the asyncio shell calls it in worker threads.

    Every operation is bounded: the document lock is waited for at most :data:`DOCUMENT_LOCK_WAIT`
    seconds and a key's lease at most :data:`LEASE_WAIT`; past that, or on a full, read-only or
    over-quota disk, this process uses its own memory (one WARNING) and tries the host cache again after
    :data:`RETRY_HOST_CACHE_AFTER` seconds. A directory or file that is not this user's alone is never
    used (see ``_host_files``).
    """

    blocking = True
    shared = True

    def __init__(self, options: Any, *, authority: str, client_id: str) -> None:
        self.name, allow_unencrypted = check_persistence_options(options)
        self._authority, self._client_id = authority, client_id
        self.directory = cache_directory()
        self.location = os.path.join(self.directory, self.name + SUFFIX)
        self._memory = MemoryTokenCache()  # the fallback when the host cache cannot be used
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._untrusted = False  # for good: a path another user controls
        self._off_until = 0.0  # monotonic: this process's memory only until then
        try:
            self._encrypted: Any = build_persistence(self.location, allow_unencrypted)
        except ValueError:
            raise
        except Exception as error:  # a broken keyring ...: this process's memory only
            self._encrypted = None
            self._untrusted = True
            self._warn(
                "unusable",
                f"cannot use {self.location} ({error_text(error, limit=160)}); tokens are "
                "cached in this process only",
            )

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._memory._after_fork()

    def __repr__(self) -> str:
        return f"PersistentTokenCache(name={self.name!r}, location={self.location!r})"

    # --- TokenCache ---------------------------------------------------------------------------

    def get(self, key: CacheKey) -> Optional[CachedToken]:
        document = self._read()
        if document is None:
            return self._memory.get(key)
        entry = document.get("tokens", {}).get(_key_id(self._authority, self._client_id, key))
        if not isinstance(entry, dict) or (entry.get("authority"), entry.get("client_id")) != (
            self._authority,
            self._client_id,
        ):
            return None
        return _token_entry(entry, key)

    def put(self, key: CacheKey, token: CachedToken) -> None:
        self._memory.put(key, token)
        identity = _key_id(self._authority, self._client_id, key)
        entry = {
            "authority": self._authority,
            "client_id": self._client_id,
            "tenant_id": key.tenant_id,
            "scopes": list(key.scopes),
            "enable_cae": key.enable_cae,
            "access_token": token.token,
            "token_type": token.token_type,
            "expires_on": token.expires_on,
            "refresh_on": token.refresh_on,
        }
        self._update(lambda document: _set(document, "tokens", identity, entry, expired_before=time.time()))

    def lock(self, key: CacheKey, timeout: float) -> CacheLock:
        if not self._usable():
            return NO_LOCK
        lock = HostLock(f"{self.location}.{_key_id(self._authority, self._client_id, key)[:16]}.lease")
        try:
            lock.acquire(min(timeout, LEASE_WAIT))  # not held: another process refreshes; go on without
        except Exception as error:
            self._give_up(
                "lease", f"could not take the refresh lease ({error_text(error, limit=160)})", error
            )
        return lock

    # --- discovery documents (MSAL's GETs), read by the HTTP client MSAL uses -----------------

    def get_document(self, url: str) -> Optional[Dict[str, Any]]:
        document = self._read()
        entry = (document or {}).get("discovery", {}).get(url)
        if not isinstance(entry, dict) or not isinstance(entry.get("body"), str):
            return None
        stored = entry.get("stored_at")
        if not isinstance(stored, (int, float)) or not 0 <= time.time() - stored < DISCOVERY_LIFETIME:
            return None
        return entry

    def put_document(self, url: str, body: str) -> None:
        entry = {"body": body, "stored_at": time.time()}
        self._update(lambda document: _set(document, "discovery", url, entry))

    # --- the document ---------------------------------------------------------------------------

    def _usable(self) -> bool:
        """Whether the host cache may be used now: a trusted directory, and no recent failure."""
        if self._untrusted or time.monotonic() < self._off_until:
            return False
        try:
            trusted_directory(self.directory)
        except Exception as error:
            self._give_up("directory", f"cannot use the directory ({error_text(error, limit=200)})", error)
            return False
        return True

    def _give_up(self, kind: str, message: str, error: BaseException) -> None:
        """The host cache failed: for good when a path is not ours alone, else for a while."""
        if isinstance(error, Untrusted):
            self._untrusted = True
            self._warn("untrusted", f"{message}; tokens are cached in this process only")
            return
        self._off_until = time.monotonic() + RETRY_HOST_CACHE_AFTER
        self._warn(kind, f"{message}; tokens are cached in this process only for now")

    def _locked(self) -> Optional[HostLock]:
        if not self._usable():
            return None
        lock = HostLock(self.location + ".lockfile")
        try:
            if lock.acquire(DOCUMENT_LOCK_WAIT):
                return lock
            self._give_up(
                "lock",
                f"{self.location} stayed locked by another process for {DOCUMENT_LOCK_WAIT:g} s",
                TimeoutError(),
            )
        except Exception as error:
            self._give_up("lock", f"could not lock {self.location} ({error_text(error, limit=160)})", error)
        return None

    def _read(self) -> Optional[Dict[str, Any]]:
        lock = self._locked()
        if lock is None:
            return None
        try:
            return self._load()
        finally:
            lock.release()

    def _update(self, change: Any) -> None:
        lock = self._locked()
        if lock is None:
            return
        try:
            document = self._load()
            if document is None:  # not ours, or unreadable: never written into (memory only)
                return
            change(document)
            text = json.dumps(document, separators=(",", ":"))
            if self._encrypted is not None:
                self._encrypted.save(text)
            else:
                write_document(self.location, text.encode("utf-8"))
        except Exception as error:  # ENOSPC, EDQUOT, EROFS, ...: a WARNING, and memory for a while
            self._give_up("write", f"could not write {self.location} ({error_text(error, limit=160)})", error)
        finally:
            lock.release()

    def _load(self) -> Optional[Dict[str, Any]]:
        """The document, or an empty one for a missing, corrupt or foreign document (to be rewritten);
        None when the file cannot be used at all."""
        if self._encrypted is not None:
            try:
                text = self._encrypted.load()
            except Exception as error:
                if type(error).__name__ == "PersistenceNotFound":
                    return _empty()
                return self._ignored(f"it could not be read or decrypted ({type(error).__name__})")
        else:
            try:
                data = read_document(self.location, MAX_DOCUMENT_BYTES)
            except Untrusted as error:
                self._give_up("read", str(error), error)
                return None
            except FileTooLarge:
                return self._ignored(f"it is over {MAX_DOCUMENT_BYTES} bytes long")
            except OSError as error:
                self._give_up("read", f"cannot read {self.location} ({error_text(error, limit=160)})", error)
                return None
            if data is None:
                return _empty()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                return self._ignored("it is not UTF-8 text")
        if not text.strip():
            return self._ignored("it is empty")
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            return self._ignored("it is not JSON (truncated or corrupt?)")
        if (
            not isinstance(document, dict)
            or document.get("format") != FORMAT
            or document.get("version") != VERSION
        ):
            return self._ignored("it is not an azure-wif-credential token cache")
        for section in ("tokens", "discovery"):
            if not isinstance(document.get(section), dict):
                document[section] = {}
        return document

    def _ignored(self, why: str) -> Dict[str, Any]:
        self._warn("ignored:" + why, f"ignoring {self.location}: {why}; it will be rewritten")
        return _empty()

    def _warn(self, kind: str, message: str) -> None:
        with self._lock:
            if kind in self._warned:
                return
            self._warned.add(kind)
        _LOGGER.warning("Persistent token cache %r: %s", self.name, message)


def _empty() -> Dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "tokens": {}, "discovery": {}}


def _set(
    document: Dict[str, Any], section: str, name: str, entry: Dict[str, Any], expired_before: float = 0.0
) -> None:
    entries = document[section]
    if expired_before:
        for stale in [
            n for n, e in entries.items() if not isinstance(e, dict) or _expired(e, expired_before)
        ]:
            del entries[stale]
    entries[name] = entry


def _expired(entry: Dict[str, Any], now: float) -> bool:
    expires_on = entry.get("expires_on")
    return not isinstance(expires_on, int) or expires_on <= now


def _token_entry(entry: Any, key: CacheKey) -> Optional[CachedToken]:
    """The stored token, when the entry is well-formed and is this key's (checked field by field: a
    process never gets another client's, tenant's or CAE mode's token)."""
    if not isinstance(entry, dict):
        return None
    token, expires_on, refresh_on = (
        entry.get("access_token"),
        entry.get("expires_on"),
        entry.get("refresh_on"),
    )
    if (
        entry.get("tenant_id") != key.tenant_id
        or entry.get("scopes") != list(key.scopes)
        or entry.get("enable_cae") is not key.enable_cae
        or not isinstance(token, str)
        or not token
        or len(token) > 64 * 1024
        or not isinstance(expires_on, int)
        or not isinstance(refresh_on, int)
        or isinstance(expires_on, bool)
        or refresh_on > expires_on
        or expires_on <= time.time()
    ):
        return None
    remember(token)
    token_type = entry.get("token_type")
    return CachedToken(
        token=token,
        expires_on=expires_on,
        refresh_on=refresh_on,
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
    )
