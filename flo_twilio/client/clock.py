"""How far the API's clock is from this machine's, measured from the ``Date`` header of its
answers, so that a look-up can ask "created since this moment" in the API's own time."""

from __future__ import annotations

from email.utils import parsedate_to_datetime


class ClockOffset:
    """Bounds on (API time - local time), in seconds, tightened by every answer.

    ``Date`` has whole seconds and is stamped somewhere between sending and receiving, so
    one answer says the offset lies in ``[date - received, date + 1 - sent]``. The bounds of
    all answers are intersected; a local clock that jumps (they disagree) starts them over.
    """

    def __init__(self) -> None:
        self.low: float | None = None
        self.high: float | None = None
        self._header = ""
        self._date = 0.0

    def observe(self, header: str | None, sent: float, received: float) -> None:
        if not header:
            return
        if header != self._header:
            try:
                self._date = parsedate_to_datetime(header).timestamp()
            except (TypeError, ValueError, IndexError):
                return
            self._header = header
        low, high = self._date - received, self._date + 1 - sent
        if self.low is None or self.high is None or max(low, self.low) > min(high, self.high):
            self.low, self.high = low, high
        else:
            self.low, self.high = max(low, self.low), min(high, self.high)

    def earliest_api_time(self, local: float, unmeasured_slack: float) -> float:
        """The earliest the API's clock can have read at local moment ``local``; without a
        measurement, ``unmeasured_slack`` seconds before it."""
        if self.low is None:
            return local - unmeasured_slack
        return local + self.low
