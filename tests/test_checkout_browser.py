"""A person clicks through checkout in a real Chromium: their /buy link, the Stripe sandbox's
pay page, its Pay button, and Flywheel's thank-you page."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.payments_setup import Store, shop, store

__all__ = ["shop", "store"]

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Launch the machine's Chromium, headless (Playwright downloads nothing here)."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        await launched.close()


async def test_a_member_clicks_from_their_link_through_the_pay_page_to_the_thanks_page(
    store: Store, browser: Browser
) -> None:
    link = await store.link("pro")
    page = await browser.new_page()
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text))

    await page.goto(link)
    assert page.url.startswith(store.shop.stripe.api_base + "/pay/cs_")
    await page.get_by_label("Email").fill("ada@example.org")
    await page.get_by_role("button", name="Pay").click()
    await page.wait_for_url(f"{store.base}/buy/pro/thanks?session_id=cs_*")

    assert await page.get_by_role("heading").inner_text() == "Thank you!"
    assert "Pro Pack" in await page.inner_text("main")
    # The stylesheet loaded under the page's own Content-Security-Policy.
    width = await page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth")
    assert width == "576px"
    assert not [text for text in blocked if "Content Security Policy" in text]
    (order,) = await store.orders()
    assert order.offer_slug == "pro" and order.member_id is not None
