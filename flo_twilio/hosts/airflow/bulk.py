"""A whole campaign in one task: every item of a list (from XCom or a CSV/JSON file)
through flo's engine, as one flow run under the task instance's key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.hosts import Sender
from flo_twilio.hosts.airflow.operators import CardOperator
from flo_twilio.runner import CsvFile, JsonArrayFile, JsonLinesFile, json_file

CONCURRENCY = 16
WORKERS_SEE_IT = "the path is read on the worker that runs the task: give one every worker sees"


def read_items(path: str) -> list[Any]:
    """The rows of a .csv, .tsv, .json (a list) or .jsonl file, each as a dict."""
    file = Path(path)
    if not file.is_file():
        raise InvalidInputError([Problem(f"items_file: no file {path}", hint=WORKERS_SEE_IT)])
    suffix = file.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return list(CsvFile(file, path))
    if suffix in (".jsonl", ".ndjson"):
        return list(JsonLinesFile(file, path))
    if suffix == ".json":
        rows = json_file(file, path)
        if not isinstance(rows, JsonArrayFile):
            raise InvalidInputError([Problem(f"items_file: {path} must hold a list of inputs")])
        return list(rows)
    raise InvalidInputError(
        [Problem(f"items_file: {file.name} must be .csv, .tsv, .json or .jsonl")]
    )


class BulkSendOperator(CardOperator):
    """Calls ``card`` (default ``twilio.send_sms``) with ``options`` for each item of
    ``items`` (a list of inputs dicts, e.g. an upstream task's XCom) or of ``items_file``
    (CSV columns or JSON keys named as the card's inputs), ``concurrency`` at a time.

    The task takes ``concurrency`` slots of its pool (``pool_slots`` unless given), so a
    pool sized as the account's in-flight cap holds it across workers. Returns (to XCom)
    ``run_id``, the ``done``, ``failed`` and ``unknown`` counts and each item's
    ``outputs`` in item order. A retry resumes the run: items already sent are not sent
    again.
    """

    template_fields: ClassVar[Sequence[str]] = ("options", "items", "items_file", "state_folder")
    template_fields_renderers: ClassVar[dict[str, str]] = {"options": "json", "items": "json"}

    def __init__(
        self,
        *,
        items: Sequence[Mapping[str, Any]] | None = None,
        items_file: str | None = None,
        concurrency: int = CONCURRENCY,
        card: str = "twilio.send_sms",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("pool_slots", concurrency)
        super().__init__(card=card, **kwargs)
        if (items is None) == (items_file is None):
            raise ValueError(f"{self.task_id}: give either items or items_file")
        self.items, self.items_file, self.concurrency = items, items_file, concurrency

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """Mapped bulk tasks take ``concurrency`` slots too."""
        kwargs.setdefault("pool_slots", kwargs.get("concurrency", CONCURRENCY))
        return super().partial(**kwargs)

    def send(self, sender: Sender, key: str) -> dict[str, Any]:
        items = read_items(self.items_file) if self.items_file else self.items
        result = sender.send_bulk_sync(
            key,
            self.card_name,
            self.options,
            items or [],
            concurrency=self.concurrency,
            progress=self.log.info,
        )
        return asdict(result)
