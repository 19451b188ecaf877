"""The token-exchange audience: the ``aud`` Entra expects in a federated assertion, by cloud."""

from __future__ import annotations

from typing import Optional

from ._clouds import CLOUDS, PUBLIC, cloud_of

PUBLIC_CLOUD_AUDIENCE = PUBLIC.exchange_audience
#: Every cloud's token-exchange audience.
EXCHANGE_AUDIENCES = frozenset(cloud.exchange_audience for cloud in CLOUDS)


def audience_for_authority(authority: Optional[str]) -> str:
    """The audience Entra expects in a federated assertion for the cloud of ``authority``.

    ``authority`` is a host (``login.microsoftonline.us``) or URL (``https://login.microsoftonline.us/``);
    None and unknown hosts (the public cloud, the sandbox) give ``api://AzureADTokenExchange``.
    """
    cloud = cloud_of(authority)
    return cloud.exchange_audience if cloud is not None else PUBLIC_CLOUD_AUDIENCE
