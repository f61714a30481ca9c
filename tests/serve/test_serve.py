"""The Ray Serve application over HTTP on loopback."""

import concurrent.futures
import json

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.ray

# A mouse lying still at the wall, every fact given (as analyze computes them).
FACTS = {
    "speed_mean_mm_s": 2.0,
    "speed_max_mm_s": 5.0,
    "body_length_ratio": 0.95,
    "body_length_ratio_min": 0.93,
    "angular_speed_deg_s": 3.0,
    "head_speed_mm_s": 2.0,
    "head_motion_hz": 0.5,
    "heading_change_deg": 0.0,
    "body_length_mm": 80.0,
    "displacement_mm": 0.5,
    "head_yaw_std_deg": 1.0,
    "head_yaw_abs_deg": 2.0,
    "immobile_fraction": 1.0,
    "wall_distance_mm": 12.0,
    "zone": "wall",
}
# A running mouse: fast, and its head and heading move as a running mouse's do.
RUNNING = {
    "speed_mean_mm_s": 210.0,
    "speed_max_mm_s": 260.0,
    "immobile_fraction": 0.0,
    "displacement_mm": 200.0,
    "head_speed_mm_s": 60.0,
    "angular_speed_deg_s": 40.0,
    "body_length_ratio": 1.02,
    "body_length_ratio_min": 0.98,
    "head_yaw_std_deg": 4.0,
}


@pytest.fixture(scope="module")
def server(analyzed):
    from ray import serve

    from serve.app import build_app

    ws, _ = analyzed
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"workspace": str(ws.root)}), name="mousegpt", route_prefix="/")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


def test_health_asks_the_model_and_reads_the_catalogue(server, analyzed):
    _, report = analyzed
    health = requests.get(f"{server}/healthz", timeout=30).json()
    assert health["status"] == "ok" and health["model"] is True
    assert health["catalogue"] == f"4 session(s), {report['segments']} segment(s)"


def test_health_is_503_when_neither_the_snapshot_nor_the_catalogue_reads(server, analyzed):
    ws, _ = analyzed
    saved = ws.catalog_path.read_bytes()
    manifest = next((ws.root / "index").glob("current-*.json"))
    published = manifest.read_bytes()
    try:
        manifest.unlink()  # no snapshot: readers fall back to the catalogue...
        ws.catalog_path.write_bytes(b"not a duckdb file" * 100)  # ...which cannot be read either
        response = requests.get(f"{server}/healthz", timeout=30)
        assert response.status_code == 503 and "catalog.duckdb" in response.json()["detail"]
    finally:
        ws.catalog_path.write_bytes(saved)
        manifest.write_bytes(published)
    assert requests.get(f"{server}/healthz", timeout=30).status_code == 200


def test_analysis_through_serve_replicas_matches_the_model_in_process(server, analyzed, synth_dir, tmp_path):
    """``--model serve``: whole sessions (facts, kinematic sequence, crops) go to the replicas."""
    from jobs.analyze import run
    from mousegpt.inputs import read_manifest
    from mousegpt.store import Workspace

    ws, _ = analyzed
    spec = read_manifest(synth_dir / "manifest.csv")[1]
    served = Workspace(tmp_path / "served")
    report = run([spec], served, model="serve:mousegpt")
    assert report["failed"] == [] and report["sessions"] == 1
    columns = "segment_id, behavior, confidence, overall, head, limbs, torso, keywords, embedding"
    tables = []
    for workspace in (ws, served):
        with workspace.connect(read_only=True) as con:
            tables.append(
                con.execute(
                    f"SELECT {columns} FROM segments JOIN sessions USING (session_id) "
                    "WHERE video = ? ORDER BY segment_id",
                    [spec.video],
                ).fetchdf()
            )
    local, remote = tables
    assert len(remote) == len(local) > 40
    assert remote.drop(columns=["embedding", "confidence"]).equals(
        local.drop(columns=["embedding", "confidence"])
    )
    np.testing.assert_allclose(remote["confidence"], local["confidence"], atol=1e-6)
    np.testing.assert_allclose(np.stack(remote["embedding"]), np.stack(local["embedding"]), atol=1e-5)
    with served.connect(read_only=True) as con:
        assert con.execute("SELECT model FROM sessions").fetchone()[0] == "mousegpt-tiny:mousegpt-tiny"


def test_a_missing_serve_application_is_one_clear_error(ray_local):
    from mousegpt.describe import load_model
    from mousegpt.errors import MouseGPTError

    with pytest.raises(MouseGPTError, match="no MouseGPT Serve application 'absent'"):
        load_model("serve:absent")


def test_binary_describe_takes_everything_the_model_reads(server):
    import pandas as pd

    from mousegpt.describe import wire
    from mousegpt.describe.tiny import SEQUENCE_FEATURES
    from mousegpt.segments import FACT_COLUMNS, Window

    seen = {"visible_fraction": 1.0}
    facts = pd.DataFrame([FACTS | seen, FACTS | RUNNING | seen]).reindex(columns=list(FACT_COLUMNS))
    crops = np.zeros((2, 4, 32, 32), np.uint8)
    kinematics = pd.DataFrame(
        {c: np.zeros(50) for c in SEQUENCE_FEATURES}
        | {
            "speed_mm_s": np.r_[np.zeros(25), np.full(25, 200.0)],
            "body_length_mm": np.full(50, 80.0),
            "x_mm": np.linspace(0, 100, 50),
            "zone": ["wall"] * 50,
        }
    )
    body = wire.pack(facts, kinematics, crops, [Window(0, 0, 25), Window(1, 25, 50)])
    response = requests.post(
        f"{server}/describe", data=body, headers={"content-type": "application/x-npz"}, timeout=60
    )
    assert response.status_code == 200, response.text
    described = response.json()["descriptions"]
    assert len(described) == 2 and all(
        set(d["description"]) == {"overall", "head", "limbs", "torso", "keywords"} for d in described
    )
    assert all(
        abs(np.linalg.norm(d["motion"]) - 1) < 1e-4 for d in described
    )  # the pipeline's search vectors need it
    missing = wire.pack(
        facts, kinematics.drop(columns=["x_mm"]), crops, [Window(0, 0, 25), Window(1, 25, 50)]
    )
    refused = requests.post(
        f"{server}/describe", data=missing, headers={"content-type": "application/x-npz"}, timeout=60
    )
    assert refused.status_code == 422 and "x_mm" in refused.json()["detail"]
    bad = requests.post(
        f"{server}/describe", data=b"PK not a zip", headers={"content-type": "application/x-npz"}, timeout=60
    )
    assert bad.status_code == 422 and "not an .npz" in bad.json()["detail"]
    wrong = wire.pack(facts, None, crops[:1])
    refused = requests.post(
        f"{server}/describe", data=wrong, headers={"content-type": "application/x-npz"}, timeout=60
    )
    assert (
        refused.status_code == 422
        and "crops must be uint8 (segment, frame, y, x) for 2 segments" in refused.json()["detail"]
    )


def test_describer_replicas_autoscale_as_serve_config_yaml_says():

    import yaml

    from mousegpt.errors import MouseGPTError
    from serve.app import describer_options

    config = yaml.safe_load((REPO / "serve" / "config.yaml").read_text())
    args = config["applications"][0]["args"]
    options = describer_options(args, gpus_in_cluster=0)
    assert options["autoscaling_config"] == {
        "min_replicas": 1,
        "max_replicas": 4,
        "target_ongoing_requests": 32,
    }
    assert options["ray_actor_options"] == {"num_cpus": 1, "num_gpus": 0}
    assert describer_options(args, gpus_in_cluster=2)["ray_actor_options"]["num_gpus"] == 1
    assert (
        describer_options(args | {"model": "kinematic"}, gpus_in_cluster=2)["ray_actor_options"]["num_gpus"]
        == 0
    )
    assert describer_options({"replicas": 3}, 0)[
        "num_replicas"
    ] == 3 and "autoscaling_config" not in describer_options({"replicas": 3}, 0)
    with pytest.raises(MouseGPTError, match="min_replicas <= max_replicas"):
        describer_options({"min_replicas": 3, "max_replicas": 2}, 0)


def test_describe_returns_five_fields(server):
    body = {"segments": [FACTS, FACTS | RUNNING]}
    response = requests.post(f"{server}/describe", json=body, timeout=60)
    assert response.status_code == 200
    rest, run = response.json()["descriptions"]
    assert (rest["behavior"], run["behavior"]) == ("rest", "run")
    assert set(rest["description"]) == {"overall", "head", "limbs", "torso", "keywords"}
    assert "along the wall" in rest["description"]["overall"] and "260 mm/s" in run["description"]["overall"]
    assert run["confidence"] == max(run["probs"].values()) and run["uncertain"] == (run["confidence"] < 0.5)


def test_concurrent_requests_are_batched(server):
    def one(_):
        return requests.post(f"{server}/describe", json={"segments": [FACTS]}, timeout=60).json()

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(64)))
    sizes = [r["descriptions"][0]["batch_size"] for r in results]
    assert all(r["descriptions"][0]["behavior"] == "rest" for r in results)
    assert max(sizes) > 1  # Serve gathered concurrent calls into one model batch


def test_search_endpoint(server):
    result = requests.get(
        f"{server}/search", params={"q": "a mouse grooming itself", "k": 3}, timeout=60
    ).json()
    assert result["query"] == "a mouse grooming itself" and len(result["hits"]) == 3
    hit = result["hits"][0]
    assert {
        "segment_id",
        "session_id",
        "video",
        "start_s",
        "end_s",
        "score",
        "behavior",
        "description",
    } <= set(hit)
    empty = requests.get(f"{server}/search", params={"q": "walking", "condition": "nope"}, timeout=60).json()
    assert empty["hits"] == []


def test_bad_requests_are_rejected(server):
    assert (
        requests.post(f"{server}/describe", json={"segments": [{"zone": "wall"}]}, timeout=30).status_code
        == 422
    )
    partial = {k: v for k, v in FACTS.items() if k != "head_motion_hz"}
    assert requests.post(f"{server}/describe", json={"segments": [partial]}, timeout=30).status_code == 422
    assert requests.post(f"{server}/describe", json={"segments": []}, timeout=30).status_code == 422
    assert requests.get(f"{server}/search", params={"q": " "}, timeout=30).status_code == 422


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_infinity_are_refused(server, value):
    body = json.dumps({"segments": [FACTS]}).replace('"speed_mean_mm_s": 2.0', f'"speed_mean_mm_s": {value}')
    assert value in body
    response = requests.post(
        f"{server}/describe", data=body, headers={"content-type": "application/json"}, timeout=30
    )
    assert response.status_code == 422 and "speed_mean_mm_s" in response.text


def test_a_body_over_the_limit_is_refused_before_it_is_parsed(server):
    from serve.app import MAX_JSON_BYTES

    declared = requests.post(
        f"{server}/describe",
        data=b"{" * (MAX_JSON_BYTES + 1),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert declared.status_code == 413 and f"the limit is {MAX_JSON_BYTES}" in declared.json()["detail"]

    def chunks():  # no content-length: counted while it streams in
        for _ in range(MAX_JSON_BYTES // 65536 + 2):
            yield b" " * 65536

    streamed = requests.post(
        f"{server}/describe", data=chunks(), headers={"content-type": "application/json"}, timeout=30
    )
    assert streamed.status_code == 413 and "body over" in streamed.json()["detail"]
    too_many = requests.post(f"{server}/describe", json={"segments": [FACTS] * 1025}, timeout=30)
    assert too_many.status_code == 422


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
    max_leaves=12,
)
FUZZED_FACTS = st.fixed_dictionaries({}, optional={key: JSON for key in FACTS} | {"zone": JSON})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        JSON, st.fixed_dictionaries({"segments": st.lists(FUZZED_FACTS, max_size=3)}), st.binary(max_size=200)
    ),
    q=st.text(max_size=30),
    k=st.integers(-(10**6), 10**6) | st.text(max_size=5),
    condition=st.none() | st.text(max_size=10),
)
def test_fuzzed_requests_never_get_a_server_error(server, body, q, k, condition):
    data = body if isinstance(body, bytes) else json.dumps(body, allow_nan=True).encode()
    described = requests.post(
        f"{server}/describe", data=data, headers={"content-type": "application/json"}, timeout=60
    )
    assert described.status_code < 500, described.text
    params = {"q": q, "k": k} | ({"condition": condition} if condition is not None else {})
    searched = requests.get(f"{server}/search", params=params, timeout=60)
    assert searched.status_code < 500, searched.text
