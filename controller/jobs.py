"""Migration jobs (DESIGN.md §5): the controller's side of a live migration.

A job reserves capacity on the destination, asks the source to send the VM
(``MigrateOut``) and relays its progress to watchers. When the destination has
verified the state, the controller writes the hand-over record — the VM's new
node and the job's status, in one SQLite transaction — and only then tells the
destination to resume (``FinishMigration(commit)``, sent on the ``HandOver``
stream opened when the job started: a new call would add ~1 ms to the guest's
downtime) and the source to free its paused copy. Before that record any
failure or cancel aborts both sides: the VM keeps running on the source and
the reservation is released. After it the job only rolls forward — unless
the destination answers that it lost its copy before resuming it (it
restarted): the source's paused copy is then the only one, and the job hands
the VM back to it (status ``handback``, recorded before the source resumes).
A controller that restarts finishes what its store says: forward for jobs
past the record, back for the others.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, AsyncIterator

import grpc
import structlog

from caravan import controller_pb2, node_pb2

from . import errors as E
from .core import NODE_CALL_SECONDS, Controller, rpc_error
from .store import JobRow, VmRow

log = structlog.get_logger("controller.jobs")

RESERVATION_TTL = 3600
RETRY_SECONDS = 1.0
ROLL_FORWARD_ATTEMPTS = 60
MAX_RETRY_SECONDS = 10.0
# A node that does not answer at all (down, restarting, cut off): not an answer about the job.
UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
ACTIVE = ("setup", "active", "stop-and-copy", "verified")


class Jobs:
    def __init__(self, controller: Controller) -> None:
        self.c = controller
        self.rows: dict[str, JobRow] = {}
        self.tasks: dict[str, asyncio.Task] = {}
        self.watchers: dict[str, set[asyncio.Queue]] = {}
        self.starting: set[str] = set()  # VMs whose job is being set up (checks done, not yet in rows)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        for job in await self.c.store.load_jobs():
            self.rows[job.id] = job
            if job.finished:
                continue
            # The controller stopped mid-job: finish what the store says.
            if job.status == "handover":
                self._spawn(job, self._roll_forward(job))
            else:
                self._spawn(job, self._roll_back(job, "the controller restarted during the migration", "failed"))

    async def stop(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        for task in list(self.tasks.values()):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    def _spawn(self, job: JobRow, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro, name=f"job-{job.id}")
        self.tasks[job.id] = task
        task.add_done_callback(lambda _t, job_id=job.id: self.tasks.pop(job_id, None))

    # -- views ----------------------------------------------------------------------------------

    def active_for(self, vm_id: str) -> bool:
        """Whether a job for ``vm_id`` is under way (or being set up)."""
        return vm_id in self.starting or any(j.vm_id == vm_id and not j.finished for j in self.rows.values())

    def get(self, job_id: str) -> JobRow:
        job = self.rows.get(job_id)
        if job is None:
            raise E.NotFound(f"no migration job {job_id!r}")
        return job

    def proto(self, job: JobRow) -> controller_pb2.Job:
        params = node_pb2.MigrationParams()
        params.ParseFromString(job.params)
        stats = _stats(job)
        stats.status = job.status
        return controller_pb2.Job(job_id=job.id, vm_id=job.vm_id, vm_name=job.vm_name, source=job.source,
                                  destination=job.destination, status=job.status, params=params, stats=stats,
                                  error=job.error, created_at=job.created_at, finished_at=job.finished_at)

    def _publish(self, job: JobRow) -> None:
        message = self.proto(job)
        for queue in self.watchers.get(job.id, ()):
            queue.put_nowait(message)

    async def watch(self, job_id: str) -> AsyncIterator[controller_pb2.Job]:
        job = self.get(job_id)
        queue: asyncio.Queue = asyncio.Queue()
        self.watchers.setdefault(job_id, set()).add(queue)
        try:
            yield self.proto(job)
            while not job.finished:
                yield await queue.get()
                while not queue.empty():
                    message = queue.get_nowait()
                    yield message
        finally:
            self.watchers[job_id].discard(queue)

    async def _save(self, job: JobRow, status: str | None = None, error: str | None = None) -> None:
        if status is not None:
            job.status = status
        if error is not None:
            job.error = error
        if job.finished and not job.finished_at:
            job.finished_at = time.time()
        await self.c.store.put_job(job)
        self._publish(job)

    # -- starting one -----------------------------------------------------------------------------

    async def migrate(self, selector: str, destination: str, params: node_pb2.MigrationParams) -> JobRow:
        c = self.c
        vm = c.find_vm(selector)
        if vm.state not in ("running", "paused"):
            raise E.FailedPrecondition(f"VM {vm.name} is {vm.state}; only a running or paused VM migrates")
        busy = [j for j in self.rows.values() if j.vm_id == vm.id and not j.finished]
        if busy:
            raise E.FailedPrecondition(f"VM {vm.name} is already migrating (job {busy[0].id})")
        if vm.id in self.starting:  # another request got past the check above and awaits its set-up
            raise E.FailedPrecondition(f"VM {vm.name} is already migrating (a job is being set up)")
        self.starting.add(vm.id)
        try:
            return await self._start(vm, destination, params)
        finally:
            self.starting.discard(vm.id)

    async def _start(self, vm: VmRow, destination: str, params: node_pb2.MigrationParams) -> JobRow:
        c = self.c
        source = vm.node
        if c.nodes.get(source) is None or c.nodes[source].state != "ready":
            raise E.Unavailable(f"the VM's node {source} is not ready")
        # The last heartbeat may predate the guest powering itself off.
        if (await c.refresh_vm(vm)).state not in ("running", "paused"):
            raise E.FailedPrecondition(f"VM {vm.name} is {vm.state}; only a running or paused VM migrates")
        if destination == source:
            raise E.InvalidArgument(f"VM {vm.name} is already on {source}")
        decision = c._decide(vm.memory, vm.grp, vm.backend, destination, "spread", avoid=source)
        dest = decision.node
        job = JobRow(id=uuid.uuid4().hex[:10], vm_id=vm.id, vm_name=vm.name, source=source, destination=dest,
                     status="setup", params=params.SerializeToString(), created_at=time.time())
        try:
            reservation = await c.node_stub(dest).Reserve(node_pb2.ReserveRequest(
                reservation_id=f"mig-{job.id}", memory_bytes=vm.memory, vcpus=1, ttl_seconds=RESERVATION_TTL,
                purpose=f"migration of {vm.name}"), timeout=NODE_CALL_SECONDS)
        except grpc.RpcError as exc:
            raise rpc_error(exc, f"node {dest} cannot take VM {vm.name}") from None
        job.reservation_id = reservation.reservation_id
        try:
            await c.store.put_job(job)
        except BaseException:  # no job to own it: the destination's capacity is freed now, not in an hour
            try:
                await c.node_stub(dest).Release(node_pb2.ReleaseRequest(reservation_id=job.reservation_id),
                                                timeout=NODE_CALL_SECONDS)
            except (grpc.RpcError, E.ControllerError) as exc:
                log.warning("could not release a reservation", node=dest, reservation=job.reservation_id,
                            error=str(exc))
            raise
        self.rows[job.id] = job
        log.info("migration job started", job_id=job.id, vm=vm.name, source=source, destination=dest)
        self._spawn(job, self._run(job, params))
        return job

    # -- running one -------------------------------------------------------------------------------

    async def _run(self, job: JobRow, params: node_pb2.MigrationParams) -> None:
        decision = self._open_hand_over(job)
        try:
            await self._migrate(job, params, decision)
        finally:
            if decision is not None:
                decision.cancel()  # answered, or no longer needed

    def _open_hand_over(self, job: JobRow) -> Any:
        """The stream the commit will go to the destination on (NodeService.HandOver),
        opened now so the commit, inside the guest's downtime, costs one message.
        None if the destination cannot be called now: the commit then makes a call."""
        try:
            return self.c.node_stub(job.destination).HandOver()
        except E.ControllerError:
            return None

    async def _migrate(self, job: JobRow, params: node_pb2.MigrationParams, decision: Any) -> None:
        c = self.c
        try:
            dest = c.nodes[job.destination]
            request = node_pb2.MigrateOutRequest(job_id=job.id, vm_id=job.vm_id, destination=dest.address,
                                                 destination_name=dest.name, reservation_id=job.reservation_id,
                                                 params=params)
            call = c.node_stub(job.source).MigrateOut(request)
            verified = False
            async for progress in call:
                job.stats = progress.stats.SerializeToString()
                job.status = progress.stats.status or job.status
                self._publish(job)
                if progress.stats.status == "verified":
                    # The hand-over starts now, inside the guest's downtime; the
                    # stream's end (~0.5 ms later) is collected after it. The call
                    # is never cancelled: that would abort the paused source.
                    verified = True
                    break
            if not verified:
                raise E.Unavailable("the source ended the migration without a verified copy")
        except asyncio.CancelledError:
            await asyncio.shield(self._roll_back(job, "cancelled", "cancelled"))
            raise
        except (grpc.RpcError, E.ControllerError, KeyError) as exc:
            reason = exc.details() if isinstance(exc, grpc.RpcError) else str(exc)  # type: ignore[attr-defined]
            await self._roll_back(job, reason, "failed")
            return
        # The hand-over record: from here on the job only rolls forward.
        vm = c.vms.get(job.vm_id)
        if vm is None:
            await self._roll_back(job, "the VM was deleted during the migration", "failed")
            return
        c.in_flight.add(vm.id)
        vm.node = job.destination
        vm.placement = _moved(job.destination, f"migrated from {job.source} by job {job.id}")
        vm.state = "running"
        job.status = "handover"
        t_commit = time.time()
        await c.store.commit_migration(job, vm)
        log.info("hand-over recorded", job_id=job.id, commit_ms=round((time.time() - t_commit) * 1000, 2))
        self._publish(job)
        await self._roll_forward(job, decision)
        try:
            async for _ in call:  # the source's stream ends once it is verified
                pass
        except grpc.RpcError:
            pass  # the source is gone: the hand-over no longer needs it

    async def _roll_forward(self, job: JobRow, decision: Any = None) -> None:
        """Resume on the destination (first on the ``decision`` stream, if
        one is open), free the source; retry until both answer."""
        c = self.c
        c.in_flight.add(job.vm_id)
        stats = _stats(job)
        commit = node_pb2.FinishMigrationRequest(job_id=job.id, commit=True, vm_id=job.vm_id)
        try:
            attempt = 0
            while True:  # until the destination answers (a long outage only delays it: see below)
                try:
                    stream, decision = decision, None  # a retry makes a call
                    finished = await self._commit_on(job, commit, stream)
                    if finished.downtime_ms:
                        stats.downtime_ms = finished.downtime_ms
                    if finished.HasField("vm") and job.vm_id in c.vms:
                        await c._record(c.vms[job.vm_id], finished.vm)
                    break
                except (grpc.RpcError, E.ControllerError) as exc:
                    if isinstance(exc, grpc.RpcError) and exc.code() == grpc.StatusCode.NOT_FOUND:
                        # The destination restarted before resuming the VM and discarded its copy:
                        # the source's paused copy is the only one left. It takes the VM back.
                        job.stats = stats.SerializeToString()
                        await self._hand_back(job, exc.details() or "the destination lost its copy")
                        return
                    why = exc.details() if isinstance(exc, grpc.RpcError) else str(exc)
                    unreachable = isinstance(exc, E.Unavailable) or (
                        isinstance(exc, grpc.RpcError) and exc.code() in UNREACHABLE)
                    attempt += 1
                    if not unreachable and attempt >= ROLL_FORWARD_ATTEMPTS:
                        job.stats = stats.SerializeToString()
                        await self._save(job, "failed", f"hand-over incomplete: the destination did not resume "
                                                        f"the VM ({why})")
                        return
                    # Unreachable, the destination may be running the VM (a lost answer) or may come
                    # back without it (NOT_FOUND above): either way only its answer settles it, and
                    # the source keeps its paused copy meanwhile. Retry, less often as it lasts.
                    if attempt % ROLL_FORWARD_ATTEMPTS == 0:
                        log.warning("hand-over waits for the destination", job_id=job.id, vm=job.vm_name,
                                    destination=job.destination, attempts=attempt, error=why)
                    await asyncio.sleep(min(RETRY_SECONDS * 2 ** min(attempt // 10, 4), MAX_RETRY_SECONDS))
            for attempt in range(ROLL_FORWARD_ATTEMPTS):
                try:
                    await c.node_stub(job.source).FinishMigration(  # the downtime: the source learns from it
                        node_pb2.FinishMigrationRequest(job_id=job.id, commit=True, downtime_ms=stats.downtime_ms),
                        timeout=NODE_CALL_SECONDS)
                    break
                except (grpc.RpcError, E.ControllerError):
                    await asyncio.sleep(RETRY_SECONDS)
        finally:
            c.in_flight.discard(job.vm_id)
        job.stats = _lasted(job, stats).SerializeToString()
        await self._save(job, "completed")
        log.info("migration job completed", job_id=job.id, vm=job.vm_name, destination=job.destination,
                 downtime_ms=round(stats.downtime_ms, 2))

    async def _commit_on(self, job: JobRow, commit: node_pb2.FinishMigrationRequest,
                         decision: Any) -> node_pb2.FinishMigrationResponse:
        """The destination's answer to the commit: on the open ``decision``
        stream if there is one and it answers, else by a FinishMigration call
        (a commit is idempotent: one the stream delivered is answered again)."""
        if decision is not None:
            try:
                await decision.write(commit)
                answer = await asyncio.wait_for(decision.read(), NODE_CALL_SECONDS)
                if answer is not grpc.aio.EOF:
                    return answer
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:  # the node's answer: it lost the copy
                    raise
            except asyncio.TimeoutError:
                pass
            log.info("the hand-over stream did not answer; the commit makes a call", job_id=job.id,
                     destination=job.destination)
        return await self.c.node_stub(job.destination).FinishMigration(commit, timeout=NODE_CALL_SECONDS)

    async def _hand_back(self, job: JobRow, why: str) -> None:
        """After the hand-over record, the destination lost its copy before
        resuming it: record the source as the VM's node again (durably, with
        the job marked ``handback``, which a restarted controller finishes by
        rolling back), then roll back as before the record — the source
        resumes its paused copy."""
        c = self.c
        log.warning("hand-over failed: the destination lost the VM; handing it back to the source",
                    job_id=job.id, vm=job.vm_name, source=job.source, destination=job.destination, error=why)
        job.status = "handback"
        vm = c.vms.get(job.vm_id)
        if vm is not None:
            vm.node = job.source
            vm.placement = _moved(job.source, f"handed back by job {job.id}: {job.destination} lost its copy")
            await c.store.commit_migration(job, vm)
        else:
            await c.store.put_job(job)
        self._publish(job)
        await self._roll_back(job, f"hand-over failed, the VM continues on {job.source}: {why}", "failed")

    async def _roll_back(self, job: JobRow, reason: str, status: str) -> None:
        """Before the hand-over record: the VM stays (or becomes) running on the
        source; the destination drops its copy and its reservation."""
        c = self.c
        for node, what in ((job.source, "source"), (job.destination, "destination")):
            try:
                finished = await c.node_stub(node).FinishMigration(
                    node_pb2.FinishMigrationRequest(job_id=job.id, commit=False), timeout=NODE_CALL_SECONDS)
                if what == "source" and finished.HasField("vm") and job.vm_id in c.vms:
                    await c._record(c.vms[job.vm_id], finished.vm)  # running (or paused) there again
            except (grpc.RpcError, E.ControllerError) as exc:
                log.warning("could not abort on the " + what, job_id=job.id, node=node, error=str(exc))
        try:
            await c.node_stub(job.destination).Release(node_pb2.ReleaseRequest(reservation_id=job.reservation_id),
                                                       timeout=NODE_CALL_SECONDS)
        except (grpc.RpcError, E.ControllerError):
            pass
        job.stats = _lasted(job, _stats(job)).SerializeToString()
        await self._save(job, status, reason)
        log.warning("migration job rolled back", job_id=job.id, vm=job.vm_name, status=status, reason=reason)

    # -- cancel and drain ------------------------------------------------------------------------------

    async def cancel(self, job_id: str) -> JobRow:
        job = self.get(job_id)
        if job.finished:
            raise E.FailedPrecondition(f"job {job_id} is already {job.status}")
        if job.status == "handover":
            raise E.FailedPrecondition(f"job {job_id} is past its hand-over; it can only complete")
        if job.status == "handback":
            raise E.FailedPrecondition(f"job {job_id} is handing the VM back to its source; it can only finish")
        task = self.tasks.get(job_id)
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        return job

    async def drain(self, node: str, params: node_pb2.MigrationParams) -> list[JobRow]:
        """Cordon ``node`` and migrate its VMs away, one after another. Jobs
        already under way to or from the node are waited for first: one
        bringing a VM in would leave it on the drained node, one taking a VM
        out may yet fail and leave it there."""
        c = self.c
        await c.cordon(node, True)
        while under_way := [self.tasks[j.id] for j in self.rows.values()
                            if not j.finished and node in (j.source, j.destination) and j.id in self.tasks]:
            log.info("drain: waiting for migrations under way", node=node, jobs=len(under_way))
            await asyncio.wait([asyncio.shield(t) for t in under_way])
        jobs = []
        for vm in [v for v in c.vms.values() if v.node == node and v.state in ("running", "paused")]:
            try:
                job = await self.migrate(vm.id, "", params)
            except E.ControllerError as exc:
                current = c.vms.get(vm.id)
                if current is None or current.state not in ("running", "paused"):
                    # It stopped (or was removed) while earlier VMs moved: nothing left to move.
                    log.info("drain: VM no longer runs; nothing to move", vm=vm.name)
                    continue
                log.warning("drain: cannot move VM", vm=vm.name, error=str(exc))
                failed = JobRow(id=uuid.uuid4().hex[:10], vm_id=vm.id, vm_name=vm.name, source=node,
                                destination="", status="failed", params=params.SerializeToString(),
                                error=str(exc), created_at=time.time(), finished_at=time.time())
                self.rows[failed.id] = failed
                await c.store.put_job(failed)
                jobs.append(failed)
                continue
            task = self.tasks.get(job.id)
            if task is not None:
                await asyncio.shield(task)
            if job.status != "completed" and await self._stopped_meanwhile(vm):
                log.info("drain: VM stopped during its migration; nothing to move", vm=vm.name, job_id=job.id)
                continue
            jobs.append(job)
        return jobs

    async def _stopped_meanwhile(self, vm: VmRow) -> bool:
        """Whether ``vm`` (whose migration failed) no longer runs on its node: powered off or removed."""
        if self.c.vms.get(vm.id) is None:
            return True
        try:
            return (await self.c.refresh_vm(vm)).state not in ("running", "paused")
        except E.ControllerError:
            return False


def _stats(job: JobRow) -> node_pb2.MigrationStats:
    """The job's statistics as last recorded (empty before the source's first report)."""
    stats = node_pb2.MigrationStats()
    if job.stats:
        stats.ParseFromString(job.stats)
    return stats


def _lasted(job: JobRow, stats: node_pb2.MigrationStats) -> node_pb2.MigrationStats:
    """A job's statistics as it ends: its total time runs to now (the source's
    last report stops at verification, or up to half a second before a
    failure, or never came), never less than the guest's downtime."""
    stats.total_ms = max(stats.total_ms, stats.downtime_ms, (time.time() - job.created_at) * 1000)
    return stats


def _moved(node: str, reason: str) -> dict:
    """A VM's placement record once a migration job has put it on ``node``."""
    return {"node": node, "policy": "migration", "decided_at": time.time(), "seconds": 0.0, "reasons": [reason]}
