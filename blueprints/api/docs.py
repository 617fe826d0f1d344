"""The API's human-readable documentation page: Swagger UI, vendored, showing /api/openapi.json."""
from __future__ import annotations

from flask import jsonify, render_template

from blueprints.api.core import bp, spec


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document, made by spectree from the views' schemas."""
    return jsonify(spec.spec)


@bp.get("/docs")
def docs():
    """The OpenAPI document as a page to read (scripts and styles are our own files, so the CSP stands)."""
    return render_template("api/docs.html")
