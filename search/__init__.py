"""search package."""

__all__: list[str] = []
