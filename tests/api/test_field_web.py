"""The field app's shell as the server hands it out: the page, its manifest and the
service worker that keeps it for use with no network."""

import json
import posixpath
import re
import struct


def shell_of(client):
    response = client.get("/field/sw.js")
    head = response.get_data(as_text=True).split("\n", 1)[0]
    assert head.startswith("self.FC_SHELL = ") and head.endswith(";")
    return response, json.loads(head[len("self.FC_SHELL = ") : -1])


def test_the_field_page_loads_its_scripts_from_the_app_and_runs_no_inline_code(client):
    response = client.get("/field")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts and all('src="/static/js/' in attrs or 'src="/static/vendor/' in attrs for attrs in scripts)
    assert not re.search(r"\son[a-z]+\s*=", page)  # no inline event handlers: the CSP forbids them
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'data-sw="/field/sw.js"' in page and 'data-scope="/field"' in page
    assert '<link rel="manifest" href="/field/manifest.webmanifest">' in page
    assert "http://" not in page and "https://" not in page  # nothing from a CDN


def test_the_service_worker_may_control_field_and_is_never_served_from_a_cache(client):
    response, shell = shell_of(client)
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/field"
    assert response.headers["Cache-Control"] == "no-cache"
    assert shell["scope"] == "/field" and re.fullmatch(r"[0-9a-f]{16}", shell["version"])


def test_the_service_worker_caches_every_file_the_page_needs(client):
    _, shell = shell_of(client)
    page = client.get("/field").get_data(as_text=True)
    needed = set(re.findall(r'(?:src|href)="(/[^"]+)"', page))
    assert needed <= set(shell["urls"])
    assert {
        "/field",
        "/field/manifest.webmanifest",
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet/leaflet.css",
    } <= set(shell["urls"])
    for url in shell["urls"]:
        with client.get(url) as response:  # static files are streamed: close them
            assert response.status_code == 200, url


def test_the_manifest_makes_the_app_installable_with_its_icons(client):
    response = client.get("/field/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    manifest = json.loads(response.get_data(as_text=True))
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == ("/field", "/field", "standalone")
    assert manifest["name"] and manifest["short_name"]
    sizes = {}
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as response:
            body = response.get_data()
        if icon["type"] == "image/png":
            assert body[:8] == b"\x89PNG\r\n\x1a\n"
            width, height = struct.unpack(">II", body[16:24])
            sizes[icon["sizes"]] = f"{width}x{height}"
        else:
            assert icon["type"] == "image/svg+xml" and body.lstrip().startswith(b"<svg")
    assert sizes == {"192x192": "192x192", "512x512": "512x512"}


def test_the_service_worker_caches_every_module_the_app_imports_and_the_translations(client):
    """An offline phone cannot fetch a module the shell forgot: every import, followed from
    the page's entry module, is in the worker's list, and so is each language's catalog."""
    _, shell = shell_of(client)
    page = client.get("/field").get_data(as_text=True)
    entries = re.findall(r'<script type="module" src="(/static/js/[^"]+)"', page)
    assert len(entries) == 1
    seen, todo = set(), list(entries)
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        with client.get(url) as response:
            assert response.status_code == 200, url
            source = response.get_data(as_text=True)
        for target in re.findall(r'^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"', source, re.M):
            todo.append(posixpath.normpath(posixpath.join(posixpath.dirname(url), target)))
    assert {"/static/js/fc.js", "/static/js/field/store.js", "/static/js/field/views/stop.js"} <= seen
    assert seen <= set(shell["urls"])
    assert {"/static/i18n/en.json", "/static/i18n/zh-CN.json"} <= set(shell["urls"])
