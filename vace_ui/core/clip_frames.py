"""A clip's output frames as a lazy sequence: decoded (through the MediaSource) as a reader asks for them, a block at a
time, so a tracker can walk a long clip forwards and backwards without the whole clip in memory."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence

import numpy as np

BLOCK = 16  # frames decoded together on a miss
BLOCKS_KEPT = 3


class ClipFrames:
    """`indices`: the source frames of each output frame; `place(frame)` brings a source frame to the output
    canvas. Iteration streams once through the clip; indexing decodes the block holding the frame (the last
    BLOCKS_KEPT blocks are kept)."""

    def __init__(self, media, path: str, indices: Sequence[int], place: Callable[[np.ndarray], np.ndarray],
                 field: str = "video"):
        self.media, self.path, self.indices, self.place, self.field = media, path, tuple(indices), place, field
        self._blocks: OrderedDict[int, list[np.ndarray]] = OrderedDict()
        self.decodes = 0  # blocks decoded (tests and benches read it)

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self.media.frames(self.path, self.indices, self.field):
            yield self.place(frame)

    def __getitem__(self, index: int) -> np.ndarray:
        if isinstance(index, slice):
            return np.stack([self[i] for i in range(*index.indices(len(self)))])
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} of {len(self)}")
        block = index // BLOCK
        if block not in self._blocks:
            wanted = self.indices[block * BLOCK:(block + 1) * BLOCK]
            self._blocks[block] = [self.place(frame) for frame in self.media.frames(self.path, wanted, self.field)]
            self.decodes += 1
            while len(self._blocks) > BLOCKS_KEPT:
                self._blocks.popitem(last=False)
        self._blocks.move_to_end(block)
        return self._blocks[block][index - block * BLOCK]
