"""Per-cloud facts, in one table: each Entra cloud's login host, its documented alias hosts, the
token-exchange audience its federated credentials expect, and its Microsoft Graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Cloud:
    name: str
    #: The preferred login host, which discovery documents name.
    login_host: str
    #: Other hosts of the same cloud's Entra (a discovery document fetched from one names login_host).
    aliases: Tuple[str, ...]
    exchange_audience: str
    graph: str

    @property
    def hosts(self) -> Tuple[str, ...]:
        return (self.login_host, *self.aliases)


PUBLIC = Cloud(
    "AzurePublicCloud",
    "login.microsoftonline.com",
    ("login.windows.net", "login.microsoft.com", "sts.windows.net"),
    "api://AzureADTokenExchange",
    "https://graph.microsoft.com",
)
US_GOVERNMENT = Cloud(
    "AzureUSGovernment",
    "login.microsoftonline.us",
    ("login.usgovcloudapi.net",),
    "api://AzureADTokenExchangeUSGov",
    "https://graph.microsoft.us",
)
CHINA = Cloud(
    "AzureChinaCloud",
    "login.chinacloudapi.cn",
    ("login.partner.microsoftonline.cn",),
    "api://AzureADTokenExchangeChina",
    "https://microsoftgraph.chinacloudapi.cn",
)
CLOUDS = (PUBLIC, US_GOVERNMENT, CHINA)
_BY_HOST = {host: cloud for cloud in CLOUDS for host in cloud.hosts}


def host_of(authority: Optional[str]) -> str:
    """The lower-case host of an authority given as a host or a URL ('' for None)."""
    if not authority:
        return ""
    return (urlsplit(authority if "//" in authority else f"//{authority}").hostname or "").lower()


def cloud_of(authority: Optional[str]) -> Optional[Cloud]:
    """The Entra cloud an authority (host or URL) belongs to; None for any other authority (a custom
    one: ADFS, the sandbox, a proxy)."""
    return _BY_HOST.get(host_of(authority))


def same_cloud_hosts(host: str) -> Tuple[str, ...]:
    """The hosts a discovery document fetched from ``host`` may name: its cloud's documented hosts, or
    ``host`` alone for a custom authority."""
    cloud = _BY_HOST.get(host.lower())
    return cloud.hosts if cloud is not None else (host.lower(),)
