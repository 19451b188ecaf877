"""Establish the trust: federated identity credentials (FICs) on an app registration, through
Microsoft Graph, checked by Entra's rules before they are sent.

    fics = FederatedIdentityCredentials(credential, application="<client id>")
    fics.create(FederatedIdentityCredential(name="main", issuer=GITHUB_ISSUER,
                                            subject=github_subject("contoso/app", branch="main")))
"""

from ._advice import TrustWarning
from ._client import FederatedIdentityCredentials, GraphError, graph_endpoint_for
from ._expressions import ExpressionError
from ._model import EXCHANGE_AUDIENCE, FederatedIdentityCredential
from ._subjects import GITHUB_ISSUER, github_subject, kubernetes_subject

__all__ = [
    "EXCHANGE_AUDIENCE",
    "GITHUB_ISSUER",
    "ExpressionError",
    "FederatedIdentityCredential",
    "FederatedIdentityCredentials",
    "GraphError",
    "TrustWarning",
    "github_subject",
    "graph_endpoint_for",
    "kubernetes_subject",
]
