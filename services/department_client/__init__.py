"""部门报到 over AMQP for a department's own system: no nameko needed, only pika and the message contract.

    from services.department_client import DepartmentClient, amqp_uri_from_env

    # the department's own broker account, from CHUISHAO_AMQP_URI (or AMQP_URI + CHUISHAO_AMQP_USER/PASSWORD)
    with DepartmentClient(amqp_uri_from_env(), "shichang") as client:
        for callout in client.callouts():             # acked when the loop comes back for the next one
            client.check_in(callout.callout_id, officer="市场监管 梁晨")
        for assignment in client.assignments(timeout=5):   # its officers on joint teams ("城管+N")
            if assignment.type == "team.officer_assigned":
                client.member_check_in(assignment.team_id, assignment.officer.officer_code)

The command line on it: `chuishao dept --help` (or `python -m services.department_client --help`).
"""
from services.department_client.client import (DEFAULT_TIMEOUT, DeliveryError, DepartmentClient,
                                               InvalidReport, MemberRejected, MemberTimeout, ReportRejected,
                                               ReportTimeout, amqp_uri_from_env, make_member_command, make_report)

__all__ = ["DEFAULT_TIMEOUT", "DeliveryError", "DepartmentClient", "InvalidReport", "MemberRejected", "MemberTimeout",
           "ReportRejected", "ReportTimeout", "amqp_uri_from_env", "make_member_command", "make_report"]
