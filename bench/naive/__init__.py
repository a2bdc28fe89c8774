"""The naive reference pipeline: what plain nameko does with the same whistles and none of the guarantees.

A dispatcher consumes the pacer's `RaiseWhistle` JSON, commits one dedupe row (its `request_id`) and
then publishes one call-out per department; three department services each commit one row per
call-out. No outbox, no validation beyond the JSON decode, no dead letters, no check-ins back. The
bench runs it beside the real services, on the same broker and the same kind of database, so the
report can say how far the real pipeline is from the cost of merely moving the messages.
"""
