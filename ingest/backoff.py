"""Reconnect delays: exponential backoff with full jitter, and a slow jittered retry for DOWN cameras.

With 25,000 cameras, a switch reboot drops thousands at once; identical delays would bring them back
in lock-step bursts. Full jitter (a delay uniform in ``[0, min(cap, base * 2**n)]``) spreads the
retries evenly over the backoff window (AWS Architecture Blog, "Exponential Backoff And Jitter").
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays for consecutive failures of one camera; :meth:`reset` after a success."""

    def __init__(
        self,
        base_s: float = 1.0,
        cap_s: float = 30.0,
        *,
        down_after: int = 6,
        down_retry_s: float = 120.0,
        rng: random.Random | None = None,
    ) -> None:
        if base_s <= 0 or cap_s <= 0 or down_retry_s <= 0 or down_after < 1:
            raise ValueError("Backoff: base, cap and down retry must be positive, down_after at least 1")
        self.base_s = base_s
        self.cap_s = cap_s
        self.down_after = down_after
        self.down_retry_s = down_retry_s
        self.failures = 0
        self._rng = rng or random.Random()

    @property
    def down(self) -> bool:
        """Whether the camera has failed often enough to be retried slowly."""
        return self.failures >= self.down_after

    def failure(self) -> float:
        """Record a failure; the seconds to wait before the next attempt."""
        self.failures += 1
        if self.down:
            # Slow retries, jittered in [0.5, 1.5] of the interval so DOWN cameras do not align.
            return self.down_retry_s * self._rng.uniform(0.5, 1.5)
        ceiling = min(self.cap_s, self.base_s * 2.0 ** (self.failures - 1))
        return self._rng.uniform(0.0, ceiling)

    def give_up(self) -> None:
        """Go straight to slow retries: for failures that fast retries cannot fix (refused credentials)."""
        self.failures = max(self.failures, self.down_after - 1)

    def reset(self) -> None:
        self.failures = 0
