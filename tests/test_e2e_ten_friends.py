"""The v1 goal, end to end in Chromium: an organizer sets up a race and ten friends sign up and pay.

One long story, told the way people would click through it. Screenshots of every main page at
390 px and 1280 px land in artifacts/ for a person to look at.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from models import Order, OrderStatus, OutboxMessage, Race, Registration
from services.mail.worker import send_due_for
from services.money import format_money
from tests.browser import ARTIFACTS, CHROMIUM_ARGS  # noqa: F401

pytestmark = pytest.mark.browser

PASSWORD = "friends run together"
RACE_DAY = (datetime.now(UTC) + timedelta(days=40)).date()
# How many 10K tickets each friend buys (the 10K has 12 spots); some also take a 5K.
TEN_K = [2, 1, 2, 1, 1, 2, 1, 1, 1]
FIVE_K = {2: 1}
NO_JS_FRIEND = 4


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"e2e-{name}.png"), full_page=True)


def both_widths(page, name: str) -> None:
    """Screenshot the page as it is now at phone and desktop width."""
    size = page.viewport_size
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        shot(page, f"{name}-{width}")
    page.set_viewport_size(size)


def saved(page, state_id: str) -> None:
    page.locator(f"#{state_id} .autosave-status").filter(has_text="Saved").wait_for()


def sign_up(page, name: str, email: str) -> None:
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()


def cover_png(path) -> str:
    Image.new("RGB", (1600, 900), (11, 110, 79)).save(path)
    return str(path)


@pytest.fixture
def world(app, live_server, chromium, db, smtp_server, tmp_path):
    app.config.update(LOCAL_AUTH_AUTOCONFIRM=True, SITE_URL=live_server.url, SMTP_URL=smtp_server.url)
    return {"app": app, "url": live_server.url, "browser": chromium, "db": db, "smtp": smtp_server, "tmp": tmp_path}


def organizer_sets_up_the_race(world) -> tuple[int, str]:
    url, browser = world["url"], world["browser"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{url}/auth/sign-in?next=/manage/")
    sign_up(page, "Olga Organizer", "olga@example.com")
    page.wait_for_url("**/manage/")

    page.get_by_label("Race name").fill("Friends Fun Run")
    page.get_by_label("Race day").fill(RACE_DAY.isoformat())
    page.get_by_role("button", name="Create draft").click()
    page.wait_for_url(re.compile(r".*/manage/races/\d+$"))
    race_id = int(page.url.rsplit("/", 1)[1])

    page.locator("#where-location_name").fill("Lake Harriet Bandshell")
    page.locator("#where-address").fill("4135 W Lake Harriet Pkwy, Minneapolis")
    saved(page, "state-where")
    page.locator("#summary-summary").fill("Ten friends, two distances, pancakes after.")
    saved(page, "state-summary")
    page.locator("#description-description").fill("## Course\n\nOne lap (5K) or two (10K) of the lake.")
    saved(page, "state-description")
    page.locator("#waiver-waiver").fill("I run at my own risk and I will be kind to my friends.")
    saved(page, "state-waiver")

    for count in (1, 2):
        page.get_by_role("button", name="+ Add a ticket type").click()
        page.locator(".tt-row").nth(count - 1).wait_for()
    rows = page.locator(".tt-row")
    assert rows.count() == 2
    for row, (name, price, spots) in zip(rows.all(), [("10K", "30", "12"), ("5K", "20", "50")], strict=True):
        row.locator("input[name=name]").fill(name)
        row.locator("input[name=price]").fill(price)
        row.locator("input[name=capacity]").fill(spots)
        row.locator(".autosave-status").filter(has_text="Saved").wait_for()

    page.locator("#cover-file").set_input_files(cover_png(world["tmp"] / "cover.png"))
    page.locator("img.cover-preview").wait_for()
    both_widths(page, "editor")

    page.goto(f"{url}/manage/races/{race_id}/codes")
    page.get_by_label("Code", exact=True).fill("FRIENDS")
    page.get_by_label("Percent off").check()
    page.get_by_label("How much").fill("20")
    page.locator("form").filter(has=page.get_by_label("How much")).get_by_role("button").first.click()
    page.get_by_text("FRIENDS", exact=True).first.wait_for()
    both_widths(page, "codes")

    page.goto(f"{url}/manage/races/{race_id}")
    page.get_by_role("button", name="Publish").click()
    page.get_by_text("Published").first.wait_for()
    slug = page.locator("a", has_text="View page").get_attribute("href").rsplit("/", 1)[1]
    context.close()
    return race_id, slug


def fill_runner(page, first: str, last: str, email: str) -> None:
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Date of birth").fill("1991-04-12")
    if page.get_by_label("T-shirt size").count():
        page.get_by_label("T-shirt size").select_option(index=1)
    page.get_by_label("Emergency contact's name").fill("Mum")
    page.get_by_label("Emergency contact's phone").fill("+1 612 555 0100")
    page.get_by_label("I have read the waiver above and accept it").check()
    page.get_by_label("Signature").fill(f"{first} {last}")
    with page.expect_navigation():
        page.get_by_role("button", name="Save runner").click()


def fill_all_runners(page, friend: int) -> None:
    """Fill every runner form: from the cart, and then from each form to the next until the cart."""
    n = 0
    while True:
        if "/cart/runners/" not in page.url:
            todo = page.get_by_role("link", name=re.compile(r"^(Fill in|Finish)"))
            if not todo.count():
                return
            todo.first.click()
        page.get_by_label("First name").wait_for()
        n += 1
        assert n <= 5
        email = f"friend{friend}@example.com" if n == 1 else f"friend{friend}.guest{n}@example.com"
        fill_runner(page, f"Friend{friend}", f"Runner{n}", email)


def apply_code_and_pay(page) -> None:
    if not re.search(r"/cart(\?.*)?$", page.url):
        shot(page, "debug-before-code")
        raise AssertionError(f"expected the cart, got {page.url}")
    page.get_by_label("Discount code").fill("friends")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("FRIENDS").first.wait_for()
    page.get_by_role("button", name="Continue to payment").click()


def pay_on_test_gateway(page) -> None:
    page.wait_for_url("**/test-gateway/**")
    page.get_by_text("Test mode: no card is charged.").wait_for()
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.wait_for_url(re.compile(r".*/orders/[0-9a-f-]+$"))
    page.get_by_text("You're in!").wait_for()


def friend_buys(world, slug: str, friend: int, ten_k: int, five_k: int) -> None:
    url = world["url"]
    context = world["browser"].new_context(viewport={"width": 390, "height": 844},
                                           java_script_enabled=(friend != NO_JS_FRIEND))
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{url}/races/{slug}")
    page.get_by_label("How many 10K tickets").select_option(str(ten_k))
    if five_k:
        page.get_by_label("How many 5K tickets").select_option(str(five_k))
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url("**/auth/sign-in**")
    sign_up(page, f"Friend {friend}", f"friend{friend}@example.com")
    page.wait_for_url(f"**/races/{slug}**")  # the redirect brings them back, choice kept
    assert page.get_by_label("How many 10K tickets").input_value() == str(ten_k)
    page.get_by_role("button", name="Add to cart").click()
    if friend == NO_JS_FRIEND:
        page.wait_for_url("**/cart")
    else:
        page.locator("#cart-badge").filter(has_text=str(ten_k + five_k)).wait_for()
        if friend == 1:
            both_widths(page, "race-added")
        page.goto(f"{url}/races/{slug}/cart")
    fill_all_runners(page, friend)
    if friend == 1:
        both_widths(page, "cart-ready")
    apply_code_and_pay(page)
    if friend == 1:
        both_widths(page, "test-gateway")
    pay_on_test_gateway(page)
    if friend == 1:
        both_widths(page, "order-paid")
    page.goto(f"{url}/tickets/")
    assert page.locator(".ticket-qr svg").count() == ten_k + five_k
    if friend == 1:
        both_widths(page, "tickets")
    context.close()


def test_ten_friends_sign_up_pay_and_the_organizer_runs_the_race(world):
    app, db, url = world["app"], world["db"], world["url"]
    race_id, slug = organizer_sets_up_the_race(world)

    # The tenth friend puts a 10K in their cart early, and pays last.
    late = world["browser"].new_context(viewport={"width": 390, "height": 844})
    late_page = late.new_page()
    late_page.set_default_timeout(15_000)
    late_page.goto(f"{url}/races/{slug}")
    both_widths(late_page, "race")
    late_page.get_by_label("How many 10K tickets").select_option("1")
    late_page.get_by_role("button", name="Add to cart").click()
    late_page.wait_for_url("**/auth/sign-in**")
    sign_up(late_page, "Friend 10", "friend10@example.com")
    late_page.wait_for_url(f"**/races/{slug}**")
    late_page.get_by_role("button", name="Add to cart").click()
    late_page.locator("#cart-badge").filter(has_text="1").wait_for()
    late_page.goto(f"{url}/races/{slug}/cart")
    fill_all_runners(late_page, 10)

    for friend, count in enumerate(TEN_K, start=1):
        friend_buys(world, slug, friend, count, FIVE_K.get(friend, 0))

    # The 10K is full now: the tenth friend is told so, and switches to the 5K.
    late_page.goto(f"{url}/races/{slug}/cart")
    late_page.get_by_text(re.compile("10K is sold out")).first.wait_for()
    assert late_page.get_by_role("button", name="Continue to payment").is_disabled()
    both_widths(late_page, "sold-out")
    late_page.get_by_role("button", name=re.compile("^Remove")).first.click()
    late_page.wait_for_load_state("networkidle")
    late_page.goto(f"{url}/races/{slug}")
    late_page.get_by_label("How many 5K tickets").select_option("1")
    late_page.get_by_role("button", name="Add to cart").click()
    late_page.locator("#cart-badge").filter(has_text="1").wait_for()
    late_page.goto(f"{url}/races/{slug}/cart")
    fill_all_runners(late_page, 10)
    apply_code_and_pay(late_page)
    pay_on_test_gateway(late_page)
    late.close()

    # What the database says: 12 in the 10K, never more; everyone paid.
    db.session.expire_all()
    paid = list(db.session.scalars(select(Order).where(Order.race_id == race_id, Order.status == OrderStatus.PAID)))
    assert len(paid) == 10
    by_type = Counter(db.session.execute(
        select(Registration.ticket_type_id).join(Order).where(Order.race_id == race_id, Order.status == OrderStatus.PAID)
    ).scalars())
    race = db.session.get(Race, race_id)
    assert sorted(by_type.values()) == [2, 12]
    total_paid = sum(o.total for o in paid)
    assert total_paid == int(round((12 * 3000 + 2 * 2000) * 0.8))

    organizer_runs_the_race(world, race_id, race.slug, total_paid)

    # Every friend's confirmation email arrived at a real SMTP server.
    report = send_due_for(app)
    assert report.failed == 0
    subjects = [m for m in world["smtp"].messages if m["Subject"] == "You're in: Friends Fun Run"]
    assert sorted(m["To"].addresses[0].addr_spec for m in subjects) == sorted(
        f"friend{i}@example.com" for i in range(1, 11))
    assert db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "failed")) == 0


def organizer_runs_the_race(world, race_id: int, slug: str, total_paid: int) -> None:
    url, browser = world["url"], world["browser"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{url}/auth/sign-in?next=/manage/races/{race_id}/registrants")
    page.get_by_label("Email").fill("olga@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    try:
        page.wait_for_url(re.compile(r"^https?://[^/]+/manage/races/\d+/registrants$"))
    except Exception:
        shot(page, "debug-organizer-sign-in")
        raise
    for n in range(1, 11):
        assert page.get_by_text(f"Friend{n}", exact=False).count() >= 1, n
    both_widths(page, "registrants")

    page.goto(f"{url}/manage/races/{race_id}/dashboard")
    assert format_money(total_paid, "USD") in page.content()
    both_widths(page, "dashboard")

    response = page.request.get(f"{url}/manage/races/{race_id}/registrants.csv")
    assert response.ok
    rows = list(csv.DictReader(io.StringIO(response.body().decode("utf-8-sig"))))
    assert len(rows) == 14

    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=context.storage_state())
    checkin = phone.new_page()
    checkin.set_default_timeout(15_000)
    checkin.goto(f"{url}/manage/races/{race_id}/checkin")
    for n in (1, 2, 3):
        checkin.locator("#checkin-q").fill(f"Friend{n} Runner1")
        button = checkin.get_by_role("button", name=f"Check in Friend{n} Runner1")
        button.wait_for()
        button.click()
        checkin.get_by_text(re.compile(rf"{n} / 14 checked in")).first.wait_for()
    shot(checkin, "checkin-390")
    phone.close()
    context.close()
