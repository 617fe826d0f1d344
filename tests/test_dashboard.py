"""The organizer's race list and race dashboard: figures that match what was paid, in a fixed number
of queries, what needs attention at the top, failed emails that can be sent again."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from blueprints.manage.charts import sales_chart
from models import Order, OrderStatus, OutboxMessage, OutboxStatus, Race, RaceStatus, Refund, RefundStatus, TaxMode
from services import race_stats
from services.registrants import checkin
from tests.factories import login, make_code, make_order, make_paid_order, make_profile, make_race, recount_race
from tests.http import csrf_token
from tests.manage_access import EXPECTED_GET, VISITORS, assert_answer, visitor_client


@pytest.fixture
def organizer(db):
    return make_profile(db, full_name="Olga Organizer", email="olga@example.com")


@pytest.fixture
def race(db, organizer):
    race = make_race(db, organizer=organizer, slug="lake-10k", title="Lake 10K",
                     tickets=[("10K", 4500, 50), ("5K", 3000, 80)])
    race.tax_mode, race.tax_rate_bps = TaxMode.EXCLUSIVE, 825
    db.session.commit()
    return race


@pytest.fixture
def signed_in(client, organizer):
    login(client, organizer)
    return client


def text_of(response) -> str:
    """The page as a person reads it: tags dropped, entities and spaces tidied."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    body = body.replace("&#39;", "'").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return " ".join(body.split())


def dashboard_url(race):
    return f"/manage/races/{race.id}/dashboard"


def fill(db, race, n_orders, *, code=None):
    ten_k, five_k = race.ticket_types
    for i in range(n_orders):
        make_paid_order(db, race, {ten_k if i % 2 else five_k: 1 + i % 3}, code=code if i % 3 == 0 else None,
                        runners=[{"tshirt_size": "M", "gender": "Female"}])


# --- what was paid is what is shown ----------------------------------------------------------

def test_money_figures_equal_the_sums_of_paid_orders(signed_in, db, race):
    code = make_code(db, race, code="FRIENDS", percent_off=20)
    fill(db, race, 7, code=code)
    make_order(db, race, race.ticket_types[0], 2, status=OrderStatus.REFUNDED)  # shown apart, not in the sums
    make_order(db, race, race.ticket_types[0], 1, status=OrderStatus.PENDING,
               reserved_until=datetime.now(UTC) + timedelta(minutes=20))

    paid = list(db.session.scalars(select(Order).where(Order.race_id == race.id, Order.status == OrderStatus.PAID)))
    subtotal, discount = sum(o.subtotal for o in paid), sum(o.discount for o in paid)
    tax, total = sum(o.tax for o in paid), sum(o.total for o in paid)
    assert discount > 0 and tax > 0

    page = text_of(signed_in.get(dashboard_url(race)))

    money = race_stats.dashboard(db.session, db.session.get(Race, race.id), datetime.now(UTC)).money
    assert (money.orders, money.subtotal, money.discount, money.tax, money.total) == (7, subtotal, discount, tax, total)
    assert money.net == total - tax
    assert f"Ticket sales ${subtotal / 100:,.2f}" in page
    assert f"Discounts −${discount / 100:,.2f}" in page
    assert f"Tax ${tax / 100:,.2f}" in page
    assert f"Paid by buyers ${total / 100:,.2f}" in page
    assert f"(after tax and refunds) ${(total - tax) / 100:,.2f}" in page
    assert "Fully refunded, not counted above: 1 order" in page


def test_sold_against_capacity_per_ticket_type_with_accessible_bars(signed_in, db, race):
    ten_k, five_k = race.ticket_types
    make_paid_order(db, race, {ten_k: 3})
    make_paid_order(db, race, {five_k: 2})
    make_order(db, race, ten_k, 1, status=OrderStatus.PENDING, reserved_until=datetime.now(UTC) + timedelta(minutes=9))
    refunded = make_paid_order(db, race, {ten_k: 1})
    refunded.registrations[0].refunded_at = datetime.now(UTC)
    recount_race(db, race)
    db.session.commit()

    response = signed_in.get(dashboard_url(race))
    body, page = response.get_data(as_text=True), text_of(response)

    assert "10K 3 / 50" in page and "3 sold, 1 in checkout, 46 left of 50" in page
    assert "5K 2 / 80" in page and "2 sold, 78 left of 80" in page
    assert re.search(r'<progress class="bar" max="50" value="3"', body)
    assert "Runners 5 of 130 spots · 1 in checkout" in page


def test_codes_sizes_ages_genders_and_the_latest_registrations(signed_in, db, race):
    ten_k, five_k = race.ticket_types
    race_day = race.starts_at.astimezone(race.tz).date()
    friends = make_code(db, race, code="FRIENDS", percent_off=20)
    first = make_paid_order(db, race, {ten_k: 2}, code=friends, runners=[
        {"tshirt_size": "M", "gender": "Female", "date_of_birth": date(race_day.year - 17, 1, 1), "first_name": "Kid"},
        {"tshirt_size": "XL", "gender": "", "date_of_birth": date(race_day.year - 35, 1, 1), "first_name": "Grown"}])
    make_paid_order(db, race, {five_k: 1}, code=friends, runners=[
        {"tshirt_size": "M", "gender": "Male", "date_of_birth": date(race_day.year - 71, 1, 1), "first_name": "Elder"}])

    page = text_of(signed_in.get(dashboard_url(race)))

    revenue = first.total + db.session.scalar(select(func.sum(Order.total)).where(
        Order.race_id == race.id, Order.id != first.id))
    assert "FRIENDS 2" in page and f"${revenue / 100:,.2f}" in page
    assert "M 2" in page and "XL 1" in page and "XXL 0" in page and "All 3" in page
    assert "Under 18 1" in page and "30–39 1" in page and "70 and over 1" in page
    assert "Female 1" in page and "Male 1" in page and "Not given 1" in page
    assert page.index("Elder Runner1") < page.index("Kid Runner1")  # newest first


def test_orders_needing_a_refund_are_at_the_top_with_their_problem(signed_in, db, race):
    fill(db, race, 2)
    stuck = make_order(db, race, race.ticket_types[0], 1, status=OrderStatus.NEEDS_REFUND)
    stuck.problem = "Paid $1.00, but the order was for $48.71."
    db.session.commit()

    body = signed_in.get(dashboard_url(race)).get_data(as_text=True)

    assert "1 payment to refund" in body and "Paid $1.00, but the order was for $48.71." in body
    assert body.index("payment to refund") < body.index("Sold per ticket type")
    assert f"/manage/races/{race.id}/orders/{stuck.id}/refund" in body


def test_registrations_over_time_is_an_svg_chart_with_a_table_and_no_inline_styles(signed_in, db, race):
    start = datetime.now(UTC) - timedelta(days=5)
    for day, count in [(0, 2), (2, 1), (5, 3)]:
        make_paid_order(db, race, {race.ticket_types[0]: count}, paid_at=start + timedelta(days=day))

    body = signed_in.get(dashboard_url(race)).get_data(as_text=True)

    svg = body[body.index("<svg class=\"sales-chart\""):body.index("</svg>", body.index("sales-chart")) + 6]
    assert 'role="img"' in svg and "<title" in svg and "6 tickets sold from" in svg
    assert svg.count('class="chart-bar"') == 6  # one per day, the quiet days as empty bars
    table_at = body.index("<details class=\"chart-table\"")
    table = body[table_at:body.index("</details>", table_at)]
    assert table.count("<tr>") == 7 and "<td class=\"num\">6</td>" in table  # header + 6 days; running total 6
    assert " style=" not in body and "<style" not in body



def _days(counts: list[int], first=date(2030, 3, 1)) -> list[race_stats.DayCount]:
    running, days = 0, []
    for i, count in enumerate(counts):
        running += count
        days.append(race_stats.DayCount(first + timedelta(days=i), count, running))
    return days


def _line(chart) -> list[tuple[float, float]]:
    return [tuple(float(n) for n in point.split(",")) for point in chart.line.split()]


@pytest.mark.parametrize("counts", [[5], [3, 4]], ids=["one day", "two days"])
def test_a_day_or_two_of_sales_is_still_a_chart_with_narrow_bars_and_a_rising_line(counts):
    chart = sales_chart(_days(counts))
    assert [bar.count for bar in chart.sales_bars] == counts
    assert len(chart.bars) == 7 and all(bar.count == 0 for bar in chart.bars[:7 - len(counts)])  # a week of axis
    assert all(0 < bar.width <= 36 for bar in chart.sales_bars)  # bars, not one full-width slab
    line = _line(chart)
    assert line[0] == (chart.plot_left, chart.plot_bottom)          # from nothing, at the left edge…
    assert line[-1][1] < chart.plot_bottom - 50 and chart.line_end == line[-1]  # …up to the total, with a dot
    assert [y for _, y in line] == sorted((y for _, y in line), reverse=True)  # it only ever rises
    assert chart.summary.startswith(f"{sum(counts)} tickets sold from Fri 1 Mar to ")


def test_a_year_of_sales_is_drawn_by_week_inside_the_plot_with_readable_dates():
    chart = sales_chart(_days([i % 5 for i in range(365)]))
    assert chart.weekly and 52 <= len(chart.bars) <= 53 and chart.sales_bars == chart.bars
    assert all(chart.plot_left <= bar.x and bar.x + bar.width <= chart.plot_right and bar.width >= 1
               for bar in chart.bars)
    positions = [tick.position for tick in chart.bottom_ticks]
    assert 4 <= len(positions) <= 8 and min(b - a for a, b in zip(positions, positions[1:], strict=False)) >= 60
    assert positions[-1] == round(chart.bars[-1].x + chart.bars[-1].width / 2, 2)  # the latest week is labelled
    assert chart.total == sum(i % 5 for i in range(365))


def test_no_sales_draws_no_chart():
    assert sales_chart([]) is None


def test_one_day_of_sales_on_the_page_draws_one_bar_and_lists_one_day(signed_in, db, race):
    make_paid_order(db, race, {race.ticket_types[0]: 3}, paid_at=datetime.now(UTC) - timedelta(minutes=5))
    body = signed_in.get(dashboard_url(race)).get_data(as_text=True)
    svg = body[body.index('<svg class="sales-chart"'):body.index("</svg>", body.index("sales-chart")) + 6]
    assert svg.count('class="chart-bar"') == 1 and 'class="chart-line-end"' in svg
    start = body.index('<details class="chart-table"')
    table = body[start:body.index("</details>", start)]
    assert table.count("<tr>") == 2  # the header and the one day: the quiet week before is not listed


# --- check-in progress ------------------------------------------------------------------------

def test_the_dashboard_shows_how_many_runners_have_checked_in(signed_in, db, race):
    ten_k = race.ticket_types[0]
    arrived = make_paid_order(db, race, {ten_k: 3})
    for registration in arrived.registrations[:2]:
        registration.checked_in_at = datetime.now(UTC)
    refunded = make_paid_order(db, race, {ten_k: 1})
    refunded.registrations[0].checked_in_at = refunded.registrations[0].refunded_at = datetime.now(UTC)
    make_order(db, race, ten_k, 1, status=OrderStatus.PENDING)
    db.session.commit()

    response = signed_in.get(dashboard_url(race))
    page = text_of(response)
    assert "Check-in Open the check-in desk 2 of 3 runners checked in · 66% · 1 still to come" in page
    assert '<progress class="bar" max="3" value="2"' in response.get_data(as_text=True)
    # The same count as the check-in desk's.
    counts = checkin.checkin_counts(db.session, race.id, datetime.now(UTC))
    assert (counts.checked_in, counts.total) == (2, 3)


def test_before_anyone_has_paid_the_check_in_block_says_so(signed_in, db, race):
    page = text_of(signed_in.get(dashboard_url(race)))
    assert "Nobody to check in yet" in page

def test_an_empty_race_says_so_instead_of_drawing_nothing(signed_in, db, race):
    page = text_of(signed_in.get(dashboard_url(race)))
    assert "No tickets sold yet" in page and "Nobody has registered yet" in page and "No orders yet" in page


def test_dashboard_fragment_for_htmx(signed_in, db, race):
    fill(db, race, 2)
    response = signed_in.get(dashboard_url(race), headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div id="dashboard"') and "Sold per ticket type" in body
    assert response.headers["Vary"] == "HX-Request" or "HX-Request" in response.headers["Vary"]


def test_bad_addresses_are_404(signed_in, db, race):
    assert signed_in.get("/manage/races/999999/dashboard").status_code == 404
    assert signed_in.get("/manage/races/not-a-number/dashboard").status_code == 404


def test_dashboard_runs_the_same_few_queries_for_10_and_for_500_runners(signed_in, db, race, count_queries):
    friends = make_code(db, race, code="FRIENDS", percent_off=10)
    ten_k, five_k = race.ticket_types
    ten_k.capacity = five_k.capacity = 1000
    db.session.add(OutboxMessage(to_address="x@example.com", subject="s", text_body="t", kind="ticket",
                                 race_id=race.id, status=OutboxStatus.FAILED, last_error="550 no such user"))
    db.session.commit()
    make_order(db, race, ten_k, 1, status=OrderStatus.NEEDS_REFUND)
    base = datetime.now(UTC) - timedelta(days=40)

    def add_runners(first, last):  # orders of two over forty days, some with a code
        for i in range(first // 2, last // 2):
            make_paid_order(db, race, {ten_k if i % 2 else five_k: 2}, code=friends if i % 4 == 0 else None,
                            paid_at=base + timedelta(hours=2 * i))

    def queries(runners):
        signed_in.get(dashboard_url(race))  # templates compiled, caches warm: count only the steady state
        with count_queries() as counter:
            response = signed_in.get(dashboard_url(race))
        assert response.status_code == 200 and f"{runners} of 2000 spots" in text_of(response)
        return counter.count

    add_runners(0, 10)
    small = queries(10)
    add_runners(10, 500)
    large = queries(500)

    assert small == large
    assert large <= 12  # 10, one for the waitlist per ticket type, one for the tickets sold per price step


# --- failed emails ----------------------------------------------------------------------------

def failed_email(db, race, **kw):
    message = OutboxMessage(to_address=kw.pop("to", "ada@exmaple.con"), subject=kw.pop("subject", "Your ticket"),
                            text_body="…", kind="ticket", race_id=race.id if race else None,
                            status=OutboxStatus.FAILED, attempts=6,
                            last_error=kw.pop("last_error", "recipient refused: 550 5.1.1 no such domain"), **kw)
    db.session.add(message)
    db.session.commit()
    return message


def test_failed_emails_of_the_race_are_listed_with_their_reason(signed_in, db, race):
    failed_email(db, race)
    failed_email(db, make_race(db), to="someone@else.example", subject="Another race's email")
    page = text_of(signed_in.get(dashboard_url(race)))
    assert "1 email couldn't be sent" in page
    assert "recipient refused: 550 5.1.1 no such domain" in page and "To ada@exmaple.con" in page
    assert "Another race's email" not in page


def test_retry_queues_a_failed_email_again(signed_in, db, race):
    message = failed_email(db, race)
    response = signed_in.post(f"/manage/races/{race.id}/emails/{message.id}/retry",
                              data={"csrf_token": csrf_token(signed_in, dashboard_url(race))},
                              headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and body.lstrip().startswith('<div id="failed-emails"')
    assert "will be sent again in a moment" in body and "couldn't be sent" not in body
    db.session.expire_all()
    again = db.session.get(OutboxMessage, message.id)
    assert again.status == OutboxStatus.QUEUED and again.attempts == 0


def test_retry_without_javascript_redirects_back_to_the_dashboard(signed_in, db, race):
    message = failed_email(db, race)
    response = signed_in.post(f"/manage/races/{race.id}/emails/{message.id}/retry",
                              data={"csrf_token": csrf_token(signed_in, dashboard_url(race))})
    assert response.status_code == 303 and response.headers["Location"].endswith("/dashboard#failed-emails")
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).status == OutboxStatus.QUEUED


def test_another_races_email_or_a_missing_one_cannot_be_retried_from_here(signed_in, db, race):
    elsewhere = failed_email(db, make_race(db))
    token = csrf_token(signed_in, dashboard_url(race))
    assert signed_in.post(f"/manage/races/{race.id}/emails/{elsewhere.id}/retry",
                          data={"csrf_token": token}).status_code == 404
    assert signed_in.post(f"/manage/races/{race.id}/emails/999999/retry", data={"csrf_token": token}).status_code == 404
    db.session.expire_all()
    assert db.session.get(OutboxMessage, elsewhere.id).status == OutboxStatus.FAILED


# --- the race list ---------------------------------------------------------------------------

def test_race_list_shows_sold_capacity_collected_and_days_to_go(signed_in, db, race, organizer):
    order = make_paid_order(db, race, {race.ticket_types[0]: 2})
    refund = Refund(order_id=order.id, race_id=race.id, status=RefundStatus.COMPLETED, amount=1000, tax=0)
    db.session.add(refund)
    draft = make_race(db, organizer=organizer, title="Spring Draft", status=RaceStatus.DRAFT)
    db.session.commit()

    response = signed_in.get("/manage/")
    body, page = response.get_data(as_text=True), text_of(response)

    assert "Lake 10K" in page and "2 / 130 sold" in page
    assert f"${(order.total - 1000) / 100:,.2f} collected" in page
    assert "30 days to go" in page or "29 days to go" in page
    assert f'href="/manage/races/{race.id}/dashboard"' in body       # published: the dashboard
    assert f'href="/manage/races/{draft.id}"' in body                # a draft: still the editor
    assert "New race" in page and "Create sample race" in page


def test_race_list_runs_a_fixed_number_of_queries_whatever_the_number_of_races(signed_in, db, organizer, count_queries):
    def queries():
        signed_in.get("/manage/")
        with count_queries() as counter:
            assert signed_in.get("/manage/").status_code == 200
        return counter.count

    make_race(db, organizer=organizer)
    one = queries()
    for _ in range(6):
        more = make_race(db, organizer=organizer, tickets=[("A", 1000, 10), ("B", 2000, 20)])
        make_paid_order(db, more, {more.ticket_types[0]: 2})
    assert queries() == one <= 8


# --- who may ----------------------------------------------------------------------------------

@pytest.mark.parametrize("who", VISITORS)
def test_only_the_races_organizers_see_its_dashboard_or_retry_its_email(app, db, race, who):
    message = failed_email(db, race)
    client, token = visitor_client(app, db, race, who)

    assert_answer(client.get(dashboard_url(race)), EXPECTED_GET[who], "dashboard")
    retry = client.post(f"/manage/races/{race.id}/emails/{message.id}/retry", data={"csrf_token": token})
    if who in ("owner", "co-organizer"):
        assert retry.status_code == 303
    else:
        assert_answer(retry, EXPECTED_GET[who], "retry")
        db.session.expire_all()
        assert db.session.get(OutboxMessage, message.id).status == OutboxStatus.FAILED  # nothing changed
