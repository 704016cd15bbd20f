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


# What NVIDIA's DCGM exporter (4.5.3-4.8.2) labels every GPU series with, for the simulated GPU.
MODEL_NAME = "Simulated GPU 16GB"
DRIVER_VERSION = "simulated"


class SimulatedGPU:
    def __init__(self, gpu_id: str = "0", total_mib: float = 16384, baseline_mib: float = 6144,
                 idle_utilization: float = 35.0, clock=time.monotonic,
                 uuid: str = "GPU-5e0c1a2b-0000-4000-8000-000000000000", model_name: str = MODEL_NAME):
        self.gpu_id = gpu_id
        self.uuid = uuid
        self.model_name = model_name
        self.pci_bus_id = f"00000000:{0x10 + int(gpu_id):02X}:00.0"
        self.device = f"nvidia{gpu_id}"
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

    def temperature(self) -> float:
        """Degrees C: 30 at rest plus 0.4 per utilisation point (a well-cooled GPU)."""
        return round(30.0 + 0.4 * self.utilization())

    def power_watts(self) -> float:
        """Watts: 25 at rest plus 0.5 per utilisation point."""
        return round(25.0 + 0.5 * self.utilization(), 1)

    def dcgm_fields(self) -> list[tuple[str, str, str, float]]:
        """The DCGM fields the GPU rules read, as the DCGM exporter reports them: [(field, type, help, value)].

        Framebuffer in MiB (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE = total), utilisation in %, violation counters in
        microseconds (never throttled here), no XID, no ECC error. A single PCIe GPU has no NVLink: DCGM reports those
        fields blank and the exporter leaves them out, so they are absent here too.
        """
        used_mib = self.used_bytes() / MIB
        total_mib = self.total_bytes / MIB
        return [
            ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", self.temperature()),
            ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", self.power_watts()),
            ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", round(self.utilization())),
            ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", round(used_mib)),
            ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", round(total_mib - used_mib)),
            ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered.", 0),
            ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total number of double-bit volatile ECC errors.", 0),
            ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed.", 0),
            ("DCGM_FI_DEV_THERMAL_VIOLATION", "counter", "Throttling duration due to thermal constraints (in us).", 0),
            ("DCGM_FI_DEV_POWER_VIOLATION", "counter", "Throttling duration due to power constraints (in us).", 0),
        ]

    def dcgm_labels(self, hostname: str) -> dict[str, str]:
        """The labels the DCGM exporter puts on every series of this GPU, in its order (the driver version is a
        label field of the counters file)."""
        return {"gpu": self.gpu_id, "UUID": self.uuid, "pci_bus_id": self.pci_bus_id, "device": self.device,
                "modelName": self.model_name, "Hostname": hostname, "DCGM_FI_DRIVER_VERSION": DRIVER_VERSION}

    def dcgm_exposition(self, hostname: str) -> str:
        """This GPU's series in the DCGM exporter's own text format: `# HELP`/`# TYPE` per field, counters without
        a `_total` suffix, labels in the exporter's order, err_code/err_msg on XID errors, integer values."""
        lines = []
        for field, kind, help_text, value in self.dcgm_fields():
            labels = dict(self.dcgm_labels(hostname))
            if field == "DCGM_FI_DEV_XID_ERRORS":
                labels.update(err_code=str(int(value)), err_msg="No Error")
            rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
            number = f"{value:g}" if isinstance(value, float) and not value.is_integer() else str(int(value))
            lines += [f"# HELP {field} {help_text}", f"# TYPE {field} {kind}", f"{field}{{{rendered}}} {number}"]
        return "\n".join(lines) + "\n"
