"""A real local cluster for tests, driven through the `caravan` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc

CLI = [sys.executable, "-c", "from controller.cli import main; main()"]


class Cluster:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.env = {**os.environ, "CARAVAN_DIR": str(directory)}

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"caravan {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def json(self, *args: str) -> object:
        return json.loads(self.run(*args, "-o", "json").stdout)

    @property
    def config(self) -> dict:
        return json.loads((self.dir / "cluster.json").read_text())

    def vms(self) -> dict[str, dict]:
        return {r["vm"]["name"]: r for r in self.json("vm", "list")}  # type: ignore[union-attr]

    def wait(self, predicate, timeout: float = 60, what: str = "") -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(what)
            time.sleep(0.2)

    def wait_powered_off(self, vm: str, runs: int, marker: str, timeout: float = 120) -> str:
        """Wait until ``vm`` has powered off after its ``runs``-th boot (its
        guest prints ``marker`` once per run, at the end); its console."""
        def done() -> bool:
            record = self.vms()[vm]["vm"]
            return (record["state"] == "VM_STATE_STOPPED" and bool(record.get("state_digest"))
                    and self.run("vm", "console", vm).stdout.count(marker) == runs)
        self.wait(done, timeout=timeout, what=f"{vm} powers off after boot {runs}")
        return self.run("vm", "console", vm).stdout

    def node_metric(self, node: str, name: str) -> dict[str, float]:
        """A node's Prometheus samples named ``name``, by their label text."""
        port = next(n["metrics_port"] for n in self.config["nodes"] if n["name"] == node)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        return {line[len(name):].rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in text.splitlines() if line.startswith(name) and not line.startswith("#")}

    def tls_channel(self, address: str, with_client_cert: bool = True) -> grpc.Channel:
        certs = self.dir / "certs"
        ca = (certs / "ca.crt").read_bytes()
        if with_client_cert:
            creds = grpc.ssl_channel_credentials(ca, (certs / "admin.key").read_bytes(),
                                                 (certs / "admin.crt").read_bytes())
        else:
            creds = grpc.ssl_channel_credentials(ca)
        return grpc.secure_channel(address, creds)
