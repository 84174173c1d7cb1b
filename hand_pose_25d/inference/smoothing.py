"""Temporal smoothing of tracked 3D keypoints: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012), numpy.

A low-pass filter per coordinate whose cutoff frequency rises with the speed of the signal: a hand at rest is
smoothed hard (jitter, worst in depth, goes), a moving hand lags little. For a coordinate ``x`` sampled at times
``t`` (seconds)::

    dx      = low-pass((x - x_prev) / dt, d_cutoff)          # speed, smoothed
    cutoff  = min_cutoff + beta * |dx|                        # Hz
    x_hat   = low-pass(x, cutoff)                             # alpha = 1 / (1 + 1 / (2 pi cutoff dt))

:class:`TrackSmoother` keeps one filter per track id and forgets a track when it is lost, so that a new hand
never inherits the last one's state. Units: metres and seconds, so ``beta`` is in 1/m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Iterable, Optional

import numpy as np

from ..settings import setting

__all__ = ["SmoothingConfig", "OneEuroFilter", "TrackSmoother"]


@dataclass
class SmoothingConfig:
    """One Euro filter of the published 3D keypoints, per track."""

    enabled: bool = setting(
        True, description="Smooth the published 3D keypoints over time (One Euro filter).", dynamic=True
    )
    min_cutoff: float = setting(
        1.0,
        description="Cutoff frequency in Hz of a hand at rest: lower removes more jitter, and lags more.",
        min=0.01,
        max=100.0,
        dynamic=True,
    )
    beta: float = setting(
        10.0,
        description="Speed coefficient in 1/m: how much the cutoff rises with the keypoint speed (m/s); higher "
        "lags less on fast motion.",
        min=0.0,
        max=10000.0,
        dynamic=True,
    )
    d_cutoff: float = setting(
        1.0, description="Cutoff frequency in Hz of the speed estimate.", min=0.01, max=100.0, dynamic=True
    )


def _alpha(cutoff: np.ndarray, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One Euro filter of an array signal (any shape, every element filtered on its own)."""

    def __init__(self, cfg: Optional[SmoothingConfig] = None) -> None:
        self.cfg = cfg or SmoothingConfig()
        self.reset()

    def reset(self) -> None:
        """Forget the state: the next sample passes unchanged."""
        self._x: Optional[np.ndarray] = None
        self._dx: Optional[np.ndarray] = None
        self._t: Optional[float] = None

    def __call__(self, x: np.ndarray, t_s: float) -> np.ndarray:
        """Filter sample ``x`` taken at ``t_s`` seconds; returns the smoothed sample (float64, same shape).

        A shape change or a time that does not move forward restarts the filter at ``x``; a non-finite sample is
        returned as it is and clears the state.
        """
        x = np.asarray(x, dtype=np.float64)
        cfg = self.cfg
        if not np.isfinite(x).all():
            self.reset()  # never averaged into the state
            return x.copy()
        if self._x is None or self._x.shape != x.shape or self._t is None or not t_s > self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t_s)
            return x.copy()
        dt = float(t_s) - self._t
        dx = (x - self._x) / dt
        a_d = _alpha(np.asarray(cfg.d_cutoff), dt)
        self._dx = a_d * dx + (1.0 - a_d) * self._dx
        cutoff = cfg.min_cutoff + cfg.beta * np.abs(self._dx)
        a = _alpha(cutoff, dt)
        self._x = a * x + (1.0 - a) * self._x
        self._t = float(t_s)
        return self._x.copy()


class TrackSmoother:
    """One :class:`OneEuroFilter` per track id (see the module docstring)."""

    def __init__(self) -> None:
        self._filters: Dict[int, OneEuroFilter] = {}

    def smooth(self, track_id: int, xyz: np.ndarray, t_s: float, cfg: SmoothingConfig) -> np.ndarray:
        """The smoothed ``xyz`` of track ``track_id`` at time ``t_s`` (seconds) with the settings ``cfg``."""
        f = self._filters.get(track_id)
        if f is None:
            f = self._filters[track_id] = OneEuroFilter(cfg)
        f.cfg = cfg
        return f(xyz, t_s)

    def retain(self, track_ids: Iterable[int]) -> None:
        """Forget the filters of every track not in ``track_ids`` (lost hands start afresh)."""
        keep = set(track_ids)
        for tid in [t for t in self._filters if t not in keep]:
            del self._filters[tid]

    def reset(self) -> None:
        """Forget every track."""
        self._filters.clear()

    def __len__(self) -> int:
        return len(self._filters)
