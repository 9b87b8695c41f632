"""The research flow of the docs' worked example, deterministic for tests."""

from kitaru import flow

# A sibling module of the project: proves the bundle root is on sys.path.
from flows.notes import format_notes


@flow
def research_agent(topic: str) -> str:
    """Return research notes on topic."""
    return format_notes(topic)


def plain_summary(topic: str, words: int = 3) -> dict:
    """A plain (undecorated) function: the runner calls these too."""
    return {"topic": topic, "words": words}
