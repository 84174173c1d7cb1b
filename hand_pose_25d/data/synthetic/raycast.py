"""Ray casting of analytic primitives with a z-buffer (numpy; OpenCV only to rasterise culling masks).

Primitives live in the camera frame (x right, y down, z forward, metres). The ray of pixel (u, v) for
intrinsics ``K`` is ``d = K^-1 [u, v, 1]``, with ``d_z = 1``, so the ray parameter ``t`` of a hit IS its depth Z.
Any ``K`` with last row (0, 0, 1) works, including rotated crop intrinsics ``A3 @ K``.

Kinds:

* round cone: the convex hull of two spheres (tapered capsule); sphere/capsule/cylinder-like rods are special cases;
* ellipsoid: centre and a (3, 3) matrix whose columns are the semi-axes (spheres, palms, blobs);
* box: centre, rotation and half extents.

Each kind has one intersection kernel written with broadcasting, used both per primitive on the pixels of the
primitive's screen bounding box (rendering) and batched over all primitives x keypoint rays (visibility).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = ["PrimitiveSet", "RenderBuffers", "render_primitives", "ray_directions", "CONE", "ELLIPSOID", "BOX"]

CONE, ELLIPSOID, BOX = 0, 1, 2
_NEAR = 1e-3


# ----------------------------------------------------------------------------------------------------------
# parameter tables (one row per primitive of a kind)


def _cone_table(A: np.ndarray, B: np.ndarray, ra: np.ndarray, rb: np.ndarray) -> Dict[str, np.ndarray]:
    """Derived constants of round cones (n,) from end centres A, B (n, 3) and radii ra, rb (n,)."""
    AB = B - A
    L = np.linalg.norm(AB, axis=1)
    ok = L > np.abs(ra - rb) + 1e-9
    w = np.where(ok[:, None], AB / np.where(ok, L, 1.0)[:, None], np.array([0.0, 0.0, 1.0]))
    sn = np.where(ok, (ra - rb) / np.where(ok, L, 1.0), 0.0)
    c2 = 1.0 - sn * sn
    Aw = np.einsum("ij,ij->i", A, w)
    AA = np.einsum("ij,ij->i", A, A)
    BB = np.einsum("ij,ij->i", B, B)
    e = ra + Aw * sn
    return {
        "Ax": A[:, 0],
        "Ay": A[:, 1],
        "Az": A[:, 2],
        "Bx": B[:, 0],
        "By": B[:, 1],
        "Bz": B[:, 2],
        "wx": w[:, 0],
        "wy": w[:, 1],
        "wz": w[:, 2],
        "ra": ra,
        "rb": rb,
        "L": L,
        "sn": sn,
        "cs": np.sqrt(c2),
        "c2": c2,
        "Aw": Aw,
        "k1": c2 * Aw + e * sn,
        "cc": c2 * (AA - Aw * Aw) - e * e,
        "ccA": AA - ra * ra,
        "ccB": BB - rb * rb,
        # lateral surface valid for axial coordinates s in [slo, shi]; empty where one sphere contains the other
        "slo": np.where(ok, ra * sn, 1.0),
        "shi": np.where(ok, L + rb * sn, -1.0),
        # the same bounds for s + Aw = t (d.w) (saves one subtraction per pixel)
        "slo_Aw": np.where(ok, ra * sn + Aw, 1.0),
        "shi_Aw": np.where(ok, L + rb * sn + Aw, -1.0),
        # tan of the half-angle, for the normals
        "tan": sn / np.sqrt(c2),
    }


def _ellipsoid_table(c: np.ndarray, axes: np.ndarray) -> Dict[str, np.ndarray]:
    """Constants of ellipsoids: centres (n, 3), semi-axis matrices (n, 3, 3) (columns = semi-axes)."""
    M = np.linalg.inv(axes)  # maps camera-frame offsets to unit-sphere coordinates
    o = -np.einsum("nij,nj->ni", M, c)
    tab = {
        "cx": c[:, 0],
        "cy": c[:, 1],
        "cz": c[:, 2],
        "ox": o[:, 0],
        "oy": o[:, 1],
        "oz": o[:, 2],
        "cc": np.einsum("ni,ni->n", o, o) - 1.0,
        "centre3": c,
        "extent3": np.sqrt((axes**2).sum(axis=2)),
    }
    for i in range(3):
        for j in range(3):
            tab[f"m{i}{j}"] = M[:, i, j]
    return tab


def _box_table(c: np.ndarray, R: np.ndarray, half: np.ndarray) -> Dict[str, np.ndarray]:
    """Constants of boxes: centres (n, 3), rotations (n, 3, 3) (columns = box axes), half extents (n, 3)."""
    o = -np.einsum("nji,nj->ni", R, c)  # camera origin in box coordinates
    tab = {
        "ox": o[:, 0],
        "oy": o[:, 1],
        "oz": o[:, 2],
        "hx": half[:, 0],
        "hy": half[:, 1],
        "hz": half[:, 2],
        "centre3": c,
        "extent3": np.einsum("nij,nj->ni", np.abs(R), half),
    }
    for i in range(3):
        for j in range(3):
            tab[f"r{i}{j}"] = R[:, i, j]
    return tab


# ----------------------------------------------------------------------------------------------------------
# kernels: rays (dx, dy, 1) with dd = dx^2 + dy^2 + 1 (any shape); parameters (python floats for one primitive,
# or (P, 1) columns against (1, N) rays) broadcast against the rays. Results: depth t, NaN or inf for a miss.


Params = Dict[str, "np.ndarray | float"]


def _hit_cone(dx: np.ndarray, dy: np.ndarray, dd: np.ndarray, p: Params, skip_a: bool = False) -> np.ndarray:
    """Nearest hit depth of rays with round cones (inf or NaN: miss).

    The round cone is the union of its two end spheres and the lateral frustum between their tangent circles,
    so the first hit is the minimum over the three (``np.fmin`` ignores the NaN of missed components). On the
    lateral surface only the smaller root is used: for rays steeper than the cone's half-angle both roots lie on
    the same nappe and the smaller one is the entry; rays within the half-angle of the axis (looking along the
    finger) enter through an end sphere. ``skip_a`` leaves out sphere A when another primitive has the same
    sphere (shared finger joints). The camera must be outside the primitive (then every hit has t > 0).
    """
    dA = dx * p["Ax"] + dy * p["Ay"] + p["Az"]
    dw = dx * p["wx"] + dy * p["wy"] + p["wz"]
    dB = dA + p["L"] * dw  # B = A + L w
    t = (dB - np.sqrt(dB * dB - dd * p["ccB"])) / dd
    if not skip_a:
        t = np.fmin(t, (dA - np.sqrt(dA * dA - dd * p["ccA"])) / dd)
    # lateral surface: a t^2 + 2 hb t + cc = 0, valid within the slab [slo, shi] of the axis coordinate
    a = p["c2"] * dd - dw * dw
    hb = dw * p["k1"] - p["c2"] * dA
    tl = -(hb + np.sqrt(hb * hb - a * p["cc"])) / a
    s = tl * dw
    valid = (s >= p["slo_Aw"]) & (s <= p["shi_Aw"]) & (a > 0)
    return np.fmin(t, np.where(valid, tl, np.nan))


def _hit_ellipsoid(dx: np.ndarray, dy: np.ndarray, dd: np.ndarray, p: Params) -> np.ndarray:
    """Nearest hit depth of rays with ellipsoids (NaN: miss): the ray mapped into the unit sphere's frame."""
    ex = p["m00"] * dx + p["m01"] * dy + p["m02"]
    ey = p["m10"] * dx + p["m11"] * dy + p["m12"]
    ez = p["m20"] * dx + p["m21"] * dy + p["m22"]
    a = ex * ex + ey * ey + ez * ez
    hb = p["ox"] * ex + p["oy"] * ey + p["oz"] * ez
    return (-hb - np.sqrt(hb * hb - a * p["cc"])) / a


def _hit_box(dx: np.ndarray, dy: np.ndarray, dd: np.ndarray, p: Params) -> np.ndarray:
    """Nearest hit depth of rays with oriented boxes (NaN: miss), by the slab method in the box's frame."""
    tmin = None
    tmax = None
    for i, (o, h) in enumerate((("ox", "hx"), ("oy", "hy"), ("oz", "hz"))):
        di = p[f"r0{i}"] * dx + p[f"r1{i}"] * dy + p[f"r2{i}"]
        di = np.where(np.abs(di) < 1e-12, 1e-12, di)
        t1 = (-p[h] - p[o]) / di
        t2 = (p[h] - p[o]) / di
        lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
        tmin = lo if tmin is None else np.maximum(tmin, lo)
        tmax = hi if tmax is None else np.minimum(tmax, hi)
    return np.where((tmin <= tmax) & (tmin > _NEAR), tmin, np.nan)


_KERNELS = {CONE: _hit_cone, ELLIPSOID: _hit_ellipsoid, BOX: _hit_box}


# ----------------------------------------------------------------------------------------------------------
# normals at hit points (vectorised over points; parameters gathered per point)


def _unit(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    inv = 1.0 / np.maximum(np.sqrt(x * x + y * y + z * z), 1e-12)
    return np.stack([x * inv, y * inv, z * inv], -1)


def _normal_cone(px: np.ndarray, py: np.ndarray, pz: np.ndarray, p: Dict[str, np.ndarray]) -> np.ndarray:
    """Unit normals (n, 3) at surface points (px, py, pz) of round cones (parameters gathered per point).

    The normal points from the centre of the inscribed sphere touching the surface there, which lies on the
    axis at s - rho tan(alpha) (lateral surface), clamped to the end centres A or B (caps).
    """
    qx, qy, qz = px - p["Ax"], py - p["Ay"], pz - p["Az"]
    wx, wy, wz = p["wx"], p["wy"], p["wz"]
    s = qx * wx + qy * wy + qz * wz
    rho = np.sqrt(np.maximum(qx * qx + qy * qy + qz * qz - s * s, 0.0))
    sc = np.minimum(np.maximum(s - rho * p["tan"], 0.0), p["L"])
    return _unit(qx - sc * wx, qy - sc * wy, qz - sc * wz)


def _normal_ellipsoid(px: np.ndarray, py: np.ndarray, pz: np.ndarray, p: Dict[str, np.ndarray]) -> np.ndarray:
    """Unit normals (n, 3) of ellipsoids: M^T M (x - c) with M the world -> unit-sphere map."""
    dx, dy, dz = px - p["cx"], py - p["cy"], pz - p["cz"]
    q = [p[f"m{i}0"] * dx + p[f"m{i}1"] * dy + p[f"m{i}2"] * dz for i in range(3)]
    n = [p[f"m0{j}"] * q[0] + p[f"m1{j}"] * q[1] + p[f"m2{j}"] * q[2] for j in range(3)]
    return _unit(*n)


def _normal_box(px: np.ndarray, py: np.ndarray, pz: np.ndarray, p: Dict[str, np.ndarray]) -> np.ndarray:
    """Unit normals (n, 3) of boxes: the axis of the face the point lies on."""
    q = [p[f"r0{i}"] * px + p[f"r1{i}"] * py + p[f"r2{i}"] * pz + p[("ox", "oy", "oz")[i]] for i in range(3)]
    rel = np.stack([np.abs(q[i]) / np.maximum(p[("hx", "hy", "hz")[i]], 1e-12) for i in range(3)], -1)
    k = np.argmax(rel, axis=1)
    sign = np.sign(np.stack(q, -1)[np.arange(len(k)), k])
    R = np.stack([np.stack([p[f"r{i}{j}"] for j in range(3)], -1) for i in range(3)], -2)  # (n, 3, 3)
    return R[np.arange(len(k)), :, k] * sign[:, None]


_NORMALS = {CONE: _normal_cone, ELLIPSOID: _normal_ellipsoid, BOX: _normal_box}
_NORMAL_KEYS = {
    CONE: ("Ax", "Ay", "Az", "wx", "wy", "wz", "tan", "L"),
    ELLIPSOID: ("cx", "cy", "cz") + tuple(f"m{i}{j}" for i in range(3) for j in range(3)),
    BOX: ("ox", "oy", "oz", "hx", "hy", "hz") + tuple(f"r{i}{j}" for i in range(3) for j in range(3)),
}


# ----------------------------------------------------------------------------------------------------------
# primitive sets


@dataclass
class PrimitiveSet:
    """Primitives of one scene in the camera frame, with per-primitive material and keypoint attachment.

    Attributes (one entry per primitive, in insertion order = primitive id):
        kinds: CONE / ELLIPSOID / BOX.
        materials: index into the scene's material table.
        joints: keypoints the primitive belongs to (visibility), empty for non-hand primitives.
        nails: dorsal unit direction for distal phalanges (nail drawing) or None.
    """

    kinds: List[int] = field(default_factory=list)
    materials: List[int] = field(default_factory=list)
    joints: List[Tuple[int, ...]] = field(default_factory=list)
    nails: List[Optional[np.ndarray]] = field(default_factory=list)
    _raw: List[tuple] = field(default_factory=list)
    _tables: Optional[Dict[int, Tuple[np.ndarray, Dict[str, np.ndarray]]]] = None

    def __len__(self) -> int:
        return len(self.kinds)

    def _add(self, kind: int, raw: tuple, material: int, joints: Sequence[int], nail: Optional[np.ndarray]) -> int:
        self.kinds.append(kind)
        self._raw.append(raw)
        self.materials.append(int(material))
        self.joints.append(tuple(int(j) for j in joints))
        self.nails.append(None if nail is None else np.asarray(nail, dtype=np.float64))
        self._tables = None
        return len(self.kinds) - 1

    def add_cone(self, a, b, ra: float, rb: float, material: int = 0, joints: Sequence[int] = (), nail=None) -> int:
        """Round cone between spheres (a, ra) and (b, rb); returns its id."""
        if not (ra > 0 and rb > 0):
            raise ValueError(f"round cone radii must be positive, got {ra}, {rb}")
        raw = (np.asarray(a, np.float64), np.asarray(b, np.float64), float(ra), float(rb))
        return self._add(CONE, raw, material, joints, nail)

    def add_ellipsoid(self, centre, axes, material: int = 0, joints: Sequence[int] = ()) -> int:
        """Ellipsoid with centre (3,) and semi-axes as the columns of ``axes`` (3, 3); returns its id."""
        axes = np.asarray(axes, np.float64)
        if abs(np.linalg.det(axes)) < 1e-15:
            raise ValueError("ellipsoid axes are degenerate")
        return self._add(ELLIPSOID, (np.asarray(centre, np.float64), axes), material, joints, None)

    def add_sphere(self, centre, radius: float, material: int = 0, joints: Sequence[int] = ()) -> int:
        """Sphere (an ellipsoid with equal axes); returns its id."""
        if not radius > 0:
            raise ValueError(f"sphere radius must be positive, got {radius}")
        return self.add_ellipsoid(centre, np.eye(3) * radius, material, joints)

    def add_box(self, centre, rotation, half, material: int = 0) -> int:
        """Box with centre (3,), rotation (3, 3) (columns = axes) and half extents (3,); returns its id."""
        half = np.asarray(half, np.float64)
        if np.any(half <= 0):
            raise ValueError(f"box half extents must be positive, got {half}")
        return self._add(
            BOX, (np.asarray(centre, np.float64), np.asarray(rotation, np.float64), half), material, (), None
        )

    def transformed(self, R: np.ndarray, t: np.ndarray, ids: Optional[Sequence[int]] = None) -> "PrimitiveSet":
        """A copy with every primitive (or those of ``ids``, renumbered from 0) mapped by x -> R x + t (R a
        rotation), materials and joints kept."""
        R = np.asarray(R, np.float64)
        t = np.asarray(t, np.float64)
        out = PrimitiveSet()
        keep = range(len(self)) if ids is None else [int(i) for i in ids]
        for i in keep:
            kind, raw, mat, joints = self.kinds[i], self._raw[i], self.materials[i], self.joints[i]
            if kind == CONE:
                new = (R @ raw[0] + t, R @ raw[1] + t, raw[2], raw[3])
            elif kind == ELLIPSOID:
                new = (R @ raw[0] + t, R @ raw[1])
            else:
                new = (R @ raw[0] + t, R @ raw[1], raw[2])
            out._add(kind, new, mat, joints, None)
        return out

    def raw(self, pid: int) -> tuple:
        """Defining parameters of primitive ``pid`` (see the ``add_*`` methods)."""
        return self._raw[pid]

    # -- derived tables ------------------------------------------------------------------------------------
    def tables(self) -> Dict[int, Tuple[np.ndarray, Dict[str, np.ndarray]]]:
        """Per kind: (ids (n,), parameter table of (n,) arrays)."""
        if self._tables is None:
            tabs: Dict[int, Tuple[np.ndarray, Dict[str, np.ndarray]]] = {}
            kinds = np.asarray(self.kinds, dtype=np.int64)
            for kind in (CONE, ELLIPSOID, BOX):
                ids = np.flatnonzero(kinds == kind)
                if len(ids) == 0:
                    continue
                rows = [self._raw[i] for i in ids]
                if kind == CONE:
                    tab = _cone_table(
                        np.array([r[0] for r in rows]),
                        np.array([r[1] for r in rows]),
                        np.array([r[2] for r in rows]),
                        np.array([r[3] for r in rows]),
                    )
                elif kind == ELLIPSOID:
                    tab = _ellipsoid_table(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]))
                else:
                    tab = _box_table(
                        np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
                    )
                tabs[kind] = (ids, tab)
            self._tables = tabs
        return self._tables

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        """Axis-aligned 3D bounds (P, 3) lo and hi of every primitive."""
        lo = np.empty((len(self), 3))
        hi = np.empty((len(self), 3))
        for kind, (ids, tab) in self.tables().items():
            if kind == CONE:
                A = np.stack([tab["Ax"], tab["Ay"], tab["Az"]], -1)
                B = np.stack([tab["Bx"], tab["By"], tab["Bz"]], -1)
                ra, rb = tab["ra"][:, None], tab["rb"][:, None]
                lo[ids] = np.minimum(A - ra, B - rb)
                hi[ids] = np.maximum(A + ra, B + rb)
            else:
                c, ext = tab["centre3"], tab["extent3"]
                lo[ids], hi[ids] = c - ext, c + ext
        return lo, hi

    def first_hits(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Hit depths (P, N) of every primitive with the N rays (dx, dy, 1) (inf: miss)."""
        dx = np.asarray(dx, np.float64)[None, :]
        dy = np.asarray(dy, np.float64)[None, :]
        dd = dx * dx + dy * dy + 1.0
        out = np.full((len(self), dx.shape[1]), np.inf)
        for kind, (ids, tab) in self.tables().items():
            cols = {k: v[:, None] for k, v in tab.items() if not k.endswith("3")}
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                out[ids] = _KERNELS[kind](dx, dy, dd, cols)
        return np.where(out > _NEAR, out, np.inf)  # NaN (miss) and hits behind the camera -> inf


_CORNER_SELECT = np.array([[m & 1, m & 2, m & 4] for m in range(8)], dtype=bool)


def screen_boxes(
    lo: np.ndarray, hi: np.ndarray, K: np.ndarray, width: int, height: int, clip: bool = True
) -> np.ndarray:
    """Conservative integer pixel boxes (P, 4) = x0, y0, x1, y1 (exclusive) of 3D boxes, clipped to the image.

    Projects the 8 corners of each box; a box reaching behind the near plane covers the whole image. Empty
    boxes have x1 <= x0 or y1 <= y0.
    """
    corners = np.where(_CORNER_SELECT, hi[:, None, :], lo[:, None, :])  # (P, 8, 3)
    z = corners[..., 2]
    behind = (z <= _NEAR).any(axis=1)
    zs = np.where(z > _NEAR, z, 1.0)
    xn, yn = corners[..., 0] / zs, corners[..., 1] / zs
    u = K[0, 0] * xn + K[0, 1] * yn + K[0, 2]
    v = K[1, 0] * xn + K[1, 1] * yn + K[1, 2]
    x0 = np.floor(u.min(axis=1)).astype(np.int64)
    x1 = np.ceil(u.max(axis=1)).astype(np.int64) + 1
    y0 = np.floor(v.min(axis=1)).astype(np.int64)
    y1 = np.ceil(v.max(axis=1)).astype(np.int64) + 1
    x0 = np.where(behind, 0, x0)
    y0 = np.where(behind, 0, y0)
    x1 = np.where(behind, width, x1)
    y1 = np.where(behind, height, y1)
    if not clip:
        return np.stack([x0, y0, x1, y1, behind.astype(np.int64)], -1)
    return np.stack([np.clip(x0, 0, width), np.clip(y0, 0, height), np.clip(x1, 0, width), np.clip(y1, 0, height)], -1)


def _screen_boxes_tight(
    prims: PrimitiveSet, lo: np.ndarray, hi: np.ndarray, K: np.ndarray, width: int, height: int
) -> Tuple[np.ndarray, Dict[int, Tuple[float, ...]]]:
    """Screen boxes (P, 4) and, per round cone, a conservative image capsule (x0, y0, r0, x1, y1, r1) in pixels.

    A round cone projects inside the convex hull of its two end spheres' images, so it gets the union of their
    boxes (tighter than the box of its 3D bounds) and the capsule joining discs that cover those boxes.
    """
    boxes = screen_boxes(lo, hi, K, width, height)
    capsules: Dict[int, Tuple[float, ...]] = {}
    cones = [i for i, k in enumerate(prims.kinds) if k == CONE]
    if cones:
        raw = [prims._raw[i] for i in cones]
        c = np.array([r[0] for r in raw] + [r[1] for r in raw])
        r = np.array([r[2] for r in raw] + [r[3] for r in raw])[:, None]
        b = screen_boxes(c - r, c + r, K, width, height, clip=False)
        n = len(cones)
        behind = (b[:n, 4] + b[n:, 4]) > 0
        tight = np.concatenate([np.minimum(b[:n, :2], b[n:, :2]), np.maximum(b[:n, 2:4], b[n:, 2:4])], axis=1)
        tight[:, 0::2] = np.clip(tight[:, 0::2], 0, width)
        tight[:, 1::2] = np.clip(tight[:, 1::2], 0, height)
        boxes[cones] = np.where(behind[:, None], boxes[cones], tight)
        centre = (b[:, :2] + b[:, 2:4] - 1) / 2.0
        rad = np.hypot(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) / 2.0
        for j, pid in enumerate(cones):
            if not behind[j]:
                capsules[pid] = (
                    float(centre[j, 0]),
                    float(centre[j, 1]),
                    float(rad[j]),
                    float(centre[n + j, 0]),
                    float(centre[n + j, 1]),
                    float(rad[n + j]),
                )
    return boxes, capsules


#: Boxes larger than this (pixels) are narrowed to the primitive's image capsule before ray casting.
_MASK_MIN_AREA = 2500


def _capsule_pixels(cap: Tuple[float, ...], x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """(ys, xs) of the pixels of the w x h box at (x0, y0) covered by capsule ``cap`` (see _screen_boxes_tight)."""
    m = np.zeros((h, w), np.uint8)
    ax, ay, ar, bx, by, br = cap
    sh = 4  # 2 fractional bits
    pa = (int(round((ax - x0) * sh)), int(round((ay - y0) * sh)))
    pb = (int(round((bx - x0) * sh)), int(round((by - y0) * sh)))
    rad = max(ar, br) + 1.5
    cv2.line(m, pa, pb, 1, int(2 * rad + 2), cv2.LINE_8, 2)
    cv2.circle(m, pa, int((ar + 1.5) * sh), 1, -1, cv2.LINE_8, 2)
    cv2.circle(m, pb, int((br + 1.5) * sh), 1, -1, cv2.LINE_8, 2)
    return np.nonzero(m)


def ray_directions(K: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> Tuple[np.ndarray, np.ndarray]:
    """Normalised ray coordinates (dx, dy) (float32, (y1-y0, x1-x0)) of the pixels [x0, x1) x [y0, y1)."""
    Ki = np.linalg.inv(np.asarray(K, np.float64))
    u = np.arange(x0, x1, dtype=np.float64)[None, :]
    v = np.arange(y0, y1, dtype=np.float64)[:, None]
    dx = (Ki[0, 0] * u + Ki[0, 1] * v + Ki[0, 2]).astype(np.float32)
    dy = (Ki[1, 0] * u + Ki[1, 1] * v + Ki[1, 2]).astype(np.float32)
    return dx, dy


@dataclass
class RenderBuffers:
    """Z-buffer result of :func:`render_primitives` over the region ``roi`` = (x0, y0, x1, y1) of the image.

    Attributes:
        depth: (h, w) float32 depth (camera Z, metres) of the nearest hit; inf where nothing was hit.
        ids: (h, w) int16 primitive id of the nearest hit; -1 where nothing was hit.
        hit: (M,) flat indices into the (h, w) region of the pixels that hit something.
        points: (M, 3) float32 camera-frame hit points of those pixels.
        normals: (M, 3) float32 unit surface normals there (pointing out of the primitive).
    """

    roi: Tuple[int, int, int, int]
    depth: np.ndarray
    ids: np.ndarray
    hit: np.ndarray
    points: np.ndarray
    normals: np.ndarray


def _shared_spheres(prims: PrimitiveSet) -> set:
    """Ids of cones whose start sphere (A, ra) equals an end sphere (B, rb) of another cone."""
    ends = {}
    for pid, (kind, raw) in enumerate(zip(prims.kinds, prims._raw)):
        if kind == CONE:
            ends[(tuple(raw[1].tolist()), raw[3])] = pid
    out = set()
    for pid, (kind, raw) in enumerate(zip(prims.kinds, prims._raw)):
        if kind == CONE and ends.get((tuple(raw[0].tolist()), raw[2]), pid) != pid:
            out.add(pid)
    return out


def render_primitives(
    prims: PrimitiveSet, K: np.ndarray, width: int, height: int, roi: Optional[Tuple[int, int, int, int]] = None
) -> RenderBuffers:
    """Ray cast ``prims`` into a ``width`` x ``height`` image with intrinsics ``K`` (nearest hit per pixel centre).

    Only the pixels inside ``roi`` (default: the union of the primitives' screen boxes) are computed.
    """
    K = np.asarray(K, np.float64)
    P = len(prims)
    lo, hi = prims.bounds() if P else (np.zeros((0, 3)), np.zeros((0, 3)))
    boxes, capsules = _screen_boxes_tight(prims, lo, hi, K, width, height) if P else (np.zeros((0, 4), np.int64), {})
    nonempty = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if roi is None:
        if nonempty.any():
            b = boxes[nonempty]
            roi = (int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max()))
        else:
            roi = (0, 0, 0, 0)
    rx0, ry0, rx1, ry1 = roi
    h, w = max(ry1 - ry0, 0), max(rx1 - rx0, 0)
    depth = np.full((h, w), np.inf, np.float32)
    ids = np.full((h, w), -1, np.int16)
    if h == 0 or w == 0 or P == 0:
        e = np.zeros((0, 3))
        return RenderBuffers((rx0, ry0, rx1, ry1), depth, ids, np.zeros(0, np.int64), e, e)
    DX, DY = ray_directions(K, rx0, ry0, rx1, ry1)
    DD = DX * DX + DY * DY + np.float32(1.0)
    tabs = prims.tables()
    row_of = {}
    for kind, (kid, tab) in tabs.items():
        # scalar parameters per primitive (python floats keep the pixel arrays in float32)
        keys = [k for k in tab if not k.endswith("3")]
        cols = [tab[k].tolist() for k in keys]
        for r, pid in enumerate(kid.tolist()):
            row_of[pid] = (kind, {k: c[r] for k, c in zip(keys, cols)})
    # cones whose sphere A is also a sphere of an earlier-drawn cone need not test it again
    skip_a = _shared_spheres(prims)
    order = np.argsort(lo[:, 2], kind="stable")  # front to back: fewer overwritten pixels
    DXf, DYf, DDf, depth_f, ids_f = DX.ravel(), DY.ravel(), DD.ravel(), depth.ravel(), ids.ravel()  # views
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for pid in order.tolist():
            if not nonempty[pid]:
                continue
            x0 = max(int(boxes[pid, 0]), rx0) - rx0
            y0 = max(int(boxes[pid, 1]), ry0) - ry0
            x1 = min(int(boxes[pid, 2]), rx1) - rx0
            y1 = min(int(boxes[pid, 3]), ry1) - ry0
            if x1 <= x0 or y1 <= y0:
                continue
            zb = depth[y0:y1, x0:x1]
            if zb.max() < lo[pid, 2]:
                continue  # everything in the box is already in front of this primitive
            kind, par = row_of[pid]
            if pid in capsules and (x1 - x0) * (y1 - y0) > _MASK_MIN_AREA:
                # large box: ray cast only the pixels of the primitive's image capsule
                ys, xs = _capsule_pixels(capsules[pid], x0 + rx0, y0 + ry0, x1 - x0, y1 - y0)
                if len(ys) < 0.7 * (x1 - x0) * (y1 - y0):
                    flat = (ys + y0) * w + (xs + x0)
                    t = _hit_cone(DXf[flat], DYf[flat], DDf[flat], par, pid in skip_a)
                    closer = t < depth_f[flat]
                    if lo[pid, 2] <= _NEAR:
                        closer &= t > _NEAR
                    sel = flat[closer]
                    depth_f[sel] = t[closer]
                    ids_f[sel] = pid
                    continue
            if kind == CONE:
                t = _hit_cone(DX[y0:y1, x0:x1], DY[y0:y1, x0:x1], DD[y0:y1, x0:x1], par, pid in skip_a)
            else:
                t = _KERNELS[kind](DX[y0:y1, x0:x1], DY[y0:y1, x0:x1], DD[y0:y1, x0:x1], par)
            closer = t < zb  # False for NaN (miss)
            if lo[pid, 2] <= _NEAR:
                closer &= t > _NEAR  # the primitive reaches behind the camera: drop hits there
            np.copyto(zb, t, where=closer)
            np.copyto(ids[y0:y1, x0:x1], pid, where=closer)
    hit = np.flatnonzero(ids_f >= 0)
    pid_hit = ids_f[hit].astype(np.int64)
    pz = depth_f[hit]
    px = DXf[hit] * pz
    py = DYf[hit] * pz
    normals = np.zeros((len(hit), 3), np.float32)
    kinds = np.asarray(prims.kinds, np.int64)
    kind_hit = kinds[pid_hit]
    for kind, (kid, tab) in tabs.items():
        sel = np.flatnonzero(kind_hit == kind) if len(tabs) > 1 else slice(None)
        row = np.full(P, -1, np.int64)
        row[kid] = np.arange(len(kid))
        r = row[pid_hit[sel]]
        par = {k: tab[k].astype(np.float32)[r] for k in _NORMAL_KEYS[kind]}
        normals[sel] = _NORMALS[kind](px[sel], py[sel], pz[sel], par)
    points = np.stack([px, py, pz], -1)
    return RenderBuffers((rx0, ry0, rx1, ry1), depth, ids, hit, points, normals)
