"""A local cluster on this machine (``caravan cluster up|down|status``): a
controller and N nodes as background processes on free loopback ports, with
their data, logs, certificates and the cluster config under one directory.

```
DIR/cluster.json          what the CLI reads (addresses, client certificate)
DIR/certs/                cluster CA, controller, node-N and admin certificates
DIR/controller/           controller data (SQLite store, images)
DIR/nodes/node-N/         node data (VMs, disks, saved state)
DIR/logs/*.log            daemon logs (structlog JSON)
```
Nodes run with ``--save-on-shutdown --resume-on-start``, so ``cluster down``
then ``cluster up`` brings running VMs back where they were.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import grpc

from caravan import controller_pb2

from node import cpus

from .client import Client, ClientError, ClusterConfig

DAEMON = [sys.executable, "-c", "from controller.cli import main; main()"]
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class UpOptions:
    """What ``cluster up`` was asked for. ``None`` means "not said": a new
    cluster takes :data:`DEFAULTS`; an existing one keeps what each member was
    first started with (recorded in cluster.json), so a restart does not
    quietly change a node's capacity or backend."""

    nodes: int | None = None  # None: as many as the cluster has (a new one: 3)
    insecure: bool | None = None
    capacity_memory: str | None = None
    capacity_vcpus: int | None = None
    backend: str | None = None
    node_timeout: float | None = None
    pin: bool | None = None  # each node on its own host CPUs (node.cpus.plan)


NODE_OPTIONS = ("capacity_memory", "capacity_vcpus", "backend", "pin")  # recorded per node
DEFAULT_NODES = 3
DEFAULTS: dict[str, Any] = {"capacity_memory": "2G", "capacity_vcpus": 8, "backend": "interp", "node_timeout": 5.0,
                            "pin": False}


def _chosen(options: UpOptions, recorded: dict[str, Any]) -> dict[str, Any]:
    """Each option as said on the command line, else as recorded, else the default."""
    return {key: value if (value := getattr(options, key)) is not None else recorded.get(key, default)
            for key, default in DEFAULTS.items()}


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone (and is reaped)
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited:
            return False
    except ChildProcessError:
        pass
    try:  # a zombie nobody reaps (orphans under some container inits) is gone too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _spawn(args: list[str], log_path: str) -> subprocess.Popen:
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    log = open(log_path, "ab")
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)


def _wait_ready(proc: subprocess.Popen, ready: str, what: str, log_path: str) -> dict:
    deadline = time.monotonic() + START_TIMEOUT
    while not os.path.exists(ready):
        if proc.poll() is not None:
            tail = open(log_path, "rb").read()[-1500:].decode(errors="replace")
            raise ClientError(f"{what} exited during start-up (see {log_path}): {tail.strip().splitlines()[-1:]}")
        if time.monotonic() > deadline:
            raise ClientError(f"{what} did not start within {START_TIMEOUT:.0f} s (see {log_path})")
        time.sleep(0.05)
    with open(ready) as f:
        return json.load(f)


def is_up(config: ClusterConfig) -> bool:
    return pid_alive(config.controller_pid) or any(pid_alive(int(n.get("pid", 0))) for n in config.nodes)


def up(directory: str, options: UpOptions) -> ClusterConfig:
    """Start the cluster, or the members of an existing one that are not
    running (on the addresses they had, so the others find them again)."""
    config_path = os.path.join(directory, "cluster.json")
    existing = ClusterConfig.load(directory) if os.path.exists(config_path) else None
    count = options.nodes if options.nodes is not None else len(existing.nodes) if existing else DEFAULT_NODES
    if existing is not None and pid_alive(existing.controller_pid) and \
            all(pid_alive(int(n.get("pid", 0))) for n in existing.nodes) and len(existing.nodes) >= count:
        raise ClientError(f"the cluster in {directory} is already running", exit_code=4)
    if count < 1:
        raise ClientError("a cluster needs at least one node")
    if options.insecure is None:
        options = dataclasses.replace(options, insecure=existing is not None and existing.tls is None)
    if existing is not None and (existing.tls is None) != options.insecure:
        raise ClientError(f"the cluster in {directory} was created {'without' if existing.tls is None else 'with'} "
                          "TLS; start it the same way", exit_code=4)
    os.makedirs(directory, exist_ok=True)
    certs = os.path.join(directory, "certs")
    names = [f"node-{i}" for i in range(1, max(count, len(existing.nodes) if existing else 0) + 1)]
    tls_args: list[str] = ["--insecure"]
    tls_config = None
    if not options.insecure:
        from node import tls

        tls.init_ca(certs)
        for name in ["controller", "admin", *names]:
            if not os.path.exists(os.path.join(certs, f"{name}.crt")):
                tls.issue(certs, name)
        tls_args = ["--certs", certs]
        tls_config = {"ca": os.path.join(certs, "ca.crt"), "cert": os.path.join(certs, "admin.crt"),
                      "key": os.path.join(certs, "admin.key")}
    logs = os.path.join(directory, "logs")
    config = existing or ClusterConfig(directory, tls=tls_config)
    cluster_options = _chosen(options, config.extra.get("options", {}))  # for the controller and new nodes
    config.extra["options"] = cluster_options
    started: list[subprocess.Popen] = []  # by this call: stopped again if it does not finish
    try:
        if not pid_alive(config.controller_pid):
            ready = os.path.join(directory, "controller.ready")
            if os.path.exists(ready):
                os.unlink(ready)
            log_path = os.path.join(logs, "controller.log")
            proc = _spawn([*DAEMON, "controller", "serve", "--listen", config.controller or "127.0.0.1:0",
                           "--data", os.path.join(directory, "controller"), "--name", "controller",
                           "--node-timeout", str(cluster_options["node_timeout"]), "--ready-file", ready,
                           "--metrics-port", "0", *tls_args], log_path)
            started.append(proc)
            info = _wait_ready(proc, ready, "the controller", log_path)
            config.controller, config.controller_pid = info["address"], proc.pid
            config.extra["controller_metrics_port"] = info.get("metrics_port")
            config.save()
        recorded = {n["name"]: n for n in config.nodes}
        cpu_plan = cpus.plan(len(names), sorted(cpus.available()))  # node-i's CPUs, if it is pinned
        procs = []
        for name in names:
            node = recorded.get(name)
            if node is not None and pid_alive(int(node.get("pid", 0))):
                continue
            node_ready = os.path.join(directory, f"{name}.ready")
            for stale in (node_ready, exit_file(directory, name)):
                if os.path.exists(stale):
                    os.unlink(stale)
            node_log = os.path.join(logs, f"{name}.log")
            listen = node["address"] if node else "127.0.0.1:0"
            chosen = _chosen(options, {**cluster_options, **(node or {})})
            pin = cpus.format_cpu_list(cpu_plan[names.index(name)]) if chosen["pin"] else None
            p = _spawn([*DAEMON, "node", "serve", "--listen", listen, "--name", name,
                        "--data", os.path.join(directory, "nodes", name), "--controller", config.controller,
                        "--capacity-memory", str(chosen["capacity_memory"]),
                        "--capacity-vcpus", str(chosen["capacity_vcpus"]),
                        "--backend", chosen["backend"], "--save-on-shutdown", "--resume-on-start",
                        "--metrics-port", "0", "--ready-file", node_ready,
                        "--exit-file", exit_file(directory, name), *(["--cpus", pin] if pin else []),
                        *tls_args], node_log)
            started.append(p)
            procs.append((name, p, node_ready, node_log, {**{k: chosen[k] for k in NODE_OPTIONS}, "cpus": pin}))
        for name, p, node_ready, node_log, node_options in procs:
            node_info = _wait_ready(p, node_ready, f"node {name}", node_log)
            recorded[name] = {"name": name, "address": node_info["address"], "pid": p.pid,
                              "metrics_port": node_info.get("metrics_port"), "log": node_log,
                              "exit_file": exit_file(directory, name), **node_options}
        config.nodes = [recorded[name] for name in names]
        config.save()
        silent = wait_nodes_ready(config, names, START_TIMEOUT)
        if silent & {name for name, *_ in procs}:
            raise ClientError(f"{', '.join(sorted(silent))} did not register with the controller within "
                              f"{START_TIMEOUT:.0f} s")
    except BaseException:  # a member failed to start, or the user gave up (Ctrl-C, SIGTERM)
        from .cli import signals  # (the CLI package imports this module)

        with signals.deferred():  # a second Ctrl-C waits until they are stopped
            for proc in started:
                _stop(proc.pid, timeout=10)
                proc.poll()  # reaped
        raise
    if silent:  # running from before, and not answering: the rest is up; they are not this call's to stop
        raise ClientError(f"{', '.join(sorted(silent))} {'is' if len(silent) == 1 else 'are'} running but did not "
                          f"register with the controller within {START_TIMEOUT:.0f} s (hung? see logs/); the rest "
                          f"of the cluster is up")
    return config


def wait_nodes_ready(config: ClusterConfig, names: list[str], timeout: float = START_TIMEOUT) -> set[str]:
    """Until each of ``names`` is READY with a heartbeat sent after this
    call began (a restarted controller calls its nodes READY for a grace
    period before it has heard from them), or ``timeout``: returns the
    names that were not."""
    deadline = time.monotonic() + timeout
    since = time.time()
    silent = set(names)
    with Client(config) as client:
        while True:
            try:
                nodes = client.controller.ListNodes(controller_pb2.ListNodesRequest(), timeout=5).nodes
                ready = {n.name for n in nodes
                         if n.state == controller_pb2.NODE_STATE_READY and n.last_heartbeat >= since}
                silent = set(names) - ready
                if not silent:
                    return silent
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                return silent
            time.sleep(0.1)


STOP_TIMEOUT = 60.0  # seconds a member has to stop (a node saving its VMs) before it is killed


def _stop(pid: int, timeout: float = STOP_TIMEOUT) -> str:
    """SIGTERM, then SIGKILL after ``timeout``: "stopped", "killed", or "" when it was not running."""
    if not pid_alive(pid):
        return ""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return "killed"
        time.sleep(0.05)
    return "stopped"


def exit_file(directory: str, node: str) -> str:
    """Where a node of the cluster writes its exit report (``node serve --exit-file``)."""
    return os.path.join(directory, f"{node}.exit")


@dataclass
class Stopped:
    members: list[str]  # stopped by this call
    errors: list[str]   # what they could not do on their way out (a node's VM whose state is lost)


def down(directory: str) -> Stopped:
    """Stop nodes (they save running VMs), then the controller; what each
    node could not save is read from its exit report."""
    config = ClusterConfig.load(directory)
    stopped = Stopped([], [])
    for node in config.nodes:
        name = node["name"]
        report = node.get("exit_file")  # a node started before exit reports has none
        how = _stop(int(node.get("pid", 0)), STOP_TIMEOUT)
        if how:
            stopped.members.append(name)
        if how == "killed":
            stopped.errors.append(f"{name} did not stop within {STOP_TIMEOUT:.0f} s and was killed: the running "
                                  f"VMs it had not saved yet are stopped, their state lost (see {node.get('log')})")
        elif how and report:
            try:
                with open(report) as f:
                    stopped.errors += [f"{name}: {error}" for error in json.load(f).get("errors", [])]
            except FileNotFoundError:  # it could not write it (its disk full?) or died on the way out
                stopped.errors.append(f"{name} stopped without an exit report: whether it saved its running VMs "
                                      f"is in its log ({node.get('log')})")
            except (OSError, ValueError, AttributeError) as exc:
                stopped.errors.append(f"{name}: its exit report {report} is unreadable ({exc})")
        node["pid"] = 0
    if _stop(config.controller_pid):
        stopped.members.append("controller")
    config.controller_pid = 0
    config.save()
    return stopped
