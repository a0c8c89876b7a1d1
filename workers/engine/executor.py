"""Run one item through a bundle's blocks: receivers, filters and If/Then logic.

Pure: the caller supplies a function that performs receiver actions, and gets back the step
records and the outcome. Nothing here touches the database, Redis or Flask.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.errors import AuthError, ConnectorError, RetryableError
from workers.engine import conditions, mapping
from workers.engine.references import checked_block_ids

ActionCaller = Callable[[Mapping[str, Any], dict[str, Any]], dict[str, Any]]


@dataclass
class StepRecord:
    """What one block did: the journal's row for it."""

    position: int
    block_id: str
    kind: str
    status: str  # success | error | passed | stopped | then | else
    input: Any = None
    output: Any = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    duration_ms: int = 0


@dataclass
class Execution:
    """The outcome of running an item: status, steps, and what the caller must act on."""

    status: str = "success"  # success | error | filtered | retry
    steps: list[StepRecord] = field(default_factory=list)
    error: str | None = None
    retry_after: float | None = None
    retry_block: str | None = None
    auth_failures: list[Any] = field(default_factory=list)  # connection ids whose auth failed


class PendingRetry(Exception):  # noqa: N818 - a control-flow signal, not an error
    """A receiver failed transiently and may be retried later; the run pauses here."""

    def __init__(self, block_id: str, error: RetryableError):
        super().__init__(error.message)
        self.block_id = block_id
        self.error = error


class ItemFiltered(Exception):  # noqa: N818 - a control-flow signal
    """A filter block stopped the item."""


@dataclass
class Executor:
    """Walk the blocks of one definition for one item."""

    definition: Mapping[str, Any]
    call_action: ActionCaller
    may_retry: bool = True
    # Steps already done in an earlier attempt: their outputs are reused, never redone.
    done_steps: Mapping[str, StepRecord] = field(default_factory=dict)
    execution: Execution = field(default_factory=Execution)

    def run(self, item: Any, extra_context: Mapping[str, Any] | None = None) -> Execution:
        """Run the item through every block and return the execution."""
        context = {"source": item, "steps": {}, **(extra_context or {})}
        self._position = 0
        self._failed: list[str] = []
        try:
            self._run_blocks(self.definition.get("blocks", []), context)
        except PendingRetry as pending:
            self.execution.status = "retry"
            self.execution.retry_after = pending.error.retry_after
            self.execution.retry_block = pending.block_id
            self.execution.error = pending.error.message
            return self.execution
        except ItemFiltered:
            self.execution.status = "filtered"
        self._settle_status()
        return self.execution

    def _settle_status(self) -> None:
        """Make the run an error when a receiver failed and no later block checked it."""
        if not self._failed:
            return
        checked = checked_block_ids(self.definition.get("blocks", []))
        unhandled = [block_id for block_id in self._failed if block_id not in checked]
        if unhandled:
            self.execution.status = "error"
            errors = [step.error for step in self.execution.steps
                      if step.block_id in unhandled and step.error]
            self.execution.error = "; ".join(errors) or "a receiver failed"

    def _run_blocks(self, blocks: list[Mapping[str, Any]], context: dict[str, Any]) -> None:
        for block in blocks:
            handler = {"receiver": self._receiver, "filter": self._filter,
                       "logic": self._logic}[block["kind"]]
            handler(block, context)

    def _receiver(self, block: Mapping[str, Any], context: dict[str, Any]) -> None:
        previous = self.done_steps.get(block["id"])
        if previous is not None:
            self._reuse(block, previous, context)
            return
        step = self._start_step(block)
        rendered = mapping.render(block.get("params", {}), context)
        step.input = rendered.value
        step.notes.extend(f"missing: {path}" for path in rendered.missing)
        started = time.perf_counter()
        try:
            output = dict(self.call_action(block, rendered.value) or {})
            outputs = {**output, "result": 1, "errors": ""}
            step.status = "success"
        except RetryableError as error:
            if self.may_retry:
                raise PendingRetry(block["id"], error) from None
            outputs = self._failure(step, error)
        except ConnectorError as error:
            if isinstance(error, AuthError):
                self.execution.auth_failures.append(block.get("connection"))
            outputs = self._failure(step, error)
        step.duration_ms = round((time.perf_counter() - started) * 1000)
        step.output = outputs
        context["steps"][block["id"]] = outputs

    def _reuse(self, block: Mapping[str, Any], previous: StepRecord,
               context: dict[str, Any]) -> None:
        """Carry a receiver done in an earlier attempt into this one without redoing it."""
        step = self._start_step(block)
        step.status, step.input, step.output = previous.status, previous.input, previous.output
        step.error, step.duration_ms = previous.error, previous.duration_ms
        step.started_at = previous.started_at
        step.notes = [*previous.notes, "done in an earlier attempt"]
        context["steps"][block["id"]] = previous.output or {}
        if previous.status == "error":
            self._failed.append(block["id"])

    def _failure(self, step: StepRecord, error: ConnectorError) -> dict[str, Any]:
        """Record a failed receiver; later blocks see result 0 and the error text."""
        step.status = "error"
        step.error = error_text(error)
        self._failed.append(step.block_id)
        return {"result": 0, "errors": step.error}

    def _filter(self, block: Mapping[str, Any], context: dict[str, Any]) -> None:
        if not self._check(block, context, ("passed", "stopped")):
            raise ItemFiltered

    def _logic(self, block: Mapping[str, Any], context: dict[str, Any]) -> None:
        passed = self._check(block, context, ("then", "else"))
        self._run_blocks(block.get("then" if passed else "else", []), context)

    def _check(self, block: Mapping[str, Any], context: dict[str, Any],
               statuses: tuple[str, str]) -> bool:
        """Evaluate a block's conditions and record them; its `result` is 1 or 0."""
        step = self._start_step(block)
        passed = conditions.evaluate(block.get("conditions"), context)
        step.input = conditions.explain(block.get("conditions"), context)
        step.status = statuses[0] if passed else statuses[1]
        step.output = {"result": int(passed)}
        context["steps"][block["id"]] = step.output
        return passed

    def _start_step(self, block: Mapping[str, Any]) -> StepRecord:
        step = StepRecord(position=self._position, block_id=block["id"], kind=block["kind"],
                          status="running", started_at=datetime.now(UTC))
        self._position += 1
        self.execution.steps.append(step)
        return step


def error_text(error: ConnectorError) -> str:
    """Return the message a person sees: ours, plus the service's own when it has one."""
    message = error.message
    service_message = getattr(error, "service_message", None)
    if service_message and service_message not in message:
        message = f"{message} ({service_message})"
    return message
