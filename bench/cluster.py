"""A Pricebook cluster across hosts on one machine: each host a network namespace with its own
10.x address on a bridge, holding a PostgreSQL primary, its streaming replica
(`pg_basebackup -R`), two API nodes (`pricebook serve`) and HAProxy balancing round-robin over
the nodes with health checks on `/health`.

    python bench/cluster.py up [--nodes N] [--no-replica]   # prints the addresses and API keys
    python bench/cluster.py status
    python bench/cluster.py down
    python bench/cluster.py bench [--seconds S]              # 1 and 2 nodes, with and without
                                                              # the replica, through HAProxy

Runs as root (namespaces, and PostgreSQL's programs run as the `postgres` OS user through
`runuser`). The PostgreSQL servers are the topology's own (`bench.pgservers`, as
`tests/test_replicas.py` makes them), never the machine's shared one. `up` leaves the cluster
running and writes what `down` needs to a state file; a failed `up` takes down what it had
started. `tests/test_cluster.py` uses `Topology` the same way as a context manager.

Why namespaces: separate hosts are what an operator runs, and only separate network stacks make
the nodes' own addresses, the replica's link and a node's death look to the others as they would
across machines (a process on 127.0.0.1 shares everything with its peers but its memory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pgservers import PgServers
from bench.pgservers import missing as postgres_missing

STATE = Path(tempfile.gettempdir()) / "pricebook-cluster.json"
#: host name → last octet of its address
HOSTS = {"primary": 1, "replica": 2, "lb": 10, "api1": 11, "api2": 12}
NODES = ("api1", "api2")
PG_PORT, API_PORT, LB_PORT = 5432, 8000, 8080
#: the demo catalogue's part, branch and price type the checks and the bench resolve
PART, BRANCH, PRICE_TYPE = 18, "SZ01", "4s"


def missing() -> str | None:
    """Why this machine cannot run the topology, or None when it can."""
    reason = postgres_missing()
    if reason:
        return reason
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if shutil.which("haproxy") is None:
        return "haproxy is not installed (Debian package `haproxy`)"
    probe = f"pbprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` is not allowed here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _free_subnet() -> int:
    """A third octet B such that 10.231.B.0/24 is on no interface of this machine."""
    used = _ip("-4", "addr").stdout
    for _ in range(100):
        b = secrets.randbelow(256)
        if f"10.231.{b}." not in used:
            return b
    raise RuntimeError("no free 10.231.B.0/24 subnet")


@dataclass
class Topology:
    """One cluster: what it is made of (its state) and how to start and stop its parts.

    Every part is named with `tag`, so two clusters (two engineers, a test beside a CLI run)
    never share a namespace, a bridge or an address."""

    tag: str
    subnet: int
    #: logs, the HAProxy config; the PostgreSQL data directories are under `pg_base`
    base: str
    pg_base: str
    pg_bin: str
    session_secret: str
    max_lag: float = 2.0
    replica: bool = True
    #: API node name → the process id of its `pricebook serve` (a process group leader)
    node_pids: dict[str, int] = field(default_factory=dict)
    lb_pid: int = 0
    lb_nodes: list[str] = field(default_factory=list)
    #: role → API key (`pricebook demo keys`)
    keys: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        #: the processes this object started (not saved: a later `down` finds them by id)
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    # -- names and addresses ------------------------------------------------------------------

    def ns(self, host: str) -> str:
        return f"pb{self.tag}-{host}"

    def exec_in(self, host: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host)]

    def addr(self, host: str) -> str:
        return f"10.231.{self.subnet}.{HOSTS[host]}"

    @property
    def bridge(self) -> str:
        return f"pb{self.tag}br"

    def db_url(self, host: str) -> str:
        return f"postgresql://postgres@{self.addr(host)}:{PG_PORT}/pricebook"

    def node_url(self, node: str) -> str:
        return f"http://{self.addr(node)}:{API_PORT}"

    @property
    def lb_url(self) -> str:
        return f"http://{self.addr('lb')}:{LB_PORT}"

    @property
    def servers(self) -> PgServers:
        return PgServers(Path(self.pg_bin), Path(self.pg_base))

    def log(self, name: str) -> Path:
        return Path(self.base) / f"{name}.log"

    # -- the whole ------------------------------------------------------------------------------

    @classmethod
    def new(cls, *, max_lag: float = 2.0) -> Topology:
        servers = PgServers.make("pricebook-cluster-pg-")
        return cls(
            tag=secrets.token_hex(2),
            subnet=_free_subnet(),
            base=tempfile.mkdtemp(prefix="pricebook-cluster-"),
            pg_base=str(servers.base),
            pg_bin=str(servers.bin),
            session_secret=secrets.token_hex(16),
            max_lag=max_lag,
        )

    def up(self, nodes: int = 2, replica: bool = True) -> None:
        """Network, primary (seeded with the demo catalogue), replica, nodes, HAProxy. On any
        failure everything started so far is taken down before the error goes on."""
        self.replica = replica
        try:
            self.network()
            self.start_primary()
            self.seed()
            self.make_replica()
            for node in NODES[:nodes]:
                self.start_node(node)
            self.start_lb(list(NODES[:nodes]))
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        """Stop every process, remove namespaces, the bridge and the temporary directories.
        Each step runs whatever the previous ones did, so a half-made cluster goes too."""
        for node in list(self.node_pids):
            self.kill_node(node)
        self.stop_lb()
        for name in ("replica", "primary"):
            with suppress(Exception):
                self.servers.stop(name, "immediate", prefix=self.exec_in(name))
        for host in HOSTS:
            # anything still running in our namespaces was started by us: end it by its id
            pids = _ip("netns", "pids", self.ns(host), check=False).stdout.split()
            for pid in pids:
                with suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _ip("netns", "del", self.ns(host), check=False)
        _ip("link", "del", self.bridge, check=False)
        self.servers.remove()
        shutil.rmtree(self.base, ignore_errors=True)

    # -- the parts -------------------------------------------------------------------------------

    def network(self) -> None:
        """A bridge on this machine (10.231.B.254, so tools here reach every host) and one
        namespace per host, linked to it by a veth pair whose inside end is `eth0`."""
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"10.231.{self.subnet}.254/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for host in HOSTS:
            ns, veth = self.ns(host), self.veth(host)
            _ip("netns", "add", ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", veth, "master", self.bridge, "up")
            _ip("-n", ns, "addr", "add", f"{self.addr(host)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def veth(self, host: str) -> str:
        return f"pb{self.tag}{host}"[:15]

    def start_primary(self) -> None:
        servers = self.servers
        servers.init_primary("primary", trusted_network=f"10.231.{self.subnet}.0/24")
        self.start_postgres("primary")
        servers.pg(
            "createdb",
            "-h",
            self.addr("primary"),
            "-p",
            str(PG_PORT),
            "-U",
            "postgres",
            "pricebook",
        )

    def partition(self, host: str, cut: bool) -> None:
        """Cut (or restore) a host's only link: its bridge-side veth down, so packets to and
        from it vanish as on a failed network, rather than being refused."""
        _ip("link", "set", self.veth(host), "down" if cut else "up")

    def start_postgres(self, name: str) -> None:
        self.servers.start(name, PG_PORT, listen=self.addr(name), prefix=self.exec_in(name))

    def stop_postgres(self, name: str, mode: str = "fast") -> None:
        self.servers.stop(name, mode, prefix=self.exec_in(name))

    def seed(self) -> None:
        """Schema, demo catalogue and one API key per role, by the CLI an operator uses."""
        env = {**os.environ, "PRICEBOOK_DATABASE_URL": self.db_url("primary")}
        for command in (["db", "upgrade"], ["demo", "load"]):
            subprocess.run([_pricebook(), *command], env=env, check=True, capture_output=True)
        out = subprocess.run(
            [_pricebook(), "demo", "keys"], env=env, check=True, capture_output=True, text=True
        ).stdout
        for line in out.splitlines()[1:]:
            role, key = line.split()
            self.keys[role] = key

    def make_replica(self) -> None:
        self.servers.base_backup(
            "replica", self.addr("primary"), PG_PORT, prefix=self.exec_in("replica")
        )
        self.start_postgres("replica")

    def start_node(self, node: str, *, wait: bool = True) -> None:
        env = {
            **os.environ,
            "PRICEBOOK_DATABASE_URL": self.db_url("primary"),
            "PRICEBOOK_DATABASE_REPLICA_URLS": self.db_url("replica") if self.replica else "",
            "PRICEBOOK_NODE_NAME": node,
            "PRICEBOOK_SESSION_SECRET": self.session_secret,
            "PRICEBOOK_REPLICA_MAX_LAG_SECONDS": str(self.max_lag),
            "PRICEBOOK_READ_YOUR_WRITES_SECONDS": str(self.max_lag),
            "PRICEBOOK_RATE_LIMIT": "0",
            "PRICEBOOK_DB_CONNECT_TIMEOUT": "1",
            "PRICEBOOK_HEALTH_TIMEOUT": "1",
        }
        command = [
            _pricebook(),
            "serve",
            "--host",
            self.addr(node),
            "--port",
            str(API_PORT),
            "--workers",
            "1",
            "--no-access-log",
        ]
        with open(self.log(node), "a") as log:
            process = subprocess.Popen(
                [*self.exec_in(node), *command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.node_pids[node] = process.pid
        self._processes[process.pid] = process
        if wait:
            _wait_healthy(f"{self.node_url(node)}/health", self.log(node))

    def kill_node(self, node: str) -> None:
        """SIGKILL the node's whole process group: its server and workers die as in a crash."""
        pid = self.node_pids.pop(node, 0)
        if pid:
            self._kill(pid)

    def haproxy_config(self, nodes: list[str]) -> str:
        servers = "\n".join(f"    server {n} {self.addr(n)}:{API_PORT} check" for n in nodes)
        return HAPROXY_CONFIG.format(bind=f"{self.addr('lb')}:{LB_PORT}", servers=servers)

    def start_lb(self, nodes: list[str]) -> None:
        config = Path(self.base) / "haproxy.cfg"
        config.write_text(self.haproxy_config(nodes))
        with open(self.log("haproxy"), "a") as log:
            process = subprocess.Popen(
                [*self.exec_in("lb"), "haproxy", "-db", "-f", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.lb_pid, self.lb_nodes = process.pid, nodes
        self._processes[process.pid] = process
        _wait_healthy(f"{self.lb_url}/health", self.log("haproxy"))

    def stop_lb(self) -> None:
        if self.lb_pid:
            self._kill(self.lb_pid)
            self.lb_pid = 0

    def _kill(self, pid: int) -> None:
        """SIGKILL a process group we started and reap its leader (when it is our child)."""
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        process = self._processes.pop(pid, None)
        if process is not None:
            process.wait(timeout=10)

    # -- state for the command line ------------------------------------------------------------

    def save(self, path: Path = STATE) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path = STATE) -> Topology:
        return cls(**json.loads(path.read_text()))

    def status(self) -> dict[str, Any]:
        """Each node's and the balancer's /health (or the error), without raising."""
        report: dict[str, Any] = {}
        for name, url in [*((n, self.node_url(n)) for n in NODES), ("lb", self.lb_url)]:
            try:
                r = httpx.get(f"{url}/health", timeout=2)
                report[name] = {"http_status": r.status_code, **r.json()}
            except Exception as exc:
                report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return report


#: HAProxy in front of the API nodes. Health checks every 500 ms, a node out after 2 failures
#: and back after 2 successes; a request whose node refused the connection or closed it without
#: an answer (it died) is sent again to another node (`retry-on`, `option redispatch`), so a
#: node's crash costs its clients no error (a node writes each response whole: api/serve.py);
#: with no node up HAProxy answers 503. Only abnormal requests are logged (`dontlog-normal`):
#: errors, retries and redispatches, to the balancer's log.
HAPROXY_CONFIG = """\
global
    maxconn 4096
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    timeout connect 1s
    timeout client 30s
    timeout server 10s
    timeout http-keep-alive 10s
    retries 3
    retry-on conn-failure empty-response
    option redispatch 1

frontend api
    bind {bind}
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
{servers}
"""


def _pricebook() -> str:
    """The `pricebook` command of this interpreter's environment."""
    return str(Path(sys.executable).with_name("pricebook"))


def _wait_healthy(url: str, log: Path, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
            raise RuntimeError(f"{url} not healthy within {within:g} s; log:\n{tail}")
        time.sleep(0.1)


@contextmanager
def running(nodes: int = 2, replica: bool = True, max_lag: float = 2.0) -> Iterator[Topology]:
    """A cluster for the duration of a `with`, taken down on the way out whatever happened."""
    topology = Topology.new(max_lag=max_lag)
    topology.up(nodes, replica)
    try:
        yield topology
    finally:
        topology.down()


# -- the bench -----------------------------------------------------------------------------------


def validation_body(estimate_id: str, claimed: str = "9999.00") -> dict[str, Any]:
    """A one-line estimate on the demo catalogue: the test part at the test branch, today."""
    return {
        "estimate_id": estimate_id,
        "version": 1,
        "date": str(date.today()),
        "branch": BRANCH,
        "vehicle": {"model_id": 1},
        "shop": {"tier": "4s"},
        "lines": [
            {
                "type": "part",
                "part_id": PART,
                "claimed_unit_price": claimed,
                "price_type": PRICE_TYPE,
            }
        ],
    }


async def _drive(url: str, key: str, kind: str, seconds: float, clients: int) -> dict[str, float]:
    """Closed loop: `clients` connections sending `kind` requests for `seconds`."""
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    headers = {"X-API-Key": key}
    params: dict[str, str | int] = {"part_id": PART, "branch": BRANCH, "price_type": PRICE_TYPE}

    async def client(index: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
            n = 0
            while time.monotonic() < stop:
                n += 1
                started = time.monotonic()
                if kind == "resolve":
                    r = await http.get("/api/v1/prices/resolve", params=params)
                else:
                    body = validation_body(f"B-{index}-{n}-{secrets.token_hex(3)}")
                    r = await http.post("/api/v1/estimates/validate", json=body)
                latencies.append(time.monotonic() - started)
                if r.status_code >= 300:
                    errors += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0
    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p99_ms": p99 * 1000,
        "errors": errors,
    }


def bench(seconds: float, clients: int) -> list[dict[str, Any]]:
    """Resolve and validation through HAProxy: 1 and 2 nodes, with and without the replica.
    One cluster; the nodes are restarted with or without the replica URL between cases."""
    rows: list[dict[str, Any]] = []
    with running(nodes=2, replica=True, max_lag=5.0) as t:
        for replica in (False, True):
            for nodes in (1, 2):
                for node in list(t.node_pids):
                    t.kill_node(node)
                t.stop_lb()
                t.replica = replica
                for node in NODES[:nodes]:
                    t.start_node(node)
                t.start_lb(list(NODES[:nodes]))
                for kind in ("resolve", "validate"):
                    asyncio.run(_drive(t.lb_url, t.keys["estimate_tool"], kind, 2, clients))
                    before = _database_cpu(t)
                    figures = asyncio.run(
                        _drive(t.lb_url, t.keys["estimate_tool"], kind, seconds, clients)
                    )
                    spent = _database_cpu(t, since=before)
                    n = max(1, figures["requests"])
                    cpu = {f"{db}_cpu_ms": s * 1000 / n for db, s in spent.items()}
                    row = {"kind": kind, "nodes": nodes, "replica": replica, **figures, **cpu}
                    rows.append(row)
                    print(
                        f"{kind:<9} nodes={nodes} replica={'yes' if replica else 'no ':<3} "
                        f"{figures['rps']:7.1f} req/s  p99 {figures['p99_ms']:6.1f} ms  "
                        f"errors {figures['errors']:.0f}  PostgreSQL CPU a request: "
                        f"primary {cpu['primary_cpu_ms']:.3f} ms, "
                        f"replica {cpu['replica_cpu_ms']:.3f} ms",
                        flush=True,
                    )
    _print_ratios(rows)
    return rows


def _database_cpu(t: Topology, since: dict[str, float] | None = None) -> dict[str, float]:
    """CPU seconds each PostgreSQL server (primary, replica) has spent, or spent `since` an
    earlier reading: what a request costs the primary is the figure a replica should take
    away (only this topology's own servers run there, so nothing else is counted)."""
    now = {db: t.servers.cpu_seconds(db) or 0.0 for db in ("primary", "replica")}
    return {db: cpu - (since or {}).get(db, 0.0) for db, cpu in now.items()}


def _print_ratios(rows: list[dict[str, Any]]) -> None:
    """The figures that mean something on one machine: the namespaces share its cores, so a
    second node adds processes, not CPUs. Ratios of req/s between the cases of one run."""
    rps = {(r["kind"], r["nodes"], r["replica"]): r["rps"] for r in rows}
    for kind in ("resolve", "validate"):
        for replica in (False, True):
            one, two = rps[(kind, 1, replica)], rps[(kind, 2, replica)]
            label = "with" if replica else "without"
            print(f"{kind:<9} 2 nodes / 1 node, {label} the replica: {two / one:.2f}")
        for nodes in (1, 2):
            ratio = rps[(kind, nodes, True)] / rps[(kind, nodes, False)]
            print(f"{kind:<9} with / without the replica, {nodes} node(s): {ratio:.2f}")
    primary = {(r["kind"], r["nodes"], r["replica"]): r["primary_cpu_ms"] for r in rows}
    for kind in ("resolve", "validate"):
        for nodes in (1, 2):
            without, with_ = primary[(kind, nodes, False)], primary[(kind, nodes, True)]
            print(
                f"{kind:<9} the primary's CPU a request, {nodes} node(s): {without:.3f} ms "
                f"without the replica, {with_:.3f} ms with it"
                + (f" ({with_ / without:.0%})" if without else "")
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", type=Path, default=STATE, help=f"default {STATE}")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a cluster and leave it running")
    up.add_argument("--nodes", type=int, choices=(1, 2), default=2)
    up.add_argument("--no-replica", action="store_true")
    sub.add_parser("down", help="stop the cluster the state file names")
    sub.add_parser("status", help="/health of each node and of the balancer")
    b = sub.add_parser("bench", help="req/s and p99 through HAProxy, 1 and 2 nodes, ± replica")
    b.add_argument("--seconds", type=float, default=10.0)
    b.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)

    reason = missing() if args.command in ("up", "bench") else None
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    if args.command == "up":
        if args.state.exists():
            print(f"error: {args.state} exists: `down` that cluster first", file=sys.stderr)
            return 1
        t = Topology.new(max_lag=5.0)
        t.up(args.nodes, not args.no_replica)
        t.save(args.state)
        print(f"HAProxy   {t.lb_url}")
        for node in t.node_pids:
            print(f"{node:<9} {t.node_url(node)}")
        print(f"primary   {t.db_url('primary')}")
        if t.replica:
            print(f"replica   {t.db_url('replica')}")
        for role, key in t.keys.items():
            print(f"key {role:<14} {key}")
        print(f"logs      {t.base}")
        return 0
    if args.command == "bench":
        bench(args.seconds, args.clients)
        return 0
    if not args.state.exists():
        print(f"error: no cluster: {args.state} does not exist", file=sys.stderr)
        return 1
    if args.command == "down":
        Topology.load(args.state).down()
        args.state.unlink()
        return 0
    if args.command == "status":
        print(json.dumps(Topology.load(args.state).status(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
