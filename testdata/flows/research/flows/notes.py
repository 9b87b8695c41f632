"""Helpers imported by flows/research.py."""


def format_notes(topic: str) -> str:
    return f"research notes on {topic}"
