"""A private Redis Cluster of local redis-server processes (masters with replicas), for tests and benchmarks."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

import redis

from taxsms.queue.server import RedisServer

SLOTS = 16384


def free_cluster_port() -> int:
    """A free port p <= 55535 whose cluster bus port p + 10000 is free too."""
    while True:
        port = random.randint(20000, 55535)
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class LocalCluster:
    """`masters` masters, each with `replicas` replicas, on free ports of 127.0.0.1, data under `data_dir`.

    Built with CLUSTER MEET / ADDSLOTS / REPLICATE (no redis-cli needed; works on Redis 6.2 and 7).
    """

    def __init__(self, data_dir: str | Path, *, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000):
        self.data_dir = Path(data_dir)
        self.masters = masters
        args = ("--cluster-enabled", "yes", "--cluster-node-timeout", str(node_timeout_ms))
        self.nodes = [
            RedisServer(
                self.data_dir / f"node{i}",
                port=free_cluster_port(),
                extra_args=(*args, "--cluster-config-file", f"nodes-{i}.conf"),
            )
            for i in range(masters * (1 + replicas))
        ]

    @property
    def url(self) -> str:
        """The URL taxsms takes for a cluster (any node serves as the entry point)."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(port=node.port, socket_connect_timeout=1, decode_responses=True)

    def start(self, timeout: float = 30.0) -> None:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        for node in self.nodes:
            node.start()
        clients = [self.client(node) for node in self.nodes]
        try:
            per_master = SLOTS // self.masters
            for i, client in enumerate(clients[: self.masters]):
                end = SLOTS - 1 if i == self.masters - 1 else (i + 1) * per_master - 1
                client.execute_command("CLUSTER ADDSLOTS", *range(i * per_master, end + 1))
            for client in clients[1:]:
                client.execute_command("CLUSTER MEET", "127.0.0.1", self.nodes[0].port)
            ids = [client.execute_command("CLUSTER MYID") for client in clients[: self.masters]]
            self._wait(lambda: all(len(self._known(c)) == len(self.nodes) for c in clients), timeout)
            for i, client in enumerate(clients[self.masters :]):
                client.execute_command("CLUSTER REPLICATE", ids[i % self.masters])
            self._wait(lambda: all(self._ok(c) for c in clients) and self._replicas_synced(clients), timeout)
        finally:
            for client in clients:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def primaries(self) -> list[RedisServer]:
        """The nodes that are masters now (this changes after a failover)."""
        found = []
        for node in self.nodes:
            if node.process is None:
                continue
            with self.client(node) as client:
                if client.info("replication")["role"] == "master":
                    found.append(node)
        return found

    def replica_of(self, master: RedisServer) -> RedisServer:
        with self.client(master) as client:
            master_id = client.execute_command("CLUSTER MYID")
        for node in self.nodes:
            if node.process is not None and node is not master:
                with self.client(node) as client:
                    if self._known(client).get(client.execute_command("CLUSTER MYID")) == master_id:
                        return node
        raise LookupError(f"no replica of the master on port {master.port}")

    def failover(self, master: RedisServer, timeout: float = 20.0) -> RedisServer:
        """Promote a replica of `master` with CLUSTER FAILOVER (coordinated: no acknowledged write is lost)."""
        replica = self.replica_of(master)
        with self.client(replica) as client:
            client.execute_command("CLUSTER FAILOVER")
            self._wait(lambda: client.info("replication")["role"] == "master", timeout)
            self._wait(lambda: self._ok(client), timeout)
        return replica

    # -- helpers --------------------------------------------------------------------------------------------

    @staticmethod
    def _known(client: redis.Redis) -> dict[str, str]:
        """node id -> the id of its master ('-' for a master), from CLUSTER NODES."""
        return {node["node_id"]: node["master_id"] for node in client.execute_command("CLUSTER NODES").values()}

    @staticmethod
    def _ok(client: redis.Redis) -> bool:
        return bool(client.execute_command("CLUSTER INFO")["cluster_state"] == "ok")

    def _replicas_synced(self, clients: list[redis.Redis]) -> bool:
        return all(c.info("replication").get("master_link_status") == "up" for c in clients[self.masters :])

    @staticmethod
    def _wait(condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError("the local Redis Cluster did not settle in time")
            time.sleep(0.1)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
