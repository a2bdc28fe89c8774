"""The bus entrypoint's acknowledgement of a batch: one multiple ack, unless it would take a held message."""
from __future__ import annotations

from services.common.consumer import ack_plan


def test_a_batch_is_acknowledged_with_one_multiple_ack_up_to_its_highest_tag():
    assert ack_plan([7, 5, 6], set()) == (True, [7])


def test_a_message_held_for_a_retry_below_the_batch_is_not_taken_by_its_ack():
    # tag 4 waits out its retry delay, unsettled: a multiple ack of 7 would acknowledge it unprocessed
    assert ack_plan([5, 6, 7], {4}) == (False, [5, 6, 7])


def test_a_held_message_above_the_batch_does_not_matter():
    assert ack_plan([5, 6, 7], {9}) == (True, [7])


def test_a_single_message_is_its_own_highest_tag():
    assert ack_plan([12], {3}) == (False, [12])
    assert ack_plan([12], set()) == (True, [12])
