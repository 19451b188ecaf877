"""The sandbox's directory: tenants, app registrations and their federated identity credentials."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class App:
    """An app registration as it exists in one tenant (the same client id may be in several)."""

    tenant_id: str
    client_id: str
    object_id: str = field(default="", compare=False)  # of the app's service principal in this tenant


@dataclass(frozen=True)
class FederatedCredential:
    """Trust in tokens from ``issuer`` with exactly this ``subject`` and ``audience``."""

    issuer: str
    subject: str
    audience: str


@dataclass
class _Registration:
    object_id: str
    credentials: list[FederatedCredential]


class Directory:
    """Thread-safe store of registrations, keyed by tenant then client id (both case-insensitive GUIDs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: dict[str, dict[str, _Registration]] = {}

    def register(self, tenant_id: str | None, client_id: str | None, credential: FederatedCredential) -> App:
        tenant_id = tenant_id or str(uuid.uuid4())
        client_id = client_id or str(uuid.uuid4())
        with self._lock:
            apps = self._tenants.setdefault(tenant_id.lower(), {})
            registration = apps.get(client_id.lower())
            if registration is None:
                registration = apps[client_id.lower()] = _Registration(str(uuid.uuid4()), [])
            if credential not in registration.credentials:
                registration.credentials.append(credential)
            return App(tenant_id=tenant_id, client_id=client_id, object_id=registration.object_id)

    def add_credential(
        self, client_id: str, credential: FederatedCredential, *, tenant_id: str | None
    ) -> None:
        with self._lock:
            registrations = [
                apps[client_id.lower()]
                for tenant, apps in self._tenants.items()
                if client_id.lower() in apps and (tenant_id is None or tenant == tenant_id.lower())
            ]
            if not registrations:
                where = f"tenant '{tenant_id}'" if tenant_id else "any tenant"
                raise KeyError(
                    f"no app with client id '{client_id}' is registered in {where}; use register_app"
                )
            for registration in registrations:
                if credential not in registration.credentials:
                    registration.credentials.append(credential)

    def has_tenant(self, tenant_id: str) -> bool:
        with self._lock:
            return tenant_id.lower() in self._tenants

    def find(self, tenant_id: str, client_id: str) -> tuple[str, list[FederatedCredential]] | None:
        """The app's service principal object id and a snapshot of its credentials, or None."""
        with self._lock:
            registration = self._tenants.get(tenant_id.lower(), {}).get(client_id.lower())
            if registration is None:
                return None
            return registration.object_id, list(registration.credentials)
