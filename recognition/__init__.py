"""recognition package."""

__all__: list[str] = []
