"""RayExecutor: the run manager's executor for a Ray cluster (`executor = "ray"`, `ray_address` in the settings).

Each run trains in a Ray actor (actors are reused from run to run, as local workers are) with the same code as a local worker process (engine.serve.worker) and
keeps the records it would have streamed; a driver thread on the server drains them four times a second into the
server's Run, passes pause, resume and stop on, and at the end collects the results and the final state dict.
The run manager's cap becomes the cluster's CPUs (a run asks for one CPU, and for one GPU where the cluster has
them), so students still see a place in the queue. Ray is an optional extra: `pip install -e ".[cluster]"`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlparse

from engine.core.config import ConfigError
from engine.serve.pool import DIED, apply_message
from engine.serve.run import Run
from engine.serve.worker import GO, PAUSE, STOP

POLL_S = 0.25  # how often the driver drains an actor's records
CONNECT_TIMEOUT_S = 3.0


def unreachable(address: str) -> str:
    return (f"the training cluster at {address} does not answer: the teacher can check it with `ray status` on the "
            "head node (and that its client port is open), or set executor = \"processes\" to train on this server.")


class _Flag:
    """The worker's shared control byte, inside an actor."""

    value = GO


class _Queue:
    """The worker's pipe end, inside an actor: messages wait here until the driver drains them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items: list = []

    def send(self, msg) -> None:
        with self.lock:
            self.items.append(msg)

    def drain(self) -> list:
        with self.lock:
            out, self.items = self.items, []
        return out


class RunActor:
    """One run on a cluster node (wrapped by ray.remote with max_concurrency, so drain and control answer while
    train runs)."""

    def __init__(self, threads: int = 1):
        import torch

        torch.set_num_threads(max(1, threads))
        self.flag, self.queue = _Flag(), _Queue()

    def control(self, value: int) -> None:
        self.flag.value = value

    def drain(self) -> list:
        return self.queue.drain()

    def train(self, run_id: str, config: dict, extra_callbacks: list, control: int = GO) -> None:
        """(A threaded actor runs calls in any order: the run's first control value comes with it.)"""
        from engine.serve.worker import _train_one

        self.flag.value = control
        _train_one(self.queue, self.flag, run_id, config, extra_callbacks)


class RayExecutor:
    name = "a Ray cluster"

    def __init__(self, address: str = "auto", num_cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise ConfigError('executor = "ray" needs Ray: pip install -e ".[cluster]" (or use executor = "processes").') from None
        self.ray = ray
        self.address = address or "auto"
        if self.address.startswith("ray://"):
            _check_reachable(self.address)
        try:
            if self.address == "local":  # a new cluster of this machine alone (tests, a single server)
                # address="local" always starts one: without it Ray joins whatever /tmp/ray/ray_current_cluster names,
                # and waits minutes for it when that cluster has gone
                ray.init(address="local", num_cpus=num_cpus, ignore_reinit_error=True, log_to_driver=False,
                         include_dashboard=False, namespace="classroom")
            else:
                ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False, namespace="classroom")
        except Exception:
            raise ConfigError(unreachable(self.address)) from None
        resources = ray.cluster_resources()
        self.capacity = max(1, int(resources.get("CPU", 1)))
        self.gpus = int(resources.get("GPU", 0))
        self._actor_class = ray.remote(max_concurrency=4)(RunActor)
        self._threads: dict[str, threading.Thread] = {}
        self._idle: list = []  # actors whose run ended cleanly: the next run reuses one (starting one takes seconds)
        self._idle_lock = threading.Lock()

    def start(self, run: Run) -> None:
        th = threading.Thread(target=self._drive, args=(run,), name=f"ray-run-{run.id}", daemon=True)
        self._threads[run.id] = th
        th.start()

    def alive(self, run: Run) -> bool:
        th = self._threads.get(run.id)
        return th is None or th.is_alive()

    def shutdown(self) -> None:
        for th in list(self._threads.values()):
            th.join(5.0)

    def _drive(self, run: Run) -> None:
        ray = self.ray
        import time

        run.started_at = time.time()
        run._set_status("running")
        actor, reusable, outcome = None, False, ("failed", DIED)
        try:
            with self._idle_lock:
                actor = self._idle.pop() if self._idle else None
            if actor is None:
                opts = {"num_cpus": 1}
                if self.gpus:
                    opts["num_gpus"] = 1
                actor = self._actor_class.options(**opts).remote()
            ray.get(actor.drain.remote())  # nothing left over from an earlier run

            def code(r=run) -> int:
                return STOP if r.stopping else (PAUSE if r.paused_wanted else GO)

            run.control_hook = lambda a=actor: a.control.remote(code())
            done = actor.train.remote(run.id, run.config.to_dict(), list(run.extra_callbacks), code())
            status = message = None
            while status is None:
                ready, _ = ray.wait([done], timeout=POLL_S)
                if ready:
                    ray.get(done)  # raises if the actor died; after it, the drain below holds every record
                for msg in ray.get(actor.drain.remote()):
                    ended = apply_message(run, msg)
                    if ended is not None:
                        status, message = ended, msg[3]
                if ready and status is None:
                    status, message = "failed", DIED
            reusable, outcome = message != DIED, (status, message)
        except ConfigError as e:
            outcome = ("failed", str(e))
        except Exception:  # the actor or its node died, or the cluster went away
            pass
        finally:
            run.control_hook = None
            # The actor goes back (or away) before the run ends: ending it lets the manager start the next queued
            # run at once, which must find this actor idle. Otherwise it asks for a new actor while this one still
            # holds its CPU, and with every CPU held by an idle actor the new one never starts (the queue hangs).
            if actor is not None and reusable:
                with self._idle_lock:
                    self._idle.append(actor)
            elif actor is not None:
                with contextlib.suppress(Exception):
                    ray.kill(actor)
            self._threads.pop(run.id, None)
            run._finish(*outcome)


class Unreachable:
    """The executor when the cluster does not answer: pages and stored runs still work; every Start fails in the
    one sentence `problem`, which the sidebar shows too."""

    name = "a Ray cluster that does not answer"

    def __init__(self, problem: str):
        self.problem = problem

    def start(self, run: Run) -> None:
        threading.Thread(target=run._finish, args=("failed", self.problem), daemon=True).start()

    def alive(self, run: Run) -> bool:
        return False

    def shutdown(self) -> None:
        pass


def _check_reachable(address: str) -> None:
    """A Ray Client address that does not answer in CONNECT_TIMEOUT_S is one sentence, not a long hang."""
    u = urlparse(address)
    try:
        with socket.create_connection((u.hostname or "localhost", u.port or 10001), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError:
        raise ConfigError(unreachable(address)) from None
