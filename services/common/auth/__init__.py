"""Access control: principals, the rule table, bearer tokens, write rates and bounded lists.

The pure parts (principals, rules, tokens, ratelimit, pagination, routes) know nothing of nameko or
the clock; keystore holds the files; services.common.authweb and services.common.guard plug it in."""
