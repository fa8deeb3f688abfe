"""Look at notebook 03's explorer the way a user does: JupyterLab from the project's venv, the
notebook run live in headless Chromium, screenshots at 1280x800 into ``--out``.

Not a test and not a dependency of the kit. Needs a Chromium and Playwright for Python, e.g. on
Debian/Ubuntu::

    apt-get install chromium                 # the browser (/usr/bin/chromium)
    python3 -m venv /tmp/browser-venv && /tmp/browser-venv/bin/pip install playwright

and then, from the repository root (stages 00 and 01 done in ``work/``)::

    /tmp/browser-venv/bin/python benchmarks/explorer_browser_check.py --out /tmp/explorer_shots \\
        --work-dir work [--demo]

It copies notebooks/03_attention_maps.ipynb into a temporary folder with ``work_dir`` (absolute),
``output_dir`` (the temporary folder) and ``demo`` set, starts ``.venv/bin/jupyter lab`` there on
a free port with a random token (``PYTHONPATH`` = the repository), opens the notebook, runs all
cells, and saves: the page after the run, each explorer scrolled into view, and the run
explorer after switching its right panel to the expanded attention and to the channel
attention. The screenshots are for reading by eye; nothing is committed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "03_attention_maps.ipynb"
VIEWPORT = {"width": 1280, "height": 800}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepared_notebook(folder: Path, work_dir: Path, demo: bool) -> Path:
    """A copy of notebook 03 whose parameters cell points at ``work_dir`` and ``folder``."""
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(cell["source"])
    source += (f"\nwork_dir = {str(work_dir)!r}\noutput_dir = {str(folder / 'out')!r}\n"
               f"demo = {demo!r}\n")
    cell["source"] = source
    path = folder / NOTEBOOK.name
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def start_lab(folder: Path, port: int, token: str, venv: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    log = open(folder / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [str(venv / "bin" / "jupyter"), "lab", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={folder}", "--ServerApp.open_browser=False",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"JupyterLab exited; see {folder / 'jupyterlab.log'}")
            time.sleep(1)
    proc.terminate()
    raise SystemExit("JupyterLab did not answer within 120 s")


def shoot(page, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"wrote {path}")


def run_notebook(page, timeout_s: float) -> None:
    """Run all cells (JupyterLab's Run menu) and wait until the kernel is idle again."""
    page.click("div.jp-Notebook")
    page.keyboard.press("Escape")
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    deadline = time.time() + timeout_s
    time.sleep(3)
    while time.time() < deadline:
        busy = page.evaluate("() => Array.from(document.querySelectorAll('.jp-InputPrompt'))"
                             ".some(p => p.textContent.includes('*'))")
        if not busy:
            return
        time.sleep(2)
    print(f"the notebook was still running after {timeout_s:.0f} s", file=sys.stderr)


def explorers(page):
    """The explorer widgets on the page (a VBox holding an image), in order."""
    return page.locator(".jupyter-widgets.widget-vbox:has(img)").all()


def choose(page, box, label: str, option: str) -> None:
    """Pick ``option`` in the explorer ``box``'s dropdown described by ``label``."""
    select = box.locator(f".widget-dropdown:has(label:text-is('{label}')) select")
    select.select_option(label=option)
    time.sleep(4)  # the kernel redraws


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the screenshots")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "work",
                        help="the work folder with stages 00 and 01 done")
    parser.add_argument("--demo", action="store_true", help="set the notebook's demo parameter")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv",
                        help="the project's virtual environment (its jupyter)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for Run All")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="explorer_check_"))
    notebook = prepared_notebook(folder, args.work_dir.resolve(), args.demo)
    port, token = free_port(), secrets.token_hex(16)
    lab = start_lab(folder, port, token, args.venv)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}")
            page.wait_for_selector("div.jp-Notebook", timeout=120_000)
            time.sleep(5)  # the kernel starts
            start = time.time()
            run_notebook(page, args.timeout)
            print(f"run all: {time.time() - start:.0f} s")
            shoot(page, args.out, "00_after_run")
            boxes = explorers(page)
            print(f"explorers on the page: {len(boxes)}")
            for i, box in enumerate(boxes):
                box.scroll_into_view_if_needed()
                time.sleep(1)
                shoot(page, args.out, f"{i + 1:02d}_explorer_{i}")
            if boxes:
                last = boxes[-1]
                for option in ("expanded map", "channel c"):
                    choose(page, last, "right panel", option)
                    last.scroll_into_view_if_needed()
                    shoot(page, args.out, f"{len(boxes) + 1:02d}_last_explorer_"
                                          f"{option.replace(' ', '_')}")
            browser.close()
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
