"""The ``zkref`` command (``python -m server``): one entry point for everything zkref does.

``COMMANDS`` lists every command with its one-line summary; ``zkref --help`` shows them all.
``serve`` runs a server (standalone, or with ``server.N`` lines in its zoo.cfg one member of
an ensemble) and lives here. The others live in their own modules and are handed the rest of
the command line by name (``Command.entry``, ``"module:function"``), imported only when asked
for, so the server does not depend on them: ``zkref ensemble`` (N ``serve`` processes on
loopback, ``server.ensemble.main``), ``zkref conformance --hosts ...`` (the conformance
suite, ``conformance.cli.run_command``), ``zkref check history.jsonl`` (the history checker,
``conformance.cli.check_command``), ``zkref sim`` (the ensemble in a deterministic
simulation, ``simulation.cli.main``) and ``zkref bench ...`` (the benchmark,
``bench.cli.main``). Each entry takes ``(argv, prog)`` and calls itself ``prog`` (``zkref
conformance``) in its usage and error lines. A new command is one more row.

``serve`` reads an optional ``zoo.cfg`` (``--config``), applies the flags given on the
command line over it, prints ``zkref serving on HOST:PORT`` once clients can connect, and
stops cleanly on SIGINT or SIGTERM (exit status 0). A bad configuration exits with status 2
and a line saying what to fix; a failed transaction log exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from reference.quorum import plants
from server.config import (
    ConfigError,
    ServerConfig,
    apply_system_properties,
    parse_four_letter_whitelist,
    parse_profile,
    parse_system_property,
    read_sasl_users,
    read_zoo_cfg,
)
from server.server import ZooKeeperServer
from server.sqlite_storage import StorageCorrupt
from server.tls import TlsError, server_context
from server.version import ZOOKEEPER_VERSION, version_for
from spec.profiles import PROFILES

log = logging.getLogger("zkref")


@dataclass(frozen=True, slots=True)
class Command:
    """One ``zkref`` command: its name, what ``zkref --help`` says of it, and who runs it."""

    name: str
    summary: str
    # "module:function" taking (argv, prog) and returning the exit status; None: ``serve``,
    # which this module parses and runs itself.
    entry: str | None = None

    def load(self) -> Callable[[Sequence[str], str], int]:
        """The function that runs this command (imports its module)."""
        assert self.entry is not None, f"{self.name} is not delegated"
        module_name, _, function_name = self.entry.partition(":")
        function: Callable[[Sequence[str], str], int] = getattr(
            import_module(module_name), function_name
        )
        return function


# Every command, in the order ``zkref --help`` lists them.
COMMANDS = (
    Command("serve", "run a ZooKeeper-compatible server, standalone or in an ensemble"),
    Command(
        "ensemble",
        "run a local ensemble of zkref servers (3 by default) until Ctrl-C",
        "server.ensemble:main",
    ),
    Command(
        "conformance",
        "run the conformance suite against any ZooKeeper server",
        "conformance.cli:run_command",
    ),
    Command(
        "sim",
        "simulate an ensemble under faults: seeds, planted bugs",
        "simulation.cli:main",
    ),
    Command(
        "check",
        "judge a recorded history against ZooKeeper's guarantees",
        "conformance.cli:check_command",
    ),
    Command(
        "bench",
        "measure ZooKeeper servers: ops/s and latency per workload",
        "bench.cli:main",
    ),
)
_BY_NAME = {command.name: command for command in COMMANDS}


def _parser() -> argparse.ArgumentParser:
    # The command list is written out (argparse's own wraps names longer than ten characters).
    listing = "\n".join(f"  {c.name:<13}{c.summary}" for c in COMMANDS)
    parser = argparse.ArgumentParser(
        prog="zkref",
        usage="%(prog)s [-h] [--version] COMMAND ...",
        description="zkref: a ZooKeeper-compatible coordination service, its conformance\n"
        "suite and its benchmark.",
        epilog=f"commands:\n{listing}\n\n'zkref COMMAND --help' describes a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"zkref {ZOOKEEPER_VERSION}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS
    )
    serve_command = _BY_NAME["serve"]
    serve = commands.add_parser(
        serve_command.name,
        prog=f"zkref {serve_command.name}",
        description="Run a server: standalone, or, with server.N lines in --config (and "
        "myid in its dataDir), a member of that ensemble. Flags override the values of --config.",
    )
    serve.add_argument("--config", type=Path, help="a zoo.cfg to read (Java properties)")
    serve.add_argument(
        "-D",
        dest="system_properties",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a system property, as java -D: zookeeper.* settings, "
        "java.security.auth.login.config (the JAAS file for SASL)",
    )
    serve.add_argument("--host", help="address to listen on (clientPortAddress; 127.0.0.1)")
    serve.add_argument("--port", type=int, help="client port (clientPort; 2181; 0 = any free)")
    serve.add_argument("--data-dir", type=Path, help="data directory (dataDir)")
    serve.add_argument("--tick-time", type=int, metavar="MS", help="tickTime in ms (3000)")
    serve.add_argument(
        "--min-session-timeout", type=int, metavar="MS", help="minSessionTimeout (2 ticks)"
    )
    serve.add_argument(
        "--max-session-timeout", type=int, metavar="MS", help="maxSessionTimeout (20 ticks)"
    )
    serve.add_argument(
        "--max-client-cnxns", type=int, metavar="N", help="maxClientCnxns per IP (60; 0 = none)"
    )
    serve.add_argument(
        "--jute-maxbuffer", type=int, metavar="BYTES", help="largest frame (1048575)"
    )
    serve.add_argument(
        "--4lw-whitelist",
        dest="four_letter_whitelist",
        metavar="CMDS",
        help="4lw.commands.whitelist: comma-separated words or * (srvr)",
    )
    serve.add_argument(
        "--snap-count", type=int, metavar="N", help="snapCount: txns between snapshots (100000)"
    )
    serve.add_argument(
        "--snap-retain-count",
        type=int,
        metavar="N",
        help="autopurge.snapRetainCount: snapshots kept (3, the minimum)",
    )
    serve.add_argument(
        "--extended-types-enabled",
        action="store_const",
        const=True,
        help="allow TTL nodes (zookeeper.extendedTypesEnabled; off: createTTL is UNIMPLEMENTED)",
    )
    serve.add_argument(
        "--container-check-interval",
        type=int,
        metavar="MS",
        help="how often empty containers and expired TTL nodes are reaped "
        "(znode.container.checkIntervalMs; 60000)",
    )
    serve.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="the Apache ZooKeeper release line to behave as (zkref.profile; 3.9)",
    )
    serve.add_argument(
        "--event-loop",
        default="auto",
        choices=["auto", "asyncio", "uvloop"],
        help="asyncio's own loop, or uvloop (auto: uvloop when installed)",
    )
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    # Test-only, hidden from --help: switch on a planted ZAB bug (reference.quorum.plants) in
    # this server, so that a nemesis run can prove it catches one in a real process.
    serve.add_argument(
        "--plant",
        action="append",
        default=[],
        choices=sorted(plants.PLANTS),
        help=argparse.SUPPRESS,
    )
    # Never parsed here (main() hands these commands their arguments first); known to the
    # parser so that an unknown command's error names every command.
    for command in COMMANDS:
        if command.entry is not None:
            commands.add_parser(command.name, add_help=False)
    return parser


def choose_event_loop(choice: str) -> str:
    """The event loop ``serve`` runs on: ``choice``, with ``auto`` resolved.

    uvloop (optional, ``pip install 'zkref[uvloop]'``) is the faster loop for this
    socket-heavy server: measured with ``zkref bench compare``, about 5-10 % more writes
    and mixed operations per second (docs/BENCHMARKS.md). Behaviour does not depend on it.
    Raises ``ConfigError`` if ``uvloop`` is asked for and not installed.
    """
    if choice == "asyncio":
        return choice
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if choice == "uvloop":
            raise ConfigError("--event-loop uvloop: uvloop is not installed") from None
        return "asyncio"
    return "uvloop"


def run_on(event_loop: str, main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` to completion on ``event_loop`` (``asyncio`` or ``uvloop``)."""
    if event_loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def build_config(args: argparse.Namespace) -> ServerConfig:
    """The configuration ``serve`` runs with: zoo.cfg (if any), the system properties
    (``-D``), then the flags; the JAAS file's SASL users read, the secure port's settings
    checked and its key and trust stores loaded once (a ``ConfigError`` if they cannot be)."""
    config = read_zoo_cfg(args.config) if args.config is not None else ServerConfig()
    properties = [parse_system_property(text) for text in args.system_properties]
    config = read_sasl_users(apply_system_properties(config, properties))
    whitelist = None
    if args.four_letter_whitelist is not None:
        whitelist = parse_four_letter_whitelist(args.four_letter_whitelist)
    config = config.with_overrides(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        tick_time_ms=args.tick_time,
        min_session_timeout_ms=args.min_session_timeout,
        max_session_timeout_ms=args.max_session_timeout,
        max_client_connections_per_ip=args.max_client_cnxns,
        jute_max_buffer=args.jute_maxbuffer,
        four_letter_whitelist=whitelist,
        snap_count=args.snap_count,
        snap_retain_count=args.snap_retain_count,
        extended_types_enabled=args.extended_types_enabled,
        container_check_interval_ms=args.container_check_interval,
        profile=None if args.profile is None else parse_profile(args.profile),
    )
    config.check_secure_port()
    if config.secure_port is not None:
        try:
            server_context(config.tls)
        except TlsError as error:
            raise ConfigError(str(error)) from None
    return config


async def serve(config: ServerConfig, event_loop: str = "asyncio") -> int:
    """Run until SIGINT/SIGTERM; the exit status."""
    server = ZooKeeperServer(config)
    try:
        await server.start()
    except StorageCorrupt as error:
        print(f"zkref: cannot recover the data dir: {error}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("event loop: %s", event_loop)
    log.info(
        "profile %s: behaving as Apache ZooKeeper %s",
        config.profile.name,
        version_for(config.profile),
    )
    if config.data_dir is None:
        log.info("no dataDir: transactions are kept in memory only")
    else:
        log.info(
            "dataDir %s: recovered to zxid 0x%x; snapshot every %d txns",
            config.data_dir,
            server.core.last_zxid,
            config.snap_count,
        )
    if server.secure_port is not None:
        host = config.secure_host_effective
        log.info("secure client port (TLS): %s:%d", host, server.secure_port)
    print(f"zkref serving on {server.host}:{server.port}", flush=True)
    stopped = asyncio.ensure_future(server.wait_stopped())
    signalled = asyncio.ensure_future(stop.wait())
    await asyncio.wait({stopped, signalled}, return_when=asyncio.FIRST_COMPLETED)
    if signalled.done():
        log.info("stopping")
    await server.close()
    for future in (stopped, signalled):
        future.cancel()
    if server.failure is not None:
        log.error("stopped after a storage failure: %r", server.failure)
        return 1
    log.info("stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = _BY_NAME.get(args_list[0]) if args_list else None
    if command is not None and command.entry is not None:
        return command.load()(args_list[1:], f"zkref {command.name}")
    parser = _parser()
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in args.plant:
        plants.plant(name)
        log.warning("planted bug switched on (test only): %s", plants.PLANTS[name][1])
    try:
        event_loop = choose_event_loop(args.event_loop)
        config = build_config(args)
        config.check_ensemble()
        if config.data_dir is not None:
            config.data_dir.mkdir(parents=True, exist_ok=True)
    except ConfigError as error:
        parser.exit(2, f"zkref: configuration error: {error}\n")
    except OSError as error:
        parser.exit(2, f"zkref: cannot use dataDir {config.data_dir}: {error}\n")
    try:
        return run_on(event_loop, serve(config, event_loop))
    except OSError as error:
        # Most often: the port is taken, or the address is not ours.
        print(f"zkref: cannot serve on {config.client_address}: {error}", file=sys.stderr)
        return 1
