"""One router per resource: health, cameras, search, sightings."""

__all__: list[str] = []
