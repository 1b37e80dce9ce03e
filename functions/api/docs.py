"""A readable page for the API, rendered on the server from the OpenAPI document.

Plain HTML with a little inline CSS: no CDN, no JavaScript, nothing fetched by the browser. Every
route, parameter, response and schema comes from `api.openapi`, so the page cannot drift from
the document a client validates against.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from api.openapi import JSON, openapi_document

_CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}
h3{font-family:ui-monospace,monospace;background:#f3f5f8;padding:.4rem .6rem;border-radius:4px}
.method{color:#fff;background:#2f7d32;padding:0 .4rem;border-radius:3px;margin-right:.4rem}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f6f6f6;padding:.5rem .7rem;overflow-x:auto;border-radius:4px}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#fafafa}nav a{margin-right:1rem}
""".strip()


def _resolve(document: JSON, node: Mapping[str, Any]) -> JSON:
    """Follow one local `$ref` (#/components/...); anything else comes back as it is."""
    reference = node.get("$ref")
    if not isinstance(reference, str):
        return dict(node)
    target: Any = document
    for part in reference.removeprefix("#/").split("/"):
        target = target[part]
    return dict(target)


def _ref_name(node: Mapping[str, Any]) -> str | None:
    reference = node.get("$ref")
    return reference.rsplit("/", 1)[-1] if isinstance(reference, str) else None


def _type(schema: Mapping[str, Any]) -> str:
    """A short human description of a schema: `integer 1..500, default 50`."""
    name = _ref_name(schema)
    if name is not None:
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return " or ".join(_type(option) for option in schema[combinator])
    text = escape(str(schema.get("type", "any")))
    if schema.get("type") == "array":
        text = f"array of {_type(schema.get('items', {}))}"
    if "format" in schema:
        text += f" ({escape(str(schema['format']))})"
    notes = []
    if "enum" in schema:
        notes.append(
            "one of " + ", ".join(f"<code>{escape(str(v))}</code>" for v in schema["enum"])
        )
    if "minimum" in schema or "maximum" in schema:
        notes.append(f"{schema.get('minimum', '')}..{schema.get('maximum', '')}")
    if "pattern" in schema and "format" not in schema:
        notes.append(f"matching <code>{escape(str(schema['pattern']))}</code>")
    if "default" in schema:
        notes.append(f"default <code>{escape(str(schema['default']))}</code>")
    if schema.get("nullable"):
        notes.append("or null")
    return ", ".join([text, *notes])


def _table(headings: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _anchor(method: str, path: str) -> str:
    return "op-" + "".join(c if c.isalnum() else "-" for c in f"{method}{path}")


def _operation(document: JSON, path: str, method: str, operation: JSON) -> str:
    parts = [
        f'<h3 id="{_anchor(method, path)}"><span class="method">{escape(method.upper())}</span>'
        f"{escape(path)}</h3>",
        f"<p><strong>{escape(operation.get('summary', ''))}</strong></p>",
        f"<p>{escape(operation.get('description', ''))}</p>",
    ]
    parameters = [_resolve(document, p) for p in operation.get("parameters", [])]
    if parameters:
        parts.append(
            _table(
                ["Parameter", "In", "Type", "Required", "Description"],
                (
                    [
                        f"<code>{escape(p['name'])}</code>",
                        escape(p["in"]),
                        _type(p.get("schema", {})),
                        "yes" if p.get("required") else "no",
                        escape(p.get("description", "")),
                    ]
                    for p in parameters
                ),
            )
        )
    rows = []
    for status, raw in operation.get("responses", {}).items():
        response = _resolve(document, raw)
        content = response.get("content", {})
        kinds = [f"{escape(media)}: {_type(c.get('schema', {}))}" for media, c in content.items()]
        rows.append([escape(status), escape(response.get("description", "")), "<br>".join(kinds)])
    parts.append(_table(["Status", "Meaning", "Body"], rows))
    examples = operation.get("x-example-requests", [])
    if examples:
        lines = "\n".join(
            escape(f'curl -H "x-api-key: $API_KEY" "$API_URL{example}"') for example in examples
        )
        parts.append(f"<p>Examples:</p><pre>{lines}</pre>")
    return "\n".join(parts)


def _schema(name: str, schema: JSON) -> str:
    required = set(schema.get("required", []))
    rows = (
        [
            f"<code>{escape(field)}</code>",
            _type(spec),
            "yes" if field in required else "no",
            escape(str(spec.get("description", ""))),
        ]
        for field, spec in schema.get("properties", {}).items()
    )
    return (
        f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>'
        f"<p>{escape(str(schema.get('description', '')))}</p>"
        + _table(["Field", "Type", "Always present", "Description"], rows)
    )


def render_docs(document: JSON) -> str:
    """The whole page for one OpenAPI document."""
    info = document.get("info", {})
    operations = [
        (path, method, operation)
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
    ]
    index = " ".join(
        f'<a href="#{_anchor(m, p)}">{escape(m.upper())} {escape(p)}</a>' for p, m, _ in operations
    )
    schemes = document.get("components", {}).get("securitySchemes", {})
    auth = "".join(
        f"<li><code>{escape(s.get('name', ''))}</code> ({escape(s.get('in', ''))}):"
        f" {escape(s.get('description', ''))}</li>"
        for s in schemes.values()
    )
    schemas = document.get("components", {}).get("schemas", {})
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(info.get('title', 'API'))}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>{escape(info.get('title', 'API'))}</h1>",
            f"<p>Version {escape(info.get('version', ''))}, OpenAPI"
            f" {escape(document.get('openapi', ''))}:"
            ' <a href="openapi.json">openapi.json</a></p>',
            f"<p>{escape(info.get('description', ''))}</p>",
            f"<nav>{index}</nav>",
            f"<h2>Authentication</h2><ul>{auth}</ul>",
            "<p>The examples use <code>$API_URL</code> for the API's base URL and"
            " <code>$API_KEY</code> for the key; leave the header out when the API has none.</p>",
            "<h2>Routes</h2>",
            *(_operation(document, p, m, o) for p, m, o in operations),
            "<h2>Schemas</h2>",
            *(_schema(name, schema) for name, schema in schemas.items()),
            "</body></html>",
        ]
    )


@functools.cache
def docs_page() -> str:
    """The page for this API's document, rendered once."""
    return render_docs(openapi_document())
