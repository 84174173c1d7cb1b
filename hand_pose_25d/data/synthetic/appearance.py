"""Colours, backgrounds and image degradations of the synthetic renderer (numpy + OpenCV).

Images here are float32 RGB in [0, 1] (H, W, 3) until :func:`degrade` turns them into uint8.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .synthetic_config import SyntheticConfig

__all__ = [
    "SKIN_PALETTE",
    "sample_skin",
    "random_color",
    "value_noise",
    "make_background",
    "BACKGROUND_DIRS",
    "BACKGROUND_ENV",
    "PhotoLibrary",
    "find_background_photos",
    "photo_library",
    "photo_background",
    "scene_background",
    "fda_transfer",
    "Degradation",
    "sample_degradation",
    "degrade",
]

#: Skin tones (sRGB, 0-1) from very light to very dark; a sample interpolates between neighbours.
SKIN_PALETTE = np.array(
    [
        [0.98, 0.87, 0.79],
        [0.95, 0.80, 0.69],
        [0.89, 0.70, 0.57],
        [0.80, 0.59, 0.45],
        [0.70, 0.49, 0.35],
        [0.57, 0.38, 0.26],
        [0.44, 0.29, 0.20],
        [0.31, 0.20, 0.14],
        [0.22, 0.15, 0.11],
    ],
    dtype=np.float32,
)


def sample_skin(rng: np.random.Generator) -> Tuple[np.ndarray, float]:
    """A skin albedo (3,) and its darkness in [0, 1] (0: lightest palette entry)."""
    t = float(rng.uniform(0.0, len(SKIN_PALETTE) - 1))
    i = min(int(t), len(SKIN_PALETTE) - 2)
    f = t - i
    c = SKIN_PALETTE[i] * (1 - f) + SKIN_PALETTE[i + 1] * f
    c = c * np.exp(rng.normal(0.0, [0.035, 0.03, 0.045])).astype(np.float32)  # undertone variation
    return np.clip(c, 0.02, 1.0).astype(np.float32), t / (len(SKIN_PALETTE) - 1)


def random_color(rng: np.random.Generator, saturation: Optional[float] = None) -> np.ndarray:
    """A random RGB colour (3,) float32 via HSV (uniform hue, random saturation and value)."""
    h = rng.uniform(0, 1)
    s = rng.uniform(0.0, 0.9) if saturation is None else saturation
    v = rng.uniform(0.08, 1.0)
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    rgb = v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return rgb.astype(np.float32)


def value_noise(
    rng: np.random.Generator, height: int, width: int, cells: float, octaves: int = 4, persistence: float = 0.5
) -> np.ndarray:
    """Fractal (fBm) value noise (height, width) float32 in [0, 1], ``cells`` grid cells along the longer side
    at the coarsest octave; each octave doubles the frequency and multiplies the amplitude by ``persistence``."""
    out = np.zeros((height, width), np.float32)
    amp, total = 1.0, 0.0
    longer = max(height, width)
    for o in range(octaves):
        n = cells * (2**o)
        gh = max(2, int(math.ceil(n * height / longer)) + 1)
        gw = max(2, int(math.ceil(n * width / longer)) + 1)
        if gh > height or gw > width:
            break
        grid = rng.random((gh, gw), dtype=np.float32)
        # smooth (bicubic) to 8 px per cell, then bilinear to full size: bicubic at full size is ~14x slower
        mid = cv2.resize(grid, (min(width, gw * 8), min(height, gh * 8)), interpolation=cv2.INTER_CUBIC)
        out += amp * cv2.resize(mid, (width, height), interpolation=cv2.INTER_LINEAR)
        total += amp
        amp *= persistence
    out /= max(total, 1e-6)
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def _ramp(n: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """``c0 + (c1 - c0) * n`` for a field n (H, W) and colours (3,) -> (H, W, 3) float32 (per-plane arithmetic
    and a merge: numpy broadcasting over a trailing axis of 3 is ~20 times slower)."""
    n = np.ascontiguousarray(n, np.float32)
    d = np.asarray(c1, np.float32) - np.asarray(c0, np.float32)
    return cv2.merge([n * d[i] + np.float32(c0[i]) for i in range(3)])


def _modulate(img: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``img * f[..., None]`` for img (H, W, 3) and f (H, W), float32."""
    f = np.ascontiguousarray(f, np.float32)
    return cv2.multiply(np.ascontiguousarray(img, np.float32), cv2.merge([f, f, f]))


def _colorize(rng: np.random.Generator, n: np.ndarray) -> np.ndarray:
    """Map a [0, 1] field (H, W) through a random 2-3 stop colour ramp -> (H, W, 3)."""
    stops = [random_color(rng) for _ in range(int(rng.integers(2, 4)))]
    if len(stops) == 2:
        return _ramp(n, stops[0], stops[1])
    c0, c1, c2 = stops
    lo = np.clip(n * np.float32(2.0), 0, 1)
    hi = np.clip(n * np.float32(2.0) - np.float32(1.0), 0, 1)
    d1, d2 = c1 - c0, c2 - c1
    return cv2.merge([lo * d1[i] + hi * d2[i] + np.float32(c0[i]) for i in range(3)])


def _coords(height: int, width: int, angle: float) -> np.ndarray:
    """Pixel coordinate along direction ``angle`` (H, W), float32."""
    x = np.arange(width, dtype=np.float32)[None, :]
    y = np.arange(height, dtype=np.float32)[:, None]
    return x * np.float32(math.cos(angle)) + y * np.float32(math.sin(angle))


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One random base texture (H, W, 3) float32."""
    kind = int(rng.choice(6, p=[0.32, 0.12, 0.1, 0.14, 0.12, 0.2]))
    longer = max(height, width)
    if kind == 0:  # fBm, colour ramp
        return _colorize(rng, value_noise(rng, height, width, rng.uniform(1.5, 8), int(rng.integers(2, 6))))
    if kind == 1:  # stripes
        period = rng.uniform(0.02, 0.3) * longer
        phase = _coords(height, width, rng.uniform(0, math.pi)) * np.float32(2 * math.pi / period)
        s = np.sin(phase + np.float32(rng.uniform(0, 6.3)))
        sharp = rng.uniform(0.5, 8.0)
        n = np.clip(s * np.float32(sharp) * 0.5 + 0.5, 0, 1)
        return _ramp(n, random_color(rng), random_color(rng))
    if kind == 2:  # checker / tiles
        period = rng.uniform(0.03, 0.25) * longer
        ang = rng.uniform(0, math.pi / 2)
        a = np.floor(_coords(height, width, ang) / np.float32(period))
        b = np.floor(_coords(height, width, ang + math.pi / 2) / np.float32(period))
        n = ((a + b).astype(np.int32) & 1).astype(np.float32)
        return _ramp(n, random_color(rng), random_color(rng))
    if kind == 3:  # linear or radial gradient
        c0, c1 = random_color(rng), random_color(rng)
        if rng.random() < 0.6:
            g = _coords(height, width, rng.uniform(0, 2 * math.pi))
        else:
            cy, cx = rng.uniform(0, height), rng.uniform(0, width)
            y, x = np.ogrid[:height, :width]
            g = np.sqrt((x - cx) ** 2 + (y - cy) ** 2).astype(np.float32)
        g = (g - g.min()) / max(float(g.max() - g.min()), 1e-6)
        return _ramp(g, c0, c1)
    if kind == 4:  # flat colour with mild noise
        c = random_color(rng)
        n = value_noise(rng, height, width, rng.uniform(2, 6), 3)
        a = float(rng.uniform(0.05, 0.4))
        return _ramp(n, c * (1.0 - 0.5 * a), c * (1.0 + 0.5 * a))
    # "room": large axis-aligned panels (walls, furniture, doors) with noise
    c = random_color(rng)
    img = cv2.merge([np.full((height, width), c[i], np.float32) for i in range(3)])
    for _ in range(int(rng.integers(2, 6))):
        x0, x1 = (int(v) for v in np.sort(rng.integers(0, width + 1, 2)))
        y0, y1 = (int(v) for v in np.sort(rng.integers(0, height + 1, 2)))
        if rng.random() < 0.5:
            y0, y1 = 0, height
        if x1 > x0 and y1 > y0:
            cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), tuple(float(c) for c in random_color(rng)), -1)
    n = value_noise(rng, height, width, rng.uniform(2, 8), 3)
    return _modulate(img, 1.0 + (n - np.float32(0.5)) * np.float32(rng.uniform(0.05, 0.35)))


def _clutter(rng: np.random.Generator, img: np.ndarray, count: int, skin_prob: float) -> None:
    """Draw ``count`` random 2D shapes on ``img`` (H, W, 3) float32 in place."""
    h, w = img.shape[:2]
    longer = max(h, w)
    for _ in range(count):
        skin = rng.random() < skin_prob
        color = sample_skin(rng)[0] * np.float32(rng.uniform(0.6, 1.1)) if skin else random_color(rng)
        col = tuple(float(c) for c in np.clip(color, 0, 1))
        kind = 1 if skin else int(rng.integers(5))
        cx, cy = int(rng.integers(-w // 8, w + w // 8)), int(rng.integers(-h // 8, h + h // 8))
        size = max(2, int(longer * rng.uniform(0.03, 0.2 if skin else 0.35)))
        if kind == 0:
            x1, y1 = cx + int(size * rng.uniform(0.3, 2)), cy + int(size * rng.uniform(0.3, 2))
            cv2.rectangle(img, (cx, cy), (x1, y1), col, -1 if rng.random() < 0.8 else int(rng.integers(1, 6)))
        elif kind == 1:
            axes = (size, max(1, int(size * rng.uniform(0.2, 1.0))))
            cv2.ellipse(img, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
            if skin:  # soft shading across the blob
                inner = (axes[0] // 2, max(1, axes[1] // 2))
                darker = tuple(c * 0.85 for c in col)
                cv2.ellipse(
                    img,
                    (cx + axes[0] // 4, cy + axes[1] // 4),
                    inner,
                    float(rng.uniform(0, 180)),
                    0,
                    360,
                    darker,
                    -1,
                    cv2.LINE_AA,
                )
        elif kind == 2:
            x1, y1 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.line(img, (cx, cy), (x1, y1), col, int(rng.integers(1, max(2, longer // 40))), cv2.LINE_AA)
        elif kind == 3:
            n = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * math.pi, n))
            rad = size * rng.uniform(0.4, 1.0, n)
            pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], -1).astype(np.int32)
            cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
        else:
            thick = -1 if rng.random() < 0.7 else int(rng.integers(1, 5))
            cv2.circle(img, (cx, cy), size // 2, col, thick, cv2.LINE_AA)


def make_background(rng: np.random.Generator, height: int, width: int, cfg: SyntheticConfig) -> np.ndarray:
    """A random background image (H, W, 3) float32 in [0, 1]: texture, clutter, optional defocus blur.

    Images larger than 256 px are generated at half resolution and upsampled (texture, clutter and blur are
    smooth at that scale; it keeps a 640x480 background at a few milliseconds).
    """
    f = 2 if max(height, width) > 256 else 1
    hh, ww = (height + f - 1) // f, (width + f - 1) // f
    img = np.ascontiguousarray(_texture(rng, hh, ww), dtype=np.float32)
    lo, hi = cfg.clutter_range
    _clutter(rng, img, int(rng.integers(lo, hi + 1)), cfg.skin_distractor_prob)
    if rng.random() < cfg.background_blur_prob:
        sigma = float(rng.uniform(0.5, 4.0)) * max(hh, ww) / 256.0
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    if f > 1:
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(img, 0.0, 1.0, out=img)


# ----------------------------------------------------------------------------------------------------------
# photographic backgrounds

_log = logging.getLogger(__name__)

#: Standard folders searched for background photos (Debian's wallpaper packages install there:
#: plasma-workspace-wallpapers, mate-backgrounds, gnome-backgrounds; tools/setup_env.sh installs them).
BACKGROUND_DIRS: Tuple[str, ...] = ("/usr/share/wallpapers", "/usr/share/backgrounds")
#: Environment variable with more background folders (separated by os.pathsep).
BACKGROUND_ENV = "HAND_POSE_BACKGROUNDS"
#: Environment variable overriding the folder of the downscaled copies (default ~/.cache/hand_pose_25d/backgrounds).
BACKGROUND_CACHE_ENV = "HAND_POSE_BACKGROUND_CACHE"
_PHOTO_EXT = (".jpg", ".jpeg", ".png", ".webp")
#: Never backgrounds: the project's real-photo evaluation set (opencv-doc, tools/real_photos.py).
_EXCLUDED = ("opencv",)
_SIZE_IN_NAME = re.compile(r"(\d{3,5})x(\d{3,5})$")


def background_dirs(cfg: SyntheticConfig) -> List[Path]:
    """The folders searched for background photos: ``cfg.background_photo_dirs``, ``$HAND_POSE_BACKGROUNDS``, then
    (``cfg.background_photo_system``) :data:`BACKGROUND_DIRS`."""
    dirs = [Path(d).expanduser() for d in cfg.background_photo_dirs]
    dirs += [Path(d).expanduser() for d in os.environ.get(BACKGROUND_ENV, "").split(os.pathsep) if d.strip()]
    if cfg.background_photo_system:
        dirs += [Path(d) for d in BACKGROUND_DIRS]
    return dirs


def _rank(path: Path) -> Tuple[int, int, int, str]:
    """Preference among the sizes of one wallpaper: landscape, width nearest 1920, not a dark variant."""
    m = _SIZE_IN_NAME.search(path.stem)
    w, h = (int(m.group(1)), int(m.group(2))) if m else (1920, 1080)
    return (int(h > w), abs(w - 1920), int("dark" in str(path).lower()), str(path))


def find_background_photos(dirs: Sequence[os.PathLike]) -> List[Path]:
    """Photos (.jpg, .jpeg, .png, .webp) under ``dirs`` (recursively), sorted, one file per wallpaper.

    A wallpaper shipped in several sizes (KDE's ``NAME/contents/images/WxH.ext``, ``NAME_WxH.ext``) counts once
    (the landscape size nearest 1920 px wide); ``screenshot.*`` previews and anything under an ``opencv`` folder
    (the real-photo evaluation set) are left out. Missing folders are skipped.
    """
    groups: Dict[Tuple[str, str], List[Path]] = {}
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            continue
        for root, subdirs, files in os.walk(d, followlinks=True):
            subdirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                low = str(path).lower()
                if path.suffix.lower() not in _PHOTO_EXT or name.lower().startswith("screenshot"):
                    continue
                if any(x in low for x in _EXCLUDED):
                    continue
                parts = path.parts
                if len(parts) >= 4 and parts[-3] == "contents" and parts[-2] in ("images", "images_dark"):
                    key = (str(Path(*parts[:-3])), "")
                else:
                    key = (root, _SIZE_IN_NAME.sub("", path.stem).rstrip("_-"))
                groups.setdefault(key, []).append(path)
    return [min(groups[k], key=_rank) for k in sorted(groups)]


def _cache_dir() -> Path:
    env = os.environ.get(BACKGROUND_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hand_pose_25d" / "backgrounds"


class PhotoLibrary:
    """Background photos, decoded on first use, downscaled to ``max_side`` and kept in memory (uint8 RGB).

    Decoding a 5K wallpaper takes a quarter of a second, so each photo's downscaled copy is also kept on disk (a
    JPEG, quality 95, under :func:`_cache_dir`) for later processes; the copy is what every process uses (also the
    one that wrote it), so a sample's pixels do not depend on whether the cache existed. A photo that cannot be
    read is skipped (``image`` gives None).
    """

    def __init__(self, paths: Sequence[os.PathLike], max_side: int = 640, disk_cache: bool = True) -> None:
        self.paths = [Path(p) for p in paths]
        self.max_side = int(max_side)
        self.disk_cache = disk_cache
        self._images: "OrderedDict[int, Optional[np.ndarray]]" = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, path: Path) -> Optional[np.ndarray]:
        try:
            st = path.stat()
        except OSError:
            return None
        key = hashlib.sha1(f"{path}|{st.st_mtime_ns}|{st.st_size}|{self.max_side}".encode()).hexdigest()[:24]
        cached = _cache_dir() / f"{key}.jpg"
        if self.disk_cache and cached.is_file():
            bgr = cv2.imread(str(cached), cv2.IMREAD_COLOR)
            if bgr is not None:
                return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None or min(bgr.shape[:2]) < 16:
            return None
        f = self.max_side / max(bgr.shape[:2])
        if f < 1:
            size = (max(16, round(bgr.shape[1] * f)), max(16, round(bgr.shape[0] * f)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            return None
        if self.disk_cache:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
                tmp.write_bytes(buf.tobytes())
                os.replace(tmp, cached)
            except OSError:
                pass
        return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def image(self, k: int) -> Optional[np.ndarray]:
        """Photo ``k`` (H, W, 3) uint8 RGB, longer side at most ``max_side``; None when it cannot be read."""
        with self._lock:
            if k in self._images:
                return self._images[k]
        img = self._load(self.paths[k])
        with self._lock:
            self._images[k] = img
        return img

    def warm(self) -> int:
        """Decode every photo (filling the disk cache); returns how many could be read."""
        return sum(self.image(k) is not None for k in range(len(self)))


_libraries: Dict[Tuple[str, ...], PhotoLibrary] = {}
_warned: set = set()


def photo_library(cfg: SyntheticConfig) -> PhotoLibrary:
    """The (per-process, shared) :class:`PhotoLibrary` of ``cfg``'s background folders; an empty one, with a warning
    logged once per set of folders, when they hold no photo."""
    dirs = tuple(str(d) for d in background_dirs(cfg))
    lib = _libraries.get(dirs)
    if lib is None:
        lib = PhotoLibrary(find_background_photos([Path(d) for d in dirs]))
        _libraries[dirs] = lib
        if not len(lib) and dirs not in _warned:
            _warned.add(dirs)
            _log.warning(
                "no background photos in %s: the synthetic renderer uses procedural backgrounds only (install "
                "plasma-workspace-wallpapers, mate-backgrounds or gnome-backgrounds, or set %s)",
                ", ".join(dirs) or "(no folder)",
                BACKGROUND_ENV,
            )
    return lib


def _photo_region(rng: np.random.Generator, photo: np.ndarray, height: int, width: int) -> np.ndarray:
    """A random view of ``photo`` (uint8) warped to (height, width) float32 [0, 1]: a region of 35-100 % of the
    largest one with the output's aspect, mirrored half of the time, turned by up to 8 degrees."""
    H0, W0 = photo.shape[:2]
    aspect = width / height
    fit_w = min(W0, H0 * aspect)
    f = float(rng.uniform(0.35, 1.0))
    rw, rh = fit_w * f, fit_w * f / aspect
    cx = float(rng.uniform(rw / 2, W0 - rw / 2)) if W0 > rw else W0 / 2
    cy = float(rng.uniform(rh / 2, H0 - rh / 2)) if H0 > rh else H0 / 2
    s = width / rw
    a = math.radians(float(rng.uniform(-8, 8)))
    flip = -1.0 if rng.random() < 0.5 else 1.0
    c, si = math.cos(a) * s, math.sin(a) * s
    # output pixel = M @ (photo pixel - centre) + output centre
    M = np.array([[flip * c, si, 0.0], [-flip * si, c, 0.0]])
    M[:, 2] = np.array([(width - 1) / 2, (height - 1) / 2]) - M[:, :2] @ np.array([cx, cy])
    # only the part of the photo the view covers (its bounding box plus a margin) is processed
    half = 0.5 * math.hypot(rw, rh) + 2
    x0, x1 = max(0, int(cx - half)), min(W0, int(math.ceil(cx + half)))
    y0, y1 = max(0, int(cy - half)), min(H0, int(math.ceil(cy + half)))
    sub = photo[y0:y1, x0:x1]
    M[:, 2] += M[:, :2] @ np.array([x0, y0], np.float64)
    if s < 0.5:  # warpAffine has no area filter: shrink first
        k = 1.5 * s
        size = (max(2, round(sub.shape[1] * k)), max(2, round(sub.shape[0] * k)))
        small = cv2.resize(sub, size, interpolation=cv2.INTER_AREA)
        M[:, 0] *= sub.shape[1] / small.shape[1]
        M[:, 1] *= sub.shape[0] / small.shape[0]
        sub = small
    out = cv2.warpAffine(sub, M, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out.astype(np.float32) * np.float32(1.0 / 255.0)


def photo_background(
    rng: np.random.Generator, height: int, width: int, cfg: SyntheticConfig, lib: PhotoLibrary
) -> Optional[np.ndarray]:
    """A background (H, W, 3) float32 [0, 1] cut from a random photo of ``lib`` (see :func:`_photo_region`), with a
    random exposure, defocus blur (``background_blur_prob``) and, half of the time, a few clutter shapes (skin
    distractors among them); None when the photo drawn cannot be read."""
    photo = lib.image(int(rng.integers(len(lib))))
    if photo is None:
        return None
    img = _photo_region(rng, photo, height, width)
    img *= np.float32(rng.uniform(0.65, 1.15))
    if rng.random() < 0.5:
        lo, hi = cfg.clutter_range
        _clutter(rng, img, int(rng.integers(lo, max(lo, hi // 2) + 1)), cfg.skin_distractor_prob)
    if rng.random() < cfg.background_blur_prob:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 3.0)) * max(height, width) / 256.0)
    return np.clip(img, 0.0, 1.0, out=img)


def scene_background(
    rng: np.random.Generator, photo_rng: np.random.Generator, height: int, width: int, cfg: SyntheticConfig
) -> Tuple[np.ndarray, str]:
    """The background of one image and its kind ('photo' or 'procedural').

    ``photo_rng`` decides (``background_photo_prob``) and cuts the photo; a procedural background draws from ``rng``
    alone, so it is the same image whatever the photo settings (and with them off, the renderer's images are those
    of the renderer before photos).
    """
    if cfg.background_photo_prob > 0 and photo_rng.random() < cfg.background_photo_prob:
        lib = photo_library(cfg)
        if len(lib):
            img = photo_background(photo_rng, height, width, cfg, lib)
            if img is not None:
                return img, "photo"
    return make_background(rng, height, width, cfg), "procedural"


def fda_target(rng: np.random.Generator, cfg: SyntheticConfig, size: int = 96) -> np.ndarray:
    """A small image (float32 [0, 1]) whose amplitude spectrum FDA transfers: a view of a random background photo,
    or a procedural background when there is no photo."""
    lib = photo_library(cfg)
    if len(lib):
        photo = lib.image(int(rng.integers(len(lib))))
        if photo is not None:
            return _photo_region(rng, photo, size, size)
    return make_background(rng, size, size, cfg)


def fda_transfer(img: np.ndarray, target: np.ndarray, beta: float, blend: float) -> np.ndarray:
    """Fourier domain adaptation (Yang & Soatto, CVPR 2020) of ``img`` (H, W, 3) float32 towards ``target``.

    Per channel, the amplitude spectrum of ``img`` within the low-frequency square ``|k_x|, |k_y| <= b`` cycles per
    image, ``b = floor(beta x min(H, W))``, becomes ``(1 - blend) A_img + blend A_target`` (``target`` resized to
    the image's size); the phase is kept everywhere. Only frequencies up to ``b`` change, so the change is computed
    on a copy downscaled to ``max(32, 4 b + 8)`` px (short side) and added upsampled: a few hundred microseconds at
    640x480 instead of full-size FFTs. Returns a new float32 image (not clipped).
    """
    H, W = img.shape[:2]
    b = int(math.floor(beta * min(H, W)))
    short = min(min(H, W), max(32, 4 * b + 8))
    f = short / min(H, W)
    sh, sw = (short, max(8, round(W * f))) if H <= W else (max(8, round(H * f)), short)
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA) if (sh, sw) != (H, W) else img
    tgt = cv2.resize(np.ascontiguousarray(target, np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    F = np.fft.rfft2(small, axes=(0, 1))
    Ft = np.fft.rfft2(tgt, axes=(0, 1))
    ky = np.abs(np.fft.fftfreq(sh) * sh)[:, None]
    kx = np.abs(np.fft.rfftfreq(sw) * sw)[None, :]
    band = (ky <= b + 1e-9) & (kx <= b + 1e-9)
    amp = np.abs(F[band])
    new_amp = (1.0 - blend) * amp + blend * np.abs(Ft[band])
    G = np.zeros_like(F)
    G[band] = F[band] * (new_amp / np.maximum(amp, 1e-12) - 1.0)  # the change of the spectrum, phase kept
    delta = np.fft.irfft2(G, s=(sh, sw), axes=(0, 1)).astype(np.float32)
    if (sh, sw) != (H, W):
        delta = cv2.resize(delta, (W, H), interpolation=cv2.INTER_CUBIC)
    return cv2.add(np.ascontiguousarray(img, np.float32), delta)


# ----------------------------------------------------------------------------------------------------------
# degradations


@dataclass
class Degradation:
    """Parameters of the camera degradations of one image (all optional; None/0 = off)."""

    motion_length: int = 0
    motion_angle: float = 0.0
    blur_sigma: float = 0.0
    gains: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    gamma: float = 1.0
    vignetting: float = 0.0
    noise_sigma: float = 0.0
    jpeg_quality: int = 0


def sample_degradation(rng: np.random.Generator, cfg: SyntheticConfig) -> Degradation:
    """Draw the degradations of one image from ``cfg``."""
    d = Degradation()
    if rng.random() < cfg.motion_blur_prob:
        lo, hi = cfg.motion_blur_length_range
        d.motion_length = int(rng.integers(lo, hi + 1))
        d.motion_angle = float(rng.uniform(0, 180))
    if rng.random() < cfg.gaussian_blur_prob:
        d.blur_sigma = float(rng.uniform(*cfg.blur_sigma_range))
    d.gains = tuple(float(g) for g in 1.0 + rng.uniform(-cfg.white_balance_jitter, cfg.white_balance_jitter, 3))
    d.brightness = float(1.0 + rng.uniform(-cfg.brightness_jitter, cfg.brightness_jitter))
    d.contrast = float(1.0 + rng.uniform(-cfg.contrast_jitter, cfg.contrast_jitter))
    d.saturation = float(1.0 + rng.uniform(-cfg.saturation_jitter, cfg.saturation_jitter))
    d.gamma = float(np.exp(rng.uniform(np.log(cfg.gamma_range[0]), np.log(cfg.gamma_range[1]))))
    if rng.random() < cfg.vignetting_prob:
        d.vignetting = float(rng.uniform(0.1, 1.0) * cfg.vignetting_strength)
    if rng.random() < cfg.noise_prob:
        d.noise_sigma = float(rng.uniform(*cfg.noise_sigma_range))
    if rng.random() < cfg.jpeg_prob:
        lo, hi = cfg.jpeg_quality_range
        d.jpeg_quality = int(rng.integers(lo, hi + 1))
    return d


_NOISE_TILE = 512
_noise_tile: Optional[np.ndarray] = None


def gaussian_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Unit-variance normal noise (height, width, 3) float32, channels partly correlated.

    Drawing 1M normal deviates costs ~9 ms, more than rendering a frame, so images up to 1024 px use a window at
    a random offset of a fixed per-process 1024 px tile (generated once from a constant seed: the same in every
    process, so samples stay deterministic). Larger images draw fresh noise.
    """
    global _noise_tile
    if _noise_tile is None:
        base = np.random.default_rng(20240601).standard_normal((2 * _NOISE_TILE, 2 * _NOISE_TILE, 3), dtype=np.float32)
        # channels partly correlated (a luma component), unit variance per channel
        mix = (0.8 * np.eye(3) + 0.35 * np.ones((3, 3))).astype(np.float32)
        mix /= np.sqrt((mix**2).sum(axis=1, keepdims=True))
        _noise_tile = np.ascontiguousarray(base @ mix.T)
    if height > 2 * _NOISE_TILE or width > 2 * _NOISE_TILE:
        return rng.standard_normal((height, width, 3), dtype=np.float32)
    oy = int(rng.integers(0, 2 * _NOISE_TILE - height + 1))
    ox = int(rng.integers(0, 2 * _NOISE_TILE - width + 1))
    return _noise_tile[oy : oy + height, ox : ox + width]  # a view with contiguous rows (OpenCV accepts it)


def degrade(
    img: np.ndarray,
    d: Degradation,
    rng: np.random.Generator,
    radius2: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Apply degradations ``d`` to ``img`` (H, W, 3) float32 [0, 1] and return uint8 RGB.

    Args:
        radius2: (H, W) squared distance of each pixel from the camera's optical centre divided by the squared
            half-diagonal of the camera image (for vignetting); None skips vignetting.
        rng: noise source.
    """
    if d.motion_length >= 2:
        k = np.zeros((d.motion_length, d.motion_length), np.float32)
        c = (d.motion_length - 1) / 2.0
        a = math.radians(d.motion_angle)
        p0 = (int(round(c - c * math.cos(a))), int(round(c - c * math.sin(a))))
        p1 = (int(round(c + c * math.cos(a))), int(round(c + c * math.sin(a))))
        cv2.line(k, p0, p1, 1.0, 1)
        img = cv2.filter2D(img, -1, k / max(float(k.sum()), 1e-6), borderType=cv2.BORDER_REFLECT)
    if d.blur_sigma > 0.2:
        img = cv2.GaussianBlur(img, (0, 0), d.blur_sigma)
    # colour: white balance gains, brightness, saturation and contrast as one affine colour transform
    sat = d.saturation
    M = sat * np.eye(3) + (1.0 - sat) * np.ones((3, 1)) * np.array([[0.299, 0.587, 0.114]])
    M = d.brightness * np.asarray(d.gains)[:, None] * M
    mean = float(np.mean(cv2.mean(img)[:3] @ M.T))
    aff = np.concatenate([d.contrast * M, np.full((3, 1), (1.0 - d.contrast) * mean)], axis=1).astype(np.float32)
    img = cv2.transform(img, aff)
    if d.vignetting > 0 and radius2 is not None:
        fall = 1.0 - np.float32(d.vignetting) * np.minimum(radius2, 1.5).astype(np.float32)
        img = cv2.multiply(img, cv2.merge([fall, fall, fall]))
    if d.noise_sigma > 0:
        # read noise plus signal-dependent shot noise, correlated across channels (a luma component), added
        # before the tone curve (gamma) as in a camera
        h, w = img.shape[:2]
        noise = gaussian_noise(rng, h, w)
        # std a + b * signal (shot noise grows with the signal; linear is close enough and cheaper than a sqrt):
        # img + (a + b img) n, with OpenCV arithmetic (multi-threaded, several times faster than numpy here)
        a, b = 0.65 * d.noise_sigma / 255.0, 0.7 * d.noise_sigma / 255.0
        img = cv2.scaleAdd(cv2.multiply(img, noise), b, img)
        img = cv2.scaleAdd(noise, a, img)
    out = cv2.convertScaleAbs(cv2.max(img, 0.0), alpha=255.0)  # rounds and saturates to uint8
    if d.gamma != 1.0:  # tone curve as a lookup table
        lut = np.clip(np.round(255.0 * (np.arange(256) / 255.0) ** d.gamma), 0, 255).astype(np.uint8)
        out = cv2.LUT(out, lut)
    if d.jpeg_quality > 0:
        bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, d.jpeg_quality])
        if ok:
            out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(out)
