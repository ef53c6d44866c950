"""The project's exception tree: one root, precise subclasses that carry data.

This module imports nothing, so the pure core (``edge.control``) may raise these without
pulling in any I/O. The serial package has its own tree (``firmware_bridge.errors``).
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "BrokerRefusedError",
    "CommandRejectedError",
    "ConfigError",
    "ConfigIssue",
    "ExistingFilesError",
    "GatewayUnreachableError",
    "ListenError",
    "StreetlightError",
    "UnknownIdError",
]


class StreetlightError(Exception):
    """Root of every error this project raises on purpose."""

    #: the CLI's exit code for this error: 1 failure, 2 usage/validation, 3 unreachable
    exit_code = 1


class ConfigIssue:
    """One problem in a config file: where (a dotted path) and what."""

    __slots__ = ("message", "path")

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __repr__(self) -> str:
        return f"ConfigIssue({self.path!r}, {self.message!r})"


class ConfigError(StreetlightError):
    """A config file that cannot be used; ``issues`` names every offending path."""

    exit_code = 2

    def __init__(self, source: str, issues: list[ConfigIssue]) -> None:
        self.source = source
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"invalid config {source}:\n{lines}")


class ArgumentError(StreetlightError):
    """A command-line argument the command cannot take: which one, why, and what it takes."""

    exit_code = 2

    def __init__(self, argument: str, problem: str, allowed: str = "") -> None:
        self.argument, self.problem, self.allowed = argument, problem, allowed
        super().__init__(f"{argument}: {problem}" + (f"; {allowed}" if allowed else ""))


class UnknownIdError(StreetlightError, KeyError):
    """A lamp, cluster or sensor id that the site does not have."""

    exit_code = 2

    def __init__(self, kind: str, ident: str, suggestions: list[str]) -> None:
        self.kind = kind
        self.ident = ident
        self.suggestions = suggestions
        hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
        super().__init__(f"unknown {kind} {ident!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class ExistingFilesError(StreetlightError, FileExistsError):
    """Files that a command would overwrite, refused without ``--force``."""

    exit_code = 2

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        verb, them = ("exists", "it") if len(paths) == 1 else ("exist", "them")
        super().__init__(f"{', '.join(paths)} {verb}; pass --force to overwrite {them}")

    def __str__(self) -> str:
        return str(self.args[0])


class GatewayUnreachableError(StreetlightError, TimeoutError):
    """No answer from the gateway daemon (broker down, daemon down, or too slow)."""

    exit_code = 3

    def __init__(self, what: str, timeout_s: float) -> None:
        self.what, self.timeout_s = what, timeout_s
        super().__init__(f"{what} within {timeout_s:g} s")


class BrokerRefusedError(StreetlightError):
    """The broker's host or the broker said no to a connection (refused, not authorised, no
    such host): a command gives up at once rather than waiting out its timeout."""

    exit_code = 3

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host, self.port, self.reason = host, port, reason
        super().__init__(f"cannot reach the broker at {host}:{port}: {reason}")


class CommandRejectedError(StreetlightError):
    """The daemon answered and refused the command; ``code`` says why."""

    def __init__(self, code: str, message: str, suggestions: list[str]) -> None:
        self.code, self.suggestions = code, suggestions
        # A bad target, level or verb is a usage error (2); anything else a failure (1).
        usage = ("unknown_id", "invalid", "needs_allow_dark", "unknown_verb")
        self.exit_code = 2 if code in usage else 1
        hint = ""
        if suggestions and "did you mean" not in message:
            hint = f" (did you mean {', '.join(suggestions[:5])}?)"
        super().__init__(f"{message}{hint}")


class ListenError(StreetlightError):
    """An address the daemon is to listen on cannot be had; ``setting`` is the config key
    that names it. A port in use exits 4 (it may be freed: systemd starts the daemon again),
    any other reason 2 (the config must change)."""

    def __init__(self, what: str, host: str, port: int, setting: str, reason: str, *,
                 in_use: bool, hint: str) -> None:  # fmt: skip
        self.what, self.host, self.port, self.setting = what, host, port, setting
        self.reason, self.in_use = reason, in_use
        self.exit_code = 4 if in_use else 2
        super().__init__(f"cannot serve {what} on {host}:{port}: {reason}; {hint}")
