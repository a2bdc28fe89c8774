"""`chuishao`, the command line for every role: streets, departments, the district, operators.

    chuishao street raise|list|show|close|send-back|follow-up
    chuishao dept listen|checkin|arrive|complete|return
    chuishao district overdue|arbitrations|decide
    chuishao dlq list|show|replay|drop

Tables for people (zh-CN by default; `--lang en` or CHUISHAO_LANG=en for English), `--json` for
scripts. Service addresses: WHISTLE_URL, DISPATCH_URL (else http://<WHISTLE_WEB_ADDRESS> ..., the
services' own settings); AMQP_URI and BUS_NAMESPACE for the bus; CHUISHAO_TOKEN is sent as
`Authorization: Bearer <token>` on every HTTP request. Exit codes: services.cli.failures.
"""
