"""``os.fork()``: what a child inherits from its parent's credentials, and what it must not keep.

A forked child (gunicorn ``--preload``, Celery prefork, ``multiprocessing`` with the fork start method)
has only the thread that forked. Whatever the parent's other threads held is frozen in the child: a
lock taken, a refresh in flight whose thread does not exist (its pending result never resolves), a
worker pool that believes its idle worker still waits for work. Worse, pooled keep-alive connections
are shared: parent and child would write requests on one TLS connection and read each other's
answers (a token for another scope, cached under the wrong key).

So every credential registers here, and in the child (``os.register_at_fork(after_in_child=...)``) it
resets its locks, worker pool, pending refreshes and leases, and drops every pooled connection (MSAL's,
the pipeline's, the sources'): the child makes its own requests on its own connections. Cached tokens
are kept (they are as valid in the child as in the parent). Dropping a connection in the child closes
only the child's copy of the socket: the parent's connection is untouched.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from typing import Any, Protocol


class ForkAware(Protocol):
    def _after_fork(self) -> None:
        """Called in a forked child, on its only thread: reset what the parent's threads held."""


_live: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_registered = False


def reset_in_children(obj: ForkAware) -> None:
    """Call ``obj._after_fork()`` in every child forked while ``obj`` lives."""
    global _registered
    with _lock:
        if not _registered and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_in_child)
            _registered = True
        _live.add(obj)


def _in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the parent may have held it
    for obj in list(_live):
        with contextlib.suppress(Exception):  # never break the child's start
            obj._after_fork()


def after_fork_of(obj: Any) -> None:
    """``obj._after_fork()`` when it has one (assertion sources, caches, transports may)."""
    hook = getattr(obj, "_after_fork", None)
    if callable(hook):
        hook()
