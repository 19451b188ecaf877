"""A local, HTTPS, Entra-compatible token service plus an external OIDC issuer, for offline work.

::

    from azure_wif_credential.sandbox import Sandbox

    with Sandbox() as sandbox:
        app = sandbox.register_app(subject="system:serviceaccount:default:web")
        assertion = sandbox.issue_assertion(subject="system:serviceaccount:default:web")
        # authority=sandbox.authority, tenant app.tenant_id, client app.client_id,
        # and trust sandbox.ca_file (connection_verify=sandbox.ca_file)

Run ``azure-wif-credential sandbox`` (or ``python -m azure_wif_credential.sandbox``) to keep one running
in the foreground with a kubelet-style token file.
"""

from __future__ import annotations

from ._directory import App
from ._http_client import CaPinnedHttpClient
from ._pipelines import TOKEN_EXCHANGE_AUDIENCE
from ._records import RecordedRequest
from ._sandbox import DEFAULT_SUBJECT, ENDPOINTS, Sandbox
from ._sts import CLIENT_ASSERTION_TYPE

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "DEFAULT_SUBJECT",
    "ENDPOINTS",
    "TOKEN_EXCHANGE_AUDIENCE",
    "App",
    "CaPinnedHttpClient",
    "RecordedRequest",
    "Sandbox",
]
