"""Turn stored events into runs and execute them, recording every step in the journal."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm.attributes import set_committed_value

from models.base import db, utcnow
from models.bundle import Bundle, BundleVersion
from models.inbox import InboxEvent, InboxStatus
from models.run import Run, RunStatus, RunStep, RunTrigger
from models.write_gate import gate_or_nothing, write_gate_for
from workers import outcomes
from workers.engine.executor import Execution, Executor, StepRecord
from workers.engine.masking import mask_secrets
from workers.services import ConnectorPool

log = logging.getLogger("svyazka.worker")

FINAL = tuple(status.value for status in RunStatus if status.is_final)
RESUMABLE_STEP_STATUSES = ("success", "error")


def claim_inbox_batch(bundle_id: int, limit: int) -> list[int]:
    """Atomically take up to `limit` received events of a bundle and store a run for each."""
    with gate_or_nothing(write_gate_for(db.engine)):
        return _claim(bundle_id, limit)


def _claim(bundle_id: int, limit: int) -> list[int]:
    token = secrets.token_hex(8)
    waiting = (select(InboxEvent.id)
               .where(InboxEvent.bundle_id == bundle_id,
                      InboxEvent.status == InboxStatus.RECEIVED.value)
               .order_by(InboxEvent.id).limit(limit).scalar_subquery())
    # One statement claims: concurrent workers can never take the same event twice.
    claimed = db.session.execute(
        update(InboxEvent)
        .where(InboxEvent.status == InboxStatus.RECEIVED.value, InboxEvent.id.in_(waiting))
        .values(status=InboxStatus.PROCESSED.value, claim_token=token)
        .returning(InboxEvent.id, InboxEvent.account_id, InboxEvent.payload, InboxEvent.size)
        .execution_options(synchronize_session=False)).all()
    events = sorted(claimed, key=lambda event: event.id)
    if not events:
        db.session.commit()
        return []
    version_id = current_version_id(bundle_id)
    rows = [{"account_id": event.account_id, "bundle_id": bundle_id,
             "bundle_version_id": version_id, "status": RunStatus.QUEUED.value,
             "trigger": RunTrigger.WEBHOOK.value, "inbox_event_id": event.id,
             "input": item, "bytes_in": event.size, "created_at": utcnow()}
            for event in events for item in items_of(event.payload)]
    run_ids = list(db.session.scalars(insert(Run).returning(Run.id), rows))
    db.session.commit()
    return run_ids


def items_of(payload) -> list:
    """Split a payload into items: a JSON array (SendPulse sends those) is one item each."""
    if isinstance(payload, list):
        return [item if isinstance(item, dict) else {"value": item} for item in payload] or [{}]
    return [payload if isinstance(payload, dict) else {"value": payload}]


def current_version_id(bundle_id: int) -> int | None:
    """Return the id of the bundle's current saved version."""
    return db.session.scalar(
        select(BundleVersion.id).join(Bundle, Bundle.id == BundleVersion.bundle_id)
        .where(Bundle.id == bundle_id, BundleVersion.number == Bundle.current_version))


def create_runs(bundle: Bundle, items: Sequence[dict], trigger: RunTrigger,
                item_keys: Sequence[str | None] | None = None) -> list[int]:
    """Store one queued run per item on the bundle's current version (caller commits)."""
    version_id = current_version_id(bundle.id)
    keys = list(item_keys) if item_keys is not None else [None] * len(items)
    rows = [{"account_id": bundle.account_id, "bundle_id": bundle.id,
             "bundle_version_id": version_id, "status": RunStatus.QUEUED.value,
             "trigger": trigger.value, "input": item, "item_key": key,
             "bytes_in": json_size(item), "created_at": utcnow()}
            for item, key in zip(items, keys, strict=True)]
    if not rows:
        return []
    return list(db.session.scalars(insert(Run).returning(Run.id), rows))


def process_runs(run_ids: Sequence[int]) -> list[Run]:
    """Execute the given runs that are not finished yet; return the ones executed."""
    runs = db.session.scalars(select(Run).where(Run.id.in_(list(run_ids)),
                                                Run.status.not_in(FINAL))
                              .order_by(Run.id)).all()
    context = RunContext()
    with runs_kept_after_commit():
        for run in runs:
            context.execute(run)
        with gate_or_nothing(write_gate_for(db.engine)):
            context.tally.flush()
        outcomes.after_runs(runs)
    return list(runs)


@contextmanager
def runs_kept_after_commit() -> Iterator[None]:
    """Keep the batch's runs and bundles loaded across the per-run commits.

    Expiring on commit would expire every object of the batch at each run's commit, then
    reload each with its own SELECT: a batch cost growing with its square. Only this job
    writes its claimed runs, so their loaded state stays true. Of the bundle a run reads only
    its id and name; what others change (status, failure streaks) is written with atomic
    UPDATEs by BundleTally, never from the loaded object.
    """
    session = db.session()
    expiring = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = expiring


class RunContext:
    """Caches shared by the runs of one job: bundles, versions, connectors."""

    def __init__(self) -> None:
        self.bundles: dict[int, Bundle] = {}
        self.definitions: dict[int | None, dict | None] = {}
        self.pools: dict[int, ConnectorPool] = {}
        self.tally = outcomes.BundleTally()

    def execute(self, run: Run) -> None:
        """Execute one run; a failure here never reaches the other runs."""
        run_id = run.id
        try:
            started_at = run.started_at or datetime.now(UTC)
            execution, secret_values = self._run_actions(run)
            steps = step_rows(run, execution.steps, secret_values)
            # Every write of the run happens here, after its actions: on SQLite a write holds
            # the database's single write lock until the commit, so it must be short.
            with gate_or_nothing(write_gate_for(db.engine)):
                self._store_outcome(run, execution, steps, started_at)
                db.session.commit()
        except Exception:  # a bug or a database error must not stop the batch
            db.session.rollback()
            log.exception("run=%s state=crashed", run_id)
            outcomes.mark_crashed(run_id)

    def _run_actions(self, run: Run) -> tuple[Execution, set[str]]:
        """Run the item through the blocks; return the execution and the secrets to mask."""
        bundle = self._bundle(run.bundle_id)
        definition = self._definition(run.bundle_version_id)
        if definition is None:
            return Execution(status="error", error="The bundle has no saved version to run"), set()
        pool = self._pool(run.account_id)
        executor = Executor(definition, pool.call, may_retry=outcomes.may_retry(run),
                            done_steps=self._done_steps(run))
        with db.session.no_autoflush:
            execution = executor.run(run.input, {
                "bundle": {"id": bundle.id, "name": bundle.name}, "run": {"id": run.id}})
        return execution, pool.secret_values

    def _store_outcome(self, run: Run, execution: Execution, steps: list[dict],
                       started_at: datetime) -> None:
        """Write the run's steps and outcome (the caller commits)."""
        forget_earlier_attempts(run)
        if steps:
            # One Core statement on the session's connection: ORM objects, the ORM's bulk
            # insert or an autoflush would each cost a unit-of-work pass.
            db.session.connection().execute(insert(RunStep.__table__), steps)
        values = outcomes.finish_run(run, execution, self.tally, started_at)
        values["bytes_out"] = sum(row["bytes_out"] for row in steps)
        write_run(run, values)

    def _bundle(self, bundle_id: int) -> Bundle:
        if bundle_id not in self.bundles:
            self.bundles[bundle_id] = db.session.get(Bundle, bundle_id)
        return self.bundles[bundle_id]

    def _definition(self, version_id: int | None) -> dict | None:
        if version_id not in self.definitions:
            version = db.session.get(BundleVersion, version_id) if version_id else None
            self.definitions[version_id] = version.definition if version else None
        return self.definitions[version_id]

    def _pool(self, account_id: int) -> ConnectorPool:
        if account_id not in self.pools:
            self.pools[account_id] = ConnectorPool(account_id)
        return self.pools[account_id]

    @staticmethod
    def _done_steps(run: Run) -> dict[str, StepRecord]:
        """Return receiver steps finished in earlier attempts, to reuse instead of redo."""
        if run.attempt == 0:
            return {}
        done = {step.block_id: StepRecord(
                    position=step.position, block_id=step.block_id, kind=step.block_kind,
                    status=step.status, input=step.input, output=step.output,
                    error=step.error, notes=list(step.notes or []),
                    started_at=step.started_at, duration_ms=step.duration_ms or 0)
                for step in run.steps
                if step.block_kind == "receiver" and step.status in RESUMABLE_STEP_STATUSES}
        return done


def forget_earlier_attempts(run: Run) -> None:
    """Delete the steps earlier attempts recorded: this one re-records every step."""
    if run.attempt == 0:
        return
    run.steps.clear()
    run.bytes_out = 0
    db.session.flush()  # after the actions, like every other write of the run


def step_rows(run: Run, steps: Sequence[StepRecord], secret_values: set[str]) -> list[dict]:
    """Return the journal rows of the finished steps, with credential values masked."""
    return [step_row(run, step, secret_values) for step in steps if step.status != "running"]


def write_run(run: Run, values: dict) -> None:
    """Store a run's outcome with one UPDATE and keep the loaded object in step with it."""
    db.session.connection().execute(
        update(Run.__table__).where(Run.__table__.c.id == run.id).values(values))
    for key, value in values.items():
        # Marked as stored, not as changed: the commit has nothing left to flush for the run.
        set_committed_value(run, key, value)


def step_row(run: Run, step: StepRecord, secret_values: set[str]) -> dict:
    """Return the journal row of one finished step."""
    step_input = mask_secrets(step.input, secret_values)
    return {"account_id": run.account_id, "run_id": run.id, "position": step.position,
            "block_id": step.block_id, "block_kind": step.kind, "status": step.status,
            "input": step_input, "output": mask_secrets(step.output, secret_values),
            "error": mask_secrets(step.error, secret_values), "notes": step.notes or None,
            "started_at": step.started_at, "duration_ms": step.duration_ms,
            "bytes_out": json_size(step_input) if step.kind == "receiver" else 0}


def json_size(value) -> int:
    """Return the size of a value as compact JSON, in bytes."""
    if value is None:
        return 0
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
               .encode())
