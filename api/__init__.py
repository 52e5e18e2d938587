"""The HTTP API: ``api.app.create_app(settings, services)``.

Kept empty on purpose: ``sightline.settings`` imports ``api.settings``, so importing this package
must not pull in FastAPI, the store or the models.
"""

__all__: list[str] = []
