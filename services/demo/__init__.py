"""A demo load for the dashboards and the assessment: the reference district's streets, departments
and staff at work against the running services (`make demo`; see __main__.py)."""
