"""The fault suite (issue 4, item 1): whistles through all four services while they are killed, the
broker restarts, databases go away and connections are cut; then counts of what was lost or doubled.

    make chaos                                   # 10,000 whistles (CHAOS_WHISTLES), report in var/chaos-report.md
    CHAOS_WHISTLES=300 pytest tests/chaos -q -s  # the small run, also part of `make test`

broker.py      a private RabbitMQ node (own name, ports, data), never the machine's broker
proxy.py       a TCP proxy between services and that node, cut and healed on command
stack.py       the services as processes (tests.support.processes) started via runner.py (stack dumps)
traffic.py     streets (confirmed publishes), departments (department client), outcome reader, ledger
faults.py      the faults and the schedule that injects them mid-stream and measures recovery
accounting.py  the counts, read from each service's database, /metrics and the broker
report.py      the table printed and written to var/chaos-report.md
test_faults.py the storm; test_regressions.py: quick reproductions of what it found
"""
