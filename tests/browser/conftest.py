"""A real browser: Debian's Chromium, driven by Playwright (which downloads nothing), with axe-core
(shipped inside the axe-playwright-python wheel, so nothing is fetched at run time) checking every page state."""
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

from tests.conftest import ARTIFACTS_DIR

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
SIZES = {"phone": PHONE, "desktop": DESKTOP}
# WCAG 2.0, 2.1 and 2.2, levels A and AA, and axe's best practices.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa",
                                                     "best-practice"]}}


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe():
    return Axe()


@pytest.fixture(params=sorted(SIZES))
def size(request) -> str:
    """Each test that takes it runs on a 360 px phone and a 1280 px desktop."""
    return request.param


@pytest.fixture
def page(browser, web_url, size):
    context = browser.new_context(viewport=SIZES[size], base_url=web_url)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def check_page(axe, size):
    """check_page(page, name): axe-core finds nothing and nothing scrolls sideways; a screenshot goes to
    test-artifacts/embedded/ (gw0/ or gw1/, by test process)."""
    def check(page, name: str) -> None:
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS_DIR / f"{name}-{size}.png"), full_page=True)
        results = axe.run(page, options=AXE_OPTIONS)
        assert results.violations_count == 0, f"{name} ({size}):\n{results.generate_report()}"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= SIZES[size]["width"], f"{name} ({size}) scrolls sideways: {width} px"
    return check
