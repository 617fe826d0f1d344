"""What the benchmark tells people: the machine, the table on the terminal, bench/results.json and bench/RESULTS.md."""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

from bench import messages

ROOT = Path(__file__).resolve().parent.parent


def machine(postgres_version: str, wrk_version: str) -> dict:
    """Where the figures were measured."""
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=5).stdout.strip()
    except OSError:
        commit = ""
    import gunicorn

    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": memory_gib,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgres": postgres_version,
        "gunicorn": gunicorn.__version__,
        "wrk": wrk_version,
        "commit": commit,
    }


def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def table_rows(results: dict) -> list[list[str]]:
    rows = []
    for page in results["pages"]:
        if page["status"] != "ok":
            rows.append([page["name"], page["status"], "", "", "", "", _fmt(page.get("sql_statements"), "d")])
            continue
        rows.append([page["name"], _fmt(page["req_per_s"], ",.0f"), _fmt(page["p50_ms"], ".1f"),
                     _fmt(page["p99_ms"], ".1f"), _fmt(page.get("ratio_one_select"), ".3f"), _fmt(page["ratio"], ".3f"),
                     _fmt(page.get("sql_statements"), "d")])
    return rows


HEADERS = ["page", "req/s", "p50 ms", "p99 ms", "× one-SELECT", "× bare", "SQL/request"]
GOAL_HEADERS = ["goal", "figure", "met"]

# The issue's goals (issue 17): a page's req/s against the one-SELECT + Jinja baseline beside it.
RATIO_GOALS = {"race page": 0.5, "race list": 0.4, "cart fragment": 0.3, "registrants": 0.2}
P99_GOAL = 3.0  # a page's p99 at most this × the one-SELECT baseline's p99
SPIKE_P99_GOAL_MS = 2000



def goals(results: dict) -> list[dict]:
    """Every goal of the issue that one run measures: its figure and whether it is met."""
    rows = []
    pages = {p["name"]: p for p in results["pages"] if p["status"] == "ok"}
    for name, goal in RATIO_GOALS.items():
        page = pages.get(name)
        if page is None:
            rows.append({"goal": f"{name} ≥ {goal}× one-SELECT page", "figure": "not measured", "met": False})
            continue
        rows.append({"goal": f"{name} ≥ {goal}× one-SELECT page",
                     "figure": f"{page['ratio_one_select']:.3f}× ({page['req_per_s']:,.0f} vs "
                               f"{page['one_select_req_per_s']:,.0f} req/s; {page['ratio']:.3f}× bare)",
                     "met": page["ratio_one_select"] >= goal})
        rows.append({"goal": f"{name} p99 ≤ {P99_GOAL:g}× one-SELECT p99",
                     "figure": f"{page['p99_vs_one_select']}× ({page['p99_ms']:.1f} vs {page['one_select_p99_ms']:.1f} ms)",
                     "met": page["p99_vs_one_select"] is not None and page["p99_vs_one_select"] <= P99_GOAL})
    for name, seen in (results.get("anonymous") or {}).items():
        rows.append({"goal": f"{name}: a cookieless GET sets no cookie", "met": not seen["set_cookie"],
                     "figure": ", ".join(c.split("=")[0] for c in seen["set_cookie"]) or "no Set-Cookie"})
    conditional = pages.get("race page, If-None-Match (304)")
    rows.append({"goal": "race page answers If-None-Match with 304", "met": conditional is not None,
                 "figure": (f"{conditional['req_per_s']:,.0f} req/s of 304s" if conditional else "no ETag")})
    scale_result = results.get("scale") or {}
    sizes = scale_result.get("sizes") or [0, 0]
    for row in scale_result.get("growth", []):
        rows.append({"goal": f"{row['page']}: {sizes[-1]:,} registrations ≤ {row['goal']}× {sizes[0]:,}",
                     "figure": f"{row['growth']}× ({row['ms_small']:.1f} → {row['ms_large']:.1f} ms)", "met": row["met"]})
    for result in results.get("spikes", []):
        rows.append(_spike_goal(result, result["model"] + (" (Procfile)" if result.get("procfile") else "")))
    cluster = results.get("cluster") or {}
    if cluster.get("spike"):
        rows.append(_spike_goal(cluster["spike"], cluster["spike"]["model"]))
    # Scaling out means adding CPUs: judged with each instance on a CPU of its own when the machine has two.
    scaled = cluster.get("throughput_own_cpus") or cluster.get("throughput")
    if scaled:
        own = "throughput_own_cpus" in cluster
        rows.append({"goal": "two instances: throughput scales (> 1× one instance"
                             + (", each on a CPU of its own)" if own else ")"),
                     "figure": f"{scaled['scaling']}× ({scaled['one_instance']['req_per_s']:,.0f} → "
                               f"{scaled['two_instances']['req_per_s']:,.0f} req/s, {scaled['page']})",
                     "met": (scaled["scaling"] or 0) > 1.0})
    sent = results.get("message_send")
    if sent:
        rows.append({"goal": f"a message to {sent['recipients']:,} runners queued in under {messages.BUDGET_SECONDS:g} s",
                     "figure": f"{sent['seconds']:.2f} s", "met": sent["seconds"] < messages.BUDGET_SECONDS})
    for score in results.get("lighthouse", []):
        measures = score.get("measures", "performance")  # results saved before issue 18 have no "measures"
        goal = f"Lighthouse {measures} ≥ {score['goal'] * 100:.0f} on the {score['name']}"
        if score[measures] is None:
            rows.append({"goal": goal, "figure": score["problem"], "met": False})
        else:
            runs = score.get("runs") or []  # results saved before the median of runs have none
            each = f"; runs {', '.join(f'{run * 100:.0f}' for run in runs)}" if len(runs) > 1 else ""
            rows.append({"goal": goal, "figure": f"{score['performance'] * 100:.0f} (accessibility "
                                                 f"{score['accessibility'] * 100:.0f}{each})",
                         "met": score[measures] >= score["goal"]})
    weight = results.get("page_weight")
    if weight:
        rows.append({"goal": f"race page ≤ {weight['budget'] / 1024:.0f} KB compressed (HTML + CSS + JS)",
                     "figure": f"{weight['gzip_total'] / 1024:.1f} KB", "met": weight["within_budget"]})
    return rows


def _spike_goal(result: dict, label: str) -> dict:
    books = result["ledger"]
    ok = (books["paid_orders"] == result["spots"] and result["sold_out"] == result["buyers"] - result["spots"]
          and result["errors"] == 0 and (result["checkout_p99_ms"] or 1e9) < SPIKE_P99_GOAL_MS)
    return {"goal": f"spike, {label}: {result['spots']} sold, {result['buyers'] - result['spots']} sold out, "
                    f"0 errors, checkout p99 < {SPIKE_P99_GOAL_MS / 1000:g} s",
            "figure": f"{books['paid_orders']} sold, {result['sold_out']} sold out, {result['errors']} errors, "
                      f"p99 {_fmt(result['checkout_p99_ms'], ',.0f')} ms", "met": ok}


def checks(results: dict, pages: list, pending: int) -> list[dict]:
    """Correctness: what makes `make bench` fail (an oversold spike, errors under load, a webhook or an
    email handled twice), unlike a missed speed goal."""
    out = [{"name": f"{p['name']}: no errors under load", "ok": p["errors"] == 0,
            "detail": f"{p['non_2xx_3xx']} non-2xx/3xx, socket errors {p['socket_errors'] or 'none'}"}
           for p in results["pages"] if p["status"] == "ok"]
    out += [{"name": f"{p.name}: answers 200", "ok": False, "detail": p.status}
            for p in pages if p.status.startswith("error")]
    spikes = [(s["model"], s) for s in results.get("spikes", [])]
    cluster = results.get("cluster") or {}
    if cluster.get("spike"):
        spikes.append((cluster["spike"]["model"], cluster["spike"]))
    for label, s in spikes:
        books = s["ledger"]
        out.append({"name": f"spike ({label}): exactly the spots were sold, and paid once",
                    "ok": books["paid_orders"] == books["tickets"] == s["spots"] == books["sold_in_race"]
                    and books["spots_left"] == 0 and books["pending_orders"] == 0 and not s["webhook_errors"],
                    "detail": f"{books['paid_orders']} paid orders, {books['tickets']} tickets, {books['sold_in_race']}/"
                              f"{books['capacity']} sold, {books['pending_orders']} pending, webhook errors "
                              f"{s['webhook_errors'] or 'none'}"})
        if s.get("procfile", True):  # a model kept for comparison (sync) may drown in the spike: its goal row says so
            out.append({"name": f"spike ({label}): no errors other than sold out",
                        "ok": s["errors"] == 0 and s["sold_out"] == s["buyers"] - s["spots"],
                        "detail": f"{s['errors']} errors, {s['sold_out']} sold out; e.g. {s['error_samples'][:2]}"})
    runs = [cluster[key] for key in ("throughput", "throughput_own_cpus") if cluster.get(key)]
    if runs:
        errors = sum(t["one_instance"]["errors"] + t["two_instances"]["errors"] for t in runs)
        out.append({"name": "two instances: no errors under load", "ok": errors == 0, "detail": f"{errors} errors"})
    workers = cluster.get("workers")
    if workers:
        # A worker stopped mid-send may have handed a message to SMTP without marking it sent (at-least-once
        # by design: that row stays "sending" until its lease runs out); anything else received is a duplicate.
        out.append({"name": "two workers: every email sent once", "ok": workers["duplicates"] == 0
                    and workers["sent_rows"] <= workers["smtp_received"] <= workers["sent_rows"] + workers["still_sending"]
                    and workers["smtp_received"] > 0,
                    "detail": f"{workers['smtp_received']} received, {workers['duplicates']} twice, "
                              f"{workers['sent_rows']} rows marked sent, {workers['still_sending']} still sending"})
        over = {job: v for job, v in workers["jobs"].items() if not v["once"]}
        out.append({"name": "two workers: each scheduled job once per interval", "ok": bool(workers["jobs"]) and not over,
                    "detail": (f"over: {over}" if over else f"{len(workers['jobs'])} jobs for {workers['seconds']} s")})
    bad = [f"{size}: {name} HTTP {r['status']}" for size, step in (results.get("scale") or {}).get("steps", {}).items()
           for name, r in step["pages"].items() if r["status"] != 200]
    out.append({"name": "growth: every page answers 200 at every size", "ok": not bad, "detail": "; ".join(bad) or "ok"})
    sent = results["message_send"]
    out.append({"name": f"message: one outbox row for each of the {sent['recipients']:,} recipients",
                "ok": sent["status"] == 303 and sent["outbox_rows"] == sent["recipients"] > 0,
                "detail": f"HTTP {sent['status']}, {sent['outbox_rows']:,} outbox rows"})
    webhook = results.get("webhook")
    if webhook is not None:
        # Each real order is paid by the first event that names it, once; every other event is ignored
        # or finds the order paid already. (How many real orders get an event depends on the pace.)
        outcomes, paid = webhook["outcomes"], webhook["pending_orders_paid"]
        expected = {"ignored: session not created here", "paid", "already_done"}
        out.append({"name": "webhook: real orders paid exactly once, nothing else done", "ok":
                    outcomes.get("paid", 0) == paid and set(outcomes) <= expected,
                    "detail": f"{paid} of {pending} pending orders paid; outcomes {outcomes}"})
    return out


def goals_text(results: dict) -> str:
    rows = [GOAL_HEADERS] + [[g["goal"], g["figure"], "met" if g["met"] else "NOT MET"] for g in results["goals"]]
    return _aligned(rows, right=False)


def _aligned(rows: list[list[str]], right: bool = True) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) if right else cell.ljust(w)
                                             for cell, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def goals_markdown(results: dict) -> str:
    lines = ["| goal | figure | met |", "| --- | --- | --- |"]
    lines += [f"| {g['goal']} | {g['figure']} | {'met' if g['met'] else '**not met**'} |" for g in results["goals"]]
    return "\n".join(lines)


def text_table(results: dict) -> str:
    return _aligned([HEADERS, *table_rows(results)])


def markdown_table(results: dict) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "| --- | " + " | ".join("---:" for _ in HEADERS[1:]) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    return "\n".join(lines)


def seconds(ms: float | None) -> str:
    """Milliseconds as seconds with one decimal ("1.4"), or "–"."""
    return "–" if ms is None else f"{ms / 1000:.1f}"


def summary_lines(results: dict) -> list[str]:
    """Burst, page weight, SQL and checks, one line each (shared by the terminal and RESULTS.md)."""
    lines = []
    cluster = results.get("cluster") or {}
    for result in results.get("spikes", []) + ([cluster["spike"]] if cluster.get("spike") else []):
        books = result["ledger"]
        lines.append(
            f"Spike, {result['model']}: {result['buyers']:,} buyers within {result['window_s']:g} s for {result['spots']} "
            f"spots, Stripe {result['stripe_latency_ms']:.0f} ms: {books['paid_orders']} sold (paid by webhook), "
            f"{result['sold_out']} told sold out, {result['errors']} other errors; checkout p50 "
            f"{_fmt(result['checkout_p50_ms'], ',.0f')} ms, p99 {_fmt(result['checkout_p99_ms'], ',.0f')} ms, max "
            f"{_fmt(result['checkout_max_ms'], ',.0f')} ms; {result['wall_s']:.1f} s until the last answer"
            + (f"; the median checkout of each second's buyers: "
               f"{' '.join(seconds(ms) for ms in result['checkout_p50_ms_by_second'])} s."
               if result.get("checkout_p50_ms_by_second") else "."))
    for key, how in (("throughput_own_cpus", "each pinned to a CPU of its own (taskset), wrk and Postgres free to "
                                             "use both"), ("throughput", "on the same CPUs")):
        if cluster.get(key):
            t = cluster[key]
            lines.append(f"Two instances ({cluster['model']} each, rate limits in Redis), {how}: {t['page']} "
                         f"{t['one_instance']['req_per_s']:,.0f} req/s on one, {t['two_instances']['req_per_s']:,.0f} "
                         f"on two (per instance {t['two_instances']['per_instance']}): {t['scaling']}×.")
    if cluster.get("workers"):
        w = cluster["workers"]
        jobs = ", ".join(f"{job} (every {v['interval_s']} s) {v['total']} = {' + '.join(map(str, v['per_worker']))}, "
                         f"never twice within {_fmt(v['shortest_gap_s'], '.1f')} s" for job, v in w["jobs"].items())
        lines.append(f"Two outbox workers for {w['seconds']} s: {w['smtp_received']:,} emails received by SMTP, "
                     f"{w['distinct_message_ids']:,} distinct, {w['duplicates']} twice; scheduled jobs started "
                     f"(worker 1 + worker 2): {jobs}.")
    scale_result = results.get("scale")
    if scale_result:
        for size, step in scale_result["steps"].items():
            lines.append(f"At {int(size):,} registrations (grown in {step['seed_s']} s; {step['counts']}): " + ", ".join(
                f"{name} {r['ms']:.1f} ms" for name, r in step["pages"].items()) + ".")
    sent = results.get("message_send")
    if sent:
        lines.append(f"Message to every runner: {sent['recipients']:,} recipients queued through the page in "
                     f"{sent['seconds']:.2f} s (HTTP {sent['status']}, {sent['outbox_rows']:,} outbox rows; budget 5 s).")
    weight = results.get("page_weight")
    if weight:
        lines.append(
            f"Race page weight: {weight['gzip_total'] / 1024:.1f} KB gzip ({weight['raw_total'] / 1024:.1f} KB raw) "
            f"for HTML + CSS + JS"
            f"{' (gzip level 6 by the bench: gunicorn sends them uncompressed)' if weight['compressed_by'] == 'bench' else ''}"
            f"; budget {weight['budget'] / 1024:.0f} KB: "
            f"{'within' if weight['within_budget'] else 'OVER'}. Scripts: "
            f"{', '.join(Path(s.split('?')[0]).name for s in weight['scripts']) or 'none'}"
            f"{'' if weight['only_allowed_scripts'] else ' (budget: htmx and offline.js only, NOT MET)'}.")
    webhook = results.get("webhook")
    if webhook:
        outcomes = ", ".join(f"{n} {o}" for o, n in webhook["outcomes"].items())
        lines.append(f"Webhook events handled during the measurement: {outcomes}.")
    for what, counts in (results.get("sql_constancy") or {}).items():
        steady = len(set(counts.values())) == 1
        lines.append(f"SQL statements per request, {what}: " + " and ".join(f"{n} ({label})" for label, n in counts.items())
                     + f": {'constant' if steady else 'NOT constant'}.")
    lines.append(noise(results))
    return lines


def noise(results: dict) -> str:
    """How steady the machine was: the ceiling's spread over the run, and the load average."""
    m = results["machine"]
    runs = next((p.get("runs_req_per_s") for p in results["pages"] if p.get("runs_req_per_s")), [])
    load = m.get("load_average", {})
    if not runs:
        return f"Noise: no ceiling runs; load average {load.get('before', 0):.1f} before the run."
    spread = (max(runs) - min(runs)) / (sum(runs) / len(runs))
    busy = spread > 0.15 or max(load.values(), default=0) > m["nproc"] * 0.5
    return (f"Noise: the ceiling ranged {min(runs):,.0f}–{max(runs):,.0f} req/s over {len(runs)} runs "
            f"({spread:.0%} of its mean); load average {load.get('before', 0):.1f} before, "
            f"{load.get('after', 0):.1f} after, on {m['nproc']} CPUs."
            + (" The machine was busy with other work: treat the figures as rough." if busy else ""))


def write_json(results: dict, path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def write_markdown(results: dict, path: Path) -> None:
    m, s = results["machine"], results["settings"]
    parts = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`bench/run.py`) on {results['date']}"
        + (f", commit `{m['commit']}`" if m.get("commit") else "") + ". "
        "The full figures, with wrk's own output, are in `bench/results.json` (not committed).",
        "",
        f"Machine: {m['nproc']} CPU ({m['cpu_model']}), {m['memory_gib']} GiB RAM, {m['os']}; "
        f"Python {m['python']}, PostgreSQL {m['postgres']}, gunicorn {m['gunicorn']}, {m['wrk']}. "
        "wrk, gunicorn and Postgres share these CPUs.",
        "",
        f"Settings: gunicorn {s['gunicorn']}; `wrk {s['wrk']}` per page after a {s['warmup']} warm-up; "
        f"database: {s['seed']}.",
        "",
        "## Goals (issue 17)",
        "",
        goals_markdown(results),
        "",
        "## Pages under load",
        "",
        markdown_table(results),
        "",
        "*× one-SELECT* is the page's requests per second divided by those of a Flask page doing one SELECT on "
        "the same Postgres and rendering a small Jinja template; *× bare* divides by a bare Flask \"hello\" page. "
        "Both baselines (bench/hello.py) are served by the same gunicorn settings and measured just before each "
        "page in the same run (their rows show the medians). Anonymous pages are asked as a cookieless visitor. "
        "*SQL/request* counts the statements one request runs (in-process, after a warm-up request).",
        "",
        *[f"- {line}" for line in summary_lines(results)],
    ]
    failed = [c for c in results["checks"] if not c["ok"]]
    parts += ["", "Checks: " + ("all passed." if not failed else "FAILED: " + "; ".join(
        f"{c['name']} ({c['detail']})" for c in failed))]
    if results.get("skipped"):
        parts += ["", "Not measured: " + "; ".join(results["skipped"]) + "."]
    parts += ["", "Rerun with `make bench` (10–15 minutes; needs Postgres on 127.0.0.1:5432, wrk and redis-server).", ""]
    path.write_text("\n".join(parts))
