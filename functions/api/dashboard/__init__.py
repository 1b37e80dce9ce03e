"""The live dashboard: one page and its assets, served by the app itself.

Served by the Chalice app (not by the local server) so that it works wherever the API runs,
locally and behind API Gateway, and offline: nothing comes from a CDN. The page is plain
HTML, CSS and JavaScript that reads only the public API (the routes in /openapi.json), so it
holds no data and no key: both routes are public, and the page asks for the API key when the
API answers 401.

The chart library (Chart.js, pinned in package.json and package-lock.json at the project root)
is copied into `vendor/` by scripts/setup.sh after `npm ci`; `sam build` packs it with the
`api` package (functions/Makefile). Without it the page still works and says the chart is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
VENDOR_DIR: Final = HERE / "vendor"
CHART_LIBRARY: Final = "chart.umd.min.js"
"""Chart.js's UMD build, as scripts/setup.sh copies it from node_modules/chart.js/dist."""

ROUTES: Final = ("/", "/assets/{name}")
"""Public routes (no API key: they hold no data), left out of the API's OpenAPI document."""

_MEDIA_TYPES: Final = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    CHART_LIBRARY: "text/javascript; charset=utf-8",
}
_OWN_CACHE: Final = "no-cache"
_VENDOR_CACHE: Final = "public, max-age=86400"


@dataclass(frozen=True)
class Asset:
    text: str
    media_type: str
    cache_control: str


def page(base_path: str) -> str:
    """The page, its relative links resolved against `base_path` (the stage's prefix on API
    Gateway, e.g. /Prod/, so that /Prod without a slash still finds its assets and API)."""
    base = base_path if base_path.endswith("/") else base_path + "/"
    html = (HERE / "index.html").read_text(encoding="utf-8")
    return html.replace("{{base}}", escape(base[:200], quote=True))


def asset(name: str) -> Asset | None:
    """An asset, or None for a name that is not one of the list (or is not installed)."""
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        return None
    path = VENDOR_DIR / name if name == CHART_LIBRARY else HERE / name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return Asset(text, media_type, _VENDOR_CACHE if name == CHART_LIBRARY else _OWN_CACHE)
