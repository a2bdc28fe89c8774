"""python -m services.department_client ...: the same as `chuishao dept ...` (see services.cli.dept).

    python -m services.department_client --department shichang listen [--json] [--count N] [--idle S]
    python -m services.department_client --department shichang checkin CALLOUT_ID --officer NAME [--note TEXT]
    python -m services.department_client --department shichang arrive CALLOUT_ID --officer NAME \\
        --address TEXT [--lon X --lat Y] --evidence REF
    python -m services.department_client --department shichang complete CALLOUT_ID --summary TEXT \\
        --evidence REF [--evidence REF ...]
    python -m services.department_client --department shichang return CALLOUT_ID --reason TEXT

Exit codes are chuishao's (services.cli.failures).
"""
import sys

from services.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["dept", *sys.argv[1:]]))
