"""The API reads its settings once a request, however many parts of the request need them."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from evsessions.settings import Settings
from tests.functional.conftest import store_sessions


@pytest.mark.parametrize("path", ["/health", "/sessions?limit=1", "/totals?bucket=day"])
def test_each_request_parses_the_settings_once(
    client: Client, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # GIVEN stored sessions, enough for a second page (a cursor signed with the settings' secret)
    store_sessions(
        [("1", "1", "1", "2025-11-27T17:00:00Z"), ("1", "1", "2", "2025-11-27T18:00:00Z")]
    )
    parsed = 0
    real = Settings.from_env.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Settings], *args: Any, **kwargs: Any) -> Settings:
        nonlocal parsed
        parsed += 1
        result: Settings = real(cls, *args, **kwargs)
        return result

    monkeypatch.setattr(Settings, "from_env", classmethod(counted))
    # WHEN one request is served
    response = client.http.get(path)
    # THEN it succeeded, and the environment was parsed once for it
    assert response.status_code == 200, response.body
    assert parsed == 1
