"""The live tests' own fixtures: Debian's Chromium through Playwright, one browser for every module that asks, and
loaded here only, so the unit and in-process tests run without Playwright installed."""

from tests.support.browser import browser, page  # noqa: F401 (fixtures, found by their names)
