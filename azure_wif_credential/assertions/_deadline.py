"""A total deadline for a blocking call whose library bounds each read but not the whole (an endpoint
that accepts and never answers, or trickles a byte at a time, keeps every single read short)."""

from __future__ import annotations

import threading
from typing import Any, Callable, List, TypeVar

from azure.core.exceptions import ClientAuthenticationError

T = TypeVar("T")


def within(seconds: float, what: str, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` or, past ``seconds``, a ClientAuthenticationError naming ``what``. The call goes
    on in a daemon thread until its own timeouts end it; its outcome is dropped."""
    outcome: List[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, call(*args)))
        except BaseException as error:  # handed to the caller, whatever it is
            outcome.append((False, error))
        finally:
            done.set()

    threading.Thread(target=run, name="azure-wif-deadline", daemon=True).start()
    if not done.wait(seconds):
        raise ClientAuthenticationError(
            message=f"No answer from {what} within {seconds:g} s (it accepted the connection but did not "
            "answer in time); try again, or raise timeout= if it is just slow."
        )
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[no-any-return]
    raise value
