"""The datasets one stage writes together, committed together, aborted together.

A row its schema refuses (a bug in the stage that built it) becomes a `quarantine` row naming its
id, so the run goes on and nothing disappears. Quarantine commits last, after the rows it explains.
"""

from __future__ import annotations

from drsynth.storage.store import Store
from drsynth.storage.writer import CommitOnExit, DatasetWriter, InvalidRows
from drsynth.synth.corpus.records import quarantine_record


class StageOutput(CommitOnExit):
    def __init__(self, store: Store, run_id: str, dataset: str, *, stage: str, meta: dict) -> None:
        self.stage = stage
        self._open = lambda d: store.writer(d, run_id, meta=meta)
        self.writers: dict[str, DatasetWriter] = {d: self._open(d) for d in (dataset, "quarantine")}

    def write(self, dataset: str, row: dict) -> bool:
        """False when the row was already there or did not fit its schema.

        A dataset the stage did not name up front (a crawl's `redirects`) gets its writer on first use.
        """
        if dataset not in self.writers:
            self.writers = {dataset: self._open(dataset), **self.writers}  # quarantine stays last
        try:
            return self.writers[dataset].write(row)
        except InvalidRows as error:
            self._quarantine_invalid(error)
            return False

    def commit(self) -> None:
        for writer in self.writers.values():
            try:
                writer.commit()
            except InvalidRows as error:
                self._quarantine_invalid(error)
                writer.commit()

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()

    def _quarantine_invalid(self, error: InvalidRows) -> None:
        for rid in error.ids:
            self.writers["quarantine"].write(quarantine_record(
                stage=self.stage, reason="invalid_row", source=rid,
                detail=f"a row built by this stage did not fit its dataset's schema: {error}",
            ))
