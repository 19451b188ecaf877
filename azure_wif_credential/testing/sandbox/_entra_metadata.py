"""Entra's public metadata: tenant OIDC discovery, the token signing keys, and instance discovery."""

from __future__ import annotations

from urllib.parse import urlsplit

from . import _entra_errors as errors
from ._directory import Directory
from ._pki import SigningKey
from ._server import Request, Response, error_response
from ._sts import COMMON_TENANTS

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})


class EntraMetadata:
    def __init__(self, authority: str, directory: Directory, signing_key: SigningKey) -> None:
        self._authority = authority
        self._directory = directory
        self._signing_key = signing_key

    def openid_configuration(self, request: Request) -> Response:
        tenant = request.params["tenant"]
        if tenant.lower() not in COMMON_TENANTS and not self._directory.has_tenant(tenant):
            return error_response(errors.tenant_not_found(tenant), request)
        base = f"{self._authority}/{tenant}"
        host = urlsplit(self._authority).netloc
        # Like Entra, the multi-tenant documents name a placeholder issuer.
        issuer_tenant = "{tenantid}" if tenant.lower() in COMMON_TENANTS else tenant
        return Response.json(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{self._authority}/{issuer_tenant}/v2.0",
                "request_uri_parameter_supported": False,
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": [
                    "sub",
                    "iss",
                    "cloud_instance_name",
                    "cloud_instance_host_name",
                    "cloud_graph_host_name",
                    "msgraph_host",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "acr",
                    "nonce",
                    "preferred_username",
                    "name",
                    "tid",
                    "ver",
                    "at_hash",
                    "c_hash",
                    "email",
                ],
                # Entra's cloud fields: the sandbox's own host stands for each of its cloud's hosts.
                "tenant_region_scope": None if tenant.lower() in COMMON_TENANTS else "NA",
                "cloud_instance_name": host,
                "cloud_graph_host_name": host,
                "msgraph_host": host,
                "rbac_url": self._authority,
                "kerberos_endpoint": f"{base}/kerberos",
                "userinfo_endpoint": f"{self._authority}/graph/oidc/userinfo",
            },
        )

    def keys(self, request: Request) -> Response:
        return Response.json(
            200, {"keys": [self._signing_key.public_jwk(issuer=f"{self._authority}/{{tenantid}}/v2.0")]}
        )

    def instance_discovery(self, request: Request) -> Response:
        """MSAL's instance discovery: known only for the sandbox's own host."""
        endpoint = request.query.get("authorization_endpoint", "")
        parts = urlsplit(endpoint)
        segments = [s for s in parts.path.split("/") if s]
        if parts.scheme != "https" or parts.hostname not in _LOOPBACK_HOSTS or not segments:
            return error_response(errors.unknown_instance(), request)
        host = urlsplit(self._authority).netloc
        return Response.json(
            200,
            {
                "tenant_discovery_endpoint": f"{self._authority}/{segments[0]}/v2.0/.well-known/openid-configuration",
                "api-version": request.query.get("api-version", "1.1"),
                "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
            },
        )
