"""Run-time helpers of the node, free of ROS: newest-frame slot, counters, per-problem log throttling.

* :class:`PendingFrames` holds the frames waiting for the worker: the worker always takes the newest frame that
  is ready (its camera_info has arrived), every older one is dropped, so a camera faster than the network never
  builds a backlog, while a camera_info arriving after its image still pairs with it.
* :class:`FrameStats` counts frames (received, processed, dropped, refused ...) and latencies, and formats the
  periodic statistics line.
* :class:`KeyedThrottle` throttles warnings per kind of problem. rclpy's ``throttle_duration_sec`` throttles per
  call site, so one helper logging every kind of bad input would let one problem hide another; here each
  kind (``encoding``, ``camera_info`` ...) has its own period, and the next message says how many were held back.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Deque, Dict, Generic, List, Optional, Tuple, TypeVar

T = TypeVar("T")

__all__ = ["PendingFrames", "FrameStats", "KeyedThrottle"]


class PendingFrames(Generic[T]):
    """Frames waiting for the worker, oldest first; the worker takes the newest *ready* one.

    A frame is ready when it can be processed now (e.g. its camera_info has arrived, or it is malformed and
    can be refused at once). :meth:`select` returns the newest ready frame and removes every older frame
    (superseded: dropped without being processed) and every newer frame that waited too long (expired). So a
    camera faster than the network never builds a backlog, and a camera_info that arrives after its image
    still pairs with it. Thread-safe; :meth:`put`, :meth:`notify` and :meth:`close` wake :meth:`wait`.

    Args:
        capacity: most frames kept; putting one more evicts the oldest (counted as dropped).
    """

    def __init__(self, capacity: int = 8) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._cond = threading.Condition()
        self._items: List[T] = []
        self._capacity = int(capacity)
        self._closed = False
        self._version = 0

    def put(self, item: T) -> List[T]:
        """Append ``item``; returns the frames evicted to stay within capacity."""
        with self._cond:
            self._items.append(item)
            evicted = self._items[: max(0, len(self._items) - self._capacity)]
            del self._items[: len(evicted)]
            self._version += 1
            self._cond.notify_all()
            return evicted

    def select(
        self, ready: Callable[[T], bool], expired: Callable[[T], bool]
    ) -> Tuple[Optional[T], List[T], List[T], int]:
        """Take the newest ready frame.

        Returns:
            (chosen or None, superseded frames older than it, expired frames, version). Pass ``version`` to
            :meth:`wait` to sleep until something changes.
        """
        with self._cond:
            version = self._version
            chosen_i = next((i for i in range(len(self._items) - 1, -1, -1) if ready(self._items[i])), None)
            chosen = self._items[chosen_i] if chosen_i is not None else None
            superseded = self._items[:chosen_i] if chosen_i is not None else []
            rest = self._items[chosen_i + 1 :] if chosen_i is not None else self._items
            gone = [f for f in rest if expired(f)]
            self._items = [f for f in rest if not any(f is g for g in gone)]
            return chosen, superseded, gone, version

    def wait(self, version: int, timeout: float) -> None:
        """Sleep up to ``timeout`` s until a put/notify/close after :meth:`select` returned ``version``."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != version or self._closed, timeout)

    def notify(self) -> None:
        """Something a frame may wait for arrived (e.g. a camera_info)."""
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter for good (shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class FrameStats:
    """Thread-safe frame counters and latencies for the periodic statistics line.

    Counters: ``received`` images, ``processed`` (the network ran and an array was published), ``dropped``
    (superseded by a newer image before processing), ``refused`` (bad input, see the warnings), ``skipped``
    (nothing to look at, e.g. 'roi' mode without an ROI), ``with_hands`` (published arrays that hold hands),
    ``debug_images``, ``detector_runs`` (frames the palm detector ran on).
    """

    NAMES: Tuple[str, ...] = (
        "received",
        "processed",
        "dropped",
        "refused",
        "skipped",
        "with_hands",
        "debug_images",
        "detector_runs",
    )

    def __init__(self, window: int = 200) -> None:
        self._lock = threading.Lock()
        self.totals: Dict[str, int] = {n: 0 for n in self.NAMES}
        self._period: Dict[str, int] = {n: 0 for n in self.NAMES}
        self._latency_ms: Deque[float] = deque(maxlen=window)
        self._infer_ms: Deque[float] = deque(maxlen=window)
        self._since = time.monotonic()

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name`` (one of :attr:`NAMES`)."""
        if name not in self.totals:
            raise ValueError(f"unknown counter {name!r}; known: {', '.join(self.NAMES)}")
        with self._lock:
            self.totals[name] += n
            self._period[name] += n

    def latency(self, total_ms: float, inference_ms: float) -> None:
        """Record one processed frame: receipt-to-publish and pipeline milliseconds."""
        with self._lock:
            self._latency_ms.append(float(total_ms))
            self._infer_ms.append(float(inference_ms))

    def snapshot(self) -> Dict[str, int]:
        """Copy of the totals."""
        with self._lock:
            return dict(self.totals)

    def report(self, now: Optional[float] = None) -> str:
        """One line with the totals, the rates over the period since the last report, and mean latencies;
        starts a new period."""
        now = time.monotonic() if now is None else now
        with self._lock:
            dt = max(now - self._since, 1e-9)
            period = dict(self._period)
            lat = list(self._latency_ms)
            inf = list(self._infer_ms)
            self._period = {n: 0 for n in self.NAMES}
            self._latency_ms.clear()
            self._infer_ms.clear()
            self._since = now
            totals = dict(self.totals)
        mean = (lambda xs: sum(xs) / len(xs)) if lat else (lambda xs: float("nan"))
        return (
            "frames: "
            + ", ".join(f"{n} {totals[n]}" for n in self.NAMES)
            + f" | last {dt:.1f} s: received {period['received'] / dt:.1f}/s,"
            + f" processed {period['processed'] / dt:.1f}/s,"
            + f" dropped {period['dropped']}, refused {period['refused']}"
            + f" | latency {mean(lat):.1f} ms (pipeline {mean(inf):.1f} ms)"
        )


class KeyedThrottle:
    """Allows one message per key per ``period`` seconds and counts the ones held back.

    Args:
        clock: monotonic time source in seconds (injectable for tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: Dict[str, float] = {}
        self._held: Dict[str, int] = {}
        self._lock = threading.Lock()

    def check(self, key: str, period: float) -> Optional[int]:
        """None if a message of kind ``key`` must be held back now; else the number held back since the last one."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < period:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._held.pop(key, 0)
