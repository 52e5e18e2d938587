"""Ingest: video in, sightings out.

``ingest.video`` decodes files into time-sampled frames, ``ingest.tracker`` groups detections into
per-camera tracks (``ingest.plate_vote`` votes a track's plate reads), ``ingest.pipeline`` runs
recognition and writes one sighting per finished track. Import the modules themselves: this package
imports nothing so that loading the settings stays cheap.
"""

__all__: list[str] = []
