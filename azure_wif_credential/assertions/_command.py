"""A token printed by a program: a CI agent's or SPIFFE agent's own command-line client."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
from typing import Any, List, Optional, Sequence, Union

from azure.core.exceptions import ClientAuthenticationError

from .._errors import credential_unavailable
from .._redact import excerpt, redact, remember

_Arg = Union[str, "os.PathLike[str]"]


class Secret(str):
    """Marks a command argument as a secret (``CommandAssertion(["agent", "--token", Secret(t)])``): it is
    passed to the program as it is, and shown as ``<redacted>`` in every repr, message and log line."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<redacted>'"


class CommandAssertion:
    """Runs a program at every call and returns the token it prints on stdout.

    For platforms whose agent hands out tokens on request, e.g.
    ``CommandAssertion(["buildkite-agent", "oidc", "request-token", "--audience", "api://AzureADTokenExchange"])``
    or, for SPIFFE/SPIRE,
    ``CommandAssertion(["spire-agent", "api", "fetch", "jwt", "-audience", "api://AzureADTokenExchange",
    "-output", "json"], json_field="0.svids.0.svid")``.

    No shell is involved: ``args`` is the program and its arguments. stdout, stripped, is the token;
    with ``json_field`` stdout is JSON and the token is at that dotted path (numbers index lists).
    A program that can't be started raises :class:`~azure.identity.CredentialUnavailableError`; a
    non-zero exit raises :class:`~azure.core.exceptions.ClientAuthenticationError` with the exit status
    and the end of stderr (token-shaped text redacted); a program still running after ``timeout``
    seconds is killed (with the processes it started) and reported the same way.

    :param args: the program and its arguments; wrap a secret one in :class:`Secret`.
    :param timeout: seconds the program may run.
    :param json_field: dotted path of the token in JSON output (``"token"``, ``"data.jwt"``, ``"0.svid"``).
    """

    def __init__(self, args: Sequence[_Arg], timeout: float = 30, json_field: Optional[str] = None) -> None:
        if isinstance(args, (str, bytes)):
            raise TypeError(
                "CommandAssertion takes the program and its arguments as a list (no shell is used), "
                f"e.g. {shlex.split(args) if isinstance(args, str) else [args]!r}"
            )
        if not args:
            raise ValueError("CommandAssertion needs a program to run")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._args = [os.fspath(arg) for arg in args]
        remember(*(str(arg) for arg in args if isinstance(arg, Secret)))
        self._timeout = float(timeout)
        self._path = json_field.split(".") if json_field else None
        self._json_field = json_field

    def __repr__(self) -> str:
        field = f", json_field={self._json_field!r}" if self._json_field else ""
        args = [redact(arg) for arg in self._args]  # a token among the arguments stays hidden
        return f"{type(self).__name__}({args!r}, timeout={self._timeout:g}{field})"

    def __call__(self) -> str:
        command = excerpt(shlex.join(_shown_args(self._args)), limit=200)
        try:
            process = subprocess.Popen(
                self._args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # Its own process group, so a timeout also kills whatever it started.
                start_new_session=os.name == "posix",
            )
        except OSError as error:
            reason = "not found" if isinstance(error, FileNotFoundError) else (error.strerror or str(error))
            raise credential_unavailable(
                f"The token command could not be started ({self._args[0]}: {reason}): {command}"
            ) from None
        with process:
            try:
                stdout, stderr = process.communicate(timeout=self._timeout)
            except subprocess.TimeoutExpired:
                _kill(process)
                raise ClientAuthenticationError(
                    message=f"The token command did not finish within {self._timeout:g} s and was killed "
                    f"(raise timeout= if it is just slow): {command}"
                ) from None
            except BaseException:  # e.g. KeyboardInterrupt: don't leave the program running
                _kill(process)
                raise
        if process.returncode != 0:
            status = (
                f"was killed by signal {-process.returncode}"
                if process.returncode < 0
                else f"exited with status {process.returncode}"
            )
            detail = excerpt(stderr.decode("utf-8", "replace"), from_end=True) or "no output on stderr"
            raise ClientAuthenticationError(message=f"The token command {status} ({command}): {detail}")
        return self._token_from(stdout.decode("utf-8", "replace"), command)

    def _token_from(self, output: str, command: str) -> str:
        if self._path is None:
            words = output.split()
            if len(words) != 1:
                shape = "nothing" if not words else f"{len(words)} words"
                raise ClientAuthenticationError(
                    message=f"The token command printed {shape} on stdout, expected just the token "
                    f"(for JSON output pass json_field=): {command}"
                )
            return words[0]
        try:
            value: Any = json.loads(output)
        except ValueError:
            raise ClientAuthenticationError(
                message=f"The token command's output is not JSON ({excerpt(output) or 'empty'}), "
                f"but json_field={self._json_field!r} was given: {command}"
            ) from None
        for depth, key in enumerate(self._path):
            value = _child(value, key)
            if value is None:
                where = ".".join(self._path[: depth + 1])
                raise ClientAuthenticationError(
                    message=f"The token command's JSON output has no field {where!r}: {command}"
                )
        if not isinstance(value, str) or not value.strip():
            raise ClientAuthenticationError(
                message=f"The token command's JSON field {self._json_field!r} is not a non-empty string: "
                f"{command}"
            )
        return value.strip()


def _shown_args(args: Sequence[str]) -> List[str]:
    """The command line as messages show it: the program and its flags (``-x``, ``--name``); every
    other argument (a value: perhaps a token) as ``…``."""
    shown = [args[0]] if args else []
    for arg in args[1:]:
        flag = arg.startswith("-") and "=" not in arg and len(arg) <= 40 and arg.replace("-", "").isalnum()
        shown.append(arg if flag else "…")
    return shown


def _child(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if isinstance(value, list) and key.lstrip("-").isdigit() and -len(value) <= int(key) < len(value):
        return value[int(key)]
    return None


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the program and its process group; reap it. Pipes are closed by the ``with``."""
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            process.kill()
    except ProcessLookupError:
        pass
    process.wait()
