"""The Streamlit dashboard, driven headless with Streamlit's AppTest."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO

APP = str(REPO / "dashboard" / "app.py")


def test_search_lists_hits_with_descriptions_and_clips(analyzed, monkeypatch):
    ws, _ = analyzed
    monkeypatch.setenv("MOUSEGPT_WORKSPACE", str(ws.root))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.selectbox[0].options == ["all", "anx", "control", "stim"]
    sessions = at.dataframe[0].value
    assert len(sessions) == 4 and set(sessions.condition) == {"anx", "control", "stim"}
    assert (sessions["missing"] == 0).all() and sessions["swaps fixed"].notna().all()
    at.text_input[0].input("a mouse grooming itself")
    at.number_input[0].set_value(3)
    at.run()
    assert not at.exception
    headers = [m.value for m in at.markdown if m.value.startswith(("1.", "2.", "3.", "**"))]
    assert len([h for h in headers if h.startswith("**")]) == 3
    assert any("groom" in h for h in headers)
    clips = sorted(ws.clip_dir.glob("*.mp4"))
    clips = [c for c in clips if not c.name.startswith("bout-")]  # the Sessions tab plays a bout, too
    assert len(clips) == 3 and all(c.stat().st_size > 1000 for c in clips)


def test_a_clip_lasts_its_segment_and_padding(synth_dir, tmp_path):
    """The container's own duration and frame count: a clip without frame timestamps claims
    to last one frame, and browsers refuse it."""
    import av

    from mousegpt.clips import cut

    path = cut(synth_dir / "control_m01.mp4", 2.0, 4.0, tmp_path / "clip.mp4", pad_s=0.5)
    with av.open(str(path)) as clip:
        stream = clip.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert stream.frames == 75  # 3 s at 25 fps
        assert abs(clip.duration / 1e6 - 3.0) < 0.05


def test_missing_workspace_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("MOUSEGPT_WORKSPACE", str(tmp_path / "none"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "mousegpt analyze" in at.warning[0].value


def test_clusters_and_condition_profiles(tmp_path, monkeypatch, ray_local):
    from jobs.analyze import run
    from mousegpt.discover import DiscoverConfig, discover
    from mousegpt.inputs import read_manifest
    from mousegpt.store import Workspace
    from mousegpt.synth import synth_dataset

    synth_dataset(
        tmp_path / "data", sessions=4, seconds=40, seed=11, conditions=("control", "stim"), video=False
    )
    ws = Workspace(tmp_path / "ws")
    assert not run(read_manifest(tmp_path / "data" / "manifest.csv"), ws)["failed"]
    monkeypatch.setenv("MOUSEGPT_WORKSPACE", str(ws.root))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert any("mousegpt discover" in i.value for i in at.info)  # before any discovery run
    result = discover(ws, DiscoverConfig(seed=0))
    __import__("streamlit").cache_data.clear()  # the page caches what it read for 30 s
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception
    clusters = at.dataframe[1].value
    assert list(clusters["cluster_id"]) == [c.cluster_id for c in result.clusters]
    assert clusters["size"].sum() == result.segments
    assert (clusters[["control", "stim"]].sum(axis=1) == clusters["size"]).all()
    exemplars = [m.value for m in at.markdown if "described as" in m.value]
    assert len(exemplars) == len(result.clusters[0].exemplars)
    at.button[0].click().run()  # compare conditions
    assert not at.exception
    predicted = [m for m in at.metric if m.label.startswith("Condition predicted")]
    assert len(predicted) == 1 and predicted[0].value.endswith("%")
    tests = at.dataframe[2].value
    assert len(tests) > 0 and tests["q"].between(0, 1).all() and tests["effect_size"].between(-1, 1).all()


def test_a_hit_is_confirmed_or_corrected_into_annotations_adapt_reads(analyzed, monkeypatch):
    import json

    from jobs.adapt import read_bouts

    ws, _ = analyzed
    annotations = ws.root / "annotations.jsonl"
    annotations.unlink(missing_ok=True)
    monkeypatch.setenv("MOUSEGPT_WORKSPACE", str(ws.root))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.text_input[0].input("a mouse grooming itself")
    at.number_input[0].set_value(2)
    at.run()
    assert not at.exception and not annotations.exists()
    labels = [s for s in at.selectbox if s.key and s.key.startswith("label-")]
    assert len(labels) == 2 and labels[0].value.endswith("(as shown)")
    shown = labels[0].value.removesuffix(" (as shown)")
    other = next(o for o in labels[0].options[1:] if o != shown)
    labels[0].set_value(other)
    at.button(key="save-" + labels[0].key.removeprefix("label-")).click().run()  # another core behaviour
    assert not at.exception
    at.text_input(key="name-" + labels[1].key.removeprefix("label-")).input("Supported  rear")
    at.button(key="save-" + labels[1].key.removeprefix("label-")).click().run()  # a new name
    assert not at.exception and len(at.success) == 1
    lines = [json.loads(line) for line in annotations.read_text().splitlines()]
    assert [line["behavior"] for line in lines] == [other, "Supported rear"]
    for line in lines:
        assert Path(line["video"]).is_absolute() and Path(line["video"]).exists()
        assert 0 <= line["start_s"] < line["end_s"]
    bouts, _ = read_bouts(annotations)  # what `mousegpt adapt OUT --annotations` reads first
    assert [b.behavior for b in bouts] == [other, "supported rear"] and bouts[0].kind == "video"
