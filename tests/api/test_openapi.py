"""The OpenAPI document is generated from the schemas and describes every endpoint."""

import re

from openapi_spec_validator import validate


def test_the_document_is_valid_openapi_3(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    validate(response.json)


def test_every_api_route_is_documented_with_its_roles(app, client):
    spec = client.get("/api/v1/openapi.json").json
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.endpoint.startswith("api.openapi"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented
    create_case = spec["paths"]["/api/v1/cases"]["post"]
    assert create_case["x-roles"] == ["admin", "supervisor"]
    assert create_case["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CaseIn")
    assert "422" in create_case["responses"] and "401" in create_case["responses"]


def test_the_error_envelope_is_documented(client):
    spec = client.get("/api/v1/openapi.json").json
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]


def test_a_human_readable_reference_page_is_served(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "/api/v1/cases/import" in page and "roles: admin, supervisor" in page
