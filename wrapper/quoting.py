"""How messages quote a value the user gave (settings and validation both quote)."""


def shown_value(raw: str, limit: int = 60) -> str:
    """A value as error messages quote it: without userinfo, repr, cut after `limit`
    characters (the one masking rule: wrapper/masking.py)."""
    from .masking import shown

    return shown(raw, limit=limit)
