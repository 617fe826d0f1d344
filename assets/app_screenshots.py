"""The manifest's screenshots (static/screenshots/): the race list of the sample races at 390 and 1280 px,
taken in Debian's Chromium from the app served on a scratch SQLite database. Run from the repository root:

    .venv/bin/python assets/app_screenshots.py

then commit the PNGs (their sizes are in blueprints/site.py SCREENSHOTS).
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SIZES = ((390, 844), (1280, 800))
PORT = 5391


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{scratch}/shots.db", FLASK_APP="app:create_app")
        flask = str(ROOT / ".venv" / "bin" / "flask")
        for command in (["db", "upgrade"], ["seed-demo", "--if-empty"]):
            subprocess.run([flask, *command], env=env, cwd=ROOT, check=True, capture_output=True)
        server = subprocess.Popen([flask, "run", "--port", str(PORT)], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{PORT}/"
            for _ in range(100):
                try:
                    urllib.request.urlopen(url + "healthz", timeout=2)
                    break
                except OSError:
                    time.sleep(0.2)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                for width, height in SIZES:
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(url)
                    page.screenshot(path=str(ROOT / "static" / "screenshots" / f"races-{width}.png"))
                browser.close()
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
