"""The dashboard's page and assets, as the app serves them (the browser test is integration's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client

from api import dashboard
from tests.functional.conftest import shared_api

KEY = "s3cret-key-for-tests"


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with shared_api([]) as test_client:
        yield test_client


def test_the_page_is_served_at_the_root_with_its_assets_relative(client: Client) -> None:
    # GIVEN the app WHEN a browser opens /
    response = client.http.get("/")
    # THEN it gets the page, whose links resolve against the API's base path
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.body.decode()
    assert '<base href="/">' in page
    assert 'src="assets/dashboard.js"' in page
    assert 'src="assets/chart.umd.min.js"' in page
    # AND it loads nothing from another host (works offline, no CDN)
    assert "http://" not in page and "https://" not in page


@pytest.mark.parametrize(
    ("path", "base"), [("/Prod/", "/Prod/"), ("/Prod", "/Prod/"), ('/"x', "/&quot;x/")]
)
def test_behind_a_stage_prefix_the_base_keeps_it(path: str, base: str) -> None:
    # GIVEN the page asked for under API Gateway's stage prefix, with or without its slash
    # THEN its base is the prefix with a slash, escaped
    assert f'<base href="{base}">' in dashboard.page(path)


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")],
)
def test_own_assets_are_served_with_their_type(client: Client, name: str, media_type: str) -> None:
    response = client.http.get(f"/assets/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(media_type)
    assert response.body.decode() == (dashboard.HERE / name).read_text()


@pytest.mark.parametrize("name", ["nope.js", "index.html", "__init__.py", "..%2F__init__.py"])
def test_anything_else_under_assets_is_a_json_404(client: Client, name: str) -> None:
    # GIVEN a name that is not one of the assets (the page itself, the module, a path escape)
    response = client.http.get(f"/assets/{name}")
    # THEN it is the API's usual 404, and no file is read outside the list of assets
    assert response.status_code == 404
    assert json.loads(response.body)["error"] == "not_found"


def test_the_chart_library_missing_is_a_404_not_a_crash(
    client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN no chart library installed (no npm when set up)
    monkeypatch.setattr(dashboard, "VENDOR_DIR", tmp_path)
    # THEN asking for it is a 404 (the page then says the chart is missing)
    assert client.http.get(f"/assets/{dashboard.CHART_LIBRARY}").status_code == 404


def test_the_chart_library_when_installed_is_served(
    client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN the library copied into vendor/ (by scripts/setup.sh)
    (tmp_path / dashboard.CHART_LIBRARY).write_text("/* Chart.js */")
    monkeypatch.setattr(dashboard, "VENDOR_DIR", tmp_path)
    # THEN it is served as JavaScript, cacheable
    response = client.http.get(f"/assets/{dashboard.CHART_LIBRARY}")
    assert response.status_code == 200
    assert response.body == b"/* Chart.js */"
    assert "max-age" in response.headers["Cache-Control"]


def test_with_a_key_set_the_page_and_assets_stay_public_and_the_data_does_not(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the API has a key
    monkeypatch.setenv("API_KEY", KEY)
    # THEN the page and its assets load without it (they hold no data, and never the key)
    for path in ("/", "/assets/dashboard.js", "/assets/dashboard.css"):
        response = client.http.get(path)
        assert response.status_code == 200, path
        assert KEY not in response.body.decode()
    # AND the data the page reads still needs it
    assert client.http.get("/sessions").status_code == 401
    assert client.http.get("/nope").status_code == 401
