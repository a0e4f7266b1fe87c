"""The ASGI app for running under Hypercorn directly: `hypercorn app.asgi:app`.

Settings are read here, but nothing connects until Hypercorn starts serving.
"""

from app.bootstrap import build_api, build_services
from app.config import load_settings
from app.logging import configure_logging

_settings = load_settings()
configure_logging(
    "api", log_dir=_settings.log_dir, level=_settings.log_level, console=_settings.console_logs
)
app = build_api(build_services(_settings, process="api"))
