"""``hand-pose-25d bench`` and hand_pose_25d.bench: statistics, JSON fields and their consistency (no timing limits)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from hand_pose_25d import __version__  # noqa: E402
from hand_pose_25d.bench.bench_config import BenchSettings  # noqa: E402
from hand_pose_25d.bench.machine import machine_info, versions  # noqa: E402
from hand_pose_25d.bench.measure import STAGES, bench_mediapipe, format_report  # noqa: E402
from hand_pose_25d.bench.stats import latency_stats, time_calls  # noqa: E402
from hand_pose_25d.cli import main  # noqa: E402

MP_VENV = Path(__file__).resolve().parents[2] / ".venv-mediapipe" / "bin" / "python"


def test_latency_stats_against_a_hand_computation():
    x = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 6.0, 7.0, 9.0, 8.0])
    st = latency_stats(x)
    s = np.sort(x)  # linear interpolation between order statistics: rank q * (n - 1)
    for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
        r = q * (len(s) - 1)
        lo = int(np.floor(r))
        expected = s[lo] + (r - lo) * (s[min(lo + 1, len(s) - 1)] - s[lo])
        assert st[key] == pytest.approx(expected)
    assert st["p50"] == 5.5 and st["p90"] == pytest.approx(9.1) and st["mean"] == 5.5
    assert (st["min"], st["max"], st["n"]) == (1.0, 10.0, 10)
    with pytest.raises(ValueError):
        latency_stats([])
    with pytest.raises(ValueError):
        latency_stats([1.0, float("nan")])


def test_latency_stats_of_a_stream_drops_non_finite_samples():
    st = latency_stats([1.0, 2.0, 3.0, 4.0, float("nan"), float("inf")], finite_only=True)
    assert st["n"] == 4 and st["p50"] == 2.5 and st["max"] == 4.0 and st["mean"] == 2.5
    empty = latency_stats([float("nan")], finite_only=True)
    assert empty["n"] == 0 and empty["p50"] is None and empty["max"] is None


def test_time_calls_counts_warmup_and_timed_calls():
    calls = []
    ms = time_calls(lambda: calls.append(1), iters=7, warmup=3)
    assert len(calls) == 10 and ms.shape == (7,) and (ms >= 0).all()


def test_settings_validation():
    BenchSettings().check()
    for bad in (
        dict(batch=0),
        dict(iters=0),
        dict(warmup=-1),
        dict(crop="x"),
        dict(backend="tflite"),
        dict(threads=-1),
    ):
        with pytest.raises(ValueError):
            BenchSettings(**bad).check()


def test_machine_and_versions():
    info = machine_info()
    assert info["cpu"] and info["logical_cpus"] >= 1 and 1 <= info["usable_cpus"] <= info["logical_cpus"]
    assert isinstance(info["gpus"], list)
    v = versions()
    assert v["onnxruntime"] == ort.__version__ and v["hand_pose_25d"] == __version__
    assert v["python"] == ".".join(map(str, sys.version_info[:3]))


def _check_stats(st):
    assert st["min"] <= st["p50"] <= st["p90"] <= st["p99"] <= st["max"]
    assert st["min"] <= st["mean"] <= st["max"] and st["n"] >= 1


def _run_bench(tmp_path, *extra):
    out = tmp_path / "b.json"
    code = main(["bench", "--model", "compact", "--iters", "6", "--warmup", "1", "--quiet", "--json", str(out), *extra])
    assert code == 0
    return json.loads(out.read_text())


def test_bench_onnxruntime_json_is_complete_and_consistent(tmp_path, capsys):
    res = _run_bench(tmp_path, "--backend", "onnxruntime", "--threads", "1", "--batch", "2", "--no-compare-mediapipe")
    text = capsys.readouterr().out
    assert "network (batch 2)" in text and "pipeline 640x480" in text and "everything but inference" in text
    assert res["settings"]["backend"] == "onnxruntime" and res["settings"]["batch"] == 2
    assert (
        res["model"]["preset"] == "compact" and res["model"]["input_size"] == 128 and res["model"]["parameters"] > 1e5
    )
    assert res["threads"]["onnxruntime_intra_op"] == 1
    net = res["network"]
    assert net["input"] == [2, 128, 128, 3] and net["latency_ms"]["n"] == 6
    _check_stats(net["latency_ms"])
    # throughput = crops per second over the timed calls = batch / mean latency
    assert net["throughput_crops_per_s"] == pytest.approx(2 * 1000.0 / net["latency_ms"]["mean"], rel=1e-6)
    pipe = res["pipeline"]
    assert (
        pipe["frame"] == [640, 480] and pipe["hands"] == 2 and pipe["crop"] == "track" and pipe["network_passes"] == 1
    )
    assert pipe["network_crops"] == 2 and pipe["test_time_augmentation"] == "none"
    _check_stats(pipe["latency_ms"])
    for s in STAGES:
        _check_stats(pipe["stages_ms"][s])
    # the stages are timed inside estimate(), the total around it: their sum is a little less than the total
    assert pipe["stage_sum_ms"]["mean"] <= pipe["latency_ms"]["mean"] * 1.001
    assert pipe["stage_sum_ms"]["mean"] >= 0.8 * pipe["latency_ms"]["mean"]
    non_net = pipe["latency_ms"]["mean"] - pipe["stages_ms"]["inference"]["mean"]
    assert pipe["non_network_ms"]["mean"] == pytest.approx(non_net, rel=1e-6, abs=1e-9)
    assert pipe["throughput_frames_per_s"] == pytest.approx(1000.0 / pipe["latency_ms"]["mean"], rel=1e-6)
    r = res["ratios"]
    assert r["inference_share_of_pipeline_p50"] == pytest.approx(
        pipe["stages_ms"]["inference"]["p50"] / pipe["latency_ms"]["p50"]
    )
    assert 0 < r["inference_share_of_pipeline_p50"] < 1
    assert res["versions"]["onnxruntime"] == ort.__version__ and res["machine"]["usable_cpus"] >= 1
    assert "mediapipe" not in res  # --no-compare-mediapipe


def test_mediapipe_comparison_defaults_to_whether_an_environment_exists(tmp_path, monkeypatch):
    from hand_pose_25d.bench import measure as benchmark
    from hand_pose_25d.bench.measure import find_mediapipe_python

    if __import__("importlib").util.find_spec("mediapipe") is not None:
        pytest.skip("mediapipe is installed in this environment")
    monkeypatch.delenv("HAND_POSE_25D_MEDIAPIPE_PYTHON", raising=False)
    monkeypatch.setattr(benchmark, "MEDIAPIPE_VENV", str(tmp_path / "no-venv"))
    assert find_mediapipe_python("") is None
    res = _run_bench(tmp_path, "--network-only", "--threads", "1")
    assert "mediapipe" not in res and res["settings"]["compare_mediapipe"] is False
    monkeypatch.setenv("HAND_POSE_25D_MEDIAPIPE_PYTHON", sys.executable)  # found, but has no mediapipe
    assert find_mediapipe_python("") == sys.executable
    res = _run_bench(tmp_path, "--network-only", "--threads", "1")
    assert res["settings"]["compare_mediapipe"] is True and res["mediapipe"]["available"] is False


def test_bench_torch_backend_refined_crop_and_test_time_augmentation(tmp_path, capsys):
    res = _run_bench(tmp_path, "--backend", "torch", "--threads", "1", "--crop", "roi", "--tta", "mirror")
    assert res["threads"]["torch_intra_op"] == 1 and res["model"]["backend"].startswith("torch")
    assert res["pipeline"]["crop"] == "roi" and res["pipeline"]["network_passes"] == 2
    # two passes (the loose box, then the refined crop), each on the crop and its mirror image
    assert res["pipeline"]["network_crops"] == 4 and res["settings"]["tta"] == "mirror"
    assert "on 4 crops (mirror test-time augmentation)" in capsys.readouterr().out
    _check_stats(res["pipeline"]["stages_ms"]["inference"])


def test_bench_errors(tmp_path, capsys):
    assert main(["bench", "--model", "compact", "--iters", "0", "--json", str(tmp_path / "x.json")]) == 2
    assert "--iters" in capsys.readouterr().err
    assert main(["bench", "--model", str(tmp_path / "none.onnx"), "--json", str(tmp_path / "x.json")]) == 2
    assert "none.onnx" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_mediapipe_without_mediapipe_says_why(tmp_path):
    # this environment has no mediapipe: the subprocess runs and reports it, nothing is downloaded
    if __import__("importlib").util.find_spec("mediapipe") is not None:
        pytest.skip("mediapipe is installed in this environment")
    res = bench_mediapipe(sys.executable, iters=2, warmup=0)
    assert res["available"] is False and "not installed" in res["reason"]
    assert bench_mediapipe(None, 2, 0)["available"] is False
    assert "cannot run" in bench_mediapipe(str(tmp_path / "no-python"), 2, 0)["reason"]
    out = tmp_path / "b.json"
    assert (
        main(
            [
                "bench",
                "--model",
                "compact",
                "--iters",
                "2",
                "--warmup",
                "0",
                "--quiet",
                "--network-only",
                "--compare-mediapipe",
                "--mediapipe-python",
                sys.executable,
                "--json",
                str(out),
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert data["mediapipe"]["available"] is False and "pipeline" not in data
    assert "MediaPipe: not measured" in format_report(data)


@pytest.mark.slow
@pytest.mark.skipif(not MP_VENV.exists(), reason=f"no MediaPipe environment at {MP_VENV} (see docs/benchmarks.md)")
def test_mediapipe_landmark_model_is_measured(tmp_path):
    res = _run_bench(tmp_path, "--threads", "1", "--compare-mediapipe", "--mediapipe-python", str(MP_VENV))
    mp = res["mediapipe"]
    assert mp["available"] is True, mp.get("reason")
    lm = mp["landmark_model"]
    assert lm["file"] == "hand_landmark_full.tflite" and lm["input"] == [1, 224, 224, 3] and lm["threads"] == 2
    _check_stats(lm["latency_ms"])
    _check_stats(mp["solution"]["latency_ms"])
    _check_stats(mp["solution_static"]["latency_ms"])  # detection on every frame
    assert res["ratios"]["network_p50_over_mediapipe_landmark_p50"] == pytest.approx(
        res["network"]["latency_ms"]["p50"] / lm["latency_ms"]["p50"]
    )
