"""A host's ``send_bulk`` honours the opt-out list as ``flo run`` does: who opted out is not
sent to, is counted, and a 21610 (a failed item: Twilio refused it) puts its recipient on
the list for the next work."""

from __future__ import annotations

import pytest

from flo_twilio.card import Audience
from flo_twilio.hosts import HostSendError
from flo_twilio.runner.optouts import OptOuts
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from tests.test_hosts_core import CARD, SMS, faults, recipients, sandbox, sender, sent_to

__all__ = ["faults", "sandbox", "sender"]  # fixtures, shared with test_hosts_core


def test_send_bulk_skips_who_opted_out_and_learns_from_a_21610(sender, sandbox):
    items = recipients(4)
    lists = OptOuts(sender.runner.journal)
    lists.add(SID, Audience(items[1]["to"], (SMS["from"],)), "added")
    sandbox.opted_out.add((SID, SMS["from"], items[2]["to"]))  # told Twilio only
    with pytest.raises(
        HostSendError, match=r"2 done, 1 skipped \(1 opted out\), 1 failed"
    ) as refused:
        sender.send_bulk_sync("campaign/1", CARD, SMS, items)
    assert "21610" in str(refused.value) and items[2]["to"] not in str(refused.value)
    assert set(sent_to(sandbox)) == {items[0]["to"], items[3]["to"]}
    assert {e.recipient for e in lists.listed(SID)} == {items[1]["to"], items[2]["to"]}
    again = sender.send_bulk_sync("campaign/2", CARD, SMS, items)  # the next work
    assert (again.done, again.failed, again.opted_out) == (2, 0, 2)
    assert again.outputs[1] is None and again.outputs[2] is None
    assert sum(sent_to(sandbox).values()) == 4
