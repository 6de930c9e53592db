"""The real path, measured: the app in a headless Chromium, against the run manager alone.

    python scripts/bench_app.py pages [--pages hour01,hour02] [--repeat 3] [--port 8765] [--json]
    python scripts/bench_app.py room [--students 10] [--port 8765] [--json]

`pages` starts the app as `make run` does (`.venv/bin/streamlit run app.py --server.port PORT --server.headless true`,
from the repo root), opens its home page once and waits until the server and its workers are idle (as in class, where
the app is up before students press Start; the manager side likewise waits for its pool), then opens each lesson page
in a fresh browser context (a new student), presses each of the page's Start buttons with its default settings (one
after the other: a student may have only a few runs live) and times the click to the moment every progress bar of the
page says finished, stopped, diverged or failed: `app_s`. After the server is stopped it trains the same page's
default configs (from lessons/recipes/, as the page builds them) through
`engine.serve.manager.RunManager(max_running=<the app's cap>)` alone, each Start's configs submitted at once:
`manager_s`. The manager side is one fresh Python process for the whole pass, its pages in the app's order, so its pool
warms up over the pages as the app's workers do (`--manager-process page`: a fresh process per page, which favours the
app on every page after the first). ratio = app_s / manager_s (1.0: the app costs nothing). One try of a page
moves by 0.1-0.2 in ratio on a shared 2-core machine: `--repeat N` runs the whole comparison (app pass, then manager
pass) N times, alternating, and ends with each page's ratios and their median.

`room` starts the app the same way and lets N students (one browser context each, its own student id) open Hour 1
and press Start within 3 s of each other; it reports the time to the first point and to the end, how late the 1 Hz
refresh arrives while everyone trains, the server's CPU, whether every run finished and any exception shown.

Runs are kept in a throw-away store (CLASSROOM_DATA_DIR in a temporary folder), never on the class board.
The browser shares the machine with the server: on a small machine its CPU is part of what a figure measures.
`manager` (internal) is the fresh process `pages` starts: `python scripts/bench_app.py manager --pages hour01,hour02`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 2600}
PROGRESS = '[data-testid="stProgress"]'
EXCEPTION = '[data-testid="stException"]'
ALERT = '[data-testid="stAlertContainer"]'
STREAMLIT = ROOT / ".venv" / "bin" / "streamlit"

# What lessons/panel.py's _progress_line writes: "**label** · step 3/200 · 4.1 steps/s · about 48 s left" (or
# "measuring speed…") while running, "paused at step 3/200", "waiting for a free training slot (...)" while queued,
# and "finished at step 200/200 in 6.6 s" (or stopped, diverged, failed) at the end.
ENDED = re.compile(r"\b(finished|stopped|diverged|failed) at step (\d+)/(\d+)(?: in ([\d.]+) s)?")
PAUSED = re.compile(r"\bpaused at step (\d+)/(\d+)")
STEP = re.compile(r"\bstep (\d+)/(\d+)")
QUEUED = "waiting for a free training slot"
LIVE = ("queued", "running", "paused")


def parse(text: str) -> tuple[str, int, int, float | None]:
    """(status, step, steps, elapsed s or None) of one progress text."""
    m = ENDED.search(text)
    if m:
        return m.group(1), int(m.group(2)), int(m.group(3)), float(m.group(4)) if m.group(4) else None
    m = PAUSED.search(text)
    if m:
        return "paused", int(m.group(1)), int(m.group(2)), None
    if QUEUED in text:
        return "queued", 0, 0, None
    m = STEP.search(text)
    if m:
        return "running", int(m.group(1)), int(m.group(2)), None
    return "unknown", 0, 0, None


# ---- the machine ------------------------------------------------------------------------------


def machine() -> dict:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"platform": platform.platform(), "arch": platform.machine(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch": version("torch"), "streamlit": version("streamlit"),
            "engine_serve": sorted(p.name for p in (ROOT / "engine" / "serve").glob("*.py"))}


def print_machine(m: dict) -> None:
    print(f"machine: {m['platform']} ({m['arch']}), {m['cpu_count']} CPUs, Python {m['python']}, torch {m['torch']}, "
          f"streamlit {m['streamlit']}; engine/serve: {', '.join(m['engine_serve'])}")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from 3 (state) on; the name may hold spaces


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            f = _stat(int(d.name))
            if f is not None:
                children.setdefault(int(f[1]), []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def cpu_seconds(pid: int, tree: bool = True) -> float:
    """CPU seconds (user + system) of `pid` and its live descendants, each with the children it has reaped (`tree`:
    a closed tab's renderer, a retired worker), or of `pid` alone."""
    total = 0
    for p in [pid, *_descendants(pid)] if tree else [pid]:
        f = _stat(p)
        if f is not None:
            total += sum(int(x) for x in f[11:15 if tree else 13])  # utime, stime, cutime, cstime
    return total / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


# ---- the app server ----------------------------------------------------------------------------


class Server:
    """`streamlit run app.py` as `make run` starts it, on `port`, in its own process group; always stopped."""

    def __init__(self, port: int, data_dir: str):
        self.port = port
        self.url = f"http://localhost:{port}"
        self.data_dir = data_dir
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop())

    def start(self, timeout: float = 180) -> Server:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", self.port)) == 0:
                raise SystemExit(f"port {self.port} is taken: pass --port")
        exe = str(STREAMLIT) if STREAMLIT.exists() else "streamlit"
        env = {**os.environ, "CLASSROOM_DATA_DIR": self.data_dir}
        self.proc = subprocess.Popen([exe, "run", "app.py", "--server.port", str(self.port), "--server.headless", "true"],
                                     cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=5) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the app did not come up on {self.url}:\n{self.tail()}")
            time.sleep(0.5)

    def tail(self, n: int = 3000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-n:]

    def tracebacks(self, limit: int = 5) -> list[str]:
        """The tracebacks the server has logged so far (an uncaught page error shows only its type in the browser)."""
        self.log.seek(0)
        lines, out, block = self.log.read().decode(errors="replace").splitlines(), [], None
        for line in lines:
            if line.startswith("Traceback (most recent call last)"):
                block = [line]
            elif block is not None:
                block.append(line)
                if line and not line.startswith(" "):  # the exception's own line ends the block
                    out.append("\n".join(block[-40:]))
                    block = None
        return out[:limit]

    def stop(self) -> None:
        p = self.proc
        if p is not None and p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        self.proc = None

    def __enter__(self) -> Server:
        try:
            return self.start()
        except BaseException:
            self.stop()
            self.log.close()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
        self.log.close()


def _terminate_on_signal() -> None:
    """SIGTERM (a timeout, a teacher's kill) unwinds like Ctrl-C, so the server is always stopped."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


# ---- the browser -------------------------------------------------------------------------------


async def launch(playwright):
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


async def progress(page) -> list[str]:
    return [t.strip() for t in await page.locator(PROGRESS).all_inner_texts()]


# The timing is recorded in the page, not by polling it from here: a timer in the page reads the progress texts every
# 0.2 s and notes each change with the time since the click (performance.now()); this script reads that log twice a
# second. Polling the DOM over Playwright four times a second (as this script first did) cost Chromium and Playwright
# a few % of a core, taken from the training it measures. textContent forces no layout, and a timer costs nothing per
# chart redraw (a MutationObserver on the page sees every SVG node Plotly rewrites).
RECORDER = """() => {
    if (window.__bench) return;  // once per page: a page with two Starts keeps one timer
    const rec = window.__bench = {t0: null, log: []};
    let last = null;
    setInterval(() => {
        if (rec.t0 === null) return;
        const texts = [...document.querySelectorAll('[data-testid="stProgress"]')].map(e => e.textContent.trim());
        const key = texts.join('\\n');
        if (key !== last) { last = key; rec.log.push([(performance.now() - rec.t0) / 1000, texts]); }
    }, 200);
}"""
LAST = "() => { const l = window.__bench.log; return [(performance.now() - window.__bench.t0) / 1000, l.length ? l[l.length - 1] : null]; }"


async def click_recorded(page, button) -> None:
    """Start the page's recorder's clock and click `button` (the recorder must be installed: RECORDER)."""
    await page.evaluate("window.__bench.t0 = performance.now(); window.__bench.log = [];")
    await button.click()


async def recorded(page) -> tuple[float, float | None, list[str]]:
    """(seconds since the click now, seconds at the last change of the progress texts or None, those texts)."""
    now, last = await page.evaluate(LAST)
    return (now, None, []) if last is None else (now, last[0], last[1])


async def wait_rendered(page, timeout: float = 240) -> None:
    """The page's script has run to the end: its title is there, no 'running' widget for 2 s in a row."""
    await page.wait_for_selector("h1", timeout=timeout * 1000)
    deadline, quiet = time.time() + timeout, 0
    while time.time() < deadline and quiet < 8:
        quiet = 0 if await page.locator('[data-testid="stStatusWidget"]').count() else quiet + 1
        await asyncio.sleep(0.25)


START_KEYS = """() => [...document.querySelectorAll('[data-testid="stButton"]')].filter(b => {
    const label = b.querySelector('button [data-testid="stMarkdownContainer"]');
    return label && label.innerText.trim().startsWith('Start');
}).map(b => ([...b.closest('[data-testid="stElementContainer"]').classList].find(c => c.startsWith('st-key-')) || ''))"""


async def start_keys(page) -> list[str]:
    """The key class (st-key-...) of every button whose label starts with "Start", top to bottom."""
    return await page.evaluate(START_KEYS)


async def wait_start_keys(page, expected: int | None = None, timeout: float = 240) -> list[str]:
    """The page's Start buttons once it has drawn them: `expected` of them, or (not knowing) the same ones for 3 s."""
    deadline, prev, same = time.time() + timeout, None, 0
    while time.time() < deadline:
        keys = await start_keys(page)
        if expected and len(keys) >= expected:
            return keys
        same = same + 1 if keys and keys == prev else 0
        if not expected and same >= 12:
            return keys
        prev = keys
        await asyncio.sleep(0.25)
    return await start_keys(page)


async def exceptions(page) -> list[str]:
    loc = page.locator(EXCEPTION)
    return [t.strip()[:400] for t in await loc.all_inner_texts()] if await loc.count() else []


# ---- pages: each lesson's default experiment in the app -------------------------------------------


def lesson_pages(wanted: list[str] | None) -> list[Path]:
    """Every lessons/hourNN_*.py with a Start button (it calls panel.experiment), or those `wanted` (hour01 or the stem)."""
    from lessons._nav import lesson_files

    files = [p for p in lesson_files() if "panel.experiment(" in p.read_text(encoding="utf-8")]
    if not wanted:
        return files
    out = []
    for w in wanted:
        hits = [p for p in lesson_files() if p.stem == w or p.stem.split("_")[0] == w]
        if not hits:
            raise SystemExit(f"no lesson page {w!r}; there are: {', '.join(p.stem for p in lesson_files())}")
        out += hits
    return out


def _expected_starts(stem: str) -> int | None:
    try:
        return len(recipe_configs(stem.split("_")[0]))
    except Exception:
        return None


async def settle(browser, server, timeout: float = 180, idle_cores: float = 0.15) -> float:
    """Open the home page once, then wait until the server (with its worker processes) uses under `idle_cores` over
    a second: as in class, where the teacher has the app up before students press Start, the workers have warmed
    up (as the manager side waits for its pool to be ready). Seconds it took."""
    ctx = await browser.new_context(viewport=VIEWPORT)
    t = time.perf_counter()
    try:
        page = await ctx.new_page()
        await page.goto(server.url, timeout=timeout * 1000)
        await wait_rendered(page)
    finally:
        await ctx.close()
    while time.perf_counter() - t < timeout:
        c0 = cpu_seconds(server.proc.pid)
        await asyncio.sleep(1.0)
        if cpu_seconds(server.proc.pid) - c0 < idle_cores:
            break
    return round(time.perf_counter() - t, 1)


async def app_page(browser, url: str, stem: str, timeout: float, server_pid: int) -> dict:
    """Open the page as a new student, press each Start in turn and time each to the end of all its runs."""
    ctx = await browser.new_context(viewport=VIEWPORT)
    page = await ctx.new_page()
    out: dict = {"page": stem, "experiments": [], "exceptions": [], "problems": []}
    try:
        t = time.perf_counter()
        await page.goto(f"{url}/{stem}", timeout=timeout * 1000)
        await wait_rendered(page)
        out["load_s"] = round(time.perf_counter() - t, 2)
        cap = re.search(r"at most (\d+) at once", await page.locator('[data-testid="stSidebar"]').inner_text())
        out["app_cap"] = int(cap.group(1)) if cap else None
        keys = await wait_start_keys(page, _expected_starts(stem))
        out["start_buttons"] = len(keys)
        for i, key in enumerate(keys):
            srv0, web0, mine0, t0 = cpu_seconds(server_pid), cpu_seconds(server_pid, False), cpu_seconds(os.getpid()), time.perf_counter()
            exp = await _one_start(page, key, i, timeout)
            srv, web = cpu_seconds(server_pid) - srv0, cpu_seconds(server_pid, False) - web0
            mine, wall = cpu_seconds(os.getpid()) - mine0, time.perf_counter() - t0
            exp["server_cpu_pct"] = round(100 * srv / wall, 1)  # of one core: streamlit and its training workers
            exp["streamlit_cpu_pct"] = round(100 * web / wall, 1)  # the streamlit process alone
            exp["browser_cpu_pct"] = round(100 * (mine - srv) / wall, 1)  # Chromium, Playwright and this script
            out["experiments"].append(exp)
            if exp.get("problem"):
                out["problems"].append(exp["problem"])
                break
        out["exceptions"] = await exceptions(page)
        out["load_avg"] = round(os.getloadavg()[0], 2)
        redraw = re.search(r"Live redraw:\**\s*(\d+) ms", await page.locator('[data-testid="stSidebar"]').inner_text())
        out["redraw_ms"] = int(redraw.group(1)) if redraw else None  # the server's median time per live redraw
    except Exception as e:
        out["problems"].append(f"{type(e).__name__}: {str(e)[:300]}")
    finally:
        await ctx.close()
    exps = out["experiments"]
    out["runs"] = sum(e.get("runs", 0) for e in exps)
    out["app_s"] = round(sum(e["app_s"] for e in exps), 2) if exps and all("app_s" in e for e in exps) else None
    out["statuses"] = [s for e in exps for s in e.get("statuses", [])]
    return out


def _page_key(key_class: str) -> str:
    """st-key-hour05-finder-start -> hour05-finder: the panel's page key (its Start's key is f"{page_key}:start")."""
    return key_class.removeprefix("st-key-").removesuffix("-start")


async def _one_start(page, key: str, index: int, timeout: float) -> dict:
    button = page.locator(f".{key} button").first if key else page.locator('[data-testid="stButton"] button').nth(index)
    await button.wait_for(state="visible", timeout=60_000)
    deadline = time.time() + 60
    while await button.is_disabled() and time.time() < deadline:  # the page still trains something
        await asyncio.sleep(0.25)
    before = len(await progress(page))
    await page.evaluate(RECORDER)
    t0 = time.perf_counter()
    await click_recorded(page, button)
    seen_live = False
    while True:
        now, changed, texts = await recorded(page)
        states = [parse(x) for x in texts]
        if len(texts) > before:
            seen_live = seen_live or any(s[0] in LIVE for s in states)
            if states and all(s[0] not in LIVE and s[0] != "unknown" for s in states):
                new = states[before:]
                exp = {"key": _page_key(key), "app_s": round(changed, 2), "runs": len(new),
                       "statuses": [s[0] for s in new], "run_elapsed_s": [s[3] for s in new], "seen_live": seen_live}
                break
        if now > timeout:
            alerts = [a.strip()[:200] for a in await page.locator(ALERT).all_inner_texts()]
            return {"key": _page_key(key), "problem": f"{key}: not over after {timeout:.0f} s; progress {texts[-4:]}; alerts {alerts[-3:]}"}
        await asyncio.sleep(0.5)
    t1 = time.perf_counter()  # the page redraws once more when its runs end: wait for Start to come back
    while await button.is_disabled() and time.perf_counter() - t1 < 60:
        await asyncio.sleep(0.25)
    exp["start_back_s"] = round(time.perf_counter() - t0, 2)
    return exp


# ---- pages: the same configs through the run manager alone --------------------------------------------


def recipe_configs(hour: str) -> list[tuple[str, dict]]:
    """[(page key, {label: TrainConfig})] for each Start of a lesson page, in page order, as the page builds them
    with every widget at its default (the sidebar's data and model: the glyph world)."""
    import importlib

    r = importlib.import_module(f"lessons.recipes.{hour}")
    if hour in ("hour01",):
        return [(hour, r.configs(r.BASE))]
    if hour in ("hour02", "hour03", "hour04"):
        return [(r.PAGE, r.configs(r.BASE))]
    if hour == "hour05":
        b = r.BASE
        return [(r.PAGE, r.default_configs(r.SHOWN, batch_size=b.batch_size, schedule=b.schedule, steps=b.steps, seed=b.seed)),
                (r.FINDER_PAGE, r.finder_configs(r.SHOWN, batch_size=b.batch_size, seed=b.seed))]
    if hour == "hour06":
        b = r.PAGE_BASE
        return [(r.PAGE, r.default_configs(dropout=b.dropout, weight_decay=b.weight_decay, steps=b.steps, seed=b.seed)),
                (r.EARLY_PAGE, r.early_configs(early_stopping=b.early_stopping, steps=b.steps, seed=b.seed))]
    if hour == "hour07":
        b = r.PAGE_BASE
        return [(r.PAGE, r.default_configs(bn_mode=b.bn_mode, l2sp=b.l2sp, lr=b.lr, steps=b.steps, seed=b.seed))]
    if hour in ("hour08", "hour09"):
        return [(hour, r.default_configs(r.BASE))]
    if hour == "hour10":
        return [(hour, r.default_configs(r.BASE, shots=sorted({r.SHOTS[0], r.SHOTS[1]})))]
    raise KeyError(f"no default configs known for {hour}: add it to recipe_configs() in scripts/bench_app.py")


def _plain(x):
    return json.loads(json.dumps(x, default=str))


def _stored_configs(store_db: str | None, keys: list[str]) -> dict[tuple[str, str], dict]:
    """{(page key, label): config} of the app's runs of these page keys, from its throw-away SQLite store."""
    if not store_db or not Path(store_db).exists():
        return {}
    import sqlite3

    with contextlib.closing(sqlite3.connect(store_db)) as db:
        rows = db.execute(f"SELECT page, label, config_json FROM runs WHERE page IN ({','.join('?' * len(keys))})",
                          keys).fetchall()
    return {(p, lab): json.loads(c) for p, lab, c in rows}


def manager_main(stems: list[str], store_db: str | None, timeout: float, executor: str = "app") -> list[dict]:
    """In this process: each page's default configs through one RunManager(max_running=the app's cap), owner "bench",
    the pages one after the other as the app's pass takes them (so the pool warms up as the app's does).

    `executor` "app": where the app's settings train runs (engine.core.settings' executor, when the engine has one);
    "threads" or "processes": that one."""
    import inspect

    from engine.core.device import configure_threads
    from engine.core.settings import get_settings
    from engine.serve.manager import RunManager

    cap = get_settings().runs_max
    threads = configure_threads(cap)  # what get_manager() does for the app's manager
    kwargs = {}
    if "executor" in inspect.signature(RunManager).parameters:
        kwargs["executor"] = getattr(get_settings(), "executor", "threads") if executor == "app" else executor
    elif executor == "processes":
        raise SystemExit("this engine's RunManager has no process executor")
    mgr = RunManager(max_running=cap, **kwargs)
    workers = getattr(getattr(mgr, "executor", None), "workers", None)
    t = time.perf_counter()
    while workers and not all(w.ready for w in workers) and time.perf_counter() - t < 180:
        time.sleep(0.1)  # the app's pool is up before a student can press Start: so is this one
    common = {"cap": cap, "torch_threads": threads, "executor": getattr(getattr(mgr, "executor", None), "name", "threads"),
              "workers_ready_s": round(time.perf_counter() - t, 2) if workers else None}
    try:
        return [{**common, **_manager_page(mgr, stem, store_db, timeout)} for stem in stems]
    finally:
        mgr.shutdown()


def _manager_page(mgr, stem: str, store_db: str | None, timeout: float) -> dict:
    """One page's Starts through `mgr`, each Start's configs submitted at once; its seconds and what ended."""
    from engine.data.tasks import load_task

    hour = stem.split("_")[0]
    groups = [(key, {label: c.replace(extras={**c.extras, "page": key, "label": label}).validate()  # as panel.start
                     for label, c in configs.items()}) for key, configs in recipe_configs(hour)]
    for _, configs in groups:  # the app has rendered the page (and so the glyph task) before the click
        for c in configs.values():
            with contextlib.suppress(Exception):
                load_task(c)
    stored = _stored_configs(store_db, [k for k, _ in groups])
    mismatch = []
    for key, configs in groups:
        for label, c in configs.items():
            app = stored.get((key, label))
            if app is None:
                mismatch.append(f"{key}/{label}: not in the app's store")
                continue
            mine = _plain(c.to_dict())
            tag = (app.get("extras") or {}).get("experiment")  # the app tags the runs started together
            mine["extras"] = {**mine.get("extras", {}), **({"experiment": tag} if tag else {})}
            diff = sorted(k for k in set(mine) | set(app) if mine.get(k) != app.get(k))
            if diff:
                mismatch.append(f"{key}/{label}: " + ", ".join(f"{k} app={app.get(k)!r} recipe={mine.get(k)!r}" for k in diff))
    out: dict = {"page": stem, "experiments": [], "config_mismatch": mismatch}
    for key, configs in groups:
        t0 = time.perf_counter()
        runs = [mgr.submit(c, "bench") for c in configs.values()]
        for run in runs:
            run.wait(max(1.0, timeout - (time.perf_counter() - t0)))
        out["experiments"].append({"key": key, "manager_s": round(time.perf_counter() - t0, 2), "runs": len(runs),
                                   "statuses": [run.status for run in runs],
                                   "messages": [run.message for run in runs if run.message]})
    out["load_avg"] = round(os.getloadavg()[0], 2)  # 1-minute load average at the end: other work on the machine
    out["manager_s"] = round(sum(e["manager_s"] for e in out["experiments"]), 2)
    out["runs"] = sum(e["runs"] for e in out["experiments"])
    return out


def manager_subprocess(stems: list[str], store_db: str, data_dir: str, timeout: float, executor: str) -> dict[str, dict]:
    """`manager_main` in a fresh Python process for `stems`: {stem: its result, or {"problem": why not}}."""
    env = {**os.environ, "CLASSROOM_DATA_DIR": data_dir}
    cmd = [sys.executable, str(Path(__file__).resolve()), "manager", "--pages", ",".join(stems), "--store", store_db,
           "--page-timeout", str(timeout), "--executor", executor]
    limit = timeout * len(stems) + 300
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {stem: {"page": stem, "problem": f"the manager process ran past {limit:.0f} s"} for stem in stems}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("["):
            return {r["page"]: r for r in json.loads(line)}
    why = f"the manager process failed (exit {p.returncode}): {p.stderr.strip()[-800:]}"
    return {stem: {"page": stem, "problem": why} for stem in stems}


async def run_pages(args) -> dict:
    stems = [p.stem for p in lesson_pages(args.pages.split(",") if args.pages else None)]
    passes = []
    for i in range(max(1, args.repeat)):
        if args.repeat > 1:
            print(f"pass {i + 1} of {args.repeat}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-app-") as data_dir:
            passes.append(await _run_pages(args, stems, data_dir))
    result = {**passes[0], "pages": [{**row, "pass": i + 1} for i, p in enumerate(passes) for row in p["pages"]],
              "server_tracebacks": [t for p in passes for t in p.get("server_tracebacks", [])]}
    result["summary"] = summarise(result["pages"], stems)
    return result


def summarise(rows: list[dict], stems: list[str], target: float = 1.3) -> list[dict]:
    """Per page over every pass: its ratios, their median and how many are within `target` (the issue's 1.3x)."""
    out = []
    for stem in stems:
        ratios = [r["ratio"] for r in rows if r["page"] == stem and r["ratio"] is not None]
        out.append({"page": stem, "ratios": ratios, "median": round(statistics.median(ratios), 2) if ratios else None,
                    "within": sum(x <= target for x in ratios), "target": target})
    return out


async def _run_pages(args, stems: list[str], data_dir: str) -> dict:
    from playwright.async_api import async_playwright

    result: dict = {"machine": machine(), "port": args.port, "pages": []}
    app: dict[str, dict] = {}
    with Server(args.port, data_dir) as server:
        async with async_playwright() as pw:
            browser = await launch(pw)
            try:
                settled = result["settled_s"] = await settle(browser, server)
                print(f"app: the server settled {settled} s after its first page", file=sys.stderr, flush=True)
                for stem in stems:
                    print(f"app: {stem} ...", file=sys.stderr, flush=True)
                    app[stem] = await app_page(browser, server.url, stem, args.page_timeout, server.proc.pid)
                    print(f"app: {stem}: {app[stem].get('app_s')} s {app[stem]['problems'] or ''}", file=sys.stderr, flush=True)
                result["server_tracebacks"] = server.tracebacks()
            finally:
                await browser.close()
    store_db = str(Path(data_dir) / "runs.sqlite3")
    managed: dict[str, dict] = {}
    if args.manager_process == "pass":  # one process for the pass: its pool warms up over the pages, as the app's does
        print(f"manager: {', '.join(stems)} in one process ...", file=sys.stderr, flush=True)
        managed = manager_subprocess(stems, store_db, data_dir, args.page_timeout, args.manager_executor)
    for stem in stems:
        if args.manager_process == "page":  # a fresh process (and pool) per page
            print(f"manager: {stem} ...", file=sys.stderr, flush=True)
            managed.update(manager_subprocess([stem], store_db, data_dir, args.page_timeout, args.manager_executor))
        m = managed[stem]
        a = app[stem]
        row = {"page": stem, "runs": a["runs"], "app_s": a["app_s"], "manager_s": m.get("manager_s"),
               "ratio": round(a["app_s"] / m["manager_s"], 2) if a["app_s"] and m.get("manager_s") else None,
               "app_cap": a.get("app_cap"), "manager_cap": m.get("cap"), "manager_executor": m.get("executor"), "manager_torch_threads": m.get("torch_threads"),
               "load_s": a.get("load_s"), "app": a["experiments"], "manager": m.get("experiments"),
               "exceptions": a["exceptions"], "problems": a["problems"] + ([m["problem"]] if m.get("problem") else []),
               "config_mismatch": m.get("config_mismatch", []),
               "load_avg_app": a.get("load_avg"), "load_avg_manager": m.get("load_avg"), "redraw_ms": a.get("redraw_ms")}
        result["pages"].append(row)
    return result


def print_pages(result: dict) -> None:
    print_machine(result["machine"])
    print(f"{'page':32} {'runs':>4} {'app_s':>8} {'manager_s':>10} {'ratio':>6}  ended")
    passes = {r.get("pass", 1) for r in result["pages"]}
    for r in result["pages"]:
        if len(passes) > 1 and r is next(x for x in result["pages"] if x.get("pass") == r.get("pass")):
            print(f"pass {r['pass']}")
        statuses = [s for e in r["app"] for s in e.get("statuses", [])]
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"{r['page']:32} {r['runs']:>4} {fmt(r['app_s']):>8} {fmt(r['manager_s']):>10} {fmt(r['ratio']):>6}  "
              f"{','.join(sorted(set(statuses))) or '-'}")
        for e in r["app"]:
            m = next((x for x in r["manager"] or [] if x["key"] == e["key"]), {})
            print(f"  {e['key']:30} {e.get('runs', 0):>4} {fmt(e.get('app_s')):>8} {fmt(m.get('manager_s')):>10}  "
                  f"(Start back after {fmt(e.get('start_back_s'))} s; runs' own seconds {e.get('run_elapsed_s')}; CPU % of "
                  f"one core: server {e.get('server_cpu_pct')} (streamlit process alone {e.get('streamlit_cpu_pct')}), "
                  f"browser {e.get('browser_cpu_pct')})")
        print(f"  cap: app {r['app_cap']}, manager {r['manager_cap']} ({r['manager_executor']}, "
              f"{r['manager_torch_threads']} torch threads in its main process); "
              f"page load {r['load_s']} s; 1-min load average after app {r['load_avg_app']}, after manager {r['load_avg_manager']}; "
              f"server's median live redraw {r.get('redraw_ms')} ms")
        for what in ("problems", "exceptions", "config_mismatch"):
            for x in r[what]:
                print(f"  {what}: {x}")
    for x in result.get("server_tracebacks") or []:
        print("the server logged:\n    " + x.replace("\n", "\n    "))
    summary = result.get("summary") or []
    if any(len(s["ratios"]) > 1 for s in summary):
        print(f"\n{'page':32} {'median':>6}  ratios, pass by pass (within {summary[0]['target']}x)")
        for s in summary:
            med = "-" if s["median"] is None else f"{s['median']:.2f}"
            print(f"{s['page']:32} {med:>6}  {', '.join(f'{x:.2f}' for x in s['ratios'])} ({s['within']} of {len(s['ratios'])})")


# ---- room: N students on Hour 1 at once -------------------------------------------------------------


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _stats(xs: list[float]) -> dict:
    return {"median": round(statistics.median(xs), 2) if xs else None, "p90": _pct(xs, 0.9) and round(_pct(xs, 0.9), 2),
            "max": round(max(xs), 2) if xs else None, "n": len(xs)}


async def student(browser, url: str, i: int, go: asyncio.Event, n_ready: list, stagger: float, timeout: float) -> dict:
    ctx = await browser.new_context(viewport=VIEWPORT)
    page = await ctx.new_page()
    out: dict = {"student": i, "samples": [], "exceptions": [], "problem": None}
    try:
        await page.goto(f"{url}/hour01_why_transfer", timeout=timeout * 1000)
        await wait_rendered(page)
        out["id"] = (re.search(r"student=([0-9a-f]{32})", page.url) or [None, None])[1]
        keys = await wait_start_keys(page, 1)
        if not keys:
            raise RuntimeError("no Start button on Hour 1")
        button = page.locator(f".{keys[0]} button").first
        n_ready.append(i)
        await go.wait()
        await asyncio.sleep(random.uniform(0, stagger))
        await page.evaluate(RECORDER)
        out["clicked_at"] = time.time()
        await click_recorded(page, button)
        k = 0
        while True:
            now, changed, texts = await recorded(page)
            states = [parse(x) for x in texts]
            if k % 4 == 0:
                for e in await exceptions(page):
                    if e not in out["exceptions"]:
                        out["exceptions"].append(e)
            k += 1
            if states and all(s[0] not in LIVE and s[0] != "unknown" for s in states):
                out["end_s"] = changed
                out["statuses"] = [s[0] for s in states]
                break
            if now > timeout:
                out["problem"] = f"not over after {timeout:.0f} s: {texts}"
                break
            await asyncio.sleep(0.5)
        # every change of the progress texts, timed in the page: the first point and the refresh gaps come from these
        out["samples"] = [(t, [parse(x) for x in texts]) for t, texts in await page.evaluate("window.__bench.log")]
        for e in await exceptions(page):
            if e not in out["exceptions"]:
                out["exceptions"].append(e)
    except Exception as e:
        out["problem"] = f"{type(e).__name__}: {str(e)[:300]}"
    finally:
        await ctx.close()
    return out


def analyse_student(s: dict) -> dict:
    """First point, end, and the gaps between changes of the step counts while a run trains."""
    first = next((t for t, st in s["samples"] if any(x[1] >= 1 for x in st)), None)
    gaps, last_change, prev = [], None, None
    for t, st in s["samples"]:
        steps = tuple(x[1] for x in st)
        running = any(x[0] == "running" for x in st)
        if not running:
            last_change, prev = None, steps
            continue
        if prev is not None and steps != prev:
            if last_change is not None:
                gaps.append(t - last_change)
            last_change = t
        prev = steps
    return {"first_point_s": first, "end_s": s.get("end_s"), "gaps": gaps}


async def run_room(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-room-") as data_dir:
        return await _run_room(args, data_dir)


async def _run_room(args, data_dir: str) -> dict:
    from playwright.async_api import async_playwright

    result: dict = {"machine": machine(), "students": args.students, "port": args.port}
    with Server(args.port, data_dir) as server:
        async with async_playwright() as pw:
            browser = await launch(pw)
            try:
                go, n_ready = asyncio.Event(), []
                t_load = time.perf_counter()
                tasks = [asyncio.create_task(student(browser, server.url, i, go, n_ready, args.stagger, args.run_timeout)) for i in range(args.students)]
                deadline = time.time() + args.load_timeout
                while len(n_ready) < args.students and time.time() < deadline and not all(t.done() for t in tasks):
                    await asyncio.sleep(0.25)
                result["pages_loaded_s"] = round(time.perf_counter() - t_load, 2)
                result["ready"] = len(n_ready)
                cpu0, busy0, t0 = cpu_seconds(server.proc.pid), machine_busy_seconds(), time.perf_counter()
                web0 = cpu_seconds(server.proc.pid, False)
                mine0 = cpu_seconds(os.getpid())  # this script, Playwright's driver, Chromium and the server
                go.set()
                students = await asyncio.gather(*tasks)
                wall = time.perf_counter() - t0
                cpu1, busy1, mine1 = cpu_seconds(server.proc.pid), machine_busy_seconds(), cpu_seconds(os.getpid())
                web1 = cpu_seconds(server.proc.pid, False)
                result["server_processes"] = 1 + len(_descendants(server.proc.pid))  # streamlit + its workers
                result["server_tracebacks"] = server.tracebacks()
            finally:
                await browser.close()
        result["server_alive"] = server.proc.poll() is None
    per = [analyse_student(s) for s in students]
    gaps = [g for p in per for g in p["gaps"]]
    firsts = [p["first_point_s"] for p in per if p["first_point_s"] is not None]
    ends = [p["end_s"] for p in per if p["end_s"] is not None]
    statuses = [x for s in students for x in s.get("statuses", [])]
    result.update({
        "wall_s": round(wall, 2),
        "first_point_s": _stats(firsts),
        "end_s": _stats(ends),
        "refresh_gap_s": {"median": _stats(gaps)["median"], "p90": _stats(gaps)["p90"], "max": _stats(gaps)["max"],
                          "n": len(gaps)},
        "server_cpu_pct_of_one_core": round(100 * (cpu1 - cpu0) / wall, 1),
        "load_avg_end": round(os.getloadavg()[0], 2),
        "streamlit_cpu_pct_of_one_core": round(100 * (web1 - web0) / wall, 1),
        "browser_cpu_pct_of_one_core": round(100 * ((mine1 - mine0) - (cpu1 - cpu0)) / wall, 1),
        "machine_cpu_pct_of_one_core": round(100 * (busy1 - busy0) / wall, 1),
        "runs": len(statuses),
        "all_finished": len(statuses) == 2 * args.students and all(x == "finished" for x in statuses),
        "statuses": {k: statuses.count(k) for k in sorted(set(statuses))},
        "exceptions": sorted({e for s in students for e in s["exceptions"]}),
        "problems": [f"student {s['student']}: {s['problem']}" for s in students if s["problem"]],
        "per_student": [{"student": s["student"], "first_point_s": p["first_point_s"] and round(p["first_point_s"], 2),
                         "end_s": p["end_s"] and round(p["end_s"], 2),
                         "median_gap_s": round(statistics.median(p["gaps"]), 2) if p["gaps"] else None,
                         "statuses": s.get("statuses")} for s, p in zip(students, per)],
    })
    return result


def print_room(r: dict) -> None:
    print_machine(r["machine"])
    f, e, g = r["first_point_s"], r["end_s"], r["refresh_gap_s"]
    print(f"room: {r['students']} students on Hour 1, Start within {3:g} s of each other ({r['ready']} pages ready after "
          f"{r['pages_loaded_s']} s)")
    print(f"  time to first point: median {f['median']} s, max {f['max']} s ({f['n']} students)")
    print(f"  time to the end:     median {e['median']} s, max {e['max']} s ({e['n']} students); wall {r['wall_s']} s")
    print(f"  1 Hz refresh, gap between step changes while training: median {g['median']} s, p90 {g['p90']} s, "
          f"max {g['max']} s ({g['n']} gaps)")
    print(f"  server CPU ({r.get('server_processes')} processes): {r['server_cpu_pct_of_one_core']}% of one core "
          f"(the streamlit process alone {r['streamlit_cpu_pct_of_one_core']}%); the browsers and this script: "
          f"{r['browser_cpu_pct_of_one_core']}%; the whole machine, anything else included: "
          f"{r['machine_cpu_pct_of_one_core']}%)")
    print(f"  1-min load average at the end: {r['load_avg_end']} (on {r['machine']['cpu_count']} CPUs)")
    print(f"  runs: {r['runs']}, every run finished: {r['all_finished']} {r['statuses']}")
    for x in r["exceptions"]:
        print(f"  exception: {x}")
    for x in r["problems"]:
        print(f"  problem: {x}")
    for x in r.get("server_tracebacks") or []:
        print("  the server logged:\n    " + x.replace("\n", "\n    "))


# ---- command line ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pages", help="each lesson page's default Start: in the app vs the run manager alone")
    p.add_argument("--pages", default="", help="comma-separated, e.g. hour01,hour02 (default: every page with a Start)")
    p.add_argument("--repeat", type=int, default=1, help="run the whole comparison this many times, alternating")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--page-timeout", type=float, default=900, help="seconds one Start may take to end")
    p.add_argument("--timeout", type=float, default=3 * 3600, help="seconds for the whole benchmark")
    p.add_argument("--manager-executor", choices=("app", "threads", "processes"), default="app",
                   help="where the manager-alone runs train (default: as the app's settings say)")
    p.add_argument("--manager-process", choices=("pass", "page"), default="pass",
                   help="one manager process for the whole pass, warm over the pages as the app's workers are "
                        "(default), or a fresh one per page")
    r = sub.add_parser("room", help="N students press Start on Hour 1 at once")
    r.add_argument("--students", type=int, default=10)
    r.add_argument("--port", type=int, default=8765)
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--stagger", type=float, default=3.0, help="students press Start within this many seconds")
    r.add_argument("--load-timeout", type=float, default=300, help="seconds for every student's page to open")
    r.add_argument("--run-timeout", type=float, default=900, help="seconds from a click to the end of its runs")
    r.add_argument("--timeout", type=float, default=20 * 60, help="seconds for the whole benchmark")
    m = sub.add_parser("manager", help="(internal) one page's default configs through the run manager, in this process")
    m.add_argument("--pages", required=True)
    m.add_argument("--store", default=None, help="the app's SQLite store, to compare its runs' configs with the recipe's")
    m.add_argument("--page-timeout", type=float, default=900)
    m.add_argument("--executor", choices=("app", "threads", "processes"), default="app")
    args = ap.parse_args(argv)

    if args.cmd == "manager":
        print(json.dumps(manager_main(args.pages.split(","), args.store, args.page_timeout, args.executor)))
        return 0
    _terminate_on_signal()
    run = run_pages if args.cmd == "pages" else run_room
    try:
        result = asyncio.run(asyncio.wait_for(run(args), args.timeout))
    except asyncio.TimeoutError:
        print(f"the benchmark ran past --timeout {args.timeout:.0f} s (the server was stopped)", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        (print_pages if args.cmd == "pages" else print_room)(result)
    bad = result.get("problems") or result.get("server_tracebacks") or any(x["problems"] for x in result.get("pages", []))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
