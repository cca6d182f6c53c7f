"""One keyframe mask carried through consecutive frames in one direction (the engine behind `tracker.py`).

All work happens on downscaled frames ("work resolution") inside a box around the object; only the final mask is
drawn at full resolution, by warping the keyframe mask itself, so edges stay sharp and never erode from repeated
resampling. Per frame:
1. Motion candidates (keyframe -> current transform, similarity or affine): no motion, constant velocity, the
   largest and second-largest RANSAC consensus of corner points followed by pyramidal Lucas-Kanade (an occluder
   crossing the object can hold the largest), and the consensus and median shift of dense optical flow (DIS or
   Farneback) over the visible mask. The winner is the candidate under which the keyframe's object pixels best
   match the current frame (truncated colour error), so a wrong consensus loses to the object's own appearance;
   a small cost per pixel of departure from constant velocity breaks near-ties (measured: without it, a one-grey-
   level change in 0.001% of the pixels, as between OpenCV releases, moved the occluded star's worst frame from
   0.79 to 0.31). While the object bends (`deform.py`), a cost per pixel of shear (departure from the nearest
   similarity) leaves the bend to the per-pixel map instead of tilting the whole outline.
2. Re-anchoring: the winner is refined by direct alignment (masked ECC) of the keyframe's visible object pixels,
   outline included, onto the current frame, or, where OpenCV lacks it, by following the keyframe's own corners
   into the current frame warped back to keyframe coordinates. Either removes the drift that chaining frame to
   frame accumulates; the refinement is kept only if it matches the keyframe better.
3. Shape and visibility, by default (`TrackerConfig.residual`) per pixel in `deform.py`: dense flow on top of
   the global motion follows bending, and each frame a pixel is kept only where the keyframe's own colours
   explain it (an occluder is cut the frame it arrives, what it uncovers is back the frame it leaves). With
   `residual=False`, the earlier test: a pixel is cut when neither the slowly updated appearance template nor
   the previous frame moved by the object's motion explains its 5x5 neighbourhood.

Limits (measured in bench/tracking.py): while a subject bends, step 1's score is biased: keyframe samples near
the outline land on background under the true motion, so a slightly smaller one scores better (waving clip: the
scale drifts to 0.93 while the truth is 1.02; fed the true motion, the clip's mean IoU goes 0.945 -> 0.959). The
map makes up for it inside, but the outline comes out 1-3 px short, more under a large occluder. Scoring deep
samples only removes the bias but is unstable under rounding-sized changes, so it is not done; a learned tracker
(`tracker="sam2"`) or a keyframe correction helps.
"""

from __future__ import annotations

import numpy as np

from .deform import Deformation
from .transforms import Box, apply, bounding_box, nearest_similarity, to3, warp_back, warp_into
from .work_frames import TrackerConfig, WorkFrames


def _patch_error(image: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Mean absolute colour difference over each pixel's 5x5 neighbourhood (float32 RGB inputs)."""
    import cv2

    return cv2.boxFilter(cv2.absdiff(image, predicted).sum(axis=2), -1, (5, 5)) / 3.0


def _envelope_error(image: np.ndarray, predicted: np.ndarray, reach: int) -> np.ndarray:
    """Like `_patch_error`, but a pixel counts as matching anywhere between the darkest and the brightest of the
    prediction within `reach` pixels, so local deformation of that size is not mistaken for a different thing."""
    import cv2

    if reach <= 0:
        return _patch_error(image, predicted)
    kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    below = cv2.erode(predicted, kernel) - image
    above = image - cv2.dilate(predicted, kernel)
    outside = np.maximum(np.maximum(below, above), 0.0).sum(axis=2)
    return cv2.boxFilter(outside, -1, (5, 5)) / 3.0


_LK = dict(winSize=(15, 15), maxLevel=3, criteria=(3, 20, 0.03))  # 3 = TERM_CRITERIA_EPS | TERM_CRITERIA_COUNT


class ObjectTrack:
    """Start from `mask` on frame `index` of `clip`; call `step(i)` for each next frame (either direction)."""

    def __init__(self, clip: WorkFrames, index: int, mask: np.ndarray, config: TrackerConfig):
        import cv2

        self.cv2, self.clip, self.config = cv2, clip, config
        self.empty = not mask.any()
        self.key_full = mask.astype(np.uint8) * 255
        self.key_small = cv2.resize(self.key_full, clip.size, interpolation=cv2.INTER_AREA)
        self.key_mask = (self.key_small >= 128).astype(np.uint8)
        self.key_gray, self.key_color = clip.gray[index], clip.color[index].astype(np.float32)
        self.template = self.key_color.copy()  # object appearance in keyframe coordinates, slowly updated
        self.affine = np.eye(3)[:2]  # keyframe -> current frame (work resolution)
        self.velocity = self.affine  # previous frame -> current frame
        self.prev_gray, self.prev_color = clip.gray[index], clip.color[index]
        self.visible = self.key_mask > 0
        self.occluded = np.zeros_like(self.visible)
        self.points = self.key_points = np.empty((0, 2), np.float32)
        self.frames_done = 0
        self.amodal = mask.astype(bool)  # after `step`: its mask with the parts an occluder covers
        if config.motion not in ("similarity", "affine", "auto"):
            raise ValueError(f"unknown motion model {config.motion!r}")
        models = {"similarity": ["similarity"], "affine": ["affine"], "auto": ["similarity", "affine"]}
        self.models = models[config.motion]
        if config.flow == "dis":
            self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        elif config.flow != "farneback":
            raise ValueError(f"unknown flow method {config.flow!r}")
        inner = cv2.erode(self.key_mask, np.ones((3, 3), np.uint8))
        ys, xs = np.nonzero(inner if inner.any() else self.key_mask)
        stride = max(1, len(xs) // 2000)  # enough pixels to score a motion, few enough to stay fast
        self.samples = np.stack([xs[::stride], ys[::stride]], 1)
        self.key_box = bounding_box(self.key_mask, 8)
        self.input_mask = np.full(self.key_mask.shape, 255, np.uint8)  # ECC: every current pixel may be used
        if not self.empty:
            self._add_points(self.prev_gray)
        self.anchors = self.points.copy()  # keyframe corners, for re-anchoring without ECC
        self.deformation = Deformation(clip, index, self.key_full, self.key_small, config) if config.residual else None

    # ----- motion -------------------------------------------------------------------------------------------
    def _add_points(self, gray: np.ndarray) -> None:
        cv2 = self.cv2
        need = self.config.max_points - len(self.points)  # (0 would mean "no limit" to OpenCV)
        box = bounding_box(self.visible, 0)
        if box is None or need < 1:
            return
        x0, y0, x1, y1 = box
        visible = self.visible[y0:y1, x0:x1].astype(np.uint8)
        # Keep the 15x15 tracking windows off the outline, where they would see the background move.
        region = cv2.erode(visible, np.ones((13, 13), np.uint8))
        if np.count_nonzero(region) < 200:
            region = cv2.erode(visible, np.ones((5, 5), np.uint8))
        for x, y in self.points.astype(int):
            cv2.circle(region, (int(x) - x0, int(y) - y0), 3, 0, -1)
        found = cv2.goodFeaturesToTrack(gray[y0:y1, x0:x1], need, 0.005, 3, mask=region, blockSize=5)
        if found is None:
            return
        found = found.reshape(-1, 2).astype(np.float32) + np.float32([x0, y0])
        self.key_points = np.vstack([self.key_points, apply(cv2.invertAffineTransform(self.affine), found)])
        self.points = np.vstack([self.points, found])

    def _follow_points(self, gray: np.ndarray) -> None:
        """Move the corner points into `gray`; drop those whose backward track does not return."""
        cv2 = self.cv2
        if len(self.points) == 0:
            return
        moved, status, _ = cv2.calcOpticalFlowPyrLK(self.prev_gray, gray, self.points, None, **_LK)
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(gray, self.prev_gray, moved, None, **_LK)
        width, height = self.clip.size
        good = (status[:, 0] == 1) & (status_back[:, 0] == 1) & (np.linalg.norm(back - self.points, axis=1) < 0.7)
        good &= (moved[:, 0] >= 0) & (moved[:, 0] < width) & (moved[:, 1] >= 0) & (moved[:, 1] < height)
        self.key_points, self.points = self.key_points[good], moved[good]

    def _flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Dense optical flow: pixel p of `first` moved to p + flow[p] in `second`."""
        first, second = np.ascontiguousarray(first), np.ascontiguousarray(second)
        if self.config.flow == "dis":
            return self.flow.calc(first, second, None)
        return self.cv2.calcOpticalFlowFarneback(first, second, None, 0.5, 3, 15, 3, 5, 1.2, 0)

    def _flow_pairs(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(keyframe positions, current positions) of up to ~600 visible pixels moved by dense optical flow,
        computed in a box around the object with room for fast motion."""
        cv2 = self.cv2
        box = bounding_box(self.visible, 40)
        inner = cv2.erode(self.visible.astype(np.uint8), np.ones((3, 3), np.uint8))
        ys, xs = np.nonzero(inner)
        if box is None or len(xs) == 0:
            return np.empty((0, 2), np.float32), np.empty((0, 2), np.float32)
        x0, y0, x1, y1 = box
        flow = self._flow(self.prev_gray[y0:y1, x0:x1], gray[y0:y1, x0:x1])
        stride = max(1, len(xs) // 600)
        ys, xs = ys[::stride], xs[::stride]
        previous = np.stack([xs, ys], 1).astype(np.float32)
        current = previous + flow[ys - y0, xs - x0]
        return apply(cv2.invertAffineTransform(self.affine), previous), current.astype(np.float32)

    def _motion_error(self, color: np.ndarray, affine: np.ndarray) -> float:
        """Mean colour error (each pixel's truncated at 40) between the keyframe's object pixels and the current
        frame where `affine` puts them."""
        cv2 = self.cv2
        moved = apply(affine, self.samples)
        found = cv2.remap(color, moved[:, 0][None], moved[:, 1][None], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)[0]
        expected = self.key_color[self.samples[:, 1], self.samples[:, 0]]
        return float(np.minimum(np.abs(found.astype(np.float32) - expected).mean(axis=1), 40.0).mean())

    def _align(self, gray: np.ndarray, affine: np.ndarray) -> list[np.ndarray]:
        """Masked ECC of the keyframe's visible object pixels onto `gray`, starting from `affine`: the refined
        transform(s) of the configured model, none when OpenCV lacks masked ECC or the alignment fails."""
        cv2 = self.cv2
        if not hasattr(cv2, "findTransformECCWithMask") or self.key_box is None:
            return []
        x0, y0, x1, y1 = box = self.key_box
        seen = warp_back(cv2, self.visible.astype(np.uint8), self.affine, box, nearest=True)
        template_mask = (seen & self.key_mask[y0:y1, x0:x1]) * 255
        if np.count_nonzero(template_mask) < 64:
            return []
        offset = np.array([x0, y0], np.float64)
        warp = affine.copy()
        warp[:, 2] += affine[:, :2] @ offset  # box coordinates -> current frame
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-4)
        try:
            _, warp = cv2.findTransformECCWithMask(self.key_gray[y0:y1, x0:x1], gray, template_mask, self.input_mask,
                                                   warp.astype(np.float32), cv2.MOTION_AFFINE, criteria, 3)
        except cv2.error:  # did not converge
            return []
        warp = warp.astype(np.float64)
        warp[:, 2] -= warp[:, :2] @ offset
        similar = nearest_similarity(warp, np.array([(x0 + x1) / 2, (y0 + y1) / 2]))
        return {"similarity": [similar], "affine": [warp], "auto": [similar, warp]}[self.config.motion]

    def _anchor(self, gray: np.ndarray, affine: np.ndarray) -> np.ndarray | None:
        """Follow the keyframe's corners into the current frame warped back to keyframe coordinates."""
        cv2, config = self.cv2, self.config
        if len(self.anchors) < config.min_points or self.key_box is None:
            return None
        box = bounding_box(self.key_mask, 16)
        x0, y0, x1, y1 = box
        warped = warp_back(cv2, gray, affine, box)
        anchors = self.anchors - np.float32([x0, y0])
        # The residual is a pixel or two: one pyramid level, so windows stay off the differently moving background.
        params = dict(_LK, maxLevel=1)
        found, status, _ = cv2.calcOpticalFlowPyrLK(self.key_gray[y0:y1, x0:x1], warped, anchors, None, **params)
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(warped, self.key_gray[y0:y1, x0:x1], found, None, **params)
        good = (status[:, 0] == 1) & (status_back[:, 0] == 1) & (np.linalg.norm(back - anchors, axis=1) < 0.5)
        if int(good.sum()) < config.min_points:
            return None
        correction, inliers = self._fit(anchors[good], found[good], config.ransac_px, self.models[0])
        if correction is None or np.abs(correction[:, :2] - np.eye(2)).max() > 0.15:
            return None
        correction[:, 2] += (x0, y0) - correction[:, :2] @ np.array([x0, y0], np.float64)  # box -> keyframe coords
        return (to3(affine) @ to3(correction))[:2]

    def _fit(self, source: np.ndarray, target: np.ndarray, threshold: float, model: str = "similarity"):
        """RANSAC fit of a similarity or affine transform; (None, None) when fewer than `min_points` agree."""
        cv2 = self.cv2
        if len(source) < self.config.min_points:
            return None, None
        fit = cv2.estimateAffinePartial2D if model == "similarity" else cv2.estimateAffine2D
        affine, inliers = fit(source, target, method=cv2.RANSAC, ransacReprojThreshold=threshold)
        if affine is None or int(inliers.sum()) < self.config.min_points:
            return None, None
        return affine, inliers[:, 0] == 1

    def _score(self, color: np.ndarray, affine: np.ndarray, predicted: np.ndarray) -> float:
        """A motion's cost: its appearance error plus `motion_prior` per pixel by which it moves the corners of the
        object's box away from the constant-velocity prediction (where appearance cannot tell motions apart, an
        occluder over much of the object or little texture, the smoother motion wins rather than whichever a
        hair's difference in the error, a library's rounding, happens to favour). While the object bends (see
        `Deformation.bent`), also `shear_prior` per pixel by which it moves them away from its nearest similarity:
        a waving subject's local shear is left to the per-pixel map instead of tilting the whole outline. A rigid
        object's squash or stretch is scored on appearance alone."""
        x0, y0, x1, y1 = self.key_box
        corners = np.float32([[x0, y0], [x1, y0], [x0, y1], [x1, y1]])
        departure = float(np.abs(apply(affine, corners) - apply(predicted, corners)).max())
        bending = self.deformation is not None and self.deformation.bent
        similar = nearest_similarity(affine, corners.mean(axis=0))
        shear = float(np.abs(apply(affine, corners) - apply(similar, corners)).max())
        return (self._motion_error(color, affine) + self.config.motion_prior * departure
                + self.config.shear_prior * shear * bending)

    def _estimate_motion(self, gray: np.ndarray, color: np.ndarray) -> np.ndarray:
        cv2, config = self.cv2, self.config
        previous = self.affine
        candidates = [previous, (to3(self.velocity) @ to3(previous))[:2]]
        self._follow_points(gray)
        remaining = np.ones(len(self.points), bool)
        for _ in range(2):
            affine, inliers = self._fit(self.key_points[remaining], self.points[remaining], config.ransac_px,
                                        self.models[0])
            if affine is None:
                break
            candidates.append(affine)
            chosen_points = np.flatnonzero(remaining)[inliers]
            remaining[chosen_points] = False
            for model in self.models[1:]:  # the same consensus under the wider model
                wider, _ = self._fit(self.key_points[chosen_points], self.points[chosen_points], config.ransac_px,
                                     model)
                if wider is not None:
                    candidates.append(wider)
        key, current = self._flow_pairs(gray)
        if len(key) >= config.min_points:
            shift = np.median(current - apply(previous, key), axis=0)
            candidates.append(previous + np.array([[0.0, 0.0, shift[0]], [0.0, 0.0, shift[1]]]))
            for model in self.models:
                affine, _ = self._fit(key, current, 2 * config.ransac_px, model)
                if affine is not None:
                    candidates.append(affine)
        predicted = candidates[1]
        errors = [self._score(color, affine, predicted) for affine in candidates]
        chosen, error = candidates[int(np.argmin(errors))], min(errors)
        refined = self._align(gray, chosen)
        if not refined:
            anchored = self._anchor(gray, chosen)
            refined = [] if anchored is None else [anchored]
        for affine in refined:
            refined_error = self._score(color, affine, predicted)
            if refined_error < error:
                chosen, error = affine, refined_error
        # Points that disagree with the chosen motion were on something else; the rest restart from it (drift-free).
        keep = np.linalg.norm(apply(chosen, self.key_points) - self.points, axis=1) < 2 * config.ransac_px
        self.points = self.points[keep]
        self.key_points = apply(cv2.invertAffineTransform(chosen), self.points)
        return chosen

    # ----- occlusion ----------------------------------------------------------------------------------------
    def _occlusion(self, color: np.ndarray, amodal: np.ndarray, affine: np.ndarray, step: np.ndarray,
                   box: Box) -> np.ndarray:
        """Covered pixels of the warped shape inside `box` (see the module docstring)."""
        cv2, limit = self.cv2, self.config.photometric_limit
        x0, y0, x1, y1 = box
        inside = amodal[y0:y1, x0:x1]
        current = color[y0:y1, x0:x1].astype(np.float32)
        from_template = warp_into(cv2, self.template, affine, box)
        occluded = inside & (_envelope_error(current, from_template, self.config.deform_px) > limit)
        if not occluded.any():
            return occluded
        from_previous = warp_into(cv2, self.prev_color, step, box).astype(np.float32)
        was_covered = warp_into(cv2, self.occluded.astype(np.uint8), step, box, nearest=True) > 0
        occluded &= (_patch_error(current, from_previous) > limit) | was_covered
        kernel = np.ones((3, 3), np.uint8)
        occluded = cv2.morphologyEx(occluded.astype(np.uint8), cv2.MORPH_OPEN, kernel)
        occluded = cv2.morphologyEx(occluded, cv2.MORPH_CLOSE, kernel)
        return (occluded > 0) & inside

    def _update_template(self, color: np.ndarray) -> None:
        """Blend the visible object pixels into the appearance template (keyframe coordinates)."""
        cv2, rate = self.cv2, self.config.template_rate
        x0, y0, x1, y1 = box = self.key_box
        current = warp_back(cv2, color, self.affine, box).astype(np.float32)
        seen = warp_back(cv2, self.visible.astype(np.uint8), self.affine, box, nearest=True) > 0
        part = self.template[y0:y1, x0:x1]
        part[seen] = (1.0 - rate) * part[seen] + rate * current[seen]

    def _step_nonrigid(self, gray: np.ndarray, color: np.ndarray, affine: np.ndarray) -> np.ndarray:
        mask, self.visible, self.occluded = self.deformation.step(gray, color, affine)
        self.amodal = self.deformation.amodal
        self.velocity = (to3(affine) @ np.linalg.inv(to3(self.affine)))[:2]
        self.affine = affine
        self.prev_gray, self.prev_color = gray, color
        self.frames_done += 1
        if self.frames_done % 4 == 0 or len(self.points) < self.config.max_points // 3:
            self._add_points(gray)
        return mask

    # ----- one frame ----------------------------------------------------------------------------------------
    def step(self, index: int) -> np.ndarray:
        """Advance to frame `index` (the next one in this direction); return its (H, W) bool full-size mask."""
        cv2, clip = self.cv2, self.clip
        full_shape = (clip.full_h, clip.full_w)
        if self.empty:
            self.amodal = np.zeros(full_shape, dtype=bool)
            return self.amodal
        gray, color = clip.gray[index], clip.color[index]
        affine = self._estimate_motion(gray, color)
        if not 0.05 < abs(np.linalg.det(affine[:, :2])) < 20:  # a degenerate fit (a sliver left): hold still
            affine = self.affine
        if self.config.residual:
            return self._step_nonrigid(gray, color, affine)
        step = (to3(affine) @ np.linalg.inv(to3(self.affine)))[:2]  # previous frame -> current frame
        amodal = cv2.warpAffine(self.key_small, affine, clip.size, flags=cv2.INTER_LINEAR) >= 128
        box = bounding_box(amodal, 3)
        mask = np.zeros(full_shape, dtype=bool)
        self.amodal = mask
        occluded = np.zeros_like(amodal)
        if box is not None:
            if self.config.occlusion:
                x0, y0, x1, y1 = box
                occluded[y0:y1, x0:x1] = self._occlusion(color, amodal, affine, step, box)
            # Full-resolution mask inside the same box, scaled up.
            fx0, fy0 = int(box[0] * clip.scale_x), int(box[1] * clip.scale_y)
            fx1 = min(clip.full_w, int(np.ceil(box[2] * clip.scale_x)))
            fy1 = min(clip.full_h, int(np.ceil(box[3] * clip.scale_y)))
            full_box = (fx0, fy0, fx1, fy1)
            part = warp_into(cv2, self.key_full, clip.to_full(affine), full_box) >= 128
            self.amodal = mask.copy()
            self.amodal[fy0:fy1, fx0:fx1] = part
            if occluded.any():
                covered = cv2.resize(occluded.astype(np.uint8) * 255, (clip.full_w, clip.full_h),
                                     interpolation=cv2.INTER_LINEAR)
                part &= covered[fy0:fy1, fx0:fx1] < 128
            mask[fy0:fy1, fx0:fx1] = part
        self.velocity, self.affine = step, affine
        self.prev_gray, self.prev_color = gray, color
        self.visible, self.occluded = amodal & ~occluded, occluded
        if self.config.occlusion and self.config.template_rate > 0 and self.key_box is not None:
            self._update_template(color)
        self.frames_done += 1
        if self.frames_done % 4 == 0 or len(self.points) < self.config.max_points // 3:
            self._add_points(gray)
        return mask
