"""The public pages run a fixed number of SQL statements, however big the data gets."""
from sqlalchemy import select

from models import OrderStatus, Registration
from services import race_editing
from tests.factories import login, make_cart, make_order, make_profile, make_race
from tests.http import csrf_token


def _queries(client, count_queries, url):
    with count_queries() as counter:
        assert client.get(url).status_code == 200
    return counter.count


def test_race_list_query_count_does_not_grow_with_races_or_ticket_types(app, client, db, count_queries):
    app.config["PAGE_CACHE_SECONDS"] = 0  # the list as rendered (from the cache it is one: tests/test_page_cache.py)
    make_race(db, tickets=[("5K", 1000, 10)])
    small = _queries(client, count_queries, "/")

    for _ in range(8):
        race = make_race(db, tickets=[(f"T{j}", 1000 + j, 50) for j in range(5)])
        make_order(db, race, race.ticket_types[0], 2)
    large = _queries(client, count_queries, "/")

    assert small == large
    # races, ticket types, spots taken (the stored counts with the live holds and the waitlist's, one
    # statement), the price steps
    assert large <= 4


def test_race_page_query_count_does_not_grow_with_ticket_types_or_registrations(
        client, db, count_queries):
    make_race(db, slug="small", tickets=[("5K", 1000, 10)])
    big = make_race(db, slug="big", tickets=[(f"T{j}", 1000, 500) for j in range(12)],
                    social=[("instagram", "https://instagram.com/a"), ("strava", "https://strava.com/b")])
    for tt in big.ticket_types[:4]:
        make_order(db, big, tt, 5)
        make_order(db, big, tt, 1, status=OrderStatus.PENDING)

    assert _queries(client, count_queries, "/races/small") == _queries(client, count_queries, "/races/big")
    assert _queries(client, count_queries, "/races/big") <= 5  # the list's four and the social links


# --- the organizer's pages with runners who fill in their own details (issue 15) ----------------

def _organizer_pages_statements(client, count_queries, race, paths):
    counts = {}
    for name, path in paths(race).items():
        with count_queries() as counter:
            response = client.get(path, headers={"HX-Request": "true"} if name == "desk" else {})
            assert response.status_code == 200, path
            response.get_data()
        counts[name] = counter.count
    return counts


def test_organizer_pages_run_the_same_statements_however_many_runners_wait_for_their_details(
        app, client, db, count_queries):
    from tests.factories import login, make_profile
    from tests.registrant_factories import awaiting_runner, organized_race, runner

    organizer = make_profile(db, email="olga@example.com")
    login(client, organizer)
    quiet, busy = organized_race(db, organizer, slug="quiet"), organized_race(db, organizer, slug="busy")
    runner(db, quiet, quiet.ticket_types[0], "Fay", "Signed")
    awaiting_runner(db, quiet, quiet.ticket_types[0], "Fay", "Waiting")
    for n in range(25):
        awaiting_runner(db, busy, busy.ticket_types[n % 2], "Fay", f"Waiting{n}", details_problem="Too old." if n % 2 else "")
        runner(db, busy, busy.ticket_types[0], "Fay", f"Signed{n}")

    def paths(race):
        first = db.session.scalar(select(Registration).where(Registration.race_id == race.id,
                                                             Registration.runner_fills_in.is_(True)).limit(1))
        base = f"/manage/races/{race.id}"
        return {"list": f"{base}/registrants", "pending": f"{base}/registrants?details=pending&status=all",
                "dashboard": f"{base}/dashboard", "desk": f"{base}/checkin?q=fay",
                "detail": f"{base}/registrants/{first.id}", "sign": f"{base}/checkin/{first.ticket_code}/sign"}

    assert _organizer_pages_statements(client, count_queries, quiet, paths) == \
        _organizer_pages_statements(client, count_queries, busy, paths)
def test_a_visitor_s_cart_costs_the_race_and_cart_pages_one_query_however_full(app, db, count_queries):
    app.config["PAGE_CACHE_SECONDS"] = 0  # the anonymous page rendered as the cart holder's is, not from the cache
    race = make_race(db, slug="lake", tickets=[("10K", 1000, 50), ("5K", 1000, 50)])
    anonymous = _queries(app.test_client(), count_queries, "/races/lake")

    def guest_with(tickets: int):
        client = app.test_client()
        token = csrf_token(client, "/races/lake")
        response = client.post("/races/lake/cart", data={"csrf_token": token, f"qty-{race.ticket_types[0].id}": str(tickets),
                                                         f"qty-{race.ticket_types[1].id}": str(tickets)})
        assert response.status_code == 303
        return client

    small, large = guest_with(1), guest_with(10)
    assert _queries(small, count_queries, "/races/lake") == _queries(large, count_queries, "/races/lake") == anonymous + 1
    assert _queries(small, count_queries, "/races/lake/cart") == _queries(large, count_queries, "/races/lake/cart")


def test_cart_page_query_count_is_the_same_for_1_and_10_runners(app, db, count_queries):
    race = make_race(db, tickets=[("10K", 1000, 50), ("5K", 800, 50)], tshirt_sizes="S,M,L", ask_gender=True)
    race_editing.set_waiver_text(db.session, race, "I run at my own risk.")
    db.session.commit()

    def cart_page_queries(tickets: dict, fills_in: int = 0) -> int:
        """Queries of the cart page, which shows a runner form for every ticket."""
        buyer = make_profile(db)
        cart = make_cart(db, race, tickets, buyer=buyer, complete=True)
        for registration in sorted(cart.registrations, key=lambda r: r.id)[1:1 + fills_in]:
            registration.runner_fills_in, registration.waiver_signed_at = True, None
        sorted(cart.registrations, key=lambda r: r.id)[-1].first_name = ""  # one still to fill: a card open
        db.session.commit()
        client = app.test_client()
        login(client, buyer)
        with count_queries() as counter:
            page = client.get(f"/races/{race.slug}/cart").get_data(as_text=True)
        assert page.count('<details class="runner-card') == len(cart.registrations)
        return counter.count

    one = cart_page_queries({race.ticket_types[0]: 1})
    ten = cart_page_queries({race.ticket_types[0]: 6, race.ticket_types[1]: 4}, fills_in=3)
    assert one == ten
    assert ten <= 6  # the fragment's five and the header badge


def test_the_messages_tab_runs_the_same_statements_however_many_messages_were_sent(app, client, db, count_queries):
    from services.messages import sending
    from services.messages.sending import Draft
    from tests.registrant_factories import organized_race, runner

    organizer = make_profile(db, full_name="Olga Organizer", email="olga@example.com")
    login(client, organizer)
    quiet, busy = organized_race(db, organizer, slug="quiet"), organized_race(db, organizer, slug="busy")
    for race, messages in ((quiet, 1), (busy, 6)):
        for n in range(4):
            runner(db, race, race.ticket_types[n % 2], "Ann", email=f"ann{n}@example.com")
        for n in range(messages):
            sending.send_message(db.session, race, organizer, Draft(f"News {n}", "Hello"), f"key-{n}-" + "k" * 20,
                                 race.starts_at)

    def statements(race):
        with count_queries() as counter:
            assert client.get(f"/manage/races/{race.id}/messages").status_code == 200
        return counter.count

    assert statements(quiet) == statements(busy)


def test_the_signed_in_cart_fragment_runs_the_same_statements_whatever_the_race_holds(app, db, count_queries):
    """10 or 500 tickets sold, 1 or 4 in the cart: the same statements, and few of them (issue 17)."""
    quiet = make_race(db, tickets=[("10K", 1000, 1000), ("5K", 800, 1000)])
    busy = make_race(db, tickets=[("10K", 1000, 1000), ("5K", 800, 1000)])
    make_order(db, quiet, quiet.ticket_types[0], 10)
    for n in range(50):
        make_order(db, busy, busy.ticket_types[n % 2], 10)

    def fragment_statements(race, items: int) -> int:
        buyer = make_profile(db)
        make_cart(db, race, {race.ticket_types[0]: items - items // 2, race.ticket_types[1]: items // 2}
                  if items > 1 else {race.ticket_types[0]: 1}, buyer=buyer)
        client = app.test_client()
        login(client, buyer)
        with count_queries() as counter:
            response = client.get(f"/races/{race.slug}/cart", headers={"HX-Request": "true"})
            assert response.status_code == 200
            page = response.get_data(as_text=True)
        assert page.count('<details class="runner-card') == items
        return counter.count

    counts = {(race.slug, items): fragment_statements(race, items) for race in (quiet, busy) for items in (1, 4)}
    assert len(set(counts.values())) == 1, counts
    # the profile; the race, its waiver and the cart with its tickets; the price steps with spots left and the waitlist
    assert counts[(busy.slug, 4)] <= 3
