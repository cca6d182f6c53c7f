"""The flow tracker's per-pixel part (`TrackerConfig.residual`): bending on top of the global motion, and which
pixels of the object are visible, decided on the keyframe's own appearance every frame.

Everything happens in keyframe coordinates, inside a box around the keyframe mask. Each frame is warped back by
the object's global motion (stabilised). A map `pull` (box pixel -> keyframe point whose content shows there;
the identity at the keyframe) is carried along:
1. Dense DIS flow from the stabilised frame to the keyframe pulled by the previous map gives the step's change
   (a few pixels). The keyframe is pasted only inside its pulled shape, the stabilised frame around it, so the
   background pulls towards no change and the outline of a rigid object stays where the global motion put it.
   While the object bends (step 5), Farneback flow with a small window is a second chained candidate: it
   follows a bend that changes row by row, which DIS's patches average away.
2. Re-anchoring: DIS flow straight to the keyframe (no previous map) is another candidate. Each pixel takes the
   candidate that explains it best, so a part that was covered while the object changed shape is found again
   the frame it is uncovered, instead of waiting for a chain of small steps to reach it.
3. The map is trusted well inside the object where the keyframe's colours, pulled through it, explain the
   frame's 5x5 neighbourhood; elsewhere (outline, occluded parts) it takes the nearest trusted pixel's offset,
   slightly smoothed.
4. Visible = the keyframe shape pulled through the map, where the pulled keyframe colours explain the frame.
   This test is against the keyframe, not the previous frame: an occluder is cut the frame it arrives, and a
   part it uncovers is back the frame it is uncovered. Small visible patches lying wholly inside covered
   pixels are occluder texture that happens to match, and are cut too.
5. Bending: where the map's median gradient over the visible core exceeds `TrackerConfig.bending_gradient`
   (a waving subject, not a rigid one), the appearance test tolerates `bending_px` of local deformation (within
   `bending_reach` of pixels that match without it, `hysteresis`; on the waving clip under an occluder the worst
   frame went 0.698 -> 0.815, where the tolerance alone let the occluder's grass through), the
   next frame adds the Farneback candidate, and the global motion is scored with `shear_prior` (the bend is
   the map's job, not a tilt of the whole outline). A rigid object keeps the strict test, so an occluder over
   it is not passed off as a shifted copy of the object.
The final mask is the full-resolution keyframe mask pulled by the upscaled map, occluded parts cut, moved by the
global motion: binary, with sharp edges.

Limits (bench/tracking.py): content that was never in the keyframe (texture hidden at the keyframe that comes
into view at a waving subject's edge) lies outside the pulled shape and is missed; under a large occluder a
waving subject's hidden part is guessed from its visible neighbours, and comes back a few pixels off. The map
also makes up for the global motion's scale error while the subject bends (object_track.py's limits), which its
extension past the trusted core does only roughly at the outline.
"""

from __future__ import annotations

import numpy as np

from .work_frames import TrackerConfig, WorkFrames


def masked_error(image: np.ndarray, predicted: np.ndarray, inside: np.ndarray, reach: int = 0) -> np.ndarray:
    """Mean absolute colour difference (0-255) over each pixel's 5x5 neighbours inside `inside` only, so pixels
    next to the outline are judged by the object's side of it. With `reach`, a pixel matches anywhere between the
    darkest and brightest prediction within `reach` pixels (local deformation of that size is tolerated)."""
    import cv2

    if reach > 0:
        kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
        below, above = cv2.erode(predicted, kernel) - image, image - cv2.dilate(predicted, kernel)
        per_pixel = np.maximum(np.maximum(below, above), 0.0).sum(axis=2)
    else:
        per_pixel = cv2.absdiff(image, predicted).sum(axis=2)
    weight = inside.astype(np.float32)
    total = cv2.boxFilter(per_pixel * weight, -1, (5, 5), normalize=False)
    count = cv2.boxFilter(weight, -1, (5, 5), normalize=False)
    return total / np.maximum(count, 1.0) / 3.0


def hysteresis(strict: np.ndarray, tolerant: np.ndarray, reach: int) -> np.ndarray:
    """`strict` pixels, and `tolerant` ones within `reach` pixels of a strict patch (3x3 opened: lone strict pixels
    seed nothing), as Canny's edges: a tolerance that lets a bending object's pixels through also lets through an
    occluder's texture that happens to match, unless the tolerance only extends what matches strictly. reach 0:
    every tolerant pixel."""
    import cv2

    if reach <= 0:
        return strict | tolerant
    seeds = cv2.morphologyEx(strict.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    near = cv2.dilate(seeds, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    return strict | (tolerant & near)


class Deformation:
    """The map and its keyframe crops for one track; `step` once per frame, in order."""

    def __init__(self, clip: WorkFrames, index: int, key_full: np.ndarray, key_small: np.ndarray,
                 config: TrackerConfig):
        import cv2

        self.cv2, self.clip, self.config = cv2, clip, config
        self.key_full = key_full
        rows, cols = np.flatnonzero((key_small >= 128).any(axis=1)), np.flatnonzero((key_small >= 128).any(axis=0))
        width, height = clip.size
        margin = config.residual_margin
        if rows.size:
            self.box = (max(0, int(cols[0]) - margin), max(0, int(rows[0]) - margin),
                        min(width, int(cols[-1]) + 1 + margin), min(height, int(rows[-1]) + 1 + margin))
        else:
            self.box = (0, 0, width, height)
        x0, y0, x1, y1 = self.box
        self.key_shape = np.ascontiguousarray(key_small[y0:y1, x0:x1])
        self.key_gray = np.ascontiguousarray(clip.gray[index][y0:y1, x0:x1])
        self.key_color = clip.color[index][y0:y1, x0:x1].astype(np.float32)
        xs, ys = np.meshgrid(np.arange(x1 - x0, dtype=np.float32), np.arange(y1 - y0, dtype=np.float32))
        self.grid = np.dstack([xs, ys])
        self.pull = self.grid.copy()
        self.bent = False  # whether the map bent in the last frame (`_bending`)
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.dis = lambda first, second: dis.calc(first, second, None)

    def farneback(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Dense Farneback flow with a 9-pixel window: follows a bend that changes row by row, where DIS's
        patches average it away (DIS is kept for the larger steps of re-anchoring)."""
        return self.cv2.calcOpticalFlowFarneback(np.ascontiguousarray(first), np.ascontiguousarray(second), None,
                                                 0.5, 4, 9, 5, 7, 1.5, 0)

    def _stabilise(self, image: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """The box of keyframe coordinates, sampled from `image` (current frame) through `affine` (key -> current)."""
        cv2 = self.cv2
        x0, y0, x1, y1 = self.box
        matrix = affine.copy()
        matrix[:, 2] += affine[:, :2] @ np.array([x0, y0], np.float64)
        return cv2.warpAffine(image, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def _pull(self, image: np.ndarray, field: np.ndarray, constant: bool = False) -> np.ndarray:
        cv2 = self.cv2
        border = cv2.BORDER_CONSTANT if constant else cv2.BORDER_REPLICATE
        return cv2.remap(image, field[..., 0], field[..., 1], cv2.INTER_LINEAR, borderMode=border)

    def _update(self, gray: np.ndarray, color: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Steps 1-4 of the module docstring: (amodal shape, visible pixels) in box coordinates."""
        cv2, config = self.cv2, self.config
        stable_gray = self._stabilise(gray, affine)
        stable = self._stabilise(color, affine).astype(np.float32)
        shape = self._pull(self.key_shape, self.pull, constant=True) >= 128
        pasted = np.where(shape, self._pull(self.key_gray, self.pull), stable_gray)
        key_pasted = np.where(self.key_shape >= 128, self.key_gray, stable_gray)
        flows = (self.dis, self.farneback) if self.bent else (self.dis,)
        candidates = [self._pull(self.pull, self.grid + flow(stable_gray, pasted)) for flow in flows]
        candidates.append(self.grid + self.dis(stable_gray, key_pasted))
        moved, error = None, None
        for candidate in candidates:  # per pixel, the one whose pulled keyframe colours explain the frame best
            # Judged without the `deform_px` tolerance: a map a pixel or two off would pass, and carry on.
            candidate_error = masked_error(stable, self._pull(self.key_color, candidate), shape)
            if moved is None:
                moved, error = candidate, candidate_error
            else:
                better = candidate_error < error
                moved[better], error[better] = candidate[better], candidate_error[better]
        core = cv2.erode(shape.astype(np.uint8), np.ones((2 * config.residual_inset + 1,) * 2, np.uint8)) > 0
        trusted = core & (error <= config.photometric_limit)
        if trusted.any():
            offset = moved - self.grid
            if not trusted.all():
                # Nearest trusted pixel's offset (labels of cv2.distanceTransformWithLabels are in raster order).
                _, labels = cv2.distanceTransformWithLabels((~trusted).astype(np.uint8), cv2.DIST_L2, 5,
                                                            labelType=cv2.DIST_LABEL_PIXEL)
                offset = cv2.GaussianBlur(offset[trusted][labels - 1], (0, 0), config.residual_smooth)
            self.pull = self.grid + offset
        amodal = self._pull(self.key_shape, self.pull, constant=True) >= 128
        pulled = self._pull(self.key_color, self.pull)
        error = masked_error(stable, pulled, amodal, config.deform_px)
        self.bent = self._bending(amodal, error)
        if not config.occlusion:
            return amodal, amodal
        passed = error <= config.photometric_limit
        if config.bending_px > config.deform_px and self.bent:
            tolerant = masked_error(stable, pulled, amodal, config.bending_px) <= config.photometric_limit
            passed = hysteresis(amodal & passed, tolerant, config.bending_reach)
        visible = (amodal & passed).astype(np.uint8)
        kernel = np.ones((3, 3), np.uint8)
        visible = cv2.morphologyEx(cv2.morphologyEx(visible, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
        return amodal, self._drop_islands((visible > 0) & amodal, amodal)

    def _bending(self, amodal: np.ndarray, error: np.ndarray) -> bool:
        """Whether the map bends: its median gradient (pixels per pixel, x or y, lightly smoothed) over the
        object's visible core exceeds `bending_gradient`. On bench/tracking.py's clips a rigid object's map stays
        under 0.06 (median 0.003-0.007), a waving one's median is 0.40-0.59. Only the latter's appearance test
        gets the `bending_px` tolerance, so an occluder over a rigid object is not passed off as a slightly
        shifted copy of it."""
        cv2, config = self.cv2, self.config
        gy, gx = np.gradient(self.pull - self.grid, axis=(0, 1))
        gradient = cv2.GaussianBlur(np.abs(np.concatenate([gx, gy], axis=2)).max(axis=2), (0, 0), 2.0)
        core = cv2.erode(amodal.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        core &= error <= config.photometric_limit
        return bool(core.any()) and float(np.median(gradient[core])) > config.bending_gradient

    def _drop_islands(self, visible: np.ndarray, amodal: np.ndarray) -> np.ndarray:
        """`visible` without its small patches (under `island_share` of the shape) that lie wholly inside covered
        pixels, off the shape's outline: occluder texture that happens to match the object's (a real part of the
        object surrounded by an occluder on all sides would need an occluder with a hole)."""
        cv2 = self.cv2
        count, labels, stats, _ = cv2.connectedComponentsWithStats(visible.astype(np.uint8), connectivity=8)
        if count <= 2 or self.config.island_share <= 0:  # a single patch is kept: the object, however covered
            return visible
        inner = cv2.erode(amodal.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT,
                          borderValue=0) > 0
        on_outline = np.zeros(count, bool)
        on_outline[np.unique(labels[amodal & ~inner & visible])] = True
        drop = (stats[:, cv2.CC_STAT_AREA] < self.config.island_share * max(1, int(amodal.sum()))) & ~on_outline
        drop[0] = False
        return visible & ~drop[labels]

    def step(self, gray: np.ndarray, color: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, ...]:
        """(full-resolution mask, visible and occluded work-resolution masks in the current frame); `amodal` is
        then the full-resolution mask with its covered parts."""
        cv2, clip = self.cv2, self.clip
        amodal_key, visible_key = self._update(gray, color, affine)
        x0, y0, x1, y1 = self.box
        small = np.zeros((clip.size[1], clip.size[0]), np.uint8)
        small[y0:y1, x0:x1] = amodal_key.astype(np.uint8) + visible_key.astype(np.uint8)  # 1 covered, 2 visible
        moved = cv2.warpAffine(small, affine, clip.size, flags=cv2.INTER_NEAREST)
        full = np.zeros((clip.full_h, clip.full_w), np.uint8)
        fx0, fy0 = round(x0 * clip.scale_x), round(y0 * clip.scale_y)
        fx1, fy1 = min(clip.full_w, round(x1 * clip.scale_x)), min(clip.full_h, round(y1 * clip.scale_y))
        scale = np.float32([clip.scale_x, clip.scale_y])
        field = (cv2.resize(self.pull, (fx1 - fx0, fy1 - fy0), interpolation=cv2.INTER_LINEAR) + 0.5) * scale - 0.5
        field += np.float32([fx0, fy0])  # box work pixels -> full-resolution keyframe pixels
        part = self._pull(self.key_full, field, constant=True)
        full[fy0:fy1, fx0:fx1] = part
        self.amodal = cv2.warpAffine(full, clip.to_full(affine), (clip.full_w, clip.full_h),
                                     flags=cv2.INTER_LINEAR) >= 128
        covered = (amodal_key & ~visible_key).astype(np.uint8) * 255
        if covered.any():
            part[cv2.resize(covered, (fx1 - fx0, fy1 - fy0), interpolation=cv2.INTER_LINEAR) >= 128] = 0
        full[fy0:fy1, fx0:fx1] = part
        mask = cv2.warpAffine(full, clip.to_full(affine), (clip.full_w, clip.full_h), flags=cv2.INTER_LINEAR) >= 128
        return mask, moved > 1, moved == 1
