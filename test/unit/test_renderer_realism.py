"""Tests of the synthetic renderer's realism additions: background photos (found in folders, procedural fallback
with one warning), amplitude-spectrum (FDA) augmentation, the arm reaching out of the image, skin and sleeve
texture, soft shadows, colour temperature, determinism, and the legacy settings that turn all of it off."""

from __future__ import annotations

import dataclasses
import logging

import cv2
import numpy as np
import pytest

from hand_pose_25d.data.synthetic import SyntheticConfig, SyntheticHands
from hand_pose_25d.data.synthetic import appearance as app
from hand_pose_25d.data.synthetic.hand_model import gesture_pose, sample_shape
from hand_pose_25d.data.synthetic.raycast import CONE, render_primitives
from hand_pose_25d.data.synthetic.scene import (
    SKIN,
    SLEEVE,
    _cone_coords,
    _outside,
    build_scene,
    kelvin_to_rgb,
    sample_appearance,
    shade,
    shadow_factor,
)
from hand_pose_25d.data.synthetic.synthetic_config import LEGACY_SETTINGS, legacy_config

#: Degradations off, so that pixel values can be compared with what was drawn.
CLEAN = dict(
    gaussian_blur_prob=0.0,
    motion_blur_prob=0.0,
    noise_prob=0.0,
    jpeg_prob=0.0,
    vignetting_prob=0.0,
    brightness_jitter=0.0,
    contrast_jitter=0.0,
    saturation_jitter=0.0,
    white_balance_jitter=0.0,
    gamma_range=(1.0, 1.0),
    background_blur_prob=0.0,
    clutter_range=(0, 0),
)


@pytest.fixture
def photo_dir(tmp_path, monkeypatch):
    """A folder of four flat-colour 'photos' (one in two sizes, a screenshot and an opencv folder that must be left
    out), with the renderer's photo cache in a temporary folder and the process-wide libraries reset."""
    monkeypatch.setenv(app.BACKGROUND_CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(app.BACKGROUND_ENV, raising=False)
    monkeypatch.setattr(app, "_libraries", {})
    monkeypatch.setattr(app, "_warned", set())
    d = tmp_path / "photos"
    (d / "sub").mkdir(parents=True)
    (d / "opencv").mkdir()
    colours = {"red": (0, 0, 230), "green": (0, 200, 0), "blue": (220, 0, 0)}  # BGR
    for name, bgr in colours.items():
        img = np.zeros((120, 160, 3), np.uint8)
        img[:] = bgr
        cv2.imwrite(str(d / "sub" / f"{name}.png"), img)
    big = np.full((90, 160, 3), 128, np.uint8)
    cv2.imwrite(str(d / "grey_1920x1080.jpg"), big)
    cv2.imwrite(str(d / "grey_1280x720.jpg"), big)
    cv2.imwrite(str(d / "screenshot.png"), big)
    cv2.imwrite(str(d / "opencv" / "lena.png"), big)
    (d / "notes.txt").write_text("not a photo")
    return d


def test_find_background_photos_one_per_wallpaper(photo_dir, tmp_path):
    found = app.find_background_photos([photo_dir, tmp_path / "missing"])
    names = sorted(p.name for p in found)
    assert names == ["blue.png", "green.png", "grey_1920x1080.jpg", "red.png"]
    # a KDE wallpaper package in several sizes counts once, the landscape size nearest 1920 px wide
    kde = tmp_path / "kde" / "Autumn" / "contents" / "images"
    kde.mkdir(parents=True)
    for size in ("5120x2880", "1920x1080", "1080x1920"):
        cv2.imwrite(str(kde / f"{size}.png"), np.zeros((8, 8, 3), np.uint8))
    assert [p.name for p in app.find_background_photos([tmp_path / "kde"])] == ["1920x1080.png"]


def test_photo_backgrounds_used_and_deterministic(photo_dir, monkeypatch):
    cfg = SyntheticConfig(
        background_photo_prob=1.0, background_photo_dirs=(str(photo_dir),), background_photo_system=False, **CLEAN
    )
    cfg = dataclasses.replace(cfg, fda_prob=0.0)
    gen = SyntheticHands(cfg, seed=3)
    r = gen.render_frame(0)
    assert r.sample.meta["background"] == "photo"
    # the background pixels (depth = the wall) are one of the photos' flat colours
    bg = r.sample.image[r.sample.depth >= r.sample.depth.max() - 1e-6].astype(np.float64)
    rgb = np.median(bg, axis=0)
    colours = np.array([[230, 0, 0], [0, 200, 0], [0, 0, 220], [128, 128, 128]], np.float64)
    ratio = rgb / max(rgb.max(), 1.0)
    assert np.min(np.abs(colours / colours.max(axis=1, keepdims=True) - ratio).sum(axis=1)) < 0.08
    # same (seed, index) -> same pixels, also in a "new process" (libraries reset: the photos are read from the
    # disk cache written by the first load, which is what the first load used too)
    first = gen.frame(1).image
    monkeypatch.setattr(app, "_libraries", {})
    again = SyntheticHands(cfg, seed=3).frame(1).image
    assert np.array_equal(first, again)
    crop = gen.crop(2, 64)
    assert crop.meta["background"] == "photo" and crop.image.shape == (64, 64, 3)


def test_no_photos_falls_back_with_one_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(app, "_libraries", {})
    monkeypatch.setattr(app, "_warned", set())
    monkeypatch.delenv(app.BACKGROUND_ENV, raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = SyntheticConfig(background_photo_prob=1.0, background_photo_dirs=(str(empty),), background_photo_system=False)
    gen = SyntheticHands(cfg, seed=0)
    with caplog.at_level(logging.WARNING, logger=app.__name__):
        kinds = [gen.render_frame(i, 160, 120).sample.meta["background"] for i in range(3)]
        gen.crop(0, 32)
    assert kinds == ["procedural"] * 3
    warnings = [r for r in caplog.records if "no background photos" in r.getMessage()]
    assert len(warnings) == 1
    # FDA without photos takes its amplitude from a procedural background
    tgt = app.fda_target(np.random.default_rng(0), cfg, 32)
    assert tgt.shape == (32, 32, 3) and tgt.dtype == np.float32


def test_environment_variable_adds_a_folder(photo_dir, monkeypatch):
    monkeypatch.setenv(app.BACKGROUND_ENV, str(photo_dir))
    lib = app.photo_library(SyntheticConfig(background_photo_system=False))
    assert len(lib) == 4 and lib.image(0).dtype == np.uint8


def _spectrum(img):
    return np.fft.fft2(img.astype(np.float64), axes=(0, 1))


def test_fda_keeps_phase_and_moves_low_frequency_amplitude():
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.random((32, 32, 3), dtype=np.float32), (0, 0), 1.0)
    tgt = rng.random((32, 32, 3), dtype=np.float32) * np.float32(0.3) + np.float32(0.6)
    beta = 4 / 32  # b = 4 cycles per image
    out = app.fda_transfer(img, tgt, beta, 1.0)
    F, G, T = _spectrum(img), _spectrum(out), _spectrum(tgt)
    k = np.abs(np.fft.fftfreq(32) * 32)
    band = (k[:, None] <= 4) & (k[None, :] <= 4)
    for c in range(3):
        # amplitude inside the band is the target's, outside it is unchanged; the phase is kept everywhere
        np.testing.assert_allclose(np.abs(G[..., c])[band], np.abs(T[..., c])[band], rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(np.abs(G[..., c])[~band], np.abs(F[..., c])[~band], rtol=1e-3, atol=1e-3)
        strong = np.abs(F[..., c]) > 1e-2
        dphi = np.angle(G[..., c][strong] / F[..., c][strong])
        assert np.abs(dphi).max() < 1e-3
    # half blend: half way in amplitude
    half = _spectrum(app.fda_transfer(img, tgt, beta, 0.5))
    mid = 0.5 * (np.abs(F) + np.abs(T))
    np.testing.assert_allclose(np.abs(half)[band], mid[band], rtol=1e-3, atol=1e-3)


def test_fda_on_a_full_frame_changes_colour_not_structure():
    rng = np.random.default_rng(2)
    img = np.ascontiguousarray(cv2.resize(rng.random((60, 80, 3), dtype=np.float32), (640, 480)))
    img[200:280, 300:340] = 1.0  # an edge structure
    tgt = np.full((96, 96, 3), (0.9, 0.3, 0.1), np.float32)
    out = app.fda_transfer(img, tgt, 0.02, 1.0)
    # the mean colour (the DC amplitude) becomes the target's
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), [0.9, 0.3, 0.1], atol=0.01)
    # edges are kept: the high-pass part of the image is nearly unchanged
    hp = lambda x: x - cv2.GaussianBlur(x, (0, 0), 2.0)  # noqa: E731
    assert np.abs(hp(out) - hp(img)).mean() < 0.05 * np.abs(hp(img)).mean()
    assert np.abs(out - img).mean() > 0.1  # while the image as a whole did change


def test_fda_setting_changes_the_image_only_when_on():
    base = dict(CLEAN, background_photo_prob=0.0)
    off = SyntheticHands(SyntheticConfig(fda_prob=0.0, **base), seed=4).frame(0, 160, 120).image
    on = SyntheticHands(SyntheticConfig(fda_prob=1.0, fda_beta_range=(0.05, 0.05), **base), seed=4).frame(0, 160, 120)
    assert on.image.shape == off.shape and not np.array_equal(on.image, off)


def _arm_scene(arm_to_border, index=0, sleeve=0.05, width=640, height=480):
    rng = np.random.default_rng(index)
    shape = sample_shape(rng, (1.0, 1.0), 0.0, (1.0, 1.0))
    pose = gesture_pose("open", shape=shape)
    K = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
    # the hand upright in the image, wrist low, the forearm pointing down and a little away from the camera
    a = np.radians(20.0)
    R = np.array([[1.0, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]]) @ np.diag([1.0, -1.0, -1.0])
    T = np.array([0.0, 0.03, 0.9])
    look = sample_appearance(rng, SyntheticConfig())
    return build_scene(
        K, width, height, "right", shape, pose, R, T, look, sleeve_from=sleeve, arm_to_border=arm_to_border
    )


def test_arm_reaches_out_of_the_image():
    far = _arm_scene(True)
    short = _arm_scene(False)
    # the upper arm is the last hand primitive; with arm_to_border its end lies outside the image
    a, b, ra, rb = far.prims.raw(far.num_hand - 1)
    assert far.prims.materials[far.num_hand - 1] == SLEEVE
    assert _outside(b, rb, far.K, far.width, far.height)
    a2, b2, _, rb2 = short.prims.raw(short.num_hand - 1)
    assert not _outside(b2, rb2, short.K, short.width, short.height)  # the old short arm ends in view
    # rendered: forearm skin below the wrist, the sleeve beyond it, and arm pixels on the image's lower edge
    buf = render_primitives(far.prims, far.K, far.width, far.height)
    x0, y0, x1, y1 = buf.roi
    ids = np.full((far.height, far.width), -1, np.int64)
    ids[y0:y1, x0:x1] = buf.ids
    mats = np.asarray(far.prims.materials)
    wrist_v = far.K[1, 1] * far.xyz[0, 1] / far.xyz[0, 2] + far.K[1, 2]
    below = ids[int(wrist_v) + 5 :]
    arm_ids = [i for i in range(far.num_hand) if far.prims.joints[i] in ((0,), ())]
    assert np.isin(below, arm_ids).sum() > 500
    assert (mats[below[below >= 0]] == SLEEVE).sum() > 300
    assert np.isin(ids[-1], arm_ids).any()


def test_frames_by_default_have_arms_leaving_the_image():
    cfg = SyntheticConfig(forearm_prob=1.0, occluder_prob=0.0)
    gen = SyntheticHands(cfg, seed=11)
    left_view = 0
    with_upper = 0
    for i in range(12):
        sc = gen.scene(i, 640, 480)
        last = sc.num_hand - 1
        if sc.prims.kinds[last] == CONE and sc.prims.joints[last] == () and len(sc.prims.raw(last)) == 4:
            _, b, _, rb = sc.prims.raw(last)
            if np.linalg.norm(b - sc.xyz[0]) > 0.3 * sc.shape.scale:  # an upper arm (not the sleeve of a short arm)
                with_upper += 1
                left_view += _outside(b, rb, sc.K, 640, 480)
    assert with_upper >= 6 and left_view == with_upper


def test_skin_texture_varies_and_darkens_knuckles():
    sc = _arm_scene(False, sleeve=None)
    sc.appearance.albedo_noise = 0.0
    buf = render_primitives(sc.prims, sc.K, sc.width, sc.height)
    plain = shade(buf, sc, np.random.default_rng(0))
    sc.appearance.texture = 1.0
    sc.appearance.texture_seed = 5
    tex = shade(buf, sc, np.random.default_rng(0))
    ids = buf.ids.ravel()[buf.hit]
    skin = (np.asarray(sc.prims.materials)[ids] == SKIN) & (plain[1] > 0.05)
    ratio = tex[1][skin] / plain[1][skin]
    assert ratio.std() > 0.02  # blotches: the albedo varies across the hand
    # near the finger joints the skin is darker than mid-segment
    fingers = np.array([j for j, (_, ends) in sc.dorsal.items() if ends == (True, True)], np.int64)
    on_finger = np.flatnonzero(np.isin(ids, fingers) & skin)
    along, L, _ = _cone_coords(buf, sc, on_finger)
    to_joint = np.minimum(np.abs(along), np.abs(L - along))
    near = to_joint < 0.0025 * sc.shape.scale
    mid = np.abs(along / L - 0.5) < 0.15
    r = tex[1][on_finger] / plain[1][on_finger]
    assert near.sum() > 20 and mid.sum() > 20
    assert r[near].mean() < r[mid].mean() - 0.03


def test_sleeve_texture_varies():
    sc = _arm_scene(True)
    buf = render_primitives(sc.prims, sc.K, sc.width, sc.height)
    ids = buf.ids.ravel()[buf.hit]
    sleeve = np.asarray(sc.prims.materials)[ids] == SLEEVE
    plain = shade(buf, sc, np.random.default_rng(0))
    sc.appearance.sleeve_texture = 1.0
    tex = shade(buf, sc, np.random.default_rng(0))
    ratio = (tex[1][sleeve] + 1e-3) / (plain[1][sleeve] + 1e-3)
    assert sleeve.sum() > 1000 and ratio.std() > 0.03
    assert np.array_equal(tex[:, ~sleeve], plain[:, ~sleeve])


def test_shadows_follow_the_light():
    sc = _arm_scene(False, sleeve=None)
    buf = render_primitives(sc.prims, sc.K, sc.width, sc.height)
    # what the camera sees is lit by a light at the camera, and in shadow for a light behind the hand
    front = shadow_factor(sc, buf.points, np.array([0.0, 0.0, -1.0]), normals=buf.normals)
    # (without normals every point is tested: with them, points facing away from the light are skipped as lit,
    # since the key light cannot reach them anyway)
    back = shadow_factor(sc, buf.points, np.array([0.0, 0.0, 1.0]))
    ids = buf.ids.ravel()[buf.hit]
    hand = np.isin(ids, [i for i, j in enumerate(sc.prims.joints) if len(j) > 1])  # fingers, palm (not the arm)
    assert hand.sum() > 2000
    assert front[hand].mean() > 0.97 and back[hand].mean() < 0.3
    # with shadows on, a light from the side darkens part of the lit surface
    ld = np.array([0.9, 0.0, -0.45])
    ld /= np.linalg.norm(ld)
    sc.appearance.light_dir = ld
    sc.appearance.shadow = 0.0
    lit = shade(buf, sc, np.random.default_rng(0))
    sc.appearance.shadow = 0.8
    shadowed = shade(buf, sc, np.random.default_rng(0))
    darker = shadowed[1] < lit[1] - 0.02
    assert 0.01 < darker.mean() < 0.9 and np.all(shadowed[1] <= lit[1] + 1e-6)


def test_colour_temperature():
    warm, cold = kelvin_to_rgb(2700.0), kelvin_to_rgb(7500.0)
    assert warm[0] / warm[2] > 2.0 and cold[0] / cold[2] < 1.1
    lum = np.array([0.2126, 0.7152, 0.0722])
    assert abs(float(warm @ lum) - 1.0) < 1e-4


def test_legacy_settings_turn_realism_off_and_defaults_turn_it_on():
    default = SyntheticConfig()
    for key, value in LEGACY_SETTINGS.items():
        assert getattr(default, key) != value, key  # the defaults turn the realism on
    legacy = legacy_config()
    gen = SyntheticHands(legacy, seed=1)
    sc = gen.scene(0, 320, 240)
    ap = sc.appearance
    assert (ap.texture, ap.subsurface, ap.shadow, ap.sleeve_texture) == (0.0, 0.0, 0.0, 0.0)
    assert gen.render_frame(0, 320, 240).sample.meta["background"] == "procedural"


def test_default_renderer_deterministic():
    a = SyntheticHands(seed=9)
    b = SyntheticHands(seed=9)
    for i in range(3):
        assert np.array_equal(a.frame(i, 320, 240).image, b.frame(i, 320, 240).image)
        assert np.array_equal(a.crop(i, 64).image, b.crop(i, 64).image)
    assert not np.array_equal(a.crop(0, 64).image, a.crop(1, 64).image)
