"""Training (a few CPU steps, checkpoints, resume, logs) and ``hand-pose-25d eval`` (JSON recomputed independently)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hand_pose_25d.cli import main as cli_main  # noqa: E402
from hand_pose_25d.settings import to_dict  # noqa: E402
from hand_pose_25d.training.train_config import DatasetSpec, TrainConfig  # noqa: E402


def _config(tmp: Path, steps: int) -> TrainConfig:
    return TrainConfig(
        datasets=[
            DatasetSpec(name="synthetic", seed=5, num=48, weight=0.7),
            DatasetSpec(name="synthetic", seed=6, weight=0.3),
        ],
        batch_size=4,
        steps=steps,
        eval_every=2,
        eval_num=6,
        eval_seed=77,
        ckpt_every=2,
        log_every=1,
        out_dir=str(tmp / "run"),
        cache_dir=str(tmp / "cache"),
        num_workers=0,
        threads=1,
        bone_prior_samples=20,
        optim=TrainConfig().optim.__class__(warmup_steps=1),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    from hand_pose_25d.training.trainer import train

    tmp = tmp_path_factory.mktemp("train")
    path = train(_config(tmp, 4), progress=False)
    return path


def test_training_writes_checkpoints_logs_and_held_out_figures(trained: Path):
    from hand_pose_25d.model.checkpoint import load_checkpoint

    run = trained.parent
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(float(r["loss"])) and float(r["samples_per_s"]) > 0 for r in rows)
    comps = json.loads(rows[-1]["components"])
    assert {"xy", "z", "handedness", "stage0/xy"} <= set(comps)
    evals = [json.loads(line) for line in open(run / "eval.jsonl")]
    assert [e["step"] for e in evals] == [2, 4]
    assert all(0.0 <= e["val_auc3d_20_50"] <= 1.0 and e["val_epe2d_px"] > 0 for e in evals)
    assert any((run / "tb").iterdir()), "no TensorBoard event file"
    assert (run / "best.pt").is_file()
    ck = load_checkpoint(trained)
    assert ck.extra["step"] == 4
    assert ck.extra["train_config"]["steps"] == 4
    assert ck.config.preset == "compact"
    # the bone prior measured on the training hands travels with the model
    prior = ck.config.bone_prior()
    assert len(prior) == 20 and all(0.01 < v < 0.12 for v in prior.values())


def test_resume_continues_from_the_checkpoint(trained: Path, tmp_path: Path):
    from hand_pose_25d.model.checkpoint import load_checkpoint
    from hand_pose_25d.training.trainer import train

    before = load_checkpoint(trained)
    cfg = TrainConfig(**{**vars(_config(trained.parent.parent, 6))})
    path = train(cfg, resume=trained, progress=False)
    after = load_checkpoint(path)
    assert after.extra["step"] == 6
    steps = [int(r["step"]) for r in csv.DictReader(open(path.parent / "log.csv"))]
    assert steps == [1, 2, 3, 4, 5, 6]  # appended, not restarted
    # the weights moved on from the resumed ones, and the optimiser state came along (Adam's step count)
    changed = any(
        not torch.equal(a, b) for a, b in zip(before.model.state_dict().values(), after.model.state_dict().values())
    )
    assert changed
    opt_steps = {int(s["step"]) for s in after.extra["optimizer"]["state"].values()}
    assert opt_steps == {6}
    assert to_dict(after.config) == to_dict(before.config)


def _recompute(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, lo: float, hi: float, steps: int):
    """Z&B's EvalUtil written out again: per-keypoint mean/median, PCK per keypoint averaged, AUC by trapezoids."""
    d = np.linalg.norm(pred - gt, axis=-1)
    d = np.where(np.isfinite(d), d, np.inf)
    t = np.linspace(lo, hi, steps)
    means, medians, curves = [], [], []
    for k in range(gt.shape[1]):
        dk = d[mask[:, k], k]
        if dk.size == 0:
            continue
        means.append(dk.mean())
        medians.append(np.median(dk))
        curves.append([(dk <= x).mean() for x in t])
    pck = np.mean(curves, axis=0)
    return float(np.mean(means)), float(np.mean(medians)), t, pck


def test_eval_cli_json_agrees_with_an_independent_recomputation(trained: Path, tmp_path: Path):
    out = tmp_path / "eval.json"
    plot = tmp_path / "pck.png"
    rc = cli_main(
        [
            "eval",
            "--model",
            str(trained),
            "--data",
            "synthetic",
            "--seed",
            "31337",
            "--num",
            "12",
            "--json",
            str(out),
            "--plot",
            str(plot),
            "--no-progress",
        ]
    )
    assert rc == 0 and plot.is_file()
    doc = json.loads(out.read_text())
    m, P, G = doc["metrics"], doc["predictions"], doc["ground_truth"]
    assert m["num_hands"] == 12 and len(P["pred_uv"]) == 12 and len(G["gt_xyz_m"]) == 12
    assert {"pred_z_rel", "pred_status", "pred_scale_m", "pred_root_depth_m", "pred_crop"} <= set(P)
    assert "conventions" in doc["info"]

    f = lambda a: np.array(a, dtype=np.float64)  # noqa: E731  (None -> nan)
    mask = np.array(G["gt_mask"], bool)
    # 2D
    mean2, med2, t2, pck2 = _recompute(f(P["pred_uv"]), f(G["gt_uv"]), mask, 0.0, 30.0, 20)
    assert m["2d"]["epe_mean"] == pytest.approx(mean2, rel=1e-9)
    assert m["2d"]["epe_median"] == pytest.approx(med2, rel=1e-9)
    assert m["2d"]["auc"] == pytest.approx(np.trapezoid(pck2, t2) / 30.0, rel=1e-9)
    # 3D root-relative (GT bone scale): rebuild the prediction from the normalised pose and the GT bone
    gt = f(G["gt_xyz_m"])
    root, (a, b) = doc["info"]["root"], doc["info"]["ref_bone"]
    L = np.linalg.norm(gt[:, b] - gt[:, a], axis=-1)
    xn = f(P["pred_xyz_normalized"])
    pred_rel = (xn - xn[:, root : root + 1]) * L[:, None, None]
    valid = np.array(P["pred_valid"], bool)
    pred_rel[~valid] = np.nan
    mean3, med3, t3, pck3 = _recompute(pred_rel * 1000, (gt - gt[:, root : root + 1]) * 1000, mask, 0.0, 50.0, 20)
    sel = t3 >= 20.0
    assert m["3d_root_relative"]["auc_20_50"] == pytest.approx(
        np.trapezoid(pck3[sel], t3[sel]) / (t3[sel][-1] - t3[sel][0]), rel=1e-9
    )
    if valid.all():
        assert m["3d_root_relative"]["epe_mean"] == pytest.approx(mean3, rel=1e-9)
    assert m["3d_root_relative"]["epe_median"] == pytest.approx(med3, rel=1e-9)
    # GT root and scale: from uv and z_rel alone
    K = f(G["gt_K"])
    Z = gt[:, root, 2:3] + f(P["pred_z_rel"]) * L[:, None]
    uv1 = np.concatenate([f(P["pred_uv"]), np.ones((12, 21, 1))], axis=-1)
    xbar = np.einsum("nij,nkj->nki", np.linalg.inv(K), uv1)
    pred_gt = xbar[..., :2] * Z[..., None]
    pred_gt = np.concatenate([pred_gt, Z[..., None]], axis=-1)
    mean_g, _, _, _ = _recompute(pred_gt * 1000, gt * 1000, mask, 0.0, 50.0, 20)
    assert m["3d_absolute_gt_root_scale"]["epe_mean"] == pytest.approx(mean_g, rel=1e-6)
    assert f(P["pred_xyz_absolute_gt_root_scale_m"]) == pytest.approx(pred_gt, rel=1e-9, abs=1e-12)


def test_eval_cli_test_time_augmentation_is_recorded_and_changes_the_predictions(trained: Path, tmp_path: Path):
    docs = {}
    for mode in ("none", "mirror"):
        out = tmp_path / f"eval_{mode}.json"
        assert (
            cli_main(
                [
                    "eval",
                    "--model",
                    str(trained),
                    "--data",
                    "synthetic",
                    "--seed",
                    "31337",
                    "--num",
                    "4",
                    "--tta",
                    mode,
                    "--json",
                    str(out),
                    "--no-progress",
                ]
            )
            == 0
        )
        docs[mode] = json.loads(out.read_text())
        assert docs[mode]["info"]["test_time_augmentation"] == mode
    a = np.array(docs["none"]["predictions"]["pred_uv"], dtype=np.float64)
    b = np.array(docs["mirror"]["predictions"]["pred_uv"], dtype=np.float64)
    assert a.shape == b.shape and not np.allclose(a, b)


def test_eval_cli_on_a_dataset_folder_keeps_the_keypoint_root_apart_from_the_folder(trained: Path, tmp_path: Path):
    from fixtures_datasets import write_freihand
    from handgen import random_scenes

    xyz, K = random_scenes(np.random.default_rng(3), 2)
    write_freihand(tmp_path, "evaluation", xyz, K, versions=1)
    out = tmp_path / "eval.json"
    rc = cli_main(
        [
            "eval",
            "--model",
            str(trained),
            "--data",
            "freihand",
            "--root",
            str(tmp_path),
            "--json",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    doc = json.loads(out.read_text())
    # info.root is the keypoint index the root-relative figures use; the dataset folder is info.data_root
    assert doc["info"]["root"] == 0 and doc["info"]["ref_bone"] == [0, 9]
    assert doc["info"]["data_root"] == str(tmp_path) and doc["info"]["split"] == "evaluation"
    assert doc["metrics"]["num_hands"] == 2 and "freihand" in doc["metrics"]
    assert np.array(doc["ground_truth"]["gt_xyz_m"], dtype=np.float64) == pytest.approx(xyz, abs=1e-9)


@pytest.mark.slow
def test_torchrun_trains_with_two_processes_on_the_cpu(tmp_path: Path):
    """``torchrun --nproc-per-node 2`` (gloo on the CPU): both ranks step together and rank 0 writes the run."""
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed next to this Python")
    cfg = to_dict(_config(tmp_path, 3))
    cfg.update(eval_every=3, ckpt_every=3, threads=1)
    cfg_path = tmp_path / "ddp.json"
    cfg_path.write_text(json.dumps(cfg))  # YAML is a superset of JSON
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "hand_pose_25d.cli",
            "train",
            "--config",
            str(cfg_path),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "distributed: 2 processes, backend gloo" in p.stdout
    from hand_pose_25d.model.checkpoint import load_checkpoint

    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ck.extra["step"] == 3
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").read_text().splitlines()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert (tmp_path / "run" / "best.pt").is_file()
