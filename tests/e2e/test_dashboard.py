"""End to end: the dashboard in a real browser (Debian's headless Chromium, driven through its
chromedriver; `make browser` installs both) over `make dev`.

What the page shows is read back from the page (the chart's own data, the table, the texts) and
compared with what the API answers for the same request. Each page is checked with axe-core (from
npm) for serious and critical accessibility violations, and a screenshot of each is saved under
test-artifacts/dashboard/ (git-ignored).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from devstack.apigateway import gateway_response
from devstack.template import ROOT, load_template
from manage.target import local as local_target
from manage.target import use_tables
from powerfactor.access import keys as apikeys
from tests.support import UNLIMITED_TIERS, MakeDev, headless_chromium, make_dev, wait_for

pytestmark = pytest.mark.e2e
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WAIT = 90  # seconds any one condition may take on a busy machine


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MakeDev, str]]:
    """`make dev` with its own development key file (another stack may run beside it), keeping
    a year of history (a new plant's first run fetches all of it)."""
    key_file = tmp_path_factory.mktemp("dashboard") / "api-key"
    tiers = " ".join(f"--param {name}={value}" for name, value in UNLIMITED_TIERS.items())
    with make_dev(f"--dev-key-file {key_file} --param SyncUntilYear=1 {tiers}") as running:
        assert f"{running.url}/dashboard/" in running.printed
        yield running, key_file.read_text().strip()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[webdriver.Chrome]:
    chrome = headless_chromium(downloads)
    if chrome is None:
        pytest.fail("Chromium and chromedriver are missing: `make browser` installs Debian's packages")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield chrome
    chrome.quit()


@pytest.fixture(autouse=True)
def no_page_errors(browser) -> Iterator[None]:
    """No script error and no Content-Security-Policy violation in any page of a test (the
    browser's console; failed requests the test caused on purpose are the network's, not these)."""
    browser.get_log("browser")  # what earlier tests left
    yield
    errors = [
        e["message"]
        for e in browser.get_log("browser")
        if e["level"] == "SEVERE" and (e["source"] != "network" or "Content Security Policy" in e["message"])
    ]
    assert not errors, errors


# ---- the page ---------------------------------------------------------------------------------


def wait(browser: webdriver.Chrome, condition, what: str):
    """Wait for a condition of the page (its truthy value), failing with what was awaited and
    the page's error box."""
    try:
        # a view re-rendered meanwhile leaves stale elements: look again
        ignored = (StaleElementReferenceException, NoSuchElementException)
        return WebDriverWait(browser, WAIT, poll_frequency=0.1, ignored_exceptions=ignored).until(condition)
    except WebDriverException as error:
        shown = browser.execute_script("return document.getElementById('error')?.innerText || ''")
        raise AssertionError(f"waited {WAIT} s for {what}; the page says: {shown!r}") from error


def visit(browser: webdriver.Chrome, url: str) -> None:
    """Load the page afresh (a new hash on the open page would only re-route it, and the old
    view could be read before the new one is drawn)."""
    browser.get("about:blank")
    browser.get(url)


def sign_in(browser: webdriver.Chrome, url: str, key: str) -> None:
    visit(browser, f"{url}/dashboard/")
    browser.execute_script("sessionStorage.clear()")
    visit(browser, f"{url}/dashboard/#/")
    field = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "input[name=key]"), "the sign-in form")[
        0
    ]
    label = browser.find_element(By.CSS_SELECTOR, f"label[for={field.get_attribute('id')}]")
    assert label.text == "API key"
    field.send_keys(key)
    field.submit()
    wait(browser, lambda b: b.find_element(By.ID, "nav").is_displayed(), "the signed-in navigation")


def drawn(browser: webdriver.Chrome, **expected: str) -> dict:
    """Wait until the plant page drew a report with these fields (granularity, tz, from, to);
    what the page holds of it: the report it got and each chart's data."""

    def done(b: webdriver.Chrome) -> dict | None:
        shown = b.execute_script(
            "const p = window.powerfactor; const c = document.getElementById('charts');"
            "return p && c && c.dataset.drawn !== undefined ? {report: p.report,"
            " energy: p.charts.energy.data, irradiation: p.charts.irradiation.data} : null"
        )
        if shown and all(shown["report"][field] == value for field, value in expected.items()):
            return shown
        return None

    return wait(browser, done, f"the chart of {expected}")


def set_date(browser: webdriver.Chrome, field, day: str) -> None:
    """Fill a date input (its typed form depends on the browser's locale; the value does not)."""
    browser.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change', {bubbles: true}))",
        field,
        day,
    )


def axe(browser: webdriver.Chrome, page: str) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    if not browser.execute_script("return typeof axe !== 'undefined'"):
        browser.execute_script(AXE.read_text())
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map("
        "v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))))"
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page}: {json.dumps(bad, indent=1)}"


def hidden_yet_shown(browser: webdriver.Chrome) -> list[str]:
    """Elements that the page marks hidden (the attribute, or under it) but a person still sees:
    a style that overrides `hidden` makes the DOM say one thing and the screen another."""
    return browser.execute_script(
        "return [...document.querySelectorAll('[hidden], [hidden] *')].filter(e => e.checkVisibility())"
        ".map(e => e.tagName + '.' + e.className + '#' + e.id + ': ' + e.textContent.slice(0, 60))"
    )


def seen(browser: webdriver.Chrome, element) -> bool:
    """The element is displayed with a size, inside the viewport's width."""
    box = element.rect
    width = browser.execute_script("return document.documentElement.clientWidth")
    return (
        element.is_displayed() and box["width"] > 0 and box["height"] > 0 and box["x"] + box["width"] <= width
    )


def shot(browser: webdriver.Chrome, name: str) -> None:
    """A screenshot of the whole page (beyond the viewport), into test-artifacts/dashboard/."""
    png = browser.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "format": "png"})
    (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(png["data"]))


def error_shown(browser: webdriver.Chrome) -> tuple[str, str]:
    box = wait(
        browser,
        lambda b: b.find_element(By.ID, "error").is_displayed() and b.find_element(By.ID, "error"),
        "an error",
    )
    return box.get_attribute("data-status"), box.text


# ---- the API, for comparison --------------------------------------------------------------------


def call(url: str, key: str, path: str, query: dict | None = None, method: str = "GET", body: object = None):
    """(status, parsed JSON or text, headers) of one API request."""
    target = f"{url}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        target, data=data, method=method, headers={"Authorization": f"Bearer {key}"}
    )
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw, status, headers = response.read().decode(), response.status, response.headers
    except urllib.error.HTTPError as error:
        raw, status, headers = error.read().decode(), error.code, error.headers
    parsed = json.loads(raw) if "json" in headers.get("Content-Type", "") and raw else raw
    return status, parsed, headers


def api_report(url: str, key: str, query: dict) -> tuple[list[dict], dict]:
    """Every bucket of the report (all pages) and its totals."""
    items, cursor = [], None
    while True:
        status, page, _ = call(
            url, key, "/api/solar-plant/report/", {**query, **({"cursor": cursor} if cursor else {})}
        )
        assert status == 200, page
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items, page["totals"]


def api_csv(url: str, key: str, query: dict) -> str:
    """The report as the API's CSV, its pages joined under one header."""
    csv, cursor = "", None
    while True:
        status, text, headers = call(
            url,
            key,
            "/api/solar-plant/report/",
            {**query, "format": "csv", **({"cursor": cursor} if cursor else {})},
        )
        assert status == 200, text
        csv += text.split("\n", 1)[1] if csv else text
        cursor = headers.get("X-Next-Cursor")
        if not cursor:
            return csv


def points(columns: list[list]) -> list[tuple]:
    """The chart's points (x, expected, observed), without the nulls it puts into gaps."""
    return [(x, e, o) for x, e, o in zip(*columns, strict=True) if e is not None or o is not None]


def expected_points(buckets: list[dict], measure: str) -> list[tuple]:
    return [
        (datetime.fromisoformat(b["start"]).timestamp(), b[measure]["expected"], b[measure]["observed"])
        for b in buckets
    ]


# ---- the tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plant(dev, browser) -> dict:
    """A plant created in the dashboard with a write key, once its first backfill is stored."""
    running, key = dev
    sign_in(browser, running.url, key)
    assert "read, write" in browser.find_element(By.ID, "who").text
    form = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "form.plant-form"), "the new-plant form")[
        0
    ]
    for name, value in {"name": "Sunny Side", "capacity_kwp": "850", "timezone": "Europe/Berlin"}.items():
        form.find_element(By.NAME, name).send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, lambda b: "#/plant/" in b.current_url, "the new plant's page")
    plant_id = int(browser.current_url.rsplit("/", 1)[1].split("?")[0])

    def backfilled() -> dict | None:
        status, body, _ = call(running.url, key, f"/api/solar-plant/plant/{plant_id}")
        return body if status == 200 and body["sync"]["last_success_at"] else None

    body = wait_for(backfilled, "the new plant's first sync run (a year back)")
    visit(browser, f"{running.url}/dashboard/#/plant/{plant_id}")
    facts = wait(browser, lambda b: b.find_element(By.ID, "plant-facts").text, "the plant's facts")
    assert f"Synced until\n{body['sync']['synced_until']}" in facts and "Last sync\nnever" not in facts
    return body


def test_a_write_key_creates_a_plant_and_sees_it_in_the_list(dev, browser, plant) -> None:
    running, _ = dev
    visit(browser, f"{running.url}/dashboard/#/")
    row = wait(
        browser, lambda b: b.find_elements(By.CSS_SELECTOR, f"tr[data-plant-id='{plant['id']}']"), "the row"
    )[0]
    cells = [c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")]
    assert cells[:4] == ["Sunny Side", "850", "Europe/Berlin", plant["sync"]["synced_until"]]
    assert cells[4] == plant["sync"]["history_from"] and cells[5] == "none"
    axe(browser, "plants")
    shot(browser, "plants")


@pytest.mark.parametrize(
    ("granularity", "tz"), [("day", "Europe/Berlin"), ("hour", "UTC"), ("month", "Asia/Kolkata")]
)
def test_the_charts_show_the_apis_buckets(dev, browser, plant, granularity, tz) -> None:
    running, key = dev
    visit(browser, f"{running.url}/dashboard/#/plant/{plant['id']}")
    drawn(browser, granularity="day", tz="Europe/Berlin")  # the default: 30 days by day in the plant's zone
    form = browser.find_element(By.CSS_SELECTOR, "form.range")
    start = plant["sync"]["history_from"]
    set_date(browser, form.find_element(By.NAME, "from"), start)
    Select(form.find_element(By.NAME, "granularity")).select_by_value(granularity)
    zone = form.find_element(By.NAME, "tz")
    zone.clear()
    zone.send_keys(tz)
    form.find_element(By.ID, "show-range").click()
    shown = drawn(browser, granularity=granularity, tz=tz, **{"from": start})
    query = {
        "plant-id": plant["id"],
        "from": start,
        "to": shown["report"]["to"],
        "granularity": granularity,
        "tz": tz,
    }
    buckets, totals = api_report(running.url, key, query)
    assert len(buckets) > (300 if granularity == "day" else 5)
    assert shown["report"]["items"] == buckets and shown["report"]["totals"] == totals
    assert points(shown["energy"]) == expected_points(buckets, "energy")
    assert points(shown["irradiation"]) == expected_points(buckets, "irradiation")
    # the table, opened, has a row per bucket with its period
    browser.find_element(By.CSS_SELECTOR, "#bucket-details summary").click()
    periods = wait(
        browser,
        lambda b: b.execute_script(
            "return [...document.querySelectorAll('#buckets tbody th')].map(e => e.textContent)"
        ),
        "the table",
    )
    assert periods == [b["period"] for b in buckets][:5000]  # the table's most; the CSV has all
    if len(buckets) > 5000:
        summary = browser.find_element(By.CSS_SELECTOR, "#bucket-details summary").text
        assert summary == f"Table of the first 5000 of {len(buckets)} buckets (the CSV has all)"
    if granularity == "day":
        axe(browser, "plant")
        shot(browser, "plant")


def test_the_csv_download_is_the_apis_csv(dev, browser, plant, downloads) -> None:
    running, key = dev
    start = plant["sync"]["history_from"]
    # pages of 200 buckets: the page follows next_cursor for the chart and X-Next-Cursor for the CSV
    page = f"#/plant/{plant['id']}?from={start}&to={start[:4]}-12-31&granularity=hour&tz=local&limit=200"
    visit(browser, f"{running.url}/dashboard/{page}")
    shown = drawn(browser, granularity="hour", tz="Europe/Berlin", **{"from": start})
    browser.find_element(By.ID, "download-csv").click()
    name = f"plant-{plant['id']}-hour-{start}-{start[:4]}-12-31.csv"
    file = wait(browser, lambda b: (downloads / name).exists() and (downloads / name), f"the download {name}")
    query = {
        "plant-id": plant["id"],
        "from": start,
        "to": f"{start[:4]}-12-31",
        "granularity": "hour",
        "tz": "local",
    }
    expected = api_csv(running.url, key, query)
    assert file.read_text() == expected
    assert expected.count("\n") == len(shown["report"]["items"]) + 2 > 600  # header, the buckets, the total
    assert shown["report"]["items"] == api_report(running.url, key, query)[0]  # the API in one page


def test_a_write_key_edits_resyncs_and_deletes_after_confirming(dev, browser, plant) -> None:
    running, key = dev
    status, doomed, _ = call(running.url, key, "/api/solar-plant/", method="POST", body={"name": "Doomed"})
    assert status == 201
    visit(browser, f"{running.url}/dashboard/#/plant/{plant['id']}")
    drawn(browser)
    browser.find_element(By.XPATH, "//summary[text()='Edit plant']").click()
    edit = browser.find_element(By.CSS_SELECTOR, "details[open] form.plant-form")
    capacity = edit.find_element(By.NAME, "capacity_kwp")
    capacity.clear()
    capacity.send_keys("900")
    edit.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, lambda b: "900 kWp" in b.find_element(By.ID, "plant-facts").text, "the new capacity")
    assert call(running.url, key, f"/api/solar-plant/plant/{plant['id']}")[1]["capacity_kwp"] == 900

    browser.find_element(By.XPATH, "//summary[text()='Re-sync a range']").click()
    day = plant["sync"]["history_from"]
    for name in ("resync-from", "resync-to"):
        set_date(browser, browser.find_element(By.NAME, name), day)
    browser.execute_script("document.getElementById('status').textContent = ''")
    browser.find_element(By.XPATH, "//button[text()='Queue re-sync']").click()
    said = wait(
        browser,
        lambda b: (
            "Re-sync of" in (text := b.find_element(By.ID, "status").get_attribute("textContent")) and text
        ),
        "the re-sync's answer",
    )
    assert said == f"Re-sync of {day} to {day} is pending.", said

    visit(browser, f"{running.url}/dashboard/#/plant/{doomed['id']}")
    wait(browser, lambda b: b.find_element(By.ID, "plant-name").text == "Doomed", "the doomed plant's page")
    drawn(browser)
    confirm = browser.find_element(By.CSS_SELECTOR, ".confirm")
    ask = browser.find_element(By.XPATH, "//button[text()='Delete plant…']")
    # nobody asked yet: the warning and its red button are not on the screen
    assert seen(browser, ask) and not confirm.is_displayed() and confirm.text == ""
    assert hidden_yet_shown(browser) == []
    ask.click()
    assert call(running.url, key, f"/api/solar-plant/plant/{doomed['id']}")[0] == 200  # nothing yet
    assert seen(browser, confirm) and "cannot be undone" in confirm.text
    confirm.find_element(By.XPATH, ".//button[text()='Cancel']").click()
    assert not confirm.is_displayed() and confirm.text == ""
    ask.click()
    yes = confirm.find_element(By.XPATH, ".//button[text()='Delete Doomed']")
    assert seen(browser, yes)
    yes.click()
    wait(browser, lambda b: b.current_url.endswith("#/"), "the list after the delete")
    assert call(running.url, key, f"/api/solar-plant/plant/{doomed['id']}")[0] == 404


def test_a_read_only_key_has_no_write_controls_and_a_forced_write_is_refused(dev, browser, plant) -> None:
    running, _ = dev
    with use_tables(local_target(f"http://127.0.0.1:{running.db_port}")):
        token, _ = apikeys.create_key("dashboard reader", ["read"])
    sign_in(browser, running.url, token)
    assert browser.find_element(By.ID, "who").text == "dashboard reader (read)"
    wait(browser, lambda b: b.find_elements(By.ID, "plants"), "the list")
    assert not browser.find_elements(By.CSS_SELECTOR, "form.plant-form")
    visit(browser, f"{running.url}/dashboard/#/plant/{plant['id']}")
    drawn(browser)
    assert not browser.find_elements(By.CSS_SELECTOR, "section.write, form.plant-form, button.danger")
    axe(browser, "plant, read-only")
    shot(browser, "plant-read-only")
    # the page's own key, sent by hand: API Gateway refuses it before any function runs
    answer = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/solar-plant/', {method: 'POST', headers: {Authorization: 'Bearer ' +"
        " sessionStorage.getItem('powerfactor.key'), 'Content-Type': 'application/json'},"
        " body: JSON.stringify({name: 'forced'})}).then(r => r.json().then(b => done([r.status, b])))"
    )
    assert answer[0] == 403 and answer[1]["error"]["code"] == "insufficient_scope"


def test_errors_are_shown_in_words(dev, browser) -> None:
    running, key = dev
    sign_in(browser, running.url, key)
    visit(browser, f"{running.url}/dashboard/#/plant/987654")
    assert error_shown(browser) == ("404", "Error: Not found: plant 987654 does not exist.")
    shot(browser, "error-404")
    visit(browser, f"{running.url}/dashboard/")
    browser.execute_script("sessionStorage.clear()")
    visit(browser, f"{running.url}/dashboard/#/")
    field = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "input[name=key]"), "the sign-in form")[
        0
    ]
    field.send_keys("pfk_000000000000_" + "0" * 40)
    field.submit()
    status, text = error_shown(browser)
    assert status == "401" and "not accepted" in text
    axe(browser, "sign-in with an error")
    shot(browser, "sign-in-refused")


def test_a_throttled_request_says_how_long_to_wait(dev, browser) -> None:
    """API Gateway's own 429, exactly as the template shapes it (tests/e2e/test_throttling.py
    shows the gateway gives it), answered in the page instead of one request: the page says to
    wait Retry-After seconds."""
    running, key = dev
    status, headers, body = gateway_response("THROTTLED", load_template().gateway_responses())
    headers = {**dict(headers), "Retry-After": "7"}
    sign_in(browser, running.url, key)
    browser.execute_script(
        "const [status, headers, body] = arguments; const real = window.fetch;"
        "window.fetch = (url, init) => String(url).includes('/api/solar-plant/alerts')"
        " ? Promise.resolve(new Response(body, {status, headers})) : real(url, init);"
        "location.hash = '#/alerts';",
        status,
        headers,
        body.decode(),
    )
    assert error_shown(browser) == ("429", "Error: Too many requests: wait 7 s and try again.")


@pytest.mark.parametrize(("width", "height", "mobile"), [(375, 812, True), (1280, 800, False)])
def test_usable_on_a_phone_and_a_laptop_screen(dev, browser, plant, width, height, mobile) -> None:
    running, key = dev
    sign_in(browser, running.url, key)
    # headless Chromium makes no window narrower than 500 px: emulate the device's viewport
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    try:
        for page, hash_ in (("plants", "#/"), ("plant", f"#/plant/{plant['id']}")):
            visit(browser, f"{running.url}/dashboard/{hash_}")
            if page == "plant":
                drawn(browser)
            else:
                wait(browser, lambda b: b.find_elements(By.ID, "plants"), "the list")
            assert browser.execute_script("return window.innerWidth") == width
            assert hidden_yet_shown(browser) == [], page
            for control in browser.find_elements(By.CSS_SELECTOR, "main h1, main h2, nav a, button.danger"):
                if control.get_attribute("hidden") is None and not control.find_elements(
                    By.XPATH, "ancestor::*[@hidden]"
                ):
                    assert seen(browser, control), (
                        f"{page}: {control.text!r} is not shown whole at {width} px"
                    )
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            wide = browser.execute_script(
                "const w = document.documentElement.clientWidth; return [...document.querySelectorAll("
                "'body *')].filter(e => e.getBoundingClientRect().right > w && !e.closest('.scroll'))"
                ".map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 10)"
            )
            assert overflow <= 0, f"{page} scrolls sideways by {overflow} px at {width} px: {wide}"
            axe(browser, f"{page} at {width} px")
            shot(browser, f"{page}-{width}px")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.mark.parametrize(
    ("granularity", "days", "removed"),
    [
        # Berlin's 25-hour day (2026-10-25, 02:00 twice): three hours gone, then one hour alone
        ("hour", ("2026-10-24", "2026-10-26"), {10, 11, 12, 40, 42}),
        ("day", ("2026-03-27", "2026-04-02"), {3}),  # around the 23-hour day
        ("month", ("2025-12-01", "2026-10-31"), {4}),
    ],
)
def test_missing_buckets_are_gaps_never_zeros_nor_bridged(
    dev, browser, plant, granularity, days, removed
) -> None:
    """The API leaves out buckets without data. The report is the API's own, with buckets taken
    out as a gap would take them, answered in the page for its request: each run of missing
    buckets becomes exactly one null in the chart, and DST days make none."""
    running, key = dev
    query = {
        "plant-id": plant["id"],
        "from": days[0],
        "to": days[1],
        "granularity": granularity,
        "tz": "Europe/Berlin",
    }
    status, page, _ = call(running.url, key, "/api/solar-plant/report/", query)
    assert status == 200 and page["next_cursor"] is None
    page["items"] = [b for i, b in enumerate(page["items"]) if i not in removed]
    runs = sum(1 for i in removed if i - 1 not in removed)
    visit(browser, f"{running.url}/dashboard/#/alerts")
    browser.execute_script(
        "const body = arguments[0]; const real = window.fetch;"
        "window.fetch = (url, init) => String(url).includes('/api/solar-plant/report/')"
        " ? Promise.resolve(new Response(body, {status: 200, headers: {'Content-Type': 'application/json'}}))"
        " : real(url, init);"
        "location.hash = '#/plant/' + arguments[1] + '?' + arguments[2];",
        json.dumps(page),
        plant["id"],
        urllib.parse.urlencode({k: v for k, v in query.items() if k != "plant-id"}),
    )
    shown = drawn(browser, granularity=granularity)
    for measure in ("energy", "irradiation"):
        assert points(shown[measure]) == expected_points(page["items"], measure)
        assert sum(1 for value in shown[measure][1] if value is None) == runs
    zeros = [v for v in shown["energy"][2] if v == 0]
    assert not zeros
