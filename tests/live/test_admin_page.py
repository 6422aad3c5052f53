"""The admin page in Chromium, against gunicorn with two upstreams: a token made in the page works from curl at once,
its spend limit changed there refuses a call, its revocation holds within 2 s; an upstream rested there is avoided;
a failed call is found by its status; names that are HTML stay text; no other host is asked for anything."""

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.support.browser import OUTPUT
from tests.support.fake_upstream import FakeUpstream
from tests.support.keys import secret
from tests.support.processes import gunicorn, service_env

ADMIN = secret("adm-admin-page-" + "a" * 30)
KEY = secret("sk-admin-page-" + "5" * 30)
HTML_NAME = "<img src=x onerror=window.hacked=1>"


@pytest.fixture(scope="module")
def fakes():
    started = [FakeUpstream().start(), FakeUpstream().start()]
    yield started
    for fake in started:
        fake.stop()


@pytest.fixture(scope="module")
def server(fakes, tmp_path_factory):
    folder = tmp_path_factory.mktemp("admin")
    path = folder / "upstreams.toml"
    path.write_text(
        "".join(
            f'[[upstreams]]\nname = "{name}"\nbase_url = "{fake.base_url}/v1"\napi_key_env = "KEY"\n'
            'models = ["gpt-4o-mini", "gpt-4o"]\n\n'
            for name, fake in (("first", fakes[0]), (HTML_NAME.replace('"', "'"), fakes[1]))
        )
    )
    env = service_env("", ADMIN_TOKENS=ADMIN, UPSTREAMS_FILE=str(path), KEY=KEY)
    env.pop("OPENAI_BASE_URL", None)
    with gunicorn(folder, env) as live:
        yield live


def call(server, token: str, body: dict | None = None, path: str = "/v1/chat/completions") -> int:
    body = body or {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def open_admin(page, server):
    page.goto(f"{server.url}/admin")
    page.fill("#token", ADMIN)
    page.press("#token", "Tab")
    page.wait_for_selector("body[data-loaded=true]")


def test_a_token_made_in_the_page_works_changes_and_is_revoked(page, server):
    elsewhere = []
    page.on(
        "request", lambda r: elsewhere.append(r.url) if urllib.parse.urlsplit(r.url).hostname != "127.0.0.1" else None
    )
    page.on("dialog", lambda dialog: dialog.accept())  # the revocation's confirmation
    open_admin(page, server)
    page.fill("#new-name", "page-made")
    page.click("#new-token button[type=submit]")
    page.wait_for_selector("#shown-once[open]")
    token = page.locator("#shown-token").text_content()
    assert token.startswith("cat_") and call(server, token) == 200  # from curl, at once
    page.click("#close-once")
    row = page.locator("#tokens tr[data-name=page-made]")
    row.get_by_role("button", name="Edit").click()
    page.fill("#edit-spend", "0.000001/day")
    page.fill("#edit-expires", "30d")
    page.click("#save")
    page.wait_for_selector("#tokens tr[data-name=page-made] >> text=spend 0.000001/day")
    assert "active until" in row.text_content()  # its expiry, set in the same dialog
    deadline = time.monotonic() + 2
    while (status := call(server, token)) != 429:  # every worker holds the new limit within a second
        assert time.monotonic() < deadline, status
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_selector("#tokens tr[data-name=page-made] >> text=revoked")
    deadline = time.monotonic() + 2
    while (status := call(server, token)) != 401:  # every worker refuses it within a second
        assert time.monotonic() < deadline, status
    assert page.locator("#audit li").first.text_content().endswith("revoke token page-made")
    assert elsewhere == []


def test_an_upstream_rested_in_the_page_is_avoided(page, server, fakes):
    open_admin(page, server)
    card = page.locator(".card[data-name=first]")
    card.get_by_role("button", name="Rest 10 min").click()
    page.wait_for_selector(".card[data-name=first] .state.resting")
    # Each worker reads who rests at most every half second: within 2 s, eight calls in a row avoid it.
    deadline, avoided = time.monotonic() + 2, 0
    while avoided < 8:
        assert time.monotonic() < deadline, "calls still go to the rested upstream"
        before = len(fakes[0].chat_requests())
        assert call(server, ADMIN) == 200
        avoided = avoided + 1 if len(fakes[0].chat_requests()) == before else 0
    page.locator(".card[data-name=first]").get_by_role("button", name="Resume").click()
    page.wait_for_selector(".card[data-name=first] >> text=serving")


def test_a_failed_call_is_found_by_its_status(page, server, fakes):
    with fakes[0].behave(status=500), fakes[1].behave(status=500):
        assert call(server, ADMIN, {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}) == 502
    open_admin(page, server)
    page.fill("#filter-status", "502")
    page.wait_for_selector("#calls-count >> text=/^1 of/")
    failed = page.locator("#calls tbody tr")
    assert failed.count() == 1 and "502" in failed.text_content() and "gpt-4o" in failed.text_content()
    assert failed.get_attribute("class") == "failed"


def test_names_that_are_html_stay_text(page, server):
    assert call(server, ADMIN, {"model": HTML_NAME, "messages": [{"role": "user", "content": "x"}]}) == 404
    open_admin(page, server)
    page.fill("#filter-status", "404")
    page.wait_for_selector("#calls-count >> text=/^[1-9]/")
    assert HTML_NAME in page.locator("#calls tbody").text_content()  # the model's name, as text
    assert HTML_NAME.replace('"', "'") in page.locator("#upstreams").text_content()  # the upstream's
    assert page.locator("#calls img, #upstreams img").count() == 0
    assert page.evaluate("window.hacked") is None


def test_without_an_admin_token_it_says_why(page, server):
    page.goto(f"{server.url}/admin")
    page.fill("#token", "not-a-token")
    page.press("#token", "Tab")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error").text_content().startswith("401")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1100, 375])
def test_screenshots_for_review(browser, server, scheme, width):
    context = browser.new_context(color_scheme=scheme, viewport={"width": width, "height": 900})
    shot = context.new_page()
    open_admin(shot, server)
    OUTPUT.mkdir(exist_ok=True)
    shot.screenshot(path=str(OUTPUT / f"admin-{scheme}-{width}px.png"), full_page=True)
    assert shot.evaluate("document.documentElement.dataset.theme") == scheme
    assert shot.evaluate("document.scrollingElement.scrollWidth") <= width  # the tables scroll inside the page
    context.close()


def test_the_ring_keeps_its_bound_across_the_workers(tmp_path, fake_upstream):
    env = service_env(fake_upstream.base_url, ADMIN_TOKENS=ADMIN, RECENT_CALLS="5")
    with gunicorn(tmp_path, env, "--workers", "2") as live:
        sent = []
        for number in range(12):  # each on a connection of its own: the workers take them as they come
            request = urllib.request.Request(
                live.url + "/chat",
                data=json.dumps({"message": f"q {number}"}).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN}"},
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                sent.append(answer.headers["X-Request-ID"])
        listing = urllib.request.Request(live.url + "/admin/api/calls", headers={"Authorization": f"Bearer {ADMIN}"})
        with urllib.request.urlopen(listing, timeout=10) as answer:
            calls = json.loads(answer.read())
    assert [call["request_id"] for call in calls["calls"]] == sent[::-1][:5] and calls["kept"] == 5
