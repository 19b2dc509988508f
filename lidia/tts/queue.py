"""Fair sharing of one engine between many utterances (issue 14).

One model serves one call at a time (parallel XTTS calls garble audio or crash CUDA), so
every engine gets an `EngineQueue`: a single worker thread of its own and a rotation of the
utterances that want it. A streamed utterance is granted the engine one *piece* at a time
(one `next()` of the engine's stream iterator); a whole-chunk `call` is one grant:

- round-robin: an utterance has at most one piece waiting, so first come first served
  per piece is a rotation; a caller's next piece queues behind the other callers'
  current ones, never behind another caller's whole sentence or reply;
- an utterance's first piece may jump the rotation (`first_chunk_priority`), so a new
  turn starts speaking after at most the piece now in the engine; when other utterances
  share the engine, that first piece is asked to be small (`start_small`, see
  `ShortFirstPiece`), so several turns starting at once all speak early;
- cancellation (client gone, barge-in) stops the engine's work within its current piece
  (an `Abortable` stream, XTTS, stops at its next GPT token; others after the piece); a
  running worker thread cannot be killed, so the engine stays taken (and the utterance
  counted in `depth`) until that call returns and the engine's iterator is closed: the
  next caller never runs the model beside an orphaned call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

log = logging.getLogger(__name__)
T = TypeVar("T")

_END = object()  # `next()` default: a worker thread must never raise StopIteration


class EndOfChunk:
    """Marks, in `EngineQueue.iterate_chunks`, that chunk `index` has no more pieces."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


@runtime_checkable
class ShortFirstPiece(Protocol):
    """An engine stream iterator that can make its first piece smaller than usual (XTTS).

    Optional: the queue calls `start_small()` in the worker thread, before the first
    `next()`, when a turn's first piece is due while other utterances share the engine.
    Smaller pieces cost more per second of audio, so it is used only then.
    """

    def start_small(self) -> None: ...


@runtime_checkable
class Abortable(Protocol):
    """An engine stream iterator whose piece in synthesis can stop early (XTTS).

    Optional: when its utterance is cancelled mid-piece, the queue calls `abort()` from the
    event loop (thread-safe), so the engine is free in less than a piece."""

    def abort(self) -> None: ...


@dataclass(frozen=True)
class _Failure:
    """An engine error travelling from the producer task to the consumer."""

    error: Exception


class Ticket:
    """One utterance's place in an engine's rotation, and what keeps it counted in `depth`:
    its consumer, its producer task and any worker call still running for it."""

    def __init__(self, generation: int, first_chunk_priority: bool, done: Callable[[], None]):
        self.generation = generation
        self.granted = 0  # grants (pieces or whole chunks) the engine has started for it
        self._first_chunk_priority = first_chunk_priority
        self._holds = 1
        self._done = done

    @property
    def first_chunk_priority(self) -> bool:
        return self._first_chunk_priority

    @property
    def urgent(self) -> bool:
        return self._first_chunk_priority and self.granted == 0

    def hold(self) -> None:
        self._holds += 1

    def release(self) -> None:
        self._holds -= 1
        if self._holds == 0:
            self._done()


class _Rotation:
    """Who gets the engine next: urgent first chunks, then everyone in arrival order."""

    def __init__(self) -> None:
        self.busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, urgent: bool) -> None:
        if not self.busy:
            self.busy = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (0 if urgent else 1, next(self._order), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # granted as we were cancelled: hand it on
            raise

    def release(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():  # skips waiters that were cancelled
                turn.set_result(None)  # stays busy: handed straight over
                return
        self.busy = False


class _BlockingIteration:
    """A blocking iterator driven one `next()` per worker-thread call. It is created by its
    first `step()`, in the worker thread, so no engine code ever runs on the event loop."""

    def __init__(self, make_iterator: Callable[[], Iterable[Any]]) -> None:
        self._make_iterator = make_iterator
        self._iterator: Iterator[Any] | None = None
        self.exhausted = False
        self.closing = False  # its close is scheduled: nothing more to do for it

    @property
    def needs_closing(self) -> bool:
        return self._iterator is not None and not (self.exhausted or self.closing)

    def step(self, start_small: bool = False) -> Any:
        if self._iterator is None:
            self._iterator = iter(self._make_iterator())
            if start_small and isinstance(shortener := self._iterator, ShortFirstPiece):
                shortener.start_small()
        item = next(self._iterator, _END)
        self.exhausted = item is _END
        return item

    def abort(self) -> None:
        """The utterance is gone: its piece in synthesis may stop early."""
        if isinstance(iterator := self._iterator, Abortable):
            iterator.abort()

    def close(self) -> None:
        close = getattr(self._iterator, "close", None)
        if close is None:
            return
        try:
            close()  # a generator's `finally` (RHVoice stops, XTTS drops its lock)
        except Exception:
            log.exception("closing an abandoned TTS stream failed")


class EngineQueue:
    """One engine's worker thread and rotation. Bound to one event loop at a time; it
    rebinds to a new loop when idle (the lifespan, TestClient portals and tests each run
    their own loop in turn)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tts-{name}")
        self._rotation = _Rotation()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0
        self._live = 0  # utterances waiting, speaking, or with engine work still running

    @property
    def depth(self) -> int:
        """Utterances waiting for or holding the engine."""
        return self._live

    def close(self) -> None:
        """Stop the worker thread once its current call returns. Not blocking."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    @contextlib.asynccontextmanager
    async def utterance(self, *, first_chunk_priority: bool = True) -> AsyncIterator[Ticket]:
        """A place in the rotation for all the chunks of one utterance."""
        self._bind_loop()
        ticket = Ticket(self._generation, first_chunk_priority, self._ticket_done(self._generation))
        self._live += 1
        try:
            yield ticket
        finally:
            ticket.release()

    async def call(self, ticket: Ticket, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` (one whole chunk, one grant) in the worker thread, at
        `ticket`'s turn."""
        await self._take_turn(ticket)
        running = self._run(functools.partial(fn, *args, **kwargs))
        try:
            return await asyncio.shield(running)  # cancelling us must not orphan the engine
        finally:
            self._release_when_done(ticket, running, None)

    async def iterate_chunks(
        self,
        ticket: Ticket,
        makers: Sequence[Callable[[], Iterable[T]]],
        *,
        lookahead: int = 1,
    ) -> AsyncIterator[T | EndOfChunk]:
        """The pieces of each chunk's blocking iterator in order, each chunk followed by
        `EndOfChunk`; every `next()` runs in the worker thread, each at its own turn.

        A producer task synthesizes up to `lookahead` chunks ahead of the reader, so the
        utterance rejoins the rotation as soon as its chunk is done (not when the reader
        has played it), while a reader that stops reading holds no engine and little
        memory. Closing this generator early stops the engine after its current piece.
        """
        items: asyncio.Queue[Any] = asyncio.Queue()
        slots = asyncio.Semaphore(lookahead + 1)
        producer = asyncio.create_task(self._produce(ticket, makers, items, slots))
        ticket.hold()
        producer.add_done_callback(lambda _: ticket.release())
        try:
            while (item := await items.get()) is not _END:
                if isinstance(item, _Failure):
                    raise item.error
                if isinstance(item, EndOfChunk):
                    slots.release()
                yield item
        finally:
            producer.cancel()  # waiting: leaves at once; in the engine: after this piece

    async def _produce(
        self,
        ticket: Ticket,
        makers: Sequence[Callable[[], Iterable[Any]]],
        items: asyncio.Queue[Any],
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            for index, make_iterator in enumerate(makers):
                await slots.acquire()
                await self._drain_chunk(ticket, make_iterator, items)
                items.put_nowait(EndOfChunk(index))
        except Exception as exc:  # the engine failed: the consumer re-raises it
            items.put_nowait(_Failure(exc))
        finally:
            items.put_nowait(_END)

    async def _drain_chunk(
        self,
        ticket: Ticket,
        make_iterator: Callable[[], Iterable[Any]],
        items: asyncio.Queue[Any],
    ) -> None:
        iteration = _BlockingIteration(make_iterator)
        try:
            while (item := await self._next_piece(ticket, iteration)) is not _END:
                items.put_nowait(item)
        finally:
            if iteration.needs_closing:  # left while waiting for its next turn
                self._close_between_turns(ticket, iteration)

    async def _next_piece(self, ticket: Ticket, iteration: _BlockingIteration) -> Any:
        """One `next()` of the chunk's iterator at `ticket`'s turn: one grant."""
        await self._take_turn(ticket)
        # A turn's first piece while others share the engine: ask for a small one.
        start_small = ticket.granted == 1 and ticket.first_chunk_priority and self._live > 1
        running = self._run(functools.partial(iteration.step, start_small))
        try:
            item = await asyncio.shield(running)  # cancelling us must not orphan the engine
        except BaseException:  # cancelled or failed: close the iterator, then hand on
            if not running.done():
                iteration.abort()  # nobody waits for this piece: stop it early
            self._release_when_done(ticket, running, iteration)
            raise
        self._rotation.release()
        return item

    def _close_between_turns(self, ticket: Ticket, iteration: _BlockingIteration) -> None:
        """Close an abandoned iterator that holds no turn. The single worker thread runs
        it between other utterances' pieces; the utterance stays counted until then."""
        iteration.closing = True
        ticket.hold()
        try:
            self._run(iteration.close).add_done_callback(lambda _: ticket.release())
        except RuntimeError:  # the service was closed: nothing left to stop
            ticket.release()

    async def _take_turn(self, ticket: Ticket) -> None:
        if ticket.generation != self._generation:
            raise RuntimeError(f"TTS engine {self.name}: utterance from another event loop")
        await self._rotation.acquire(ticket.urgent)
        ticket.granted += 1

    def _run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _release_when_done(
        self,
        ticket: Ticket,
        running: asyncio.Future[Any] | None,
        to_close: _BlockingIteration | None,
    ) -> None:
        """Hand the engine on once the worker call has returned (and the abandoned engine
        iterator is closed); until then the utterance stays counted in `depth`."""
        if (running is None or running.done()) and to_close is None:
            self._rotation.release()
            return
        if to_close is not None:
            to_close.closing = True
        ticket.hold()
        rotation = self._rotation

        def release(_: object = None) -> None:
            rotation.release()
            ticket.release()

        def close_then_release(_: object = None) -> None:
            if running is not None and not running.cancelled():
                running.exception()  # retrieved: nobody is left to re-raise it
            if to_close is None:
                release()
                return
            try:
                self._run(to_close.close).add_done_callback(release)
            except RuntimeError:  # the service was closed: nothing left to stop
                release()

        if running is not None and not running.done():
            running.add_done_callback(close_then_release)
        else:
            close_then_release()

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        old_loop_alive = self._loop is not None and not self._loop.is_closed()
        if old_loop_alive and self._rotation.busy:
            raise RuntimeError(f"TTS engine {self.name} is busy in another event loop")
        # A closed loop will never run the callbacks that release its turns: start over.
        self._loop, self._rotation, self._live = loop, _Rotation(), 0
        self._generation += 1

    def _ticket_done(self, generation: int) -> Callable[[], None]:
        def done() -> None:
            if generation == self._generation:
                self._live -= 1

        return done
