"""Health check, manifest and the pages every visitor sees."""
from unittest import mock

from sqlalchemy.exc import OperationalError


def test_healthz_answers_200_when_the_database_is_up(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": True}


def test_healthz_answers_503_when_the_database_is_down(client, db):
    error = OperationalError("SELECT 1", {}, Exception("connection refused"))
    with mock.patch("blueprints.site.db.session.execute", side_effect=error):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] is False


def test_manifest_makes_the_site_installable(client, db):
    response = client.get("/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    manifest = response.json
    assert manifest["display"] == "standalone"
    assert {icon["sizes"] for icon in manifest["icons"]} >= {"192x192", "512x512"}
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_pages_link_the_manifest_and_vendored_htmx(client, db):
    page = client.get("/").get_data(as_text=True)
    assert 'rel="manifest"' in page
    assert "vendor/htmx-2.0." in page
    htmx = page.split('src="')[1].split('"')[0] if 'src="/static/vendor/htmx' in page else None
    assert htmx is not None and client.get(htmx).status_code == 200


def test_unknown_url_is_a_friendly_404(client, db):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Browse races" in response.get_data(as_text=True)


def test_unexpected_error_is_a_friendly_500(app, client, db):
    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.get_data(as_text=True)
    assert "kaboom" not in response.get_data(as_text=True)
