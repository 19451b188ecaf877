"""The asyncio credential: same constructor, same policy, awaitable methods."""

from ._credential import FederatedTokenCredential

__all__ = ["FederatedTokenCredential"]
