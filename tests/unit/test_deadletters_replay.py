"""A replay goes out as the operator's own account, the original sender kept beside it."""
import pika

from services.common.deadletters import REPLAYED_BY, broker_account, replay_properties


def test_the_replaying_account_is_the_uris():
    assert broker_account("amqp://ops-duty:s3cret@broker:5672/chuishao") == "ops-duty"
    assert broker_account("amqp://t1234-ops%2Dduty:pw@127.0.0.1/") == "t1234-ops-duty"
    assert broker_account("amqp://127.0.0.1:5672/") == "guest"          # pika's default login


def test_a_replay_is_stamped_with_the_operator_and_keeps_the_original_sender():
    letter = pika.BasicProperties(
        content_type="application/octet-stream", message_id="m-1", user_id="dept-chengguan",
        headers={"x-dead-reason": "failed 5 times", "x-dead-consumer": "dispatch.dispatch.checkins",
                 "x-original-exchange": "checkins", "x-original-routing-key": "checkin.chengguan",
                 "x-original-content-type": "application/json", "x-dead-lettered-at": "2025-03-04T09:30:00Z",
                 "x-attempts": 5, "x-original-user-id": "dept-chengguan", "marker": "kept"})
    replay = replay_properties(letter, "ops-duty")
    assert replay.user_id == "ops-duty"                 # what the broker verifies and SENDER_SUPERUSERS lists
    assert replay.headers == {"x-original-user-id": "dept-chengguan", "marker": "kept", REPLAYED_BY: "ops-duty"}
    assert (replay.content_type, replay.message_id, replay.delivery_mode) == ("application/json", "m-1", 2)
