"""How messages quote a value the user gave (settings and validation both quote)."""


def shown_value(raw: str, limit: int = 60) -> str:
    """A value as error messages quote it: repr, cut after `limit` characters."""
    if len(raw) <= limit:
        return repr(raw)
    return f"{raw[:limit]!r}... ({len(raw)} characters)"
