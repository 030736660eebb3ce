"""A newcomer in a real browser: claims the site with the logged token, signs in, adds an author."""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def setup_url_from_log(server) -> str:
    for line in server.log.lines:
        match = re.search(r"(http://\S+/setup\?token=\S+)", line)
        if match:
            return match.group(1)
    raise AssertionError(f"no setup URL in the log: {server.log.lines}")


def test_first_run_setup_then_sign_in_and_see_the_dashboard(live_server, page: Page):
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Set up your blog")).to_be_visible()

    page.goto(setup_url_from_log(live_server))
    page.get_by_label("Your name").fill("Sam Owner")
    page.get_by_label("Email").fill("sam@example.com")
    page.get_by_label("Password", exact=True).fill("sam's long password")
    page.get_by_label("Password again").fill("sam's long password")
    page.get_by_role("button", name="Create admin account").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Add a user").click()
    page.get_by_label("Name").fill("Ann Author")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Initial password").fill("ann's long password")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_text("Ann Author can now sign in as ann@example.com.")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill("ann's long password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("Ann Author (author)")).to_be_visible()
    expect(page.get_by_role("link", name="Users")).to_have_count(0)


def test_setup_page_refuses_a_wrong_token_in_the_browser(live_server, page: Page):
    page.goto(live_server.url + "/setup?token=guessed")
    page.get_by_label("Your name").fill("Mallory")
    page.get_by_label("Email").fill("mallory@example.com")
    page.get_by_label("Password", exact=True).fill("mallory's password")
    page.get_by_label("Password again").fill("mallory's password")
    page.get_by_role("button", name="Create admin account").click()
    expect(
        page.get_by_text("This token does not match the one in the server's log.")
    ).to_be_visible()
    expect(page.get_by_label("Your name")).to_have_value("Mallory")
