"""Race morning without signal: the check-in page keeps the roster, checks runners in offline by search and by a
ticket's QR code (Chromium's fake camera plays it), and syncs once back online; two phones converge."""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import segno
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import func, select

from models import CheckInEvent, OrderStatus, Registration, RegistrationAudit
from services.notifications import ticket_url
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, open_page, page_at, screenshot
from tests.factories import make_profile
from tests.registrant_factories import add_co_organizer, organized_race, runner
from tests.test_browser_manage import browser_login

pytestmark = pytest.mark.browser


@pytest.fixture
def race_day(db):
    organizer = make_profile(db, full_name="Olga Organizer")
    race = organized_race(db, organizer, title="Lake 10K")
    ten, five = race.ticket_types
    people = {
        "ada": runner(db, race, ten, "Ada", "Lovelace", bib=1001),
        "grace": runner(db, race, ten, "Grace", "Hopper", bib=1002),
        "zoe": runner(db, race, five, "Zoë", "Núñez-Brontë", bib=2001),
        "alan": runner(db, race, five, "Alan", "Turing", bib=2002),
        "ray": runner(db, race, ten, "Ray", "Refund", status=OrderStatus.REFUNDED),
    }
    return organizer, race, people


def qr_video(app, code: str, into: Path) -> Path:
    """A Y4M clip of the ticket's QR code (what blueprints/tickets.py shows: the ticket's address) for the fake camera."""
    with app.test_request_context():
        data = ticket_url(code)
    png = into / "qr.png"
    segno.make(data, error="m").save(str(png), scale=8, border=4)
    frame = Image.new("L", (640, 480), 255)
    qr = Image.open(png).convert("L")
    frame.paste(qr, ((640 - qr.width) // 2, (480 - qr.height) // 2))
    y = frame.tobytes()
    chroma = bytes([128]) * (320 * 240)
    video = into / "qr.y4m"
    with video.open("wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(10):
            out.write(b"FRAME\n" + y + chroma + chroma)
    return video


@pytest.fixture
def camera(chromium, tmp_path):
    """Launch a Chromium whose camera shows a ticket's QR code: camera(app, code) -> browser."""
    launched = []

    def launch(app, code):
        video = qr_video(app, code, tmp_path)
        browser = chromium.browser_type.launch(executable_path=CHROMIUM, args=[
            *CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"])
        launched.append(browser)
        return browser

    yield launch
    for browser in launched:
        browser.close()


def open_desk(browser, live_server, app, organizer, race, width=390):
    page = open_page(browser, width=width, timeout=15_000)
    context = page.context
    context.grant_permissions(["camera"], origin=live_server.url)
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}/checkin")
    expect(page.locator("#checkin-offline-status")).to_contain_text("Ready for offline: 4 runners, updated ")
    return context, page


def scanner_ready(page):
    """Until the QR reader (the fallback's WebAssembly, in Chromium on Linux) is loaded, while the signal lasts."""
    deadline = time.monotonic() + 30
    while not page.evaluate("window.startlineCheckin.scannerReady()"):  # (wait_for_function's polling evals: CSP)
        assert time.monotonic() < deadline, "the QR reader never loaded"
        page.wait_for_timeout(100)


def check_in_by_search(page, typed, name):
    page.get_by_role("searchbox").fill(typed)
    row = page.locator(".checkin-row").filter(has_text=name)
    row.get_by_role("button", name="Check in").click()
    expect(row).to_contain_text("Not synced yet")
    expect(row).to_contain_text("In at")


def viewport_shot(page, name):
    """What the phone shows with the scanner open (a modal: the whole page behind it is of no interest)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def kept_once_synced(page, timeout_s=20.0):
    """What the device keeps once its queue has drained (or the timeout passed): the page syncs on load by
    itself, so the test waits on the queue rather than on a status line that may not show the wait yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        kept = page.evaluate("window.startlineCheckin.kept()")
        if kept["queued"] == 0 or time.monotonic() > deadline:
            return kept
        page.wait_for_timeout(100)


def checked_in(db):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).where(Registration.checked_in_at.is_not(None)))


def test_offline_check_ins_by_search_and_by_scan_sync_once_when_back_online(live_server, app, db, race_day, camera):
    organizer, race, people = race_day
    context, page = open_desk(camera(app, people["alan"].ticket_code), live_server, app, organizer, race)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    screenshot(page, "checkin-offline-ready-390")
    scanner_ready(page)

    context.set_offline(True)
    expect(page.locator("#checkin-offline-status")).to_contain_text("Offline.")
    check_in_by_search(page, "lovel", "Ada Lovelace")
    check_in_by_search(page, "1002", "Grace Hopper")
    check_in_by_search(page, "nunez", "Zoë Núñez-Brontë")
    expect(page.locator("#checkin-offline-status")).to_contain_text("3 check-ins waiting to sync")
    screenshot(page, "checkin-offline-pending-390")

    page.get_by_role("button", name="Scan ticket").click()
    answer = page.locator("#checkin-scan-answer")
    expect(answer).to_have_class(re.compile("is-ok"), timeout=30_000)
    expect(answer).to_contain_text("Checked in")
    expect(answer).to_contain_text("Alan Turing · Bib 2002")
    viewport_shot(page, "checkin-scan-green-390")
    page.get_by_role("button", name="Close").click()
    expect(page.locator("#checkin-offline-status")).to_contain_text("4 check-ins waiting to sync")
    assert checked_in(db) == 0  # nothing reached the server yet

    context.set_offline(False)
    assert kept_once_synced(page)["queued"] == 0
    assert checked_in(db) == 4
    assert db.session.scalar(select(func.count()).where(CheckInEvent.source == "sync")) == 4
    assert db.session.scalar(select(func.count()).select_from(RegistrationAudit)) == 4
    page.evaluate("window.startlineCheckin.sync()")  # a later sync sends nothing again
    assert db.session.scalar(select(func.count()).select_from(CheckInEvent)) == 4
    page.reload()
    expect(page.locator("#checkin-counter")).to_contain_text("4 / 4")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()


def test_a_refunded_ticket_scanned_gets_a_big_red_answer(live_server, app, db, race_day, camera):
    organizer, race, people = race_day
    context, page = open_desk(camera(app, people["ray"].ticket_code), live_server, app, organizer, race, width=1280)
    screenshot(page, "checkin-offline-ready-1280")
    page.get_by_role("button", name="Scan ticket").click()
    answer = page.locator("#checkin-scan-answer")
    expect(answer).to_have_class(re.compile("is-problem"), timeout=30_000)
    expect(answer.locator("strong")).to_have_text("✕ Refunded")
    expect(answer).to_contain_text("This ticket was refunded, so it can't be checked in.")
    expect(answer).to_contain_text("Ray Refund")
    viewport_shot(page, "checkin-scan-red-1280")
    assert checked_in(db) == 0
    context.close()


def scan_refusal(app, db, race, people, case):
    """(the ticket code a runner shows, the headline the phone answers) for each kind of refusal."""
    if case == "already checked in":
        ada = people["ada"]
        ada.checked_in_at = datetime.now(UTC).replace(hour=12, minute=12, second=0, microsecond=0)
        db.session.commit()
        local = ada.checked_in_at.astimezone(race.tz)
        return ada.ticket_code, f"✕ Already checked in at {local.hour % 12 or 12}:{local.minute:02d}"
    if case == "waiver missing":
        people["grace"].waiver_signed_at = None
        db.session.commit()
        return people["grace"].ticket_code, "✕ Waiver missing"
    other = organized_race(db, make_profile(db), title="Hill 5K")
    return runner(db, other, other.ticket_types[0], "Wes", "Elsewhere").ticket_code, "✕ Wrong race"


@pytest.mark.parametrize("case", ["already checked in", "waiver missing", "wrong race"])
def test_a_ticket_scanned_offline_that_cant_come_in_gets_a_big_red_answer_saying_why(
        live_server, app, db, race_day, camera, case):
    organizer, race, people = race_day
    code, headline = scan_refusal(app, db, race, people, case)
    context, page = open_desk(camera(app, code), live_server, app, organizer, race)
    scanner_ready(page)
    context.set_offline(True)
    page.get_by_role("button", name="Scan ticket").click()
    answer = page.locator("#checkin-scan-answer")
    expect(answer).to_have_class(re.compile("is-problem"), timeout=30_000)
    expect(answer.locator("strong")).to_have_text(re.compile("^" + re.escape(headline)))
    assert page.evaluate("window.startlineCheckin.kept()")["queued"] == 0  # nothing to send
    context.close()


@pytest.mark.parametrize("where", ["the check-in page", "another page"])
def test_signing_out_wipes_the_roster_from_the_phone(live_server, app, db, race_day, chromium, where):
    organizer, race, _people = race_day
    context, page = open_desk(chromium, live_server, app, organizer, race)
    assert page.evaluate("window.startlineCheckin.kept()")["runners"] == 5
    if where == "another page":  # the sign-out answer's Clear-Site-Data empties the device's storage
        page.goto(f"{live_server.url}/manage/")
    page.locator("summary", has_text="Account menu").click()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").wait_for()
    page.goto(f"{live_server.url}/")  # a page of its own to look from, whatever the sign-out's answer still loads
    names = page.evaluate("indexedDB.databases().then(found => found.map(db => db.name))")
    assert "startline-checkin" not in names
    context.close()


def test_two_phones_checking_in_the_same_runner_offline_converge(live_server, app, db, race_day, chromium):
    organizer, race, people = race_day
    phones = [open_desk(chromium, live_server, app, organizer, race) for _ in range(2)]
    for context, page in phones:
        context.set_offline(True)
        check_in_by_search(page, "hopper", "Grace Hopper")
        page.wait_for_timeout(50)  # two taps, a moment apart
    first_time = phones[0][1].locator(".checkin-row").filter(has_text="Grace Hopper").locator(".checked-mark").inner_text()
    for context, page in reversed(phones):  # the later tap reaches the server first
        context.set_offline(False)
        assert kept_once_synced(page)["queued"] == 0
    db.session.expire_all()
    grace = db.session.get(Registration, people["grace"].id)
    assert grace.checked_in_at is not None and checked_in(db) == 1
    assert db.session.scalar(select(func.count()).where(CheckInEvent.source == "sync")) == 2
    for _context, page in phones:
        page.reload()
        page.get_by_role("searchbox").fill("hopper")
        row = page.locator(".checkin-row").filter(has_text="Grace Hopper")
        expect(row).to_contain_text("In at")
    screenshot(phones[1][1], "checkin-converged-390")
    assert first_time.startswith("✓ In at")
    for context, _page in phones:
        context.close()


def test_a_lapsed_session_keeps_the_roster_and_the_taps_until_the_organizer_signs_in_again(
        live_server, app, db, race_day, chromium):
    """A 401 (the session expired, or its refresh was lost on a weak signal) must not lose a morning's taps."""
    organizer, race, _people = race_day
    context, page = open_desk(chromium, live_server, app, organizer, race)
    context.set_offline(True)
    check_in_by_search(page, "lovelace", "Ada Lovelace")
    context.clear_cookies()  # the session ended (expired, or revoked by a reused refresh token)
    context.set_offline(False)
    page.evaluate("window.startlineCheckin.sync()")
    expect(page.locator("#checkin-offline-status")).to_contain_text("You're signed out. Sign in again to sync")
    assert page.evaluate("window.startlineCheckin.kept()") == {"runners": 5, "queued": 1}
    assert checked_in(db) == 0
    browser_login(page, live_server, app, organizer)
    page.goto(f"{live_server.url}/manage/races/{race.id}/checkin")
    assert kept_once_synced(page) == {"runners": 5, "queued": 0}
    assert checked_in(db) == 1
    context.close()


def test_another_account_on_the_same_phone_neither_sees_nor_sends_the_first_ones_roster_and_taps(
        live_server, app, db, race_day, chromium):
    organizer, race, _people = race_day
    helper = make_profile(db, full_name="Hal Helper")
    add_co_organizer(db, race, helper)
    context, page = open_desk(chromium, live_server, app, organizer, race)
    context.set_offline(True)
    check_in_by_search(page, "lovelace", "Ada Lovelace")
    page.close()  # Olga's page goes before the signal comes back: nothing of hers is sent
    context.clear_cookies()
    context.set_offline(False)
    page = context.new_page()
    browser_login(page, live_server, app, helper)
    page.goto(f"{live_server.url}/manage/races/{race.id}/checkin")
    expect(page.locator("#checkin-offline-status")).to_contain_text("Ready for offline: 4 runners, updated ")
    page.evaluate("window.startlineCheckin.sync()")
    assert page.evaluate("window.startlineCheckin.kept()") == {"runners": 5, "queued": 0}  # the helper's own roster
    assert checked_in(db) == 0  # Olga's tap was not sent under Hal's session
    assert db.session.scalar(select(func.count()).select_from(CheckInEvent)) == 0
    context.close()


def test_a_race_over_two_days_ago_leaves_no_roster_on_the_device(live_server, app, db, chromium):
    organizer = make_profile(db, full_name="Olga Organizer")
    race = organized_race(db, organizer, title="Last week's 10K", starts_at=datetime.now(UTC) - timedelta(days=3))
    runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
    with page_at(chromium, 390, height=844) as page:
        browser_login(page, live_server, app, organizer)
        page.goto(f"{live_server.url}/manage/races/{race.id}/checkin")
        expect(page.locator("#checkin-offline-status")).to_contain_text("The race is over")
        assert page.evaluate("window.startlineCheckin.kept()") == {"runners": 0, "queued": 0}


def test_before_anyone_signs_up_there_is_nothing_to_scan(live_server, app, db, chromium):
    organizer = make_profile(db, full_name="Olga Organizer")
    race = organized_race(db, organizer, title="Empty 5K")
    with page_at(chromium, 390, height=844) as page:
        browser_login(page, live_server, app, organizer)
        page.goto(f"{live_server.url}/manage/races/{race.id}/checkin")
        expect(page.locator("#checkin-offline-status")).to_contain_text("Ready for offline: 0 runners, updated ")
        expect(page.get_by_role("button", name="Scan ticket")).to_be_hidden()
        runner(db, race, race.ticket_types[0], "Ada", "Lovelace")
        page.reload()
        expect(page.locator("#checkin-offline-status")).to_contain_text("Ready for offline: 1 runner, updated ")
        expect(page.get_by_role("button", name="Scan ticket")).to_be_visible()


def test_without_javascript_the_desk_is_the_search_and_tap_page(live_server, app, db, race_day, chromium):
    organizer, race, people = race_day
    with page_at(chromium, 390, height=844, java_script_enabled=False) as page:
        browser_login(page, live_server, app, organizer)
        page.goto(f"{live_server.url}/manage/races/{race.id}/checkin")
        expect(page.locator("#checkin-offline")).to_be_hidden()
        expect(page.get_by_role("button", name="Scan ticket")).to_be_hidden()
        page.get_by_role("searchbox").fill("lovel")
        page.get_by_role("button", name="Find").click()
        page.locator(".checkin-row").filter(has_text="Ada Lovelace").get_by_role("button", name="Check in").click()
        expect(page.locator(".checkin-row.is-in").filter(has_text="Ada Lovelace")).to_be_visible()
        assert checked_in(db) == 1
