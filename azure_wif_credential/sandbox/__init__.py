"""The Entra sandbox, importable here as it always was; it lives with the rest of the test tooling in
:mod:`azure_wif_credential.testing.sandbox`.

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

from ..testing.sandbox import *  # noqa: F403 - the same public names
from ..testing.sandbox import __all__ as __all__
