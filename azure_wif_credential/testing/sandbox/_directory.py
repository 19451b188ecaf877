"""The sandbox's directory: tenants, app registrations and their federated identity credentials."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field, replace
from typing import Callable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class App:
    """An app registration as it exists in one tenant (the same client id may be in several)."""

    tenant_id: str
    client_id: str
    object_id: str = field(default="", compare=False)  # of the app's service principal in this tenant
    application_object_id: str = field(default="", compare=False)  # of the application object (Graph)


@dataclass(frozen=True)
class FederatedCredential:
    """Trust in tokens from ``issuer`` with exactly this ``subject`` (or, for a flexible FIC, whose
    claims match ``expression``) and ``audience``. ``effective_at``/``retired_at`` model propagation:
    the STS honours the credential from the one until the other."""

    issuer: str
    subject: str | None
    audience: str
    name: str = field(default="", compare=False)
    id: str = field(default_factory=lambda: str(uuid.uuid4()), compare=False)
    description: str | None = field(default=None, compare=False)
    expression: str | None = None
    effective_at: float = field(default=0.0, compare=False)
    retired_at: float | None = field(default=None, compare=False)

    def in_effect(self, now: float) -> bool:
        return self.effective_at <= now and (self.retired_at is None or now < self.retired_at)


@dataclass
class _Registration:
    object_id: str  # the service principal's
    credentials: list[FederatedCredential]
    application_object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    graph_roles: tuple[str, ...] = ()


class Directory:
    """Thread-safe store of registrations, keyed by tenant then client id (both case-insensitive GUIDs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: dict[str, dict[str, _Registration]] = {}

    def register(
        self,
        tenant_id: str | None,
        client_id: str | None,
        credential: FederatedCredential | None,
        graph_roles: tuple[str, ...] = (),
    ) -> App:
        tenant_id = tenant_id or str(uuid.uuid4())
        client_id = client_id or str(uuid.uuid4())
        with self._lock:
            apps = self._tenants.setdefault(tenant_id.lower(), {})
            registration = apps.get(client_id.lower())
            if registration is None:
                registration = apps[client_id.lower()] = _Registration(str(uuid.uuid4()), [])
            if graph_roles:
                registration.graph_roles = tuple(sorted({*registration.graph_roles, *graph_roles}))
            if credential is not None and credential not in registration.credentials:
                named = credential if credential.name else _named(credential, registration.credentials)
                registration.credentials.append(named)
            return App(
                tenant_id=tenant_id,
                client_id=client_id,
                object_id=registration.object_id,
                application_object_id=registration.application_object_id,
            )

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
                    registration.credentials.append(_named(credential, registration.credentials))

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

    def graph_roles(self, tenant_id: str, client_id: str) -> tuple[str, ...]:
        with self._lock:
            registration = self._tenants.get(tenant_id.lower(), {}).get(client_id.lower())
            return registration.graph_roles if registration else ()

    def application(
        self, tenant_id: str, *, app_id: str | None = None, object_id: str | None = None
    ) -> tuple[str, _Registration] | None:
        """(client id, registration) of the application with this appId or application object id."""
        with self._lock:
            for client_id, registration in self._tenants.get(tenant_id.lower(), {}).items():
                if (app_id is not None and client_id == app_id.lower()) or (
                    object_id is not None and registration.application_object_id == object_id.lower()
                ):
                    return client_id, registration
        return None

    def edit(self, registration: _Registration, change: Callable[[list[FederatedCredential]], T]) -> T:
        """Run ``change`` on the registration's credential list under the directory's lock."""
        with self._lock:
            return change(registration.credentials)


def _named(credential: FederatedCredential, existing: list[FederatedCredential]) -> FederatedCredential:
    """A credential added by the sandbox's own helpers gets a Graph name (fic-1, fic-2, ...)."""
    if credential.name:
        return credential
    taken = {c.name for c in existing}
    number = len(existing) + 1
    while f"fic-{number}" in taken:
        number += 1
    return replace(credential, name=f"fic-{number}")
