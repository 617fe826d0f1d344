"""What the benchmark tells people: the machine, the table on the terminal, bench/results.json and bench/RESULTS.md."""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

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
            rows.append([page["name"], page["status"], "", "", "", _fmt(page.get("sql_statements"), "d")])
            continue
        rows.append([page["name"], _fmt(page["req_per_s"], ",.0f"), _fmt(page["p50_ms"], ".1f"),
                     _fmt(page["p99_ms"], ".1f"), _fmt(page["ratio"], ".3f"), _fmt(page.get("sql_statements"), "d")])
    return rows


HEADERS = ["page", "req/s", "p50 ms", "p99 ms", "× ceiling", "SQL/request"]


def text_table(results: dict) -> str:
    rows = [HEADERS, *table_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: dict) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "| --- | " + " | ".join("---:" for _ in HEADERS[1:]) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    return "\n".join(lines)


def summary_lines(results: dict) -> list[str]:
    """Burst, page weight, SQL and checks, one line each (shared by the terminal and RESULTS.md)."""
    lines = []
    burst = results.get("burst")
    if burst:
        lines.append(
            f"Burst: {burst['buyers']} buyers for {burst['spots']} spots through the real checkout (test gateway): "
            f"{burst['ledger']['tickets']} tickets in {burst['ledger']['paid_orders']} paid orders, "
            f"{burst['sold_out']} told \"sold out\", {burst['errors']} other errors; checkout p50 "
            f"{_fmt(burst['checkout_p50_ms'], '.0f')} ms, p99 {_fmt(burst['checkout_p99_ms'], '.0f')} ms; "
            f"{burst['ledger']['spots_left']} spots left, {burst['wall_s']:.1f} s for everyone to check out and pay.")
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
            f"{'' if weight['only_script_is_htmx'] else ' (budget: htmx only, NOT MET)'}.")
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
        markdown_table(results),
        "",
        "*× ceiling* is the page's requests per second divided by those of a bare Flask \"hello\" page "
        "served by the same gunicorn settings, measured just before the page in the same run (the hello row "
        "shows the median of those runs). *SQL/request* counts the statements one request runs (in-process, "
        "after a warm-up request).",
        "",
        *[f"- {line}" for line in summary_lines(results)],
    ]
    failed = [c for c in results["checks"] if not c["ok"]]
    parts += ["", "Checks: " + ("all passed." if not failed else "FAILED: " + "; ".join(
        f"{c['name']} ({c['detail']})" for c in failed))]
    if results.get("skipped"):
        parts += ["", "Not measured: " + "; ".join(results["skipped"]) + "."]
    parts += ["", "Rerun with `make bench` (about three minutes; needs Postgres on 127.0.0.1:5432 and wrk).", ""]
    path.write_text("\n".join(parts))
