"""The MSAL adapter: the confidential-client exchange (``_exchange``), the HTTP client MSAL calls
(``_http``), and the validation of every answer from Entra before MSAL parses it (``_answers``)."""

from ._exchange import MsalExchange

__all__ = ["MsalExchange"]
