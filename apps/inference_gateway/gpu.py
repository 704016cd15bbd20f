"""A simulated GPU: utilisation follows the request rate; memory is a baseline plus whatever a release leaks.

Leaked memory is only returned by a process restart (as with a real CUDA leak): rolling back stops the leak, a
restart frees it.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque

MIB = 1024 * 1024


class SimulatedGPU:
    def __init__(self, gpu_id: str = "0", total_mib: float = 16384, baseline_mib: float = 6144,
                 idle_utilization: float = 35.0, clock=time.monotonic):
        self.gpu_id = gpu_id
        self.total_bytes = total_mib * MIB
        self.baseline_bytes = baseline_mib * MIB
        self.idle_utilization = idle_utilization
        self.leaked_bytes = 0.0
        self.leak_mib_per_s = 0.0
        self._clock = clock
        self._last_tick = clock()
        self._requests = deque()
        self._lock = threading.Lock()

    def set_leak(self, mib_per_s: float) -> None:
        with self._lock:
            self._advance()
            self.leak_mib_per_s = mib_per_s

    def _advance(self) -> None:
        now = self._clock()
        self.leaked_bytes += self.leak_mib_per_s * MIB * max(now - self._last_tick, 0.0)
        self.leaked_bytes = min(self.leaked_bytes, self.total_bytes)
        self._last_tick = now

    def record_request(self) -> None:
        with self._lock:
            self._requests.append(self._clock())

    def used_bytes(self) -> float:
        with self._lock:
            self._advance()
            return min(self.baseline_bytes + self.leaked_bytes, self.total_bytes)

    def out_of_memory(self) -> bool:
        return self.used_bytes() >= self.total_bytes

    def utilization(self) -> float:
        """Percent: the idle level plus 2.5 points per request/s over the last 10 s, with a slow wobble."""
        with self._lock:
            now = self._clock()
            while self._requests and self._requests[0] < now - 10:
                self._requests.popleft()
            rps = len(self._requests) / 10.0
        wobble = 3 * math.sin(now / 60.0)
        return max(0.0, min(100.0, self.idle_utilization + 2.5 * rps + wobble))
