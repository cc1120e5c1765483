from fastapi.testclient import TestClient

from tests.factories import capture


def test_post_then_average(client: TestClient) -> None:
    r = client.post("/v1/captures", json=capture(21.5))
    assert r.status_code == 201, r.text
    assert r.json() == {"inserted": 1, "duplicates": 0, "updated": 0}
    r = client.get("/v1/buildings/hq/rooms/3.14/average", params={"unit": "celsius"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 1
    assert abs(body["mean"] - 21.5) < 1e-9
