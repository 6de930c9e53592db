"""Server settings for a classroom: where runs are kept, how many train at once, the teacher's token.

Read, in this order (later wins): the defaults below, a TOML file, then environment variables.

    classroom.toml (next to app.py, or the path in CLASSROOM_SETTINGS):

        data_dir = "data"                 # the run store lives here (runs.sqlite3)
        database_url = ""                 # empty = SQLite under data_dir; or postgresql://user:pw@host/db
        max_running = 0                   # runs training at once; 0 = from the machine (see default_max_running)
        per_session = 4                   # live (waiting or training) runs one browser tab may have
        teacher_token = ""                # needed to clear the class board; empty = nobody can clear it
        reap_seconds = 10                 # how often finished browser sessions are looked for
        keep_ended = 20                   # ended runs per session kept in memory (all are in the store)
        paused_minutes = 10               # a run paused this long while others wait is stopped
        executor = "processes"            # where runs train: "processes" (worker processes, off the web
                                          # server's GIL), "threads" (threads of the server process) or "ray"
        ray_address = "auto"              # executor = "ray": "ray://head:10001", "auto" (this node's cluster)
                                          # or "local" (start a one-machine cluster with the server)

    Environment: CLASSROOM_DATA_DIR, CLASSROOM_DATABASE_URL, CLASSROOM_MAX_RUNS, CLASSROOM_PER_SESSION,
    CLASSROOM_TEACHER_TOKEN, CLASSROOM_REAP_SECONDS, CLASSROOM_KEEP_ENDED, CLASSROOM_PAUSED_MINUTES,
    CLASSROOM_EXECUTOR, CLASSROOM_RAY_ADDRESS.

Several app replicas behind a load balancer share one PostgreSQL database_url, and the balancer should
keep each browser on the replica it first reached (sticky sessions): a Streamlit session and its charts
live in one server process. A student who reaches another replica still sees their live runs there
(engine/serve/replicas.py: replicas publish live runs to the shared store).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from engine.core.config import ConfigError

try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:  # Python 3.10
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

ROOT = Path(__file__).resolve().parents[2]  # the project folder (app.py, classroom.toml)
DEFAULT_FILE = ROOT / "classroom.toml"

ENV = {
    "data_dir": "CLASSROOM_DATA_DIR",
    "database_url": "CLASSROOM_DATABASE_URL",
    "max_running": "CLASSROOM_MAX_RUNS",
    "per_session": "CLASSROOM_PER_SESSION",
    "teacher_token": "CLASSROOM_TEACHER_TOKEN",
    "reap_seconds": "CLASSROOM_REAP_SECONDS",
    "keep_ended": "CLASSROOM_KEEP_ENDED",
    "paused_minutes": "CLASSROOM_PAUSED_MINUTES",
    "executor": "CLASSROOM_EXECUTOR",
    "ray_address": "CLASSROOM_RAY_ADDRESS",
}
EXECUTORS = ("processes", "threads", "ray")


def default_max_running() -> int:
    """Two runs per GPU; on a CPU one run per two cores, and at least two, so a lesson's pair of runs trains
    side by side (on a 2-core machine two one-thread runs of 200 steps finished in 10.4 s, the same two one
    after the other on two threads in 11.9 s; a room of 30 in 19 s instead of 30 s)."""
    try:
        import torch

        if torch.cuda.is_available():
            return 2 * torch.cuda.device_count()
    except Exception:
        pass
    return max(2, (os.cpu_count() or 1) // 2)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = ROOT / "data"
    database_url: str = ""  # empty: sqlite file under data_dir
    max_running: int = 0  # 0: default_max_running()
    per_session: int = 4
    teacher_token: str = ""
    reap_seconds: float = 10.0
    keep_ended: int = 20
    paused_minutes: float = 10.0
    executor: str = "processes"
    ray_address: str = "auto"

    @property
    def runs_max(self) -> int:
        """The concurrency cap actually used."""
        return self.max_running if self.max_running > 0 else default_max_running()

    @property
    def store_url(self) -> str:
        """The run store's URL: the database_url, or sqlite:///<data_dir>/runs.sqlite3."""
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'runs.sqlite3'}"


def _coerce(name: str, value, source: str):
    kind = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    try:
        if kind == "Path":
            return Path(str(value)).expanduser()
        if kind == "int":
            out = int(value)
        elif kind == "float":
            out = float(value)
        else:
            out = str(value)
            if name == "executor" and out not in EXECUTORS:
                raise ConfigError(f"setting executor from {source} must be one of {', '.join(EXECUTORS)} (got {value!r}).")
            return out
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name} from {source} must be a number (got {value!r}).") from None
    if out < 0:
        raise ConfigError(f"setting {name} from {source} must be 0 or more (got {value!r}).")
    return out


def load_settings(path: str | Path | None = None, env: dict | None = None) -> Settings:
    """Defaults, then the TOML file (if it exists), then environment variables. Bad values: ConfigError."""
    env = os.environ if env is None else env
    path = Path(path or env.get("CLASSROOM_SETTINGS") or DEFAULT_FILE)
    values: dict = {}
    if path.exists():
        if tomllib is None:
            raise ConfigError(
                f"reading {path.name} needs Python 3.11 or the tomli package: pip install tomli, or use environment variables."
            )
        try:
            raw = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"the settings file {path.name} cannot be read ({e}): fix or remove it.") from None
        known = {f.name for f in dataclasses.fields(Settings)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r} in {path.name}; known: {', '.join(sorted(known))}.")
        values.update({k: _coerce(k, v, path.name) for k, v in raw.items()})
        if "data_dir" in values and not values["data_dir"].is_absolute():
            values["data_dir"] = path.parent / values["data_dir"]  # relative to the settings file
    for name, var in ENV.items():
        if env.get(var, "") != "":
            values[name] = _coerce(name, env[var], var)
    return Settings(**values)


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read once."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings
