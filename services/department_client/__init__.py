"""部门报到 over AMQP for a department's own system: no nameko needed, only pika and the message contract.

    from services.department_client import DepartmentClient, ReportRejected

    with DepartmentClient("amqp://guest:guest@broker:5672/", "shichang") as client:
        for callout in client.callouts():             # acked when the loop comes back for the next one
            client.check_in(callout.callout_id, officer="市场监管 梁晨")

The command line on it: `chuishao dept --help` (or `python -m services.department_client --help`).
"""
from services.department_client.client import (DEFAULT_TIMEOUT, DeliveryError, DepartmentClient,
                                               InvalidReport, ReportRejected, ReportTimeout, make_report)

__all__ = ["DEFAULT_TIMEOUT", "DeliveryError", "DepartmentClient", "InvalidReport", "ReportRejected",
           "ReportTimeout", "make_report"]
