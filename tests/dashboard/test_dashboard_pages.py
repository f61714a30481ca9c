"""The dashboard's Sessions and Analyse pages and its access gate, driven with Streamlit's AppTest."""

import pandas as pd
import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO, free_port

APP = str(REPO / "dashboard" / "app.py")


@pytest.fixture
def listening_on():
    """Set the address Streamlit is told to listen on, for the page's access gate; restored after."""
    saved = config.get_option("server.address")
    yield lambda host: config.set_option("server.address", host)
    config.set_option("server.address", saved)


def test_bouts_of_a_session_by_hand():
    from dashboard.sessions_page import session_bouts

    # Seven 1-s segments every 0.5 s: walk, walk, rest, (none), rest, rest, walk; clusters 3,3,3,4,4,4,None.
    segments = pd.DataFrame(
        {
            "session_id": ["s"] * 7,
            "start_s": [0, 0.5, 1, 1.5, 2, 2.5, 3],
            "end_s": [1, 1.5, 2, 2.5, 3, 3.5, 4],
            "behavior": ["walk", "walk", "rest", None, "rest", "rest", "walk"],
            "cluster_id": [3, 3, 3, 4, 4, 4, None],
        }
    )
    table = session_bouts(segments, {3: "3: ambling", 4: "4: still"})
    behaviour = table[table["level"] == "behaviour"]
    assert list(behaviour["label"]) == ["walk", "rest", "rest", "walk"]  # an unseen moment ends a bout
    assert list(behaviour["start_s"]) == [
        0.0,
        1.25,
        2.25,
        3.25,
    ]  # a segment's share starts half a hop before its centre
    assert list(behaviour["duration_s"]) == [1.0, 0.5, 1.0, 0.5]
    assert (behaviour["end_s"] == behaviour["start_s"] + behaviour["duration_s"]).all()
    clusters = table[table["level"] == "cluster"]
    assert list(clusters["label"]) == ["3: ambling", "4: still"] and list(clusters["segments"]) == [3, 3]


def test_sessions_page_shows_an_ethogram_quality_a_clip_and_exports(analyzed, monkeypatch, listening_on):
    ws, _ = analyzed
    listening_on("127.0.0.1")
    monkeypatch.setenv("MOUSEGPT_WORKSPACE", str(ws.root))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    session = at.selectbox(key="session")
    assert len(session.options) == 4
    assert [m.label for m in at.metric][:5] == ["frames", "missing", "swaps fixed", "jumps removed", "px/mm"]
    assert len(at.get("vega_lite_chart")) == 1 and len(at.get("video")) == 1  # the ethogram and a clip
    bouts = at.selectbox(key="bout")
    assert bouts.options[0].startswith("behaviour: ") and len(bouts.options) > 3
    before = set(ws.clip_dir.glob("bout-*.mp4"))
    bouts.set_value(bouts.options[2]).run()
    assert not at.exception
    start, end = (float(x) for x in bouts.value.split(" · ")[1].removesuffix(" s").split("–"))
    clips = list(set(ws.clip_dir.glob("bout-*.mp4")) - before)
    assert len(clips) == 1  # the picked bout's clip: as long as the bout, with 0.5 s either side
    import av

    with av.open(str(clips[0])) as clip:
        assert abs(clip.duration / 1e6 - (min(end - start, 30.0) + 1.0)) < 0.2
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["segments (CSV)", "segments (Parquet)", "bouts (CSV)", "bouts (Parquet)"]
    assert str(ws.root.parent) not in str(at)  # no machine paths sent to the browser


def test_analyse_page_refuses_a_bad_manifest_and_says_when_the_cluster_is_unreachable(
    tmp_path, monkeypatch, listening_on, synth_dir, s3
):
    listening_on("127.0.0.1")
    data = tmp_path / "lab"
    data.mkdir()
    (data / "manifest.csv").write_text("video,animal\nnot-here.mp4,m1\n")
    address = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MOUSEGPT_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("MOUSEGPT_DATA_ROOT", str(data))
    monkeypatch.setenv("MOUSEGPT_JOBS_ADDRESS", address)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert [w.value for w in at.warning if w.value.startswith("Jobs:")] == [
        f"Jobs: cannot reach the Ray job server at {address} (nothing answers); "
        "start a local one with `mousegpt jobs head`, or give the cluster's dashboard address (http://HEAD:8265)"
    ]
    at.radio(key="source").set_value("A manifest")
    at.selectbox(key="manifest").set_value("manifest.csv")
    at.button[0].click().run()  # the form's Analyse button
    assert not at.exception
    # The command line's own error, with the data root's path shortened to its name.
    assert [e.value for e in at.error] == ["lab/not-here.mp4: no such file"]
    at.radio(key="source").set_value("Files and folders")
    at.text_area(key="urls").set_value("s3://lab/page/gone.mp4\n")
    at.button[0].click().run()
    assert [e.value for e in at.error] == [
        "s3://lab/page/gone.mp4: no such file"
    ]  # checked in the store itself
    assert not (tmp_path / "ws").exists()


def test_off_loopback_the_page_needs_the_token(tmp_path, monkeypatch, listening_on):
    monkeypatch.setenv("MOUSEGPT_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.delenv("MOUSEGPT_TOKEN", raising=False)
    listening_on("0.0.0.0")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert "no access token is set, so it serves nothing" in at.error[0].value
    assert not at.title and not at.text_input  # nothing else is shown

    monkeypatch.setenv("MOUSEGPT_TOKEN", "s3cret-token")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert [t.label for t in at.text_input] == ["Access token"] and not at.title
    at.text_input[0].input("guess").run()
    assert at.error[0].value == "That is not the access token." and not at.title
    at.text_input[0].input("s3cret-token").run()
    assert not at.exception and at.title[0].value == "MouseGPT"
