"""Lighthouse's performance (and accessibility) score of the pages issue 17 names, on the bench's server.

Lighthouse 12.2.3 runs through npx against Debian's Chromium (CHROME_PATH, default /usr/bin/chromium) with
its default mobile emulation and simulated throttling, one page at a time, each BENCH_LIGHTHOUSE_RUNS times (3),
the median kept; a signed-in page is asked with the account's cookies (`--extra-headers`). When npx or Chromium is
missing, or Lighthouse fails, the page says why instead of a score: the bench goes on.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

VERSION = "12.2.3"
GOAL = 0.98
# Pages whose goal is accessibility rather than performance (issue 18: the check-in page scores 100).
ACCESSIBILITY_GOALS = {"check-in page": 1.0}
TIMEOUT_SECONDS = 240
# Lighthouse's own advice on variability: run a page several times and keep the median. Simulated throttling
# multiplies the main thread's measured time, so one run on a busy 2-CPU host can score a page 73 and the next 99.
RUNS = max(1, int(os.environ.get("BENCH_LIGHTHOUSE_RUNS", "3") or 3))
CHROME_FLAGS = "--headless=new --no-sandbox --disable-background-networking"


@dataclass
class Score:
    name: str
    path: str
    performance: float | None = None
    accessibility: float | None = None
    metrics: dict | None = None
    problem: str = ""
    runs: list[float] | None = None  # every run's score of what the page is judged by, in the order they ran

    @property
    def met(self) -> bool:
        return self.performance is not None and self.performance >= GOAL


def chromium() -> str | None:
    path = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
    return path if Path(path).exists() else None


def measure(base_url: str, name: str, path: str, cookie: str | None = None) -> Score:
    """One page's scores (0–1), or the reason there are none."""
    score = Score(name, path)
    npx, chrome = shutil.which("npx"), chromium()
    if npx is None or chrome is None:
        score.problem = "npx or Chromium not found"
        return score
    with tempfile.TemporaryDirectory(prefix="startline-lighthouse-") as workdir:
        out = Path(workdir) / "report.json"
        command = [npx, "--yes", f"lighthouse@{VERSION}", base_url + path, "--quiet", "--output=json",
                   f"--output-path={out}", "--only-categories=performance,accessibility",
                   f"--chrome-flags={CHROME_FLAGS}"]
        if cookie:
            headers = Path(workdir) / "headers.json"
            headers.write_text(json.dumps({"Cookie": cookie}))
            command.append(f"--extra-headers={headers}")
        try:
            subprocess.run(command, env={**os.environ, "CHROME_PATH": chrome}, capture_output=True,
                           timeout=TIMEOUT_SECONDS, check=True)
            report = json.loads(out.read_text())
        except (subprocess.SubprocessError, OSError, ValueError) as error:
            score.problem = f"lighthouse failed: {str(error)[:200]}"
            return score
    if report.get("runtimeError"):
        score.problem = str(report["runtimeError"].get("message", "runtime error"))[:200]
        return score
    categories = report["categories"]
    score.performance = categories["performance"]["score"]
    score.accessibility = categories["accessibility"]["score"]
    audits = report["audits"]
    score.metrics = {key: audits[key].get("numericValue") for key in (
        "first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift")}
    return score


def goal_of(name: str) -> dict:
    """What the page named `name` is judged by: {"measures": "performance" or "accessibility", "goal": 0–1}."""
    if name in ACCESSIBILITY_GOALS:
        return {"measures": "accessibility", "goal": ACCESSIBILITY_GOALS[name]}
    return {"measures": "performance", "goal": GOAL}


def run(base_url: str, pages: list[tuple[str, str, str | None]], runs: int = RUNS) -> list[Score]:
    """[(name, path, cookie header or None)] → their scores, one page after another, each the median of `runs`."""
    return [median_of(name, [measure(base_url, name, path, cookie) for _ in range(runs)])
            for name, path, cookie in pages]


def median_of(name: str, scores: list[Score]) -> Score:
    """The run with the median score of what the page is judged by (its other figures from that same run), with
    every run's score in `runs`; a run that failed counts as the lowest, and when none scored, the first's reason."""
    measured = goal_of(name)["measures"]
    ranked = sorted(scores, key=lambda score: -1.0 if getattr(score, measured) is None else getattr(score, measured))
    middle = ranked[(len(ranked) - 1) // 2]
    if getattr(middle, measured) is None:
        return scores[0]
    middle.runs = [getattr(score, measured) for score in scores]
    return middle
