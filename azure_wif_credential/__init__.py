"""Secretless access to Azure from outside Azure, through Microsoft Entra workload identity federation."""

from ._credential import FederatedTokenCredential
from ._errors import TokenExchangeError
from ._version import VERSION

__version__ = VERSION
__all__ = ["FederatedTokenCredential", "TokenExchangeError", "__version__"]
