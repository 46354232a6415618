"""A byte-bounded LRU of stage activations."""
from __future__ import annotations

import threading
from collections import OrderedDict

from torch import Tensor


class ActivationCache:
    """Maps chained stage keys to output tensors, evicting least recently used past `max_bytes`."""

    def __init__(self, max_bytes: int = 256 << 20):
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[bytes, Tensor] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> Tensor | None:
        with self._lock:
            t = self._items.get(key)
            if t is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return t

    def put(self, key: bytes, value: Tensor) -> None:
        size = value.element_size() * value.nelement()
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.nbytes -= old.element_size() * old.nelement()
            self._items[key] = value
            self.nbytes += size
            while self.nbytes > self.max_bytes:
                _, ev = self._items.popitem(last=False)
                self.nbytes -= ev.element_size() * ev.nelement()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)
