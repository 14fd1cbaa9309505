"""Engine creation, in one place: make_engine(options) -> an engine-like object.

Engine-like: submit(InfillJob) -> handle (.future, .cancel()), cancel(handle), stats() -> dict,
close(), tokenizer.encode(str). With daemon "auto" the workstation daemon is asked first
(seed_lsp.daemon.client.connect_or_start, which starts it when absent); when it cannot be reached,
its client is not installed, or it serves another model than the one asked for (its hello names
the checkpoint directory), the runtime Engine is loaded in this process.

load_local(model, device) is that in-process load, shared with the daemon: torch's CPU threads
capped for a process that answers keystrokes (latency_threads), then one warm-up job.

EngineSlot loads the engine off the event loop (a model load takes seconds) and lets requests await
it; a failed load leaves the slot empty with its error, and requests answer empty results.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import os
import threading
from pathlib import Path

from seed_lsp.options import Options

log = logging.getLogger("seed_lsp.engine")
THREADS_ENV = "SEED_LSP_THREADS"


def latency_threads(environ=os.environ, cores: int | None = None) -> int | None:
    """Torch intra-op threads for a process that answers keystrokes; None: leave torch's own choice.

    $SEED_LSP_THREADS wins; a set $OMP_NUM_THREADS is the user's choice (torch has read it); else half
    the cores this process may run on, at least one. Why not all of them: every op of a small model is
    a parallel region whose threads must all arrive, and the editor, its extension host and whatever
    else runs share the cores; one preempted thread stalls the op for a whole time slice. Measured on
    2 shared cores beside a training job (embedded model): 192-token forward p50 38 ms with 1 thread,
    43 ms with 2; `seed-lsp bench lsp` p95 67-79 ms over seven runs with 1 thread, 75-130 ms over
    three with 2 (not measured on idle cores, where 2 threads may be faster)."""
    value = environ.get(THREADS_ENV, "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            log.warning("%s=%r is not a number; ignored", THREADS_ENV, value)
    if environ.get("OMP_NUM_THREADS", "").strip():
        return None
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // 2)


def same_model(requested: str | None, served: str | None) -> bool:
    """Whether a daemon serving checkpoint `served` answers for `requested` (None = embedded)."""
    if not served:
        return True  # a daemon that does not say: trust it
    if requested is None:
        try:
            from runtime.embedded import embedded_model_dir

            requested = str(embedded_model_dir())
        except Exception:  # no embedded model here: the daemon's is as good as any
            return True
    return Path(requested).expanduser().resolve() == Path(served).expanduser().resolve()


def make_engine(options: Options, daemon: str = "off", socket_path: str | None = None):
    if daemon != "off":
        try:
            from seed_lsp.daemon.client import connect_or_start
        except ImportError as exc:  # the daemon client is optional
            log.warning("daemon client unavailable (%s); loading the model in-process", exc)
        else:
            engine = connect_or_start(socket_path, options.model, options.device)
            if engine is not None:
                served = engine.hello.get("model")
                if same_model(options.model, served):
                    log.info("using the workstation daemon on %s", engine.socket_path)
                    return engine
                log.warning("the daemon on %s serves %s, not %s; loading the model in-process",
                            engine.socket_path, served, options.model or "the embedded model")
                engine.close()
    return load_local(options.model, options.device)


def load_local(model: str | None, device: str):
    """The runtime Engine in this process, ready for keystrokes: threads capped, warmed up."""
    import torch

    from runtime import Engine

    threads = latency_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    log.info("loading model %s on %s (%d CPU threads)", model or "(embedded)", device, torch.get_num_threads())
    engine = Engine.load(model, device=device)
    try:  # the first completion should not pay for first-call costs (seconds of kernel compiling on a GPU)
        log.info("warm-up %.0f ms", engine.warm_up())
    except Exception as exc:  # a warm-up failure is not a load failure: requests will say what is wrong
        log.warning("warm-up failed: %s", exc)
    return engine


class EngineSlot:
    """Holds the current engine; (re)loads it on a background thread."""

    def __init__(self, daemon: str = "off", socket_path: str | None = None) -> None:
        self.daemon, self.socket_path = daemon, socket_path
        self._future: cf.Future | None = None
        self._key: tuple | None = None
        self.error: str | None = None

    def load(self, options: Options) -> None:
        """Start loading for these options, unless the same model/device is loaded or loading."""
        key = (options.model, options.device)
        if key == self._key:
            return
        old, self._key, self.error = self._future, key, None
        future: cf.Future = cf.Future()
        self._future = future

        def work() -> None:
            try:
                future.set_result(make_engine(options, self.daemon, self.socket_path))
            except Exception as exc:  # a bad model path must not kill the server
                self.error = f"{type(exc).__name__}: {exc}"
                log.error("model load failed: %s", self.error)
                future.set_result(None)

        threading.Thread(target=work, name="seed-lsp-load", daemon=True).start()
        if old is not None:
            old.add_done_callback(lambda f: f.result() and f.result().close())

    async def get(self):
        """The engine, awaiting a load in progress; None when there is none or it failed."""
        if self._future is None:
            return None
        # shield: a cancelled request must not cancel the shared load future
        return await asyncio.shield(asyncio.wrap_future(self._future))

    def current(self):
        """The engine if loaded, without waiting."""
        if self._future is not None and self._future.done():
            return self._future.result()
        return None

    def close(self, wait: float = 0.0) -> None:
        """Close the engine; one still loading is closed as soon as its load ends. wait: seconds to
        wait for such a load (a process about to exit must not leave the load thread inside torch)."""
        future, self._key = self._future, None
        if future is None:
            return
        future.add_done_callback(lambda f: f.result() and f.result().close())
        if wait > 0:
            cf.wait([future], timeout=wait)
