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
from services import clock
from services.mail.worker import send_due_for
from services.money import format_money
from services.waitlist_offers import run_offers
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, open_page  # noqa: F401

pytestmark = pytest.mark.browser

PASSWORD = "friends run together"
RACE_DAY = (datetime.now(UTC) + timedelta(days=40)).date()
# How many 10K tickets each friend buys (the 10K has 12 spots); some also take a 5K.
TEN_K = [2, 1, 2, 2, 1, 1, 1, 1, 1]
FIVE_K = {2: 1}
NO_JS_FRIEND = 4


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"e2e-{name}.png"), full_page=True, timeout=60_000)


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
    page = open_page(browser, width=1280, height=900, timeout=15_000)
    context = page.context
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

    # Runners may hand their ticket to someone else (until sign-up closes, no fee).
    page.get_by_label("Runners may transfer their ticket to someone else").check()
    saved(page, "state-transfers")

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


class Clicks:
    """Counts what a person clicks (or picks from a menu); typing is free."""

    def __init__(self):
        self.count = 0

    def click(self, locator) -> None:
        self.count += 1
        locator.click()

    def check(self, locator) -> None:
        self.count += 1
        locator.check()

    def pick(self, locator, value: str | None = None) -> None:
        self.count += 1
        locator.select_option(value) if value is not None else locator.select_option(index=1)


def card(page, number: int):
    return page.locator("details.runner-card").nth(number - 1)


def fill_runner(clicks: Clicks, runner, first: str, last: str, email: str, born: str = "1991-04-12") -> None:
    """Every field of a runner form (a card on the cart page, or a runner's own page), and the signature."""
    runner.get_by_label("First name").fill(first)
    runner.get_by_label("Last name").fill(last)
    runner.get_by_label("Email", exact=True).fill(email)
    runner.get_by_label("Date of birth").fill(born)
    if runner.get_by_label("T-shirt size").count():
        clicks.pick(runner.get_by_label("T-shirt size"))
    runner.get_by_label("Emergency contact's name").fill("Mum")
    runner.get_by_label("Emergency contact's phone").fill("+1 612 555 0100")
    clicks.check(runner.get_by_label("I have read the waiver above and accept it"))
    runner.get_by_label("Signature").fill(f"{first} {last}")


def let_them_fill_in(clicks: Clicks, runner, first: str, last: str, email: str) -> None:
    clicks.check(runner.get_by_label("Let them fill in and sign"))
    runner.get_by_label("First name").fill(first)
    runner.get_by_label("Last name").fill(last)
    runner.get_by_label("Email", exact=True).fill(email)


def apply_code(clicks: Clicks, page) -> None:
    page.get_by_label("Discount code").fill("friends")
    clicks.click(page.get_by_role("button", name="Apply"))
    page.get_by_role("button", name="Remove code").wait_for()


def create_account_and_pay(clicks: Clicks, page, name: str, email: str) -> None:
    account = page.locator("#account")
    account.get_by_label("Your name").fill(name)
    account.get_by_label("Email").fill(email)
    account.get_by_label("Password").fill(PASSWORD)
    clicks.click(page.get_by_role("button", name="Create account and pay"))


def pay_on_test_gateway(clicks: Clicks, page) -> None:
    try:
        page.wait_for_url("**/test-gateway/**")
    except Exception:
        shot(page, "debug-not-at-gateway")
        raise
    page.get_by_text("Test mode: no card is charged.").wait_for()
    clicks.click(page.get_by_role("button", name=re.compile(r"^Pay ")))
    page.wait_for_url(re.compile(r".*/orders/[0-9a-f-]+$"))
    page.get_by_text("You're in!").wait_for()


def phone(world, *, javascript: bool = True):
    page = open_page(world["browser"], timeout=15_000, java_script_enabled=javascript)
    return page.context, page


def choose_tickets(clicks: Clicks, world, page, slug: str, ten_k: int, five_k: int) -> None:
    """From the race page, as a visitor without an account, to the cart with the tickets in it."""
    page.goto(f"{world['url']}/races/{slug}")
    if ten_k:
        clicks.pick(page.get_by_label("How many 10K tickets"), str(ten_k))
    if five_k:
        clicks.pick(page.get_by_label("How many 5K tickets"), str(five_k))
    clicks.click(page.get_by_role("button", name="Add to cart"))
    page.wait_for_url(f"**/races/{slug}/cart**")
    card(page, ten_k + five_k).wait_for()


def friend_buys(world, slug: str, friend: int, ten_k: int, five_k: int) -> int:
    """A friend without an account chooses, fills in, uses the code, creates an account and pays in one
    click; INVITED runners give only a name and email. Returns the clicks it took."""
    javascript = friend != NO_JS_FRIEND
    context, page = phone(world, javascript=javascript)
    clicks = Clicks()
    choose_tickets(clicks, world, page, slug, ten_k, five_k)
    if not javascript:  # a code applied without JavaScript reloads the page: before typing anything else
        apply_code(clicks, page)
    invited = INVITED.get(friend, {})
    for n in range(1, ten_k + five_k + 1):
        if n in invited:
            let_them_fill_in(clicks, card(page, n), *invited[n])
        else:
            email = f"friend{friend}@example.com" if n == 1 else f"friend{friend}.guest{n}@example.com"
            fill_runner(clicks, card(page, n), f"Friend{friend}", f"Runner{n}", email)
    if javascript:
        apply_code(clicks, page)
    if friend == 1:
        both_widths(page, "cart-ready")
    create_account_and_pay(clicks, page, f"Friend {friend}", f"friend{friend}@example.com")
    if friend == 1:
        page.wait_for_url("**/test-gateway/**")
        page.get_by_text("Test mode: no card is charged.").wait_for()
        both_widths(page, "test-gateway")
    pay_on_test_gateway(clicks, page)
    if friend == 1:
        both_widths(page, "order-paid")
        page.get_by_text(re.compile(r"Waiting for .*'s details")).first.wait_for()
    page.goto(f"{world['url']}/tickets/")
    assert page.locator(".ticket-qr svg").count() == ten_k + five_k - len(invited)  # theirs come with their details
    if friend == 1:
        both_widths(page, "tickets")
    context.close()
    return clicks.count


# Runners whose buyer gave only a name and email: {friend: {runner number: (first, last, email)}}.
INVITED = {
    1: {2: ("Bea", "Byemail", "bea@example.com")},        # fills in by the emailed link
    2: {2: ("Lou", "Late", "lou@example.com")},           # the 5K: never does, and the link expires
    3: {2: ("Kim", "Kid", "kim@example.com")},            # a minor: a parent signs on her page
    NO_JS_FRIEND: {2: ("Nia", "Nojs", "nia@example.com")},  # fills in with JavaScript off, like her friend
}


def invitation_links(world) -> dict[str, str]:
    """{runner's email: their personal link}, from the invitations the SMTP server received."""
    links = {}
    for message in world["smtp"].messages:
        if "fill in your details" in message["Subject"]:
            body = message.get_body(preferencelist=("plain",)).get_content()
            links[message["To"].addresses[0].addr_spec] = re.search(r"https?://\S+/runner-details/\S+", body).group(0)
    return links


def runners_fill_in_their_own(world, links: dict[str, str]) -> None:
    """Three invited runners open their emailed link, fill in and sign; the fourth waits too long."""
    for email, first, last, born, javascript in (("bea@example.com", "Bea", "Byemail", "1992-06-01", True),
                                                 ("kim@example.com", "Kim", "Kid", "2014-03-09", True),
                                                 ("nia@example.com", "Nia", "Nojs", "1988-11-30", False)):
        context, page = phone(world, javascript=javascript)
        page.goto(links[email])
        page.get_by_role("heading", name="Fill in your details").wait_for()
        assert page.get_by_label("First name").input_value() == first  # the buyer's typing, kept
        fill_runner(Clicks(), page, first, last, email, born=born)
        if first == "Kim":  # under 18: her mother is the one who signs
            page.get_by_label("Parent or guardian's name").fill("Kate Kid")
            page.get_by_label("Signature").fill("Kate Kid")
            both_widths(page, "runner-own-details-minor")
        page.get_by_role("button", name="Send my details").click()
        page.get_by_text(re.compile("Create an account to keep this ticket|This ticket is in your account")).wait_for()
        assert page.locator(".ticket-qr svg").count() == 1
        if first == "Bea":
            both_widths(page, "runner-own-ticket")
        context.close()

    # Lou opens his link the day after sign-up closed: a clear page, nothing to fill in.
    context, page = phone(world)
    clock.freeze(datetime.combine(RACE_DAY, datetime.min.time(), tzinfo=UTC) + timedelta(days=1))
    try:
        page.goto(links["lou@example.com"])
        page.get_by_role("heading", name="This link has expired").wait_for()
        assert page.get_by_label("First name").count() == 0
        both_widths(page, "runner-link-expired")
    finally:
        clock.reset()
    context.close()


def test_ten_friends_sign_up_pay_and_the_organizer_runs_the_race(world):
    app, db, url = world["app"], world["db"], world["url"]
    race_id, slug = organizer_sets_up_the_race(world)

    # The tenth friend puts a 10K in their cart early, as a visitor, and pays last.
    late, late_page = phone(world)
    late_page.goto(f"{url}/races/{slug}")
    both_widths(late_page, "race")
    choose_tickets(Clicks(), world, late_page, slug, 1, 0)
    fill_runner(Clicks(), card(late_page, 1), "Friend10", "Runner1", "friend10@example.com")
    late_page.get_by_role("button", name="Save runner 1").click()
    late_page.get_by_text("Saved Friend10 Runner1's details.").wait_for()

    clicks = {}
    for friend, count in enumerate(TEN_K, start=1):
        clicks[friend] = friend_buys(world, slug, friend, count, FIVE_K.get(friend, 0))
    # Registering yourself and a friend who fills in their own details, with a code, from the race page
    # without an account: how many, Add to cart, your T-shirt size, accept the waiver, "Let them fill in and
    # sign", Apply the code, "Create account and pay", and Pay on the test gateway.
    assert clicks[1] == 8, clicks[1]

    # The 10K is full now: the tenth friend is told so, empties the cart and joins the 10K's waitlist.
    late_page.goto(f"{url}/races/{slug}/cart")
    late_page.get_by_text(re.compile("10K is sold out")).first.wait_for()
    assert late_page.get_by_role("button", name="Create account and pay").is_disabled()
    both_widths(late_page, "sold-out")
    late_page.get_by_role("button", name="One 10K ticket fewer").click()
    late_page.get_by_text(re.compile("Your cart for .* is empty")).wait_for()
    joins_the_waitlist(late_page, url, slug)

    # Friend 9 can't come after all: the organizer refunds the ticket, and the worker offers the spot.
    organizer_refunds(world, race_id, "Friend9 Runner1")
    assert run_offers(db.session, datetime.now(UTC)).offered == 1
    assert send_due_for(app).failed == 0
    offer = next(m for m in world["smtp"].messages if m["To"].addresses[0].addr_spec == "friend10@example.com"
                 and "spot" in m["Subject"].lower())
    # (The job ran here in the test's process, whose site address is not the live server's: keep the path.)
    offer_path = re.search(r"/waitlist/offer/\S+", offer.get_body(preferencelist=("plain",)).get_content()).group(0)
    late_page.goto(url + offer_path)
    late_page.get_by_text("1 spot in the 10K").wait_for()
    both_widths(late_page, "waitlist-offer")
    late_page.get_by_role("button", name="Accept").click()
    late_page.wait_for_url(f"**/races/{slug}/cart**")
    card(late_page, 1).wait_for()
    fill_runner(Clicks(), card(late_page, 1), "Friend10", "Runner1", "friend10@example.com")
    apply_code(Clicks(), late_page)
    create_account_and_pay(Clicks(), late_page, "Friend 10", "friend10@example.com")
    pay_on_test_gateway(Clicks(), late_page)
    late.close()

    # What the database says: 12 in the 10K, never more (Friend 9's refunded ticket no longer counts).
    db.session.expire_all()
    paid = list(db.session.scalars(select(Order).where(Order.race_id == race_id, Order.status == OrderStatus.PAID)))
    assert len(paid) == 9  # Friend 9's order was refunded whole
    by_type = Counter(db.session.execute(
        select(Registration.ticket_type_id).join(Order).where(
            Order.race_id == race_id, Order.status == OrderStatus.PAID, Registration.refunded_at.is_(None))
    ).scalars())
    race = db.session.get(Race, race_id)
    assert sorted(by_type.values()) == [1, 12]
    total_paid = sum(o.total for o in paid)
    assert total_paid == int(round((12 * 3000 + 1 * 2000) * 0.8))


    # The emails went out through a real SMTP server: the invited runners follow their links.
    assert send_due_for(app).failed == 0
    links = invitation_links(world)
    assert sorted(links) == sorted(runner[2] for runners in INVITED.values() for runner in runners.values())
    runners_fill_in_their_own(world, links)
    # Friend 5 can't run after all, and hands the ticket to Tess: her link comes by email, the old code stops.
    old_code = transfers_to_tess(world, 5)
    tess_fills_in(world, old_code)
    db.session.expire_all()
    waiting = db.session.scalars(select(Registration).where(Registration.race_id == race_id,
                                                            Registration.runner_fills_in.is_(True))).all()
    assert sorted((r.first_name, r.awaiting_runner) for r in waiting) == [
        ("Bea", False), ("Kim", False), ("Lou", True), ("Nia", False), ("Tess", False)]
    assert next(r for r in waiting if r.first_name == "Kim").waiver_signature == "Kate Kid"

    organizer_runs_the_race(world, race_id, race.slug, total_paid)

    assert send_due_for(app).failed == 0
    subjects = [m for m in world["smtp"].messages if m["Subject"] == "You're in: Friends Fun Run"]
    assert sorted(m["To"].addresses[0].addr_spec for m in subjects) == sorted(
        f"friend{i}@example.com" for i in range(1, 11))  # Friend 9 too, before the refund
    assert db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "failed")) == 0


def organizer_page(world, path: str):
    page = open_page(world["browser"], timeout=15_000)
    page.goto(f"{world['url']}/auth/sign-in?next={path}")
    page.get_by_label("Email").fill("olga@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{path}")
    return page.context, page


def joins_the_waitlist(page, url: str, slug: str) -> None:
    page.goto(f"{url}/races/{slug}")
    join = page.locator("#waitlist")
    join.get_by_label("Ticket").select_option(label="10K")
    join.get_by_label("Your name").fill("Friend 10")
    join.get_by_label("Email address").fill("friend10@example.com")
    join.get_by_role("button", name="Join the waitlist").click()
    page.get_by_text("You're number 1 in line for the 10K").wait_for()
    both_widths(page, "waitlist-joined")


def organizer_refunds(world, race_id: int, runner: str) -> None:
    """From the registrants list to the runner's order, and one ticket refunded on the test gateway."""
    context, page = organizer_page(world, f"/manage/races/{race_id}/registrants")
    page.locator("#registrant-q, input[type=search]").first.fill(runner)
    first, last = runner.split()
    page.get_by_role("link", name=f"{last}, {first}").first.click()
    page.locator("a:has(code.order-id)").click()
    page.get_by_role("button", name=f"Refund {runner}'s ticket").click()
    both_widths(page, "refund-confirm")
    page.locator("form button.danger").click()
    page.get_by_text("Refunded", exact=False).first.wait_for()
    context.close()


def transfers_to_tess(world, friend: int) -> str:
    """A friend signs in on their phone and transfers their own ticket; returns its old code."""
    context, page = phone(world)
    page.goto(f"{world['url']}/auth/sign-in?next=/tickets/")
    page.get_by_label("Email").fill(f"friend{friend}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/tickets/")
    page.locator("a[href*='/tickets/']").filter(has_text=f"Friend{friend}").first.click()
    old_code = page.url.rstrip("/").rsplit("/", 1)[1]
    page.get_by_role("link", name="Transfer or change distance").click()
    page.get_by_label("New runner's first name").fill("Tess")
    page.get_by_label("Last name").fill("Transfer")
    page.get_by_label("Their email").fill("tess@example.com")
    both_widths(page, "transfer")
    page.get_by_role("button", name=re.compile("^Transfer")).click()
    page.get_by_text("The ticket now belongs to Tess Transfer").wait_for()
    both_widths(page, "transfer-done")
    context.close()
    return old_code


def tess_fills_in(world, old_code: str) -> None:
    assert send_due_for(world["app"]).failed == 0
    links = invitation_links(world)
    context, page = phone(world)
    page.goto(links["tess@example.com"])
    page.get_by_role("heading", name="Fill in your details").wait_for()
    fill_runner(Clicks(), page, "Tess", "Transfer", "tess@example.com", born="1990-02-02")
    page.get_by_role("button", name="Send my details").click()
    page.get_by_text(re.compile("Create an account to keep this ticket|This ticket is in your account")).wait_for()
    assert page.locator(".ticket-qr svg").count() == 1
    assert page.goto(f"{world['url']}/tickets/{old_code}").status == 410  # Friend 5's old code is void
    context.close()


def organizer_runs_the_race(world, race_id: int, slug: str, total_paid: int) -> None:
    url, browser = world["url"], world["browser"]
    page = open_page(browser, width=1280, height=900, timeout=15_000)
    context = page.context
    page.goto(f"{url}/auth/sign-in?next=/manage/races/{race_id}/registrants")
    page.get_by_label("Email").fill("olga@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    try:
        page.wait_for_url(re.compile(r"^https?://[^/]+/manage/races/\d+/registrants$"))
    except Exception:
        shot(page, "debug-organizer-sign-in")
        raise
    for n in (1, 2, 3, 4, 6, 7, 8, 10):  # Friend 5 handed the ticket to Tess; Friend 9's was refunded
        assert page.get_by_text(f"Friend{n}", exact=False).count() >= 1, n
    assert page.get_by_text("Transfer, Tess").count() == 1
    # Lou never filled in his details: the organizer sees him counted and can list just him.
    page.get_by_role("link", name="1 waiting for their runner's details").click()
    page.get_by_text("Waiting for details").first.wait_for()
    assert page.get_by_text("Lou Late").count() >= 1 and page.get_by_text("Bea Byemail").count() == 0
    both_widths(page, "registrants-details-pending")
    page.goto(f"{url}/manage/races/{race_id}/registrants")
    both_widths(page, "registrants")

    page.goto(f"{url}/manage/races/{race_id}/dashboard")
    assert format_money(total_paid, "USD") in page.content()
    both_widths(page, "dashboard")

    response = page.request.get(f"{url}/manage/races/{race_id}/registrants.csv")
    assert response.ok
    rows = list(csv.DictReader(io.StringIO(response.body().decode("utf-8-sig"))))
    assert len(rows) == 13  # 12 in the 10K (Friend 9 refunded, Friend 10 in from the waitlist), 1 in the 5K
    assert sorted(row["First name"] for row in rows if row["Details"] == "pending") == ["Lou"]

    checkin = open_page(browser, timeout=15_000, storage_state=context.storage_state())  # the organizer's phone
    checkin.goto(f"{url}/manage/races/{race_id}/checkin")
    for n in (1, 2, 3):
        checkin.locator("#checkin-q").fill(f"Friend{n} Runner1")
        button = checkin.get_by_role("button", name=f"Check in Friend{n} Runner1")
        button.wait_for()
        button.click()
        checkin.get_by_text(re.compile(rf"{n} / 13 checked in")).first.wait_for()
    # Lou turns up on race day without having signed: he signs on the organizer's phone and is checked in.
    checkin.locator("#checkin-q").fill("Lou")
    shot(checkin, "checkin-waiver-missing-390")
    checkin.get_by_role("button", name="Sign waiver for Lou Late").click()
    checkin.get_by_label("Lou has read the waiver above and accepts it").check()
    checkin.get_by_label("Signature: type your full name").fill("Lou Late")
    shot(checkin, "checkin-sign-390")
    checkin.get_by_role("button", name="Sign and check in").click()
    checkin.get_by_text(re.compile(r"4 / 13 checked in")).first.wait_for()
    shot(checkin, "checkin-390")
    checkin.context.close()
    context.close()
