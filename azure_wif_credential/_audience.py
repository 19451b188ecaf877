"""The token-exchange audience: the ``aud`` Entra expects in a federated assertion, by cloud."""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit

PUBLIC_CLOUD_AUDIENCE = "api://AzureADTokenExchange"
# Entra's expected audience for federated credentials, by cloud (login host).
_AUDIENCE_BY_AUTHORITY_HOST = {
    "login.microsoftonline.us": "api://AzureADTokenExchangeUSGov",
    "login.chinacloudapi.cn": "api://AzureADTokenExchangeChina",
}
#: Every cloud's token-exchange audience.
EXCHANGE_AUDIENCES = frozenset({PUBLIC_CLOUD_AUDIENCE, *_AUDIENCE_BY_AUTHORITY_HOST.values()})


def audience_for_authority(authority: Optional[str]) -> str:
    """The audience Entra expects in a federated assertion for the cloud of ``authority``.

    ``authority`` is a host (``login.microsoftonline.us``) or URL (``https://login.microsoftonline.us/``);
    None and unknown hosts (the public cloud, the sandbox) give ``api://AzureADTokenExchange``.
    """
    if not authority:
        return PUBLIC_CLOUD_AUDIENCE
    host = urlsplit(authority if "//" in authority else f"//{authority}").hostname or ""
    return _AUDIENCE_BY_AUTHORITY_HOST.get(host.lower(), PUBLIC_CLOUD_AUDIENCE)
