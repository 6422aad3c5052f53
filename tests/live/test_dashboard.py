"""The dashboard in Chromium: it draws real usage (tokens and spend per day per model, totals, the cache's hits and
savings), a caller's own or everyone's for an admin, in light and dark, on a desktop and a phone, and asks no other
host for anything."""

import json
import urllib.parse
import urllib.request

import pytest

from tests.support.browser import OUTPUT
from tests.support.keys import secret
from tests.support.processes import gunicorn, service_env

TOKEN = secret("tok-dashboard-" + "d" * 24)
ADMIN = secret("adm-dashboard-" + "a" * 24)


@pytest.fixture(scope="module")
def server(fake_upstream, tmp_path_factory):
    # With the cache on, the caller's second identical question is answered from it.
    env = service_env(fake_upstream.base_url, API_TOKENS=TOKEN, ADMIN_TOKENS=ADMIN, CACHE_TTL="1h")
    with gunicorn(tmp_path_factory.mktemp("dashboard"), env) as live:
        for model, token in (("gpt-4o-mini", TOKEN), ("gpt-4o-mini", TOKEN), ("gpt-4o", TOKEN), ("gpt-4o", ADMIN)):
            body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hello there"}]}).encode()
            request = urllib.request.Request(
                f"{live.url}/v1/chat/completions",
                data=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 200
        yield live


def open_dashboard(page, server, token):
    page.goto(f"{server.url}/dashboard")
    page.fill("#token", token)
    page.press("#token", "Tab")
    page.wait_for_selector("body[data-drawn=true]")


def test_a_caller_sees_its_own_usage_drawn(page, server):
    elsewhere = []
    page.on(
        "request", lambda r: elsewhere.append(r.url) if urllib.parse.urlsplit(r.url).hostname != "127.0.0.1" else None
    )
    open_dashboard(page, server, TOKEN)
    assert page.locator("#scope").text_content().startswith("Your usage: token:")
    assert page.locator("#spend-chart canvas").count() == 1 and page.locator("#tokens-chart canvas").count() == 1
    legend = page.locator("#spend-chart .u-legend").text_content()
    assert "gpt-4o-mini" in legend and "gpt-4o" in legend
    for total in ("#today", "#week", "#month"):
        assert page.locator(total).text_content().startswith("$0.0")  # a few tokens: fractions of a cent
    assert page.locator("#cache-hits").text_content() == "1"
    assert page.locator("#cache-saved").text_content().startswith("$0.0")
    assert page.locator("#callers-section").is_hidden()
    assert elsewhere == []


def test_an_admin_sees_every_caller(page, server):
    open_dashboard(page, server, ADMIN)
    assert page.locator("#scope").text_content().startswith("Everyone's usage")
    callers = page.locator("#callers tbody tr").all_text_contents()
    assert len(callers) == 2 and all("$" in row for row in callers)


def test_without_a_token_it_says_what_to_do(page, server):
    page.goto(f"{server.url}/dashboard")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").text_content().startswith("Error 401")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1100, 375])
def test_screenshots_for_review(browser, server, scheme, width):
    context = browser.new_context(color_scheme=scheme, viewport={"width": width, "height": 900})
    shot = context.new_page()
    open_dashboard(shot, server, ADMIN)
    OUTPUT.mkdir(exist_ok=True)
    shot.screenshot(path=str(OUTPUT / f"dashboard-{scheme}-{width}px.png"), full_page=True)
    assert shot.evaluate("document.documentElement.dataset.theme") == scheme
    assert shot.evaluate("document.scrollingElement.scrollWidth") <= width
    context.close()
