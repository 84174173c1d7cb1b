"""One Euro filter of tracked 3D keypoints (hand_pose_25d.inference.smoothing)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hand_pose_25d.inference.smoothing import OneEuroFilter, SmoothingConfig, TrackSmoother


def test_a_static_noisy_signal_is_smoothed_and_a_moving_one_follows():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(SmoothingConfig())  # defaults: min_cutoff 1 Hz, beta 10 / m
    truth = np.array([0.1, -0.05, 0.6])
    raw = truth + rng.normal(0, 0.01, (300, 3))  # 1 cm jitter at 30 Hz
    out = np.array([f(x, i / 30.0) for i, x in enumerate(raw)])
    assert np.std(out[30:] - truth) < 0.5 * np.std(raw[30:] - truth)  # measured: x0.43
    # the first sample passes unchanged; a reset starts again from the next one
    f.reset()
    np.testing.assert_array_equal(f(raw[0], 100.0), raw[0])
    # a hand moving at 0.5 m/s with the same jitter: the filter lags under 2.5 cm (measured: 16 mm)
    g = OneEuroFilter(SmoothingConfig())
    t = np.arange(60) / 30.0
    moving = np.stack([0.5 * t, 0 * t, 0.6 + 0 * t], axis=1)
    got = np.array([g(x, ti) for x, ti in zip(moving + rng.normal(0, 0.01, moving.shape), t)])
    lag = np.mean(moving[30:, 0] - got[30:, 0])
    assert 0 < lag < 0.025


def test_the_alpha_of_a_known_cutoff():
    """With beta 0 the filter is a first-order low-pass of cutoff min_cutoff: one step of a unit jump."""
    f = OneEuroFilter(SmoothingConfig(min_cutoff=2.0, beta=0.0))
    f(np.zeros(1), 0.0)
    dt = 0.1
    alpha = 1.0 / (1.0 + 1.0 / (2 * math.pi * 2.0 * dt))
    assert f(np.ones(1), dt)[0] == pytest.approx(alpha)


def test_bad_samples_and_time_restart_the_filter():
    f = OneEuroFilter()
    f(np.zeros(3), 0.0)
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(f(x, 0.0), x)  # time did not move forward
    nan = np.array([np.nan, 0.0, 0.0])
    assert np.isnan(f(nan, 1.0)[0])  # passed through, never averaged into the state
    np.testing.assert_array_equal(f(x, 2.0), x)


def test_track_smoother_keeps_one_filter_per_track_and_forgets_lost_ones():
    s = TrackSmoother()
    cfg = SmoothingConfig()
    s.smooth(1, np.zeros((21, 3)), 0.0, cfg)
    s.smooth(2, np.ones((21, 3)), 0.0, cfg)
    a = s.smooth(1, np.full((21, 3), 0.1), 0.033, cfg)
    assert len(s) == 2 and 0 < a[0, 0] < 0.1  # track 1 smoothed with its own history
    s.retain([2])
    assert len(s) == 1
    np.testing.assert_array_equal(s.smooth(1, np.full((21, 3), 0.1), 0.066, cfg), np.full((21, 3), 0.1))  # new
