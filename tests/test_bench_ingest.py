"""The ingest benchmark's clips: camera-like encoding (25 fps, 1 s GOP) from generated or recorded video."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from sightline.evaluation.bench_ingest import make_bench_clip, make_clip_from_video


def _keyframes(path: Path) -> tuple[int, int, tuple[int, int]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    return len(frames), sum(f.key_frame for f in frames), (frames[0].width, frames[0].height)


def test_generated_clip_has_one_keyframe_per_second(tmp_path: Path) -> None:
    clip = make_bench_clip(tmp_path / "g.mp4", 320, 240, seconds=2.0)
    assert _keyframes(clip) == (50, 2, (320, 240))


def test_recorded_video_is_reencoded_resized_and_looped(tmp_path: Path) -> None:
    source = tmp_path / "rec.mp4"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(12):  # 1.2 s: shorter than the clip asked for, so it must loop
            img = np.full((120, 160, 3), 20 * i % 255, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        out.mux(stream.encode(None))
    clip = make_clip_from_video(source, tmp_path / "r.mp4", 320, 240, seconds=2.0)
    assert _keyframes(clip) == (50, 2, (320, 240))
