"""How fast the simulation runs: the two figures ``zkref sim --speed`` prints.

* **Busy**: simulated client operations per CPU-second of simulation (the history check
  excluded), over swarm seeds of three servers under faults.
* **Idle**: simulated seconds per CPU-second for three servers and no clients, where time
  goes by in timeouts, pings and elections: the leader is killed and restarted every 20
  simulated seconds for ten simulated minutes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from simulation.cluster import Cluster
from simulation.swarm import run

IDLE_SIMULATED_S = 600
IDLE_KILL_EVERY_S = 20


@dataclass(frozen=True)
class Speed:
    operations: int
    busy_cpu_s: float
    idle_simulated_s: float
    idle_cpu_s: float
    elections: int

    @property
    def operations_per_cpu_s(self) -> float:
        return self.operations / self.busy_cpu_s if self.busy_cpu_s else 0.0

    @property
    def idle_speedup(self) -> float:
        return self.idle_simulated_s / self.idle_cpu_s if self.idle_cpu_s else 0.0

    def render(self) -> str:
        return (
            f"busy: {self.operations} client operations in {self.busy_cpu_s:.1f} CPU-s "
            f"({self.operations_per_cpu_s:.0f} per CPU-s; three servers under faults)\n"
            f"idle: {self.idle_simulated_s:.0f} s simulated in {self.idle_cpu_s:.2f} CPU-s "
            f"({self.idle_speedup:.0f}x real time; three servers, the leader killed every "
            f"{IDLE_KILL_EVERY_S} s, {self.elections} elections)"
        )


def measure(seeds: range = range(20)) -> Speed:
    operations = 0
    busy = 0.0
    for seed in seeds:
        result = run(seed, replicas=3)
        operations += result.operations
        busy += result.sim_cpu_s
    started = time.process_time()
    cluster = Cluster(3, tick_time_ms=2000, seed=0)
    elections = 0
    for _ in range(IDLE_SIMULATED_S // IDLE_KILL_EVERY_S):
        cluster.run_for(IDLE_KILL_EVERY_S * 1000)
        for sid in cluster.leaders():
            cluster.crash(sid)
            cluster.start(sid)
            elections += 1
    idle = time.process_time() - started
    return Speed(operations, busy, IDLE_SIMULATED_S, idle, elections)
