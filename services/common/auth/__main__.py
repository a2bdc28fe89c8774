from services.common.auth.cli import app

app(prog_name="python -m services.common.auth")
