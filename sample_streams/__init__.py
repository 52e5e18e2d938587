"""sample_streams package."""

__all__: list[str] = []
