"""Fair admission of many clients' jobs into one shared engine (runs on the daemon's event loop).

The engine batches whatever jobs it holds at each denoising step and serves them roughly in
arrival order, so a client that floods it with jobs would starve everyone else. The scheduler keeps
at most `max_inflight` jobs inside the engine and admits queued jobs round-robin across clients:
when a slot frees, the next client in rotation gets it, so a single job from a quiet client waits
for at most one job of each other client.

Latest wins per (client, key): a new job with the same key as a queued or running job of the same
client cancels that job (a queued one resolves at once with stop_reason "cancelled"). The engine key
is prefixed with the client id so two clients editing files with equal keys never cancel each other.

A slot is held from engine.submit until the engine answers that job, whatever the answer (a result,
"cancelled", an error), and freed in a `finally`; a client that goes away has its running jobs
cancelled, which the engine answers within one step, so their slots free then. The engine answers
every job it accepts (runtime/engine.py), so no path leaves a slot taken.

Not thread-safe: call everything on the event loop; engine completions hop back via
call_soon_threadsafe.
"""
from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from typing import Any

from runtime.jobs import InfillJob, InfillResult


@dataclasses.dataclass(eq=False)
class Ticket:
    """One client job: queued, then running in the engine, then done (`done` resolved)."""

    client: str
    job: InfillJob
    done: asyncio.Future  # -> InfillResult; an exception if the engine refused the job
    handle: Any = None  # the engine's handle once admitted

    @property
    def n_gaps(self) -> int:
        return len(self.job.texts) - 1


class FairScheduler:
    def __init__(self, engine: Any, loop: asyncio.AbstractEventLoop, max_inflight: int = 8) -> None:
        self.engine = engine
        self.loop = loop
        self.max_inflight = max_inflight
        self.jobs_done = 0
        self._running: set[Ticket] = set()  # admitted into the engine, not yet answered by it
        self._queues: dict[str, deque[Ticket]] = {}
        self._rotation: deque[str] = deque()  # clients with a non-empty queue, next first
        self._latest: dict[tuple[str, str], Ticket] = {}

    @property
    def inflight(self) -> int:
        return len(self._running)

    def submit(self, client: str, job: InfillJob) -> Ticket:
        ticket = Ticket(client, job, self.loop.create_future())
        if job.key is not None:
            older = self._latest.get((client, job.key))
            if older is not None:
                self.cancel(older)
            self._latest[(client, job.key)] = ticket
        queue = self._queues.setdefault(client, deque())
        if not queue:
            self._rotation.append(client)
        queue.append(ticket)
        self._pump()
        return ticket

    def cancel(self, ticket: Ticket) -> None:
        if ticket.done.done():
            return
        if ticket.handle is not None:
            ticket.handle.cancel()  # the engine stops it between two steps -> "cancelled"
            return
        queue = self._queues.get(ticket.client)
        if queue is not None and ticket in queue:
            queue.remove(ticket)
            if not queue:
                self._rotation.remove(ticket.client)
        self._resolve(ticket, InfillResult.empty(ticket.n_gaps, "cancelled"))

    def drop_client(self, client: str) -> None:
        """The client went away: cancel everything it has queued or running."""
        for ticket in list(self._queues.get(client, ())):
            self.cancel(ticket)
        for ticket in [t for t in self._running if t.client == client]:
            self.cancel(ticket)  # unkeyed jobs too: nobody is left to read their answers
        for (owner, _), ticket in list(self._latest.items()):
            if owner == client:
                self.cancel(ticket)
        self._queues.pop(client, None)

    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def _pump(self) -> None:
        while self.inflight < self.max_inflight and self._rotation:
            client = self._rotation.popleft()
            queue = self._queues[client]
            ticket = queue.popleft()
            if queue:
                self._rotation.append(client)
            self._start(ticket)

    def _start(self, ticket: Ticket) -> None:
        try:
            job = ticket.job
            if job.key is not None:
                job = dataclasses.replace(job, key=f"{ticket.client}\x1f{job.key}")
            ticket.handle = self.engine.submit(job)
        except Exception as exc:  # a job the engine refuses fails alone, and takes no slot
            self._resolve(ticket, exc)
            return
        self._running.add(ticket)
        ticket.handle.future.add_done_callback(lambda fut: self._hop(ticket, fut))

    def _hop(self, ticket: Ticket, fut: Any) -> None:
        """Engine thread -> event loop."""
        try:
            self.loop.call_soon_threadsafe(self._finished, ticket, fut)
        except RuntimeError:
            pass  # the loop is closed: the daemon stopped, no slot left to free

    def _finished(self, ticket: Ticket, fut: Any) -> None:
        try:
            self.jobs_done += 1
            if fut.cancelled():
                self._resolve(ticket, InfillResult.empty(ticket.n_gaps, "cancelled"))
            elif fut.exception() is not None:
                self._resolve(ticket, fut.exception())
            else:
                self._resolve(ticket, fut.result())
        finally:
            self._running.discard(ticket)
            self._pump()

    def _resolve(self, ticket: Ticket, outcome: InfillResult | BaseException) -> None:
        key = (ticket.client, ticket.job.key)
        if self._latest.get(key) is ticket:  # type: ignore[arg-type]
            del self._latest[key]  # type: ignore[arg-type]
        if ticket.done.done():
            return
        if isinstance(outcome, BaseException):
            ticket.done.set_exception(outcome)
        else:
            ticket.done.set_result(outcome)
