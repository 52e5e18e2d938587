"""Generated camera clips with ground truth: street scenes, portraits walking by, vehicles with plates.

``make_samples`` writes the clips, reference photos, ``cameras.csv`` and ``ground_truth.json``;
``plan_samples`` gives the same ground truth and every subject's exact position without writing video.
"""

from sample_streams.ground_truth import GroundTruth, load_ground_truth, save_ground_truth
from sample_streams.make import SamplePlan, make_samples, plan_samples

__all__ = [
    "GroundTruth",
    "SamplePlan",
    "load_ground_truth",
    "make_samples",
    "plan_samples",
    "save_ground_truth",
]
