"""Tests of the synthetic hand renderer (hand_pose_25d.data.synthetic): exact labels, determinism, anatomy,
visibility, mirror symmetry of left/right hands, ray casting against independent references, export round trip."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys

import numpy as np
import pytest

from hand_pose_25d.crop import transform_points
from hand_pose_25d.data.sample import HandSample
from hand_pose_25d.data.synthetic import (
    DOF_NAMES,
    GESTURES,
    JOINT_LIMITS_DEG,
    SyntheticConfig,
    SyntheticHands,
    SyntheticSequence,
    export_dataset,
    load_exported,
)
from hand_pose_25d.data.synthetic import hand_model as hm
from hand_pose_25d.data.synthetic.raycast import PrimitiveSet, render_primitives
from hand_pose_25d.data.synthetic.scene import (
    MIRROR,
    build_scene,
    keypoint_visibility,
    render_layer,
    sample_appearance,
)
from hand_pose_25d.geometry import project, reconstruct_3d, to_2p5d
from hand_pose_25d.settings import from_dict, to_dict
from hand_pose_25d.skeleton import BONES, DEFAULT_BONE_LENGTHS, DEFAULT_REF_BONE, bone_lengths

GEN = SyntheticHands(seed=7)


@pytest.fixture(scope="module")
def crops():
    return [GEN.render_crop(i, 128, 1.3) for i in range(60)]


@pytest.fixture(scope="module")
def frames():
    return [GEN.render_frame(i, 320, 240) for i in range(25)]


def _default_K(width=320, height=240, f=300.0):
    return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])


# ----------------------------------------------------------------------------------------------------------
# samples and labels


def test_samples_are_well_formed(crops, frames):
    for r in crops:
        s = r.sample
        assert isinstance(s, HandSample)
        assert s.image.shape == (128, 128, 3) and s.image.dtype == np.uint8
        assert s.handedness in ("left", "right")
        assert s.meta["render_size"] <= 128
        assert s.meta["A"].shape == (2, 3) and s.meta["K_full"].shape == (3, 3)
    for r in frames:
        assert r.sample.image.shape == (240, 320, 3)
    # crops of far hands are rendered at the camera's resolution and upsampled, near hands at full size
    sizes = [r.sample.meta["render_size"] for r in crops]
    assert min(sizes) < 100 and max(sizes) == 128


def test_frame_labels_exact(frames):
    for r in frames:
        s = r.sample
        assert np.max(np.abs(project(s.xyz, s.K) - s.uv)) < 1e-6
        assert np.all(s.xyz[:, 2] > 0.05)


def test_crop_labels_exact_and_consistent_with_the_full_camera(crops):
    for r in crops:
        s = r.sample
        assert np.max(np.abs(project(s.xyz, s.K) - s.uv)) < 1e-6
        uv_full = project(s.xyz, s.meta["K_full"])
        assert np.max(np.abs(transform_points(uv_full, s.meta["A"]) - s.uv)) < 1e-6
        # the crop's K is [A; 0 0 1] @ K_full
        A3 = np.vstack([s.meta["A"], [0.0, 0.0, 1.0]])
        assert np.allclose(A3 @ s.meta["K_full"], s.K, atol=1e-9)


def test_crop_reconstructs_exactly_with_crop_intrinsics(crops):
    for r in crops:
        s = r.sample
        uv, z_rel = to_2p5d(s.xyz, s.K)
        rec = reconstruct_3d(uv, z_rel, s.K)
        a, b = DEFAULT_REF_BONE
        gt = s.xyz / np.linalg.norm(s.xyz[b] - s.xyz[a])
        assert np.max(np.abs(rec - gt)) / np.max(np.abs(gt)) < 1e-6


def test_crop_box_follows_the_inference_box(crops):
    cfg = GEN.config
    for r in crops:
        s = r.sample
        box = s.meta["box"]
        uv_full = s.meta["uv_full"]
        lo, hi = uv_full.min(axis=0), uv_full.max(axis=0)
        side0 = max(float((hi - lo).max()) * 1.3, 8.0)
        ratio = box.side / side0
        assert cfg.crop_scale_range[0] - 1e-9 <= ratio <= cfg.crop_scale_range[1] + 1e-9
        shift = np.hypot(box.cx - (lo[0] + hi[0]) / 2, box.cy - (lo[1] + hi[1]) / 2)
        assert shift <= math.sqrt(2) * cfg.crop_center_jitter * box.side + 1e-9


def test_determinism_and_variation():
    a = SyntheticHands(seed=3)
    b = SyntheticHands(seed=3)
    # same (seed, index) -> bit-identical, whatever was rendered before
    b.crop(11)
    b.frame(2, 160, 120)
    for i in (0, 5):
        sa, sb = a.crop(i), b.crop(i)
        assert np.array_equal(sa.image, sb.image) and np.array_equal(sa.uv, sb.uv)
        assert np.array_equal(sa.visible, sb.visible) and np.array_equal(sa.K, sb.K)
    fa, fb = a.frame(4, 160, 120), b.frame(4, 160, 120)
    assert np.array_equal(fa.image, fb.image) and np.array_equal(fa.xyz, fb.xyz)
    # other indices and seeds differ
    assert not np.array_equal(a.crop(0).uv, a.crop(1).uv)
    assert not np.array_equal(a.crop(0).image, SyntheticHands(seed=4).crop(0).image)


def test_determinism_across_processes():
    code = (
        "import sys, pickle, numpy as np; from hand_pose_25d.data.synthetic import SyntheticHands;"
        "s = SyntheticHands(seed=5).crop(9); sys.stdout.buffer.write(pickle.dumps((s.image, s.uv, s.visible)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    image, uv, visible = pickle.loads(out)
    s = SyntheticHands(seed=5).crop(9)
    assert np.array_equal(image, s.image) and np.array_equal(uv, s.uv) and np.array_equal(visible, s.visible)


def test_distance_range_and_frames_keep_the_hand_inside():
    cfg = SyntheticConfig(distance_range=(0.3, 0.9))
    gen = SyntheticHands(cfg, seed=1)
    for i in range(40):
        sc = gen.scene(i, 320, 240)
        assert 0.3 <= sc.xyz[0, 2] <= 0.9
    for i in range(40):
        sc = GEN.scene(i, 320, 240)
        uv = project(sc.xyz, sc.K)
        assert 0.2 <= sc.xyz[0, 2] <= 1.5
        assert np.all(uv >= 1.5) and np.all(uv[:, 0] <= 320 - 2.5) and np.all(uv[:, 1] <= 240 - 2.5)


# ----------------------------------------------------------------------------------------------------------
# the hand model


def test_joint_limits_respected_by_every_pose_source():
    rng = np.random.default_rng(0)
    lo = np.array([JOINT_LIMITS_DEG[n][0] for n in DOF_NAMES])
    hi = np.array([JOINT_LIMITS_DEG[n][1] for n in DOF_NAMES])
    kinds = set()
    for _ in range(600):
        pose = hm.sample_pose(rng, (1.0, 1.0, 1.0), 15.0)
        kinds.add(pose.kind.split(":")[0])
        assert np.all(pose.angles >= lo - 1e-9) and np.all(pose.angles <= hi + 1e-9), pose.kind
    assert kinds == {"uniform", "synergy", "gesture"}
    for name in GESTURES:
        pose = hm.gesture_pose(name, rng, 10.0)
        assert np.all(pose.angles >= lo - 1e-9) and np.all(pose.angles <= hi + 1e-9)


def test_finger_flexion_geometry_matches_the_joint_angles():
    """Independent check of the kinematics: the angle between consecutive phalanges equals the PIP / DIP flexion,
    and flexion bends the fingers towards the palm side (+z of the local frame)."""
    rng = np.random.default_rng(1)
    shape = hm.sample_shape(rng)
    for _ in range(50):
        pose = hm.sample_pose(rng, (1.0, 0.0, 0.0))
        x = hm.forward_kinematics(shape, pose).xyz
        for f, (m, p, d, t) in {"index": (5, 6, 7, 8), "ring": (13, 14, 15, 16)}.items():
            for (a, b, c), dof in (((m, p, d), f"{f}_pip_flex"), ((p, d, t), f"{f}_dip_flex")):
                u, v = x[b] - x[a], x[c] - x[b]
                ang = math.degrees(math.acos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1)))
                assert ang == pytest.approx(abs(pose[dof]), abs=1e-6)
    # a fully curled finger ends on the palm side
    fist = hm.forward_kinematics(hm.default_shape(), hm.gesture_pose("fist")).xyz
    assert np.all(fist[[8, 12, 16, 20], 2] > 0.01)
    open_hand = hm.forward_kinematics(hm.default_shape(), hm.gesture_pose("open")).xyz
    assert np.all(np.abs(open_hand[[8, 12, 16, 20], 2]) < 0.01)


def test_bone_lengths_within_configured_ranges(crops):
    cfg = GEN.config
    sig = cfg.bone_proportion_sigma
    lo = cfg.hand_scale_range[0] * math.exp(-2.5 * sig)
    hi = cfg.hand_scale_range[1] * math.exp(2.5 * sig)
    default = np.array([DEFAULT_BONE_LENGTHS[b] for b in BONES])
    for r in crops:
        ratio = bone_lengths(r.sample.xyz) / default
        assert np.all(ratio >= lo - 1e-9) and np.all(ratio <= hi + 1e-9)
        assert np.allclose(bone_lengths(r.sample.xyz), r.sample.meta["bone_lengths"], atol=1e-12)
    # population mean close to the default adult hand
    rng = np.random.default_rng(2)
    lengths = np.array([hm.sample_shape(rng).bone_lengths for _ in range(2000)])
    assert np.allclose(lengths.mean(axis=0) / default, 1.0, atol=0.02)
    # per-bone variation of a few percent on top of the overall scale
    rel = lengths / default
    spread = np.std(np.log(rel / rel.mean(axis=1, keepdims=True)), axis=0)
    assert np.all((spread > 0.02) & (spread < 0.06))


def test_handedness_is_anatomical(crops):
    """The thumb side of a right hand: (index MCP - wrist) x (little MCP - wrist) points to the palm side, where
    the thumb CMC sits; mirroring reverses the triple product's sign."""
    seen = set()
    for r in crops:
        x = r.sample.xyz
        triple = np.cross(x[5] - x[0], x[17] - x[0]) @ (x[1] - x[0])
        assert (triple > 0) == (r.sample.handedness == "right")
        seen.add(r.sample.handedness)
    assert seen == {"left", "right"}


def test_pinch_gestures_bring_thumb_and_index_together():
    shape = hm.default_shape()
    for name in ("pinch", "ok"):
        x = hm.forward_kinematics(shape, hm.gesture_pose(name)).xyz
        assert np.linalg.norm(x[4] - x[8]) < 0.025


# ----------------------------------------------------------------------------------------------------------
# ray casting against independent references


def _first_hit_reference(inside, t0: float, t1: float, n: int = 300) -> float:
    """First t along the ray (dx, dy, 1) where ``inside(t) <= 0``: dense sampling + bisection (inf if none)."""
    ts = np.linspace(t0, t1, n)
    f = inside(ts)
    idx = np.flatnonzero(f <= 0)
    if len(idx) == 0:
        return math.inf
    k = idx[0]
    if k == 0:
        return float(ts[0])
    a, b = ts[k - 1], ts[k]
    for _ in range(int(math.ceil(math.log2(max(b - a, 1e-12) / 5e-8)))):
        m = 0.5 * (a + b)
        if inside(np.array([m]))[0] <= 0:
            b = m
        else:
            a = m
    return float(b)


def _round_cone_inside(A, B, ra, rb, d):
    """min over the axis of |p - c(s)| - r(s) for points p = t d (the round cone is a union of such spheres);
    the function of s is convex, minimised by ternary search."""

    def f(ts):
        P = ts[:, None] * d[None, :]
        lo, hi = np.zeros(len(ts)), np.ones(len(ts))
        for _ in range(50):
            m1, m2 = lo + (hi - lo) / 3, hi - (hi - lo) / 3
            g1 = np.linalg.norm(P - (A + m1[:, None] * (B - A)), axis=1) - (ra + m1 * (rb - ra))
            g2 = np.linalg.norm(P - (A + m2[:, None] * (B - A)), axis=1) - (ra + m2 * (rb - ra))
            lo, hi = np.where(g1 < g2, lo, m1), np.where(g1 < g2, m2, hi)
        s = (lo + hi) / 2
        return np.linalg.norm(P - (A + s[:, None] * (B - A)), axis=1) - (ra + s * (rb - ra))

    return f


def test_round_cone_hits_match_a_ray_marched_reference():
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(10):
        A = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), rng.uniform(0.3, 0.5)])
        B = A + rng.normal(0, 0.04, 3)
        ra, rb = rng.uniform(0.006, 0.02, 2)
        if np.linalg.norm(B - A) <= abs(ra - rb) + 0.002:
            continue
        ps = PrimitiveSet()
        ps.add_cone(A, B, ra, rb)
        # rays towards random points around the cone (hits, misses and grazing rays)
        targets = A + rng.uniform(0, 1, (18, 1)) * (B - A) + rng.normal(0, 0.6 * max(ra, rb), (18, 3))
        dx, dy = targets[:, 0] / targets[:, 2], targets[:, 1] / targets[:, 2]
        t = ps.first_hits(dx, dy)[0]
        z0 = min(A[2], B[2]) - 0.03  # the cone lies within these depths: 0.2 mm sampling steps
        z1 = max(A[2], B[2]) + 0.03
        for k in range(len(dx)):
            d = np.array([dx[k], dy[k], 1.0])
            ref = _first_hit_reference(_round_cone_inside(A, B, ra, rb, d), z0, z1, int((z1 - z0) / 2e-4))
            if math.isinf(ref):
                # a miss, unless the ray grazes the surface
                assert math.isinf(t[k]) or np.min(_round_cone_inside(A, B, ra, rb, d)(np.array([t[k]]))) < 1e-6
            else:
                assert t[k] == pytest.approx(ref, abs=2e-6)
                checked += 1
    assert checked > 60


def test_ellipsoid_and_box_hits_match_references():
    rng = np.random.default_rng(4)
    for _ in range(6):
        c = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), rng.uniform(0.4, 0.6)])
        R = hm._frame(rng.normal(size=3), rng.normal(size=3))
        half = rng.uniform(0.01, 0.05, 3)
        ps = PrimitiveSet()
        ps.add_ellipsoid(c, R * half)
        ps.add_box(c + np.array([0.0, 0.0, 0.0]), R, half)
        targets = c + rng.normal(0, 1.2 * half.max(), (30, 3))
        dx, dy = targets[:, 0] / targets[:, 2], targets[:, 1] / targets[:, 2]
        t = ps.first_hits(dx, dy)
        for k in range(len(dx)):
            d = np.array([dx[k], dy[k], 1.0])

            def ell(ts):
                q = (ts[:, None] * d - c) @ R / half
                return np.linalg.norm(q, axis=1) - 1.0

            def box(ts):
                q = (ts[:, None] * d - c) @ R
                return np.max(np.abs(q) - half, axis=1)

            for row, fn in ((0, ell), (1, box)):
                ref = _first_hit_reference(fn, 0.2, 0.9)
                if math.isinf(ref):
                    assert math.isinf(t[row, k]) or fn(np.array([t[row, k]]))[0] < 1e-6
                else:
                    assert t[row, k] == pytest.approx(ref, abs=2e-6)


def test_render_matches_per_pixel_first_hits():
    """The bounding-box / capsule culled z-buffer equals brute force over every pixel and primitive."""
    rng = np.random.default_rng(5)
    shape = hm.sample_shape(rng)
    pose = hm.sample_pose(rng)
    K = _default_K(200, 160, 180.0)
    look = sample_appearance(rng, SyntheticConfig())
    sc = build_scene(K, 200, 160, "right", shape, pose, np.diag([1.0, -1.0, -1.0]), np.array([0.0, 0.05, 0.35]), look)
    buf = render_primitives(sc.prims, K, 200, 160, roi=(0, 0, 200, 160))
    v, u = np.mgrid[0:160, 0:200]
    Ki = np.linalg.inv(K)
    dx = (Ki[0, 0] * u + Ki[0, 1] * v + Ki[0, 2]).ravel()
    dy = (Ki[1, 1] * v + Ki[1, 2]).ravel()
    t = sc.prims.first_hits(dx, dy)
    best = t.min(axis=0)
    hit = np.isfinite(best)
    assert hit.mean() > 0.05
    # same hit mask (float32 vs float64 rays may flip a few grazing pixels) and same depths
    assert np.mean(hit != (buf.ids.ravel() >= 0)) < 0.002
    both = hit & (buf.ids.ravel() >= 0)
    assert np.max(np.abs(buf.depth.ravel()[both] - best[both])) < 1e-4
    # normals are unit vectors facing the camera
    assert np.allclose(np.linalg.norm(buf.normals, axis=1), 1.0, atol=1e-4)
    assert np.mean(np.einsum("ij,ij->i", buf.normals, buf.points) < 0) > 0.99


# ----------------------------------------------------------------------------------------------------------
# visibility


def _scene(gesture: str, R: np.ndarray, z: float = 0.4, handedness: str = "right"):
    rng = np.random.default_rng(6)
    K = _default_K()
    look = sample_appearance(rng, SyntheticConfig())
    shape = hm.default_shape()
    pose = hm.gesture_pose(gesture)
    # hand centred: wrist below the image centre
    return build_scene(K, 320, 240, handedness, shape, pose, R, np.array([0.0, 0.05, z]), look, forearm=False)


#: local +z (palm) towards the camera, fingers up in the image
PALM_TO_CAMERA = np.diag([1.0, -1.0, -1.0])
#: local +z (palm) away from the camera, fingers up
BACK_TO_CAMERA = np.diag([-1.0, -1.0, 1.0])


def test_fingertips_of_a_fist_seen_from_the_back_are_hidden():
    sc = _scene("fist", BACK_TO_CAMERA)
    vis = keypoint_visibility(sc)
    assert not vis[[8, 12, 16, 20]].any()  # fingertips tucked behind the back of the hand
    assert vis[[5, 9, 13, 17]].all()  # knuckles face the camera
    # the open hand seen from the palm side: every keypoint visible
    assert keypoint_visibility(_scene("open", PALM_TO_CAMERA)).all()


def test_an_occluder_on_the_ray_hides_only_the_keypoints_behind_it():
    sc = _scene("open", PALM_TO_CAMERA)
    assert keypoint_visibility(sc).all()
    tip = sc.xyz[12]
    sc.prims.add_sphere(tip * 0.6, 0.004, material=0)  # small sphere on the ray to the middle fingertip
    vis = keypoint_visibility(sc)
    assert not vis[12]
    assert vis[[0, 4, 8, 16, 20]].all()


def test_visible_keypoints_lie_on_rendered_hand_pixels(frames):
    """At a visible keypoint the id buffer shows a hand primitive (one attached to it, nearly always); at an
    occluded one it rarely shows one attached to the keypoint."""
    n_vis = on_hand = on_own = 0
    for r in frames:
        sc, buf = r.scene, r.buffers
        x0, y0, x1, y1 = buf.roi
        for k in np.flatnonzero(r.sample.visible):
            u, v = np.round(r.sample.uv[k]).astype(int)
            if not (x0 <= u < x1 and y0 <= v < y1):
                continue
            pid = int(buf.ids[v - y0, u - x0])
            n_vis += 1
            on_hand += 0 <= pid < sc.num_hand
            on_own += 0 <= pid < sc.num_hand and k in sc.prims.joints[pid]
    assert n_vis > 200
    assert on_hand / n_vis > 0.97
    assert on_own / n_vis > 0.9


def test_visibility_in_crops_needs_the_keypoint_inside_camera_and_crop(crops):
    for r in crops:
        s = r.sample
        inside = np.all((s.uv >= -0.5) & (s.uv <= 127.5), axis=1)
        assert not np.any(s.visible & ~inside)
        assert np.array_equal(s.visible, s.visible & r.occlusion_visible)


# ----------------------------------------------------------------------------------------------------------
# left / right


def test_left_hand_renders_as_the_mirror_image_of_the_right_hand():
    """Mirror the whole scene through the camera's Y-Z plane: the right hand becomes a left hand (rotation
    S R M), the camera gets cx -> W - 1 - cx, the light x -> -x. The render must be the flipped image."""
    W, H = 240, 200
    rng = np.random.default_rng(8)
    cfg = SyntheticConfig(albedo_noise=0.0)
    look = sample_appearance(rng, cfg)
    shape = hm.sample_shape(rng)
    pose = hm.gesture_pose("victory")
    R = hm._frame(np.array([0.3, -1.0, 0.2]), np.array([0.1, 0.3, -1.0]))
    T = np.array([0.02, 0.06, 0.33])
    K = np.array([[260.0, 0.0, 110.3], [0.0, 262.0, 95.7], [0.0, 0.0, 1.0]])
    right = build_scene(K, W, H, "right", shape, pose, R, T, look)
    S = np.diag([-1.0, 1.0, 1.0])
    look_m = sample_appearance(np.random.default_rng(8), cfg)
    look_m.light_dir = S @ look.light_dir
    Km = K.copy()
    Km[0, 2] = W - 1 - K[0, 2]
    left = build_scene(Km, W, H, "left", shape, pose, S @ R @ MIRROR, S @ T, look_m)
    assert np.allclose(left.xyz, right.xyz @ S, atol=1e-12)
    assert np.allclose(project(left.xyz, Km)[:, 0], W - 1 - project(right.xyz, K)[:, 0], atol=1e-9)
    assert np.array_equal(keypoint_visibility(left), keypoint_visibility(right))
    img_r = np.zeros((H, W, 3), np.float32)
    img_l = np.zeros((H, W, 3), np.float32)
    buf_r = render_layer(right, K, W, H, img_r, np.random.default_rng(0))
    buf_l = render_layer(left, Km, W, H, img_l, np.random.default_rng(0))
    mask_r = np.zeros((H, W), bool)
    mask_l = np.zeros((H, W), bool)
    mask_r[buf_r.roi[1] : buf_r.roi[3], buf_r.roi[0] : buf_r.roi[2]] = buf_r.ids >= 0
    mask_l[buf_l.roi[1] : buf_l.roi[3], buf_l.roi[0] : buf_l.roi[2]] = buf_l.ids >= 0
    assert mask_r.sum() > 2000
    assert np.mean(mask_r != mask_l[:, ::-1]) < 0.002  # rounding may flip a few silhouette pixels
    diff = np.abs(img_r - img_l[:, ::-1]).max(axis=2)
    assert np.mean(diff > 0.02) < 0.005
    # and a left hand is not simply the same image: its own (unmirrored) render differs
    assert np.mean(mask_r != mask_l) > 0.01


def test_left_hand_probability():
    gen = SyntheticHands(SyntheticConfig(left_hand_prob=1.0), seed=0)
    assert all(gen.scene(i, 160, 120).handedness == "left" for i in range(5))
    gen = SyntheticHands(SyntheticConfig(left_hand_prob=0.0), seed=0)
    assert all(gen.scene(i, 160, 120).handedness == "right" for i in range(5))


# ----------------------------------------------------------------------------------------------------------
# sequences, config, export


def test_sequence_is_smooth_and_deterministic():
    seq = SyntheticSequence(seed=2, width=320, height=240, fps=30)
    xs = [seq.frame(t) for t in range(0, 75)]
    steps = [np.max(np.linalg.norm(b.xyz - a.xyz, axis=1)) for a, b in zip(xs, xs[1:])]
    assert max(steps) < 0.03  # no keypoint jumps more than 3 cm in 1/30 s
    assert np.mean(steps) > 1e-4  # but the hand moves
    again = SyntheticSequence(seed=2, width=320, height=240, fps=30).frame(40)
    assert np.array_equal(again.image, xs[40].image) and np.array_equal(again.xyz, xs[40].xyz)
    for s in xs[::10]:
        assert np.max(np.abs(project(s.xyz, s.K) - s.uv)) < 1e-6
        assert s.handedness == xs[0].handedness
    # joint limits hold between keyframes
    lo = np.array([JOINT_LIMITS_DEG[n][0] for n in DOF_NAMES])
    hi = np.array([JOINT_LIMITS_DEG[n][1] for n in DOF_NAMES])
    for t in range(0, 200, 7):
        pose, R, T = seq.state(t)
        assert np.all(pose.angles >= lo) and np.all(pose.angles <= hi)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-9)


def test_config_round_trip_and_validation():
    cfg = SyntheticConfig(distance_range=(0.3, 1.0), occluder_prob=0.0)
    again = from_dict(SyntheticConfig, to_dict(cfg))
    assert again == cfg
    with pytest.raises(ValueError, match="distance_range"):
        from_dict(SyntheticConfig, {"distance_range": [1.0, 0.5]})
    with pytest.raises(ValueError, match="occluder_prob"):
        from_dict(SyntheticConfig, {"occluder_prob": 1.5})
    with pytest.raises(ValueError, match="unknown setting"):
        from_dict(SyntheticConfig, {"no_such_setting": 1})
    with pytest.raises(ValueError, match="hfov"):
        SyntheticHands(SyntheticConfig(hfov_range_deg=(60.0, 175.0)))
    with pytest.raises(ValueError, match="out_size"):
        GEN.crop(0, out_size=4)


def test_export_and_load_round_trip(tmp_path):
    path = export_dataset(tmp_path / "crops", 3, seed=9, mode="crop", out_size=64, image_format="png", progress=False)
    assert path.name == "labels.json"
    data = load_exported(tmp_path / "crops")
    assert len(data) == 3
    gen = SyntheticHands(seed=9)
    for i in range(3):
        ref = gen.crop(i, 64)
        s = data[i]
        assert np.array_equal(s.image, ref.image)  # png is lossless
        assert np.allclose(s.K, ref.K) and np.allclose(s.uv, ref.uv) and np.allclose(s.xyz, ref.xyz)
        assert np.array_equal(s.visible, ref.visible) and s.handedness == ref.handedness
        assert np.allclose(s.meta["A"], ref.meta["A"])
    export_dataset(tmp_path / "frames", 2, seed=9, mode="frame", width=160, height=120, progress=False)
    frames = load_exported(tmp_path / "frames")
    ref = gen.frame(1, 160, 120)
    assert frames[1].image.shape == (120, 160, 3)
    assert np.mean(np.abs(frames[1].image.astype(float) - ref.image)) < 3.0  # jpeg
    assert np.allclose(frames[1].uv, ref.uv)
    with pytest.raises(FileNotFoundError):
        load_exported(tmp_path / "missing")
    with pytest.raises(ValueError, match="mode"):
        export_dataset(tmp_path / "x", 1, mode="video")


def test_hand_xyz_has_the_bones_of_the_rendered_hand(crops):
    for i in range(5):
        local = GEN.hand_xyz(i)
        assert np.allclose(local[0], 0.0)
        assert np.allclose(bone_lengths(local), bone_lengths(crops[i].sample.xyz), atol=1e-12)


def test_held_objects_sit_in_the_hand_without_swallowing_keypoints():
    from hand_pose_25d.data.synthetic.raycast import BOX, CONE

    found = 0
    for i in range(400):
        sc = GEN.scene(i, 320, 240)
        if "held_object" not in sc.info:
            continue
        found += 1
        obj = sc.num_hand  # the held object is the first primitive after the hand's
        raw = sc.prims.raw(obj)
        kind = sc.prims.kinds[obj]
        x = sc.xyz
        if kind == CONE:
            a, b, ra, rb = raw
            f = np.clip((x - a) @ (b - a) / ((b - a) @ (b - a)), 0, 1)
            dist = np.linalg.norm(x - (a + f[:, None] * (b - a)), axis=1)
            assert np.all(dist >= min(ra, rb) - 1e-6)
        elif kind == BOX:
            c, R, half = raw
            q = np.abs((x - c) @ R)
            assert not np.any(np.all(q < half - 1e-6, axis=1))
        else:  # sphere
            c, axes = raw
            assert np.all(np.linalg.norm(x - c, axis=1) >= axes[0, 0] - 1e-6)
        # and it is near the palm: within a hand length of the middle MCP
        assert np.linalg.norm(np.asarray(raw[0]) - x[9]) < 0.2
        if found >= 8:
            break
    assert found >= 8


def test_degradations_noise_level_and_gamma():
    from hand_pose_25d.data.synthetic.appearance import Degradation, degrade

    grey = np.full((120, 160, 3), 0.5, np.float32)
    out = degrade(grey, Degradation(noise_sigma=6.0), np.random.default_rng(0)).astype(float)
    # std a + b * signal with a = 0.65 sigma, b = 0.7 sigma: 1.0 sigma at mid grey
    assert out.std() == pytest.approx(6.0, rel=0.1)
    assert abs(out.mean() - 127.5) < 0.5
    clean = degrade(grey, Degradation(gamma=2.0), np.random.default_rng(0))
    assert np.all(np.abs(clean.astype(int) - round(255 * 0.5**2)) <= 1)
    ramp = np.repeat(np.linspace(0, 1, 160, dtype=np.float32)[None, :, None], 120, 0).repeat(3, 2)
    blurred = degrade(ramp, Degradation(blur_sigma=1.5, jpeg_quality=40), np.random.default_rng(0))
    assert np.abs(blurred.astype(int) - degrade(ramp, Degradation(), np.random.default_rng(0))).mean() < 4
