"""The base of every error mipsclaims raises on purpose.

An integrator catches :class:`MipsClaimsError` to tell "mipsclaims refused this input or
setting, with a message safe to show" from a bug. Each subclass keeps the built-in base it
had (``ValueError``, ``OSError``, ...) so existing ``except`` clauses keep working. Messages
carry a location, never a PHI value (docs/security.md).
"""

from __future__ import annotations


class MipsClaimsError(Exception):
    """Base of every error raised by mipsclaims for bad input, settings or environment."""


class InputError(MipsClaimsError, ValueError):
    """An input that is not a readable claims file (missing, unreadable, wrong format).

    One class for every path that opens inputs (``inputs``, the one input layer)."""


__all__ = ["InputError", "MipsClaimsError"]
