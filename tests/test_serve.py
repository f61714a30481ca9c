"""The Ray Serve application over HTTP on loopback."""

import concurrent.futures

import pytest
import requests

from .conftest import free_port

pytestmark = pytest.mark.ray

# A mouse lying still at the wall, every fact given (as analyze computes them).
FACTS = {"speed_mean_mm_s": 2.0, "speed_max_mm_s": 5.0, "body_length_ratio": 0.95, "body_length_ratio_min": 0.93,
         "angular_speed_deg_s": 3.0, "head_speed_mm_s": 2.0, "head_motion_hz": 0.5, "heading_change_deg": 0.0,
         "body_length_mm": 80.0, "displacement_mm": 0.5, "head_yaw_std_deg": 1.0, "head_yaw_abs_deg": 2.0,
         "immobile_fraction": 1.0, "wall_distance_mm": 12.0, "zone": "wall"}
# A running mouse: fast, and its head and heading move as a running mouse's do.
RUNNING = {"speed_mean_mm_s": 210.0, "speed_max_mm_s": 260.0, "immobile_fraction": 0.0, "displacement_mm": 200.0,
           "head_speed_mm_s": 60.0, "angular_speed_deg_s": 40.0, "body_length_ratio": 1.02, "body_length_ratio_min": 0.98,
           "head_yaw_std_deg": 4.0}


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


def test_health(server):
    assert requests.get(f"{server}/healthz", timeout=30).json()["status"] == "ok"


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
    result = requests.get(f"{server}/search", params={"q": "a mouse grooming itself", "k": 3}, timeout=60).json()
    assert result["query"] == "a mouse grooming itself" and len(result["hits"]) == 3
    hit = result["hits"][0]
    assert {"segment_id", "session_id", "video", "start_s", "end_s", "score", "behavior", "description"} <= set(hit)
    empty = requests.get(f"{server}/search", params={"q": "walking", "condition": "nope"}, timeout=60).json()
    assert empty["hits"] == []


def test_bad_requests_are_rejected(server):
    assert requests.post(f"{server}/describe", json={"segments": [{"zone": "wall"}]}, timeout=30).status_code == 422
    partial = {k: v for k, v in FACTS.items() if k != "head_motion_hz"}
    assert requests.post(f"{server}/describe", json={"segments": [partial]}, timeout=30).status_code == 422
    assert requests.post(f"{server}/describe", json={"segments": []}, timeout=30).status_code == 422
    assert requests.get(f"{server}/search", params={"q": " "}, timeout=30).status_code == 422
