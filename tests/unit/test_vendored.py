"""The playground's vendored browser libraries are the pinned versions, each with its licence."""

import json
import pathlib

import pytest

VENDOR = pathlib.Path(__file__).resolve().parents[2] / "chatgate" / "static" / "vendor"
PINNED = json.loads((VENDOR / "package.json").read_text())["dependencies"]
LOCKED = json.loads((VENDOR / "package-lock.json").read_text())["packages"]
FILES = {
    "marked": "lib/marked.umd.js",
    "dompurify": "dist/purify.min.js",
    "@highlightjs/cdn-assets": "highlight.min.js",
    "uplot": "dist/uPlot.iife.min.js",
}
PAGES = {
    "marked": "playground",
    "dompurify": "playground",
    "@highlightjs/cdn-assets": "playground",
    "uplot": "dashboard",
}


@pytest.mark.parametrize("package", FILES)
def test_the_served_file_is_the_pinned_version_with_its_licence(package):
    version = PINNED[package]
    assert LOCKED[f"node_modules/{package}"]["version"] == version
    banner = (VENDOR / package / FILES[package]).read_text()[:400]
    assert f"v{version}" in banner or f" {version} " in banner
    assert (VENDOR / package / "LICENSE").stat().st_size > 500


def test_each_page_loads_its_vendored_files():
    for package, file in FILES.items():
        page = (VENDOR.parent / PAGES[package] / "index.html").read_text()
        assert f'src="/playground/vendor/{package}/{file}"' in page
