"""The benchmark's own logic that decides what it reports: links followed, worker models, jobs run once."""
from datetime import datetime, timedelta

import pytest

from bench import cluster, lighthouse, report, servers
from bench.ledger import Attempt, percentile
from bench.scale import page_links
from bench.spike import SpikeResult

FIRST_PAGE = """
<p>Page 1 of 1,000</p>
<nav class="pagination"><span aria-hidden="true"></span><span>Page 1 of 1,000</span>
<a href="/manage/races/7/registrants?sort=name&amp;dir=asc&amp;page=2" hx-get="…" rel="next">Next →</a></nav>
"""


def test_middle_and_last_page_follow_the_pages_own_next_link():
    found = page_links(FIRST_PAGE, "/manage/races/7/registrants")
    assert found == {"middle": "/manage/races/7/registrants?sort=name&dir=asc&page=500",
                     "last": "/manage/races/7/registrants?sort=name&dir=asc&page=1000"}


def test_a_cursor_page_is_reached_through_its_last_link():
    html = ('<a rel="next" href="/manage/races/7/registrants?after=Smith.4411">Next</a>'
            '<a href="/manage/races/7/registrants?before=end" rel="last">Last</a>')
    assert page_links(html, "/manage/races/7/registrants") == {"last": "/manage/races/7/registrants?before=end"}


def test_a_single_page_has_no_middle_or_last():
    assert page_links("<p>12 registrants</p>", "/x") == {}


def test_worker_models_from_the_knob_and_the_procfile(tmp_path):
    assert servers.Model.parse("gthread:8").flags() == ["--workers", "2", "--worker-class", "gthread", "--threads", "8"]
    assert servers.Model.parse("sync").name == "sync 2"
    assert servers.Model.parse("gthread:3x8").flags() == ["--workers", "3", "--worker-class", "gthread", "--threads", "8"]
    with pytest.raises(ValueError):
        servers.Model.parse("eventlet")
    procfile = tmp_path / "Procfile"
    procfile.write_text("web: gunicorn 'app:create_app()' --workers ${WEB_CONCURRENCY:-2} --threads 16 --bind x\n")
    assert servers.procfile_model(procfile) == servers.Model("gthread", 2, 16)
    procfile.write_text("web: gunicorn 'app:create_app()' --worker-class gevent\n")
    assert servers.procfile_model(procfile).worker_class == "gevent"


def test_a_job_started_twice_within_its_interval_is_caught():
    t = datetime(2026, 1, 1, 12)
    apart = [[t, t + timedelta(seconds=4)], [t + timedelta(seconds=2.1)]]
    assert cluster._job_summary("expire-reservations", apart, window=6)["once"]
    twice = [[t, t + timedelta(seconds=4)], [t + timedelta(seconds=0.2)]]
    assert not cluster._job_summary("expire-reservations", twice, window=6)["once"]


def test_percentile_is_nearest_rank():
    values = sorted(float(n) for n in range(1, 101))
    assert percentile(values, 99) == 99.0
    assert percentile(values, 50) == 50.0
    assert percentile([], 99) is None


def test_a_spike_reports_the_median_checkout_of_each_second_s_buyers():
    """Ten buyers over two seconds: the first five answered in 100–500 ms, the next five, one without an answer, in
    1–4 s. Each second's median is its own buyers', and the report line says them in seconds."""
    result = SpikeResult(model="gthread 2×16", buyers=10, spots=5, window_s=2.0, stripe_latency_ms=300.0,
                         attempts=[Attempt(checkout_ms=ms) for ms in (100, 200, 300, 400, 500, 1000, 2000, 3000, 4000,
                                                                       None)])
    assert result.medians_by_second() == [300.0, 2000.0]
    # Seven buyers over two seconds: four leave in the first (at 0, 2/7, 4/7 and 6/7 s), three in the second.
    uneven = SpikeResult(model="m", buyers=7, spots=3, window_s=2.0, stripe_latency_ms=0.0,
                         attempts=[Attempt(checkout_ms=ms) for ms in (1, 2, 3, 4, 50, 60, 70)])
    assert uneven.medians_by_second() == [2.0, 60.0]
    summary = {**result.summary(), "ledger": {"paid_orders": 5}}
    line = report.summary_lines({"spikes": [summary], "machine": {}, "pages": []})[0]
    assert line.endswith("the median checkout of each second's buyers: 0.3 2.0 s.")


def test_lighthouse_scores_become_goal_rows_and_a_missing_tool_is_said_not_scored(monkeypatch):
    monkeypatch.setattr(lighthouse.shutil, "which", lambda name: None)
    missing = lighthouse.measure("http://127.0.0.1:9", "cart", "/cart", "sl_access=x")
    assert missing.performance is None and missing.problem == "npx or Chromium not found" and not missing.met
    results = {"pages": [], "lighthouse": [
        {"name": "race page", "path": "/races/x", "performance": 0.99, "accessibility": 1.0, "metrics": {},
         "problem": "", "goal": 0.98},
        {"name": "editor", "path": "/manage/races/1", "performance": 0.91, "accessibility": 1.0, "metrics": {},
         "problem": "", "goal": 0.98},
        {"name": "cart", "path": "/cart", "performance": None, "accessibility": None, "metrics": None,
         "problem": "npx or Chromium not found", "goal": 0.98}]}
    rows = {row["goal"]: row for row in report.goals(results)}
    assert rows["Lighthouse performance ≥ 98 on the race page"] == {
        "goal": "Lighthouse performance ≥ 98 on the race page", "figure": "99 (accessibility 100)", "met": True}
    assert rows["Lighthouse performance ≥ 98 on the editor"]["met"] is False
    assert rows["Lighthouse performance ≥ 98 on the cart"] == {
        "goal": "Lighthouse performance ≥ 98 on the cart", "figure": "npx or Chromium not found", "met": False}


def test_the_check_in_page_is_judged_by_its_accessibility():
    assert lighthouse.goal_of("check-in page") == {"measures": "accessibility", "goal": 1.0}
    assert lighthouse.goal_of("cart") == {"measures": "performance", "goal": lighthouse.GOAL}
    results = {"pages": [], "lighthouse": [
        {"name": "check-in page", "path": "/manage/races/1/checkin", "performance": 0.7, "accessibility": 1.0,
         "metrics": {}, "problem": "", **lighthouse.goal_of("check-in page")},
        {"name": "dashboard", "path": "/manage/races/1/dashboard", "performance": 0.99, "accessibility": 0.96,
         "metrics": {}, "problem": "", **lighthouse.goal_of("dashboard")}]}
    rows = {row["goal"]: row for row in report.goals(results)}
    assert rows["Lighthouse accessibility ≥ 100 on the check-in page"] == {
        "goal": "Lighthouse accessibility ≥ 100 on the check-in page", "figure": "70 (accessibility 100)", "met": True}
    assert rows["Lighthouse performance ≥ 98 on the dashboard"]["met"] is True
    results["lighthouse"][0]["accessibility"] = 0.98
    assert report.goals(results)[0]["met"] is False


def _scaling(one: float, two: float) -> dict:
    return {"page": "race page", "one_instance": {"req_per_s": one, "errors": 0},
            "two_instances": {"req_per_s": two, "errors": 0, "per_instance": [two / 2, two / 2]},
            "scaling": round(two / one, 2)}


def test_scaling_out_is_judged_with_each_instance_on_a_cpu_of_its_own():
    same_cpus, own_cpus = _scaling(650, 630), _scaling(380, 700)
    rows = report.goals({"pages": [], "cluster": {"model": "gthread 2×16", "throughput": same_cpus,
                                                    "throughput_own_cpus": {**own_cpus, "cpus": [0, 1]}}})
    row = next(r for r in rows if r["goal"].startswith("two instances: throughput scales"))
    assert row == {"goal": "two instances: throughput scales (> 1× one instance, each on a CPU of its own)",
                   "figure": "1.84× (380 → 700 req/s, race page)", "met": True}
    # A machine with one CPU (or no taskset) measures on the same CPUs only, and is judged by that.
    rows = report.goals({"pages": [], "cluster": {"model": "gthread 2×16", "throughput": same_cpus}})
    row = next(r for r in rows if r["goal"].startswith("two instances: throughput scales"))
    assert row["goal"] == "two instances: throughput scales (> 1× one instance)" and row["met"] is False


def test_an_instance_pinned_to_a_cpu_runs_under_taskset(tmp_path):
    pinned = servers.Gunicorn("app:create_app()", 8000, {}, tmp_path / "log", cpu=1).command()
    assert pinned[:3] == ["taskset", "--cpu-list", "1"] and "gunicorn" in pinned
    assert servers.Gunicorn("app:create_app()", 8000, {}, tmp_path / "log").command()[0] != "taskset"
    assert servers.own_cpus(10_000) is None  # more CPUs than any machine here has: nothing to pin to


def test_a_page_is_scored_by_the_median_of_its_lighthouse_runs(monkeypatch):
    """A busy host can score the same page 73 and 99 a run apart: the median of three is kept, with its own metrics,
    and every run is reported beside it."""
    scores = iter([0.73, 0.99, 0.94, None, 0.99, None])

    def measure(base_url, name, path, cookie=None):
        score = lighthouse.Score(name, path, metrics={"run": None})
        score.performance = next(scores)
        score.accessibility = None if score.performance is None else 1.0
        score.metrics["run"] = score.performance
        score.problem = "" if score.performance is not None else "lighthouse failed: timeout"
        return score

    monkeypatch.setattr(lighthouse, "measure", measure)
    editor, cart = lighthouse.run("http://127.0.0.1:9", [("editor", "/e", None), ("cart", "/c", None)], runs=3)
    assert (editor.performance, editor.metrics, editor.runs) == (0.94, {"run": 0.94}, [0.73, 0.99, 0.94])
    assert cart.performance is None and cart.problem == "lighthouse failed: timeout"  # two of three failed
    rows = {row["goal"]: row for row in report.goals({"pages": [], "lighthouse": [{
        "name": "editor", "path": "/e", "performance": 0.94, "accessibility": 1.0, "metrics": {}, "problem": "",
        "runs": editor.runs, **lighthouse.goal_of("editor")}]})}
    row = rows["Lighthouse performance ≥ 98 on the editor"]
    assert row["figure"] == "94 (accessibility 100; runs 73, 99, 94)" and row["met"] is False
