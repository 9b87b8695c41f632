"""How the client retries a request: the Go client's ``RetryPolicy``
(``pkg/client/retry.go``), rule for rule and number for number.

- What: reads (GET) and keyed writes, which carry one ``Idempotency-Key`` per
  call on all their attempts, so the server does the write once and answers a
  retry whose first attempt committed with the first answer. The artifact
  announcement (``POST /v1/artifacts``) carries no key and is sent once.
- When: the server was not reached (connection refused or dropped, a timeout),
  or answered 429, 500, 502, 503 or 504.
- How often: ``max_attempts`` (3) attempts in all.
- How long: the answer's ``Retry-After`` (seconds or an HTTP date) when it has
  one, up to ``max_retry_after`` (30 s; a longer one returns the answer at
  once); else ``base_delay`` (100 ms) doubled per attempt up to ``max_delay``
  (2 s), jittered over [half, whole] so that clients that failed together do
  not come back together.

``testdata/retry_policy.json`` holds these numbers; a Go test
(``pkg/client/retry_policy_test.go``) and a Python test
(``tests/test_retry.py``) check each client against it.
"""

from __future__ import annotations

import dataclasses
import random
import time
from typing import Callable, Optional

__all__ = ["RetryPolicy", "RETRY_STATUSES", "retryable_status", "backoff", "jitter", "retry_after"]

# The statuses whose request may succeed when sent again: overloaded (429) or
# failed (5xx but 501).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def retryable_status(status: Optional[int]) -> bool:
    """Whether a failed attempt may succeed when sent again: ``status`` None
    (the server was not reached) or one of ``RETRY_STATUSES``."""
    return status is None or status in RETRY_STATUSES


def backoff(base: float, cap: float, attempt: int) -> float:
    """The pause after ``attempt`` (1-based) before jitter: base×2^(attempt-1), capped."""
    d = base
    for _ in range(1, attempt):
        if d >= cap:
            break
        d *= 2
    return min(d, cap)


def jitter(d: float, rand: Callable[[], float] = random.random) -> float:
    """d spread over [d/2, d]."""
    return d / 2 + rand() * d / 2


def retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """A ``Retry-After`` header in seconds: non-negative whole seconds or an
    HTTP date (a past date is 0); None when absent or unreadable."""
    if not value:
        return None
    v = value.strip()
    digits = v[1:] if v.startswith("+") else v
    if digits.isdigit():
        return float(int(digits))
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How requests are retried (see the module doc). ``sleep`` pauses; tests
    replace it to observe the pauses."""

    max_attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 2.0
    max_retry_after: float = 30.0
    sleep: Callable[[float], None] = dataclasses.field(default=time.sleep, repr=False, compare=False)

    def pause(self, attempt: int, retry_after_header: Optional[str] = None) -> Optional[float]:
        """The pause before attempt+1: the server's Retry-After when it sent
        one, else the jittered backoff of attempt; None when the Retry-After is
        longer than ``max_retry_after`` (waiting cannot help: return the answer)."""
        d = retry_after(retry_after_header)
        if d is None:
            return jitter(backoff(self.base_delay, self.max_delay, attempt))
        if d > self.max_retry_after:
            return None
        return d
