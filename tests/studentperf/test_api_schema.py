"""The OpenAPI document is valid OpenAPI 3, its examples match it, and Swagger UI needs no CDN."""
from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def examples_of(spec: dict):
    """(where, example value, media schema) for every request and response example in the document."""
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            bodies = [("request", operation.get("requestBody", {}))]
            bodies += [(f"response {status}", response) for status, response in operation.get("responses", {}).items()]
            for label, body in bodies:
                for media in body.get("content", {}).values():
                    for name, example in media.get("examples", {}).items():
                        yield f"{method.upper()} {path} {label} {name}", example["value"], media["schema"]


def test_schema_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["version"] == "1.0.0"
    validate(spec)


def test_schema_declares_the_api_key_scheme_and_the_error_shape(spec):
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert set(spec["components"]["schemas"]["Error"]["required"]) == {"error", "message", "fields", "request_id"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert {"ApiKey": []} in operation["security"], f"{method} {path}"
            assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }


def test_every_endpoint_has_an_example(spec):
    with_example = {where.split(" ")[1] for where, _, _ in examples_of(spec) if " response 2" in where}
    assert set(spec["paths"]) <= with_example, set(spec["paths"]) - with_example


def test_every_example_validates_against_its_schema(spec):
    found = list(examples_of(spec))
    assert len(found) >= 10
    for where, value, schema in found:
        validator = OAS30Validator({**schema, "components": spec["components"]})
        errors = [error.message for error in validator.iter_errors(value)]
        assert not errors, f"{where}: {errors}"


def test_a_wrong_example_would_be_caught(spec):
    """The check above can fail: an error body without its message does not validate."""
    validator = OAS30Validator({"$ref": "#/components/schemas/Error", "components": spec["components"]})
    assert list(validator.iter_errors({"error": "invalid", "fields": {}}))


def test_docs_page_uses_only_local_assets(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\"' ]+", html)
    assets = re.findall(r"""(?:src|href)=["']/static/([^"']+)["']""", html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert finders.find(asset), asset


def test_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3.0")
