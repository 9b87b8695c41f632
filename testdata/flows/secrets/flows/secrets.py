"""A flow that reports what of its environment it can see, for the secrets tests."""

import hashlib
import os

from kitaru import flow


@flow
def environment(secret: str = "OPENAI_API_KEY") -> dict:
    """Report the names of the environment and a digest of one variable (never its value)."""
    value = os.environ.get(secret)
    # Printed to the flow's output too, so that a test can show the logs
    # never hold a value: the runner prints nothing of the environment itself.
    print("environment names:", " ".join(sorted(os.environ)))
    return {
        "names": sorted(os.environ),
        "sha256": hashlib.sha256(value.encode()).hexdigest() if value is not None else None,
    }
