"""Control videos already computed, so Generate does not recompute what a preview just showed.

Keyed by the source file's content (a job works on its own copy of the upload, so paths differ), the control kind
and exactly which source frames went in at which size. Small LRU: each entry is a whole clip of frames.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ControlCache:
    def __init__(self, capacity: int = 3):
        self.capacity = capacity
        self._entries: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._digests: dict[tuple, str] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, path: str, kind: str, plan: tuple) -> tuple:
        stat = Path(path).stat()
        identity = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            digest = self._digests.get(identity)
        if digest is None:
            digest = file_digest(path)
            with self._lock:
                self._digests[identity] = digest
        return digest, kind, plan

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            frames = self._entries.get(key)
            if frames is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return frames

    def put(self, key: tuple, frames: np.ndarray) -> None:
        with self._lock:
            self._entries[key] = frames
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
