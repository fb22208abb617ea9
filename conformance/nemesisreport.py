"""The verdict of a nemesis run, and its report for people (``render``) and programs.

``analyse(record)`` reads the run's history and judges it:

* **the checker** (``conformance.checker.check``) over the whole history, in the run's mode
  (``zookeeper`` by default: what an Apache ZooKeeper ensemble promises);
* **acknowledged writes lost**: every znode whose create was answered OK under ``own-K`` and
  ``seq`` (never deleted), and the highest version of ``own-K`` a setData or multi was answered
  with, must be on *every* server's read-back after healing; a missing one is lost (must be 0);
* **servers that disagree**: the read-backs of the servers must be equal (but for the
  ephemerals, which may be going while they are read);
* **reads back in time**: a read whose reply zxid is below one its session had already been
  answered with before the read was sent, or that shows an older version of a znode than the
  session had already seen (same czxid, lower mzxid);
* **ephemerals that outlived their session**: left after every session ended and two session
  timeouts passed;
* **divergences logged**: a server whose log says its tree's digest differed from the one its
  leader put in a proposal (Apache's "Digests are not matching", zkref's "digest mismatch"),
  or a zkref server that logged an internal error;
* **liveness**: after healing, one leader followed by all and a write answered;
* **failover**: per fault, the time from its start until a write sent after it was answered
  (a reply of any kind: it went through the leader), and their distribution per kind.

The report shows the schedule, the faults on a time line (one row per server: ``L`` leading,
``.`` following, ``-`` not serving, ``x`` killed, ``z`` paused, ``/`` cut off; and a row of
the writes answered), the figures, and the evidence of every violation.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from conformance.checker import check
from conformance.history import History, OpEvent, load_history
from conformance.index import WRITE_OPS
from conformance.nemesisrun import RECOVERY_S, FaultEvent, RunRecord, schedule_header
from conformance.verdict import Verdict
from conformance.workers import ROOT
from spec import requests as rq

TIMELINE_COLUMNS = 72
EVIDENCE_MAX = 10  # examples shown per kind of violation
READ_OPS = (rq.GetData, rq.Exists, rq.GetChildren, rq.MultiRead, rq.GetACL)


@dataclass
class NemesisReport:
    record: RunRecord
    verdict: Verdict
    lost: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    back_in_time: list[str] = field(default_factory=list)
    ephemerals_left: list[str] = field(default_factory=list)
    read_back_failures: list[str] = field(default_factory=list)
    divergences: list[str] = field(default_factory=list)
    failover_s: list[float | None] = field(default_factory=list)  # per event, in order
    stats: dict[str, int] = field(default_factory=dict)
    timeline: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        """Violations found besides the checker's."""
        return sum(
            len(items)
            for items in (
                self.lost,
                self.disagreements,
                self.back_in_time,
                self.ephemerals_left,
                self.read_back_failures,
                self.divergences,
            )
        ) + bool(self.record.liveness)

    @property
    def valid(self) -> bool:
        return self.verdict.allowed and not self.failures

    @property
    def status(self) -> str:
        if self.verdict.violations or self.failures:
            return "INVALID"
        return "UNDECIDED" if self.verdict.undecided else "VALID"

    def failover_by_kind(self) -> dict[str, dict[str, float | int | None]]:
        groups: dict[str, list[float | None]] = defaultdict(list)
        for event, seconds in zip(self.record.events, self.failover_s, strict=True):
            groups[event.plan.kind].append(seconds)
            groups[f"{event.plan.kind} {event.plan.variant}"].append(seconds)
        groups["all"] = list(self.failover_s)
        return {name: _distribution(values) for name, values in sorted(groups.items())}

    def figures(self) -> dict[str, Any]:
        """The headline numbers (what the docs compare across servers)."""
        record = self.record
        kinds: dict[str, int] = defaultdict(int)
        for event in record.events:
            kinds[event.plan.kind] += 1
        return {
            "operations": self.stats.get("operations", 0),
            "acknowledged": self.stats.get("acknowledged", 0),
            "failed": self.stats.get("failed", 0),
            "writes acknowledged": self.stats.get("writes acknowledged", 0),
            "writes answered": self.stats.get("writes answered", 0),
            "reads answered": self.stats.get("reads answered", 0),
            "unknown outcomes": self.stats.get("unknown outcomes", 0),
            "sessions": record.sessions,
            "faults": len(record.events),
            "faults by kind": dict(sorted(kinds.items())),
            "acknowledged writes lost": len(self.lost),
            "reads back in time": len(self.back_in_time),
            "ephemerals outliving their session": len(self.ephemerals_left),
            "divergences logged": len(self.divergences),
            "failover": self.failover_by_kind().get("all", {}),
        }

    def render(self) -> str:
        record, options = self.record, self.record.options
        origin = record.started_ns
        lines = schedule_header(options, record.seed, record.plans)
        lines += [
            f"servers: {record.server_version} (profile {record.profile}), formed in "
            f"{record.formed_in_s:.1f} s; history {record.history_path}",
            "",
            "faults as they happened (time: fault: whom; writes answered again after):",
        ]
        for event, seconds in zip(record.events, self.failover_s, strict=True):
            resumed = "no write answered" if seconds is None else f"{seconds:.2f} s"
            led = f" (leader was {event.leader})" if event.leader is not None else ""
            lines.append(
                f"  {(event.start_ns - origin) / 1e9:7.1f} s  {event.plan.describe()}: "
                f"{event.detail}{led}; writes again after {resumed}"
            )
        lines += ["", "time line (L leads, . follows, - not serving, x killed, z paused, / cut):"]
        lines += [f"  {row}" for row in self.timeline]
        stats = self.stats
        lines += [
            "",
            f"operations: {stats.get('operations', 0)} ({stats.get('writes answered', 0)} "
            f"writes and {stats.get('reads answered', 0)} reads answered, "
            f"{stats.get('unknown outcomes', 0)} with unknown outcome), "
            f"{record.sessions} client sessions, {stats.get('notifications', 0)} notifications",
            f"outcomes: {stats.get('acknowledged', 0)} acknowledged (err 0; "
            f"{stats.get('writes acknowledged', 0)} of them writes), {stats.get('failed', 0)} "
            f"answered with an error code, {stats.get('unknown outcomes', 0)} unknown",
            f"faults: {len(record.events)} "
            + "("
            + ", ".join(f"{k} {v}" for k, v in self.figures()["faults by kind"].items())
            + ")",
            "failover (fault → a write sent after it answered), seconds:",
        ]
        for name, dist in self.failover_by_kind().items():
            lines.append(f"  {name:<22} {_render_distribution(dist)}")
        liveness = record.liveness or (
            f"every server followed one leader {record.liveness_formed_s:.1f} s after "
            f"healing, a write answered after {record.liveness_write_s:.1f} s"
        )
        lines += [
            f"liveness: {liveness}",
            f"history: {self.verdict.status} ({_checker_stats(self.verdict)})",
            f"acknowledged writes lost: {len(self.lost)}",
            f"servers disagreeing after healing: {len(self.disagreements)}",
            f"reads back in time: {len(self.back_in_time)}",
            f"ephemerals outliving their session: {len(self.ephemerals_left)}",
            f"divergences in the servers' logs: {len(self.divergences)}",
        ]
        for title, items in (
            ("read-back failed", self.read_back_failures),
            ("LOST acknowledged writes", self.lost),
            ("servers DISAGREE", self.disagreements),
            ("reads BACK IN TIME", self.back_in_time),
            ("ephemerals OUTLIVED their session", self.ephemerals_left),
            ("servers logged a DIVERGENCE", self.divergences),
        ):
            if items:
                lines += ["", f"{title} ({len(items)}):"]
                lines += [f"  {item}" for item in items[:EVIDENCE_MAX]]
                if len(items) > EVIDENCE_MAX:
                    lines.append(f"  ... and {len(items) - EVIDENCE_MAX} more")
        if not self.verdict.allowed:
            lines += ["", self.verdict.render()]
        lines += ["", f"{self.status}: reproduce the schedule with --seed {record.seed}"]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        record, options = self.record, self.record.options
        origin = record.started_ns
        return {
            "status": self.status,
            "valid": self.valid,
            "ensemble": options.kind,
            "size": options.size,
            "faults": list(options.faults),
            "duration_s": options.duration_s,
            "clients": options.clients,
            "tick_time_ms": options.tick_time_ms,
            "plants": list(options.plants),
            "seed": record.seed,
            "server_version": record.server_version,
            "profile": record.profile,
            "history": str(record.history_path),
            "schedule": [plan.to_json() for plan in record.plans],
            "events": [
                {**event.to_json(origin), "writes_again_after_s": seconds}
                for event, seconds in zip(record.events, self.failover_s, strict=True)
            ],
            "figures": self.figures(),
            "failover": self.failover_by_kind(),
            "stats": self.stats,
            "checker": self.verdict.to_json(),
            "lost": self.lost,
            "disagreements": self.disagreements,
            "back_in_time": self.back_in_time,
            "ephemerals_left": self.ephemerals_left,
            "read_back_failures": self.read_back_failures,
            "divergences": self.divergences,
            "liveness": record.liveness,
            "liveness_formed_s": record.liveness_formed_s,
            "liveness_write_s": record.liveness_write_s,
            "timeline": self.timeline,
        }


def analyse(record: RunRecord) -> NemesisReport:
    """Judge a finished run (see the module docstring)."""
    history = load_history(record.history_path)
    verdict = check(history, record.profile, record.options.mode)
    report = NemesisReport(record, verdict)
    report.read_back_failures = [
        f"server {final.sid}: {final.error}" for final in record.final if final.error
    ]
    report.lost = _lost(record)
    report.disagreements = _disagreements(record)
    report.back_in_time = _back_in_time(history)
    report.ephemerals_left = [
        f"{path} owned by session 0x{owner:x}{_session_fate(history, owner)}"
        for path, owner in record.ephemerals_left
    ]
    report.divergences = [
        f"server {sid}: {line}"
        for sid, lines in sorted(record.divergences.items())
        for line in lines
    ]
    report.failover_s = _failover(history, record.events)
    report.stats = _stats(history)
    report.timeline = _timeline(record, history)
    return report


def _lost(record: RunRecord) -> list[str]:
    lost: dict[str, list[int]] = defaultdict(list)
    for final in record.final:
        if final.error:
            continue
        for index, durable in sorted(record.durable.items()):
            for path in durable.created:
                parent, _, name = path.rpartition("/")
                if name not in final.children.get(parent, ()):
                    lost[f"{path} (create answered OK)"].append(final.sid)
            own = f"{ROOT}/own-{index}"
            seen = final.data.get(own)
            if durable.counter_version >= 0 and (
                seen is None or seen[1].version < durable.counter_version
            ):
                version = "none" if seen is None else seen[1].version
                lost[
                    f"{own} version {durable.counter_version} (setData answered OK; read back "
                    f"version {version})"
                ].append(final.sid)
    return [f"{what} missing on server {_join(sids)}" for what, sids in sorted(lost.items())]


def _disagreements(record: RunRecord) -> list[str]:
    reads = [final for final in record.final if not final.error]
    if len(reads) < 2:
        return []
    first, out = reads[0], []
    for other in reads[1:]:
        for parent in sorted(set(first.children) | set(other.children)):
            if parent == f"{ROOT}/eph":
                continue
            a, b = set(first.children.get(parent, ())), set(other.children.get(parent, ()))
            if a != b:
                out.append(
                    f"children of {parent}: server {first.sid} alone has {sorted(a - b)[:5]}, "
                    f"server {other.sid} alone has {sorted(b - a)[:5]}"
                )
        for path in sorted(set(first.data) | set(other.data)):
            x, y = first.data.get(path), other.data.get(path)
            if (x is None) != (y is None) or (
                x is not None and y is not None and (x[0], x[1].mzxid) != (y[0], y[1].mzxid)
            ):
                out.append(f"{path}: server {first.sid} has {x}, server {other.sid} has {y}")
    return out


def _back_in_time(history: History) -> list[str]:
    """Reads whose reply is older than what their session had already been answered with."""
    by_session: dict[int, list[OpEvent]] = defaultdict(list)
    for op in history.ops:
        if op.reply is not None and op.complete_ns is not None and op.session_id:
            by_session[op.session_id].append(op)
    found = []
    for session, ops in by_session.items():
        completed = sorted(ops, key=lambda o: o.complete_ns or 0)
        times = [o.complete_ns or 0 for o in completed]
        running_max: list[tuple[int, int]] = []  # (zxid, op id) max so far, by completion
        best = (-1, 0)
        for op in completed:
            assert op.reply is not None
            if op.reply.zxid > best[0]:
                best = (op.reply.zxid, op.id)
            running_max.append(best)
        seen: dict[str, tuple[int, int, int]] = {}  # path -> (czxid, mzxid, op id)
        for op in sorted(ops, key=lambda o: o.invoke_ns):
            reply = op.reply
            assert reply is not None
            if not isinstance(op.op, READ_OPS):
                continue
            before = bisect.bisect_left(times, op.invoke_ns) - 1
            if before >= 0 and reply.zxid < running_max[before][0]:
                zxid, witness = running_max[before]
                found.append(
                    f"session 0x{session:x}: op {op.id} ({type(op.op).__name__} "
                    f"{getattr(op.op, 'path', '')}) at server {op.server} answered at zxid "
                    f"0x{reply.zxid:x}, after op {witness} was answered at 0x{zxid:x}"
                )
                continue
            stat = getattr(reply.body, "stat", None)
            path = getattr(op.op, "path", None)
            if stat is None or path is None or not isinstance(op.op, rq.GetData | rq.Exists):
                continue
            earlier = seen.get(path)
            if earlier is not None and earlier[0] == stat.czxid and stat.mzxid < earlier[1]:
                found.append(
                    f"session 0x{session:x}: op {op.id} read {path} at mzxid 0x{stat.mzxid:x} "
                    f"after op {earlier[2]} had shown mzxid 0x{earlier[1]:x}"
                )
            if earlier is None or (stat.czxid, stat.mzxid) > earlier[:2]:
                seen[path] = (stat.czxid, stat.mzxid, op.id)
    return found


def _session_fate(history: History, session_id: int) -> str:
    for event in history.sessions:
        if event.session_id == session_id and event.kind in ("closed", "expired"):
            return (
                f" ({event.kind} by the history at {event.time_ns - history.header.started_ns} ns)"
            )
    return " (not closed by its client: it had to expire)"


def _failover(history: History, events: list[FaultEvent]) -> list[float | None]:
    writes = sorted(
        (op.invoke_ns, op.complete_ns)
        for op in history.ops
        if isinstance(op.op, WRITE_OPS)
        and not isinstance(op.op, rq.CloseSession)
        and op.complete_ns is not None
    )
    invokes = [invoke for invoke, _ in writes]
    suffix_min: list[int] = [0] * len(writes)
    best = 1 << 62
    for i in range(len(writes) - 1, -1, -1):
        best = min(best, writes[i][1])
        suffix_min[i] = best
    out: list[float | None] = []
    for event in events:
        i = bisect.bisect_left(invokes, event.start_ns)
        out.append(None if i >= len(writes) else round((suffix_min[i] - event.start_ns) / 1e9, 3))
    return out


def _stats(history: History) -> dict[str, int]:
    ops = history.ops
    return {
        "operations": len(ops),
        "acknowledged": sum(1 for o in ops if o.outcome == "ok"),
        "failed": sum(1 for o in ops if o.outcome == "error"),
        "writes acknowledged": sum(
            1 for o in ops if isinstance(o.op, WRITE_OPS) and o.outcome == "ok"
        ),
        "writes answered": sum(
            1 for o in ops if isinstance(o.op, WRITE_OPS) and o.outcome != "unknown"
        ),
        "reads answered": sum(
            1 for o in ops if isinstance(o.op, READ_OPS) and o.outcome != "unknown"
        ),
        "unknown outcomes": sum(1 for o in ops if o.outcome == "unknown"),
        "notifications": len(history.notifications),
        "connections": len(history.connects),
    }


def _timeline(record: RunRecord, history: History) -> list[str]:
    start = record.started_ns
    end = record.faults_ended_ns + int(
        ((record.liveness_write_s or record.liveness_formed_s or 0) + RECOVERY_S) * 1e9
    )
    if end <= start:
        return []
    width = (end - start) / TIMELINE_COLUMNS

    def column(instant: int) -> int:
        return max(0, min(TIMELINE_COLUMNS - 1, int((instant - start) / width)))

    rows: dict[int, list[str]] = {sid: [" "] * TIMELINE_COLUMNS for sid in _sids(record)}
    for instant, modes in record.modes:
        if start <= instant <= end:
            for sid, mode in modes.items():
                mark = {"leader": "L", "follower": "."}.get(mode or "", "-")
                cell = rows[sid][column(instant)]
                if cell == " " or mark == "L":
                    rows[sid][column(instant)] = mark
    for row in rows.values():  # srvr is asked every second: a column between keeps the last
        for col in range(1, TIMELINE_COLUMNS):
            if row[col] == " ":
                row[col] = row[col - 1]
    for event in record.events:
        stop = event.end_ns or end
        if event.plan.kind == "partition":
            hit = list(event.victims)
            mark = "/"
        else:
            hit = list(event.victims)
            mark = "x" if event.plan.kind == "kill" else "z"
        for sid in hit:
            for col in range(column(event.start_ns), column(stop) + 1):
                rows[sid][col] = mark
    writes = [" "] * TIMELINE_COLUMNS
    for op in history.ops:
        if (
            isinstance(op.op, WRITE_OPS)
            and op.complete_ns is not None
            and start <= op.complete_ns <= end
        ):
            writes[column(op.complete_ns)] = "#"
    seconds = (end - start) / 1e9
    ruler = f"0 s{' ' * (TIMELINE_COLUMNS - 3 - len(f'{seconds:.0f} s'))}{seconds:.0f} s"
    return [
        f"          {ruler}",
        *(f"server {sid:<3}{''.join(row)}" for sid, row in sorted(rows.items())),
        f"writes    {''.join(writes)}",
    ]


def _sids(record: RunRecord) -> list[int]:
    return list(range(1, record.options.size + 1))


def _join(sids: list[int]) -> str:
    return ",".join(str(sid) for sid in sorted(set(sids)))


def _distribution(values: list[float | None]) -> dict[str, float | int | None]:
    known = sorted(v for v in values if v is not None)
    if not known:
        return {"faults": len(values), "no write": len(values)}
    return {
        "faults": len(values),
        "no write": len(values) - len(known),
        "min": known[0],
        "median": round(statistics.median(known), 3),
        "p90": known[min(len(known) - 1, int(0.9 * len(known)))],
        "max": known[-1],
    }


def _render_distribution(dist: dict[str, float | int | None]) -> str:
    text = f"{dist['faults']:>3} faults"
    if "median" in dist:
        text += (
            f"  min {dist['min']:.2f}  median {dist['median']:.2f}  p90 {dist['p90']:.2f}  "
            f"max {dist['max']:.2f}"
        )
    if dist.get("no write"):
        text += f"  ({dist['no write']} with no write after)"
    return text


def _checker_stats(verdict: Verdict) -> str:
    stats = verdict.stats
    return ", ".join(
        f"{key} {stats[key]}"
        for key in ("operations", "replayed", "unknown outcomes", "seconds")
        if key in stats
    )


__all__ = ["NemesisReport", "analyse"]
