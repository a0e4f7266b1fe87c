"""The HTTP API: a Quart app factory, one blueprint per resource, problem+json errors."""

from app.api.factory import create_app

__all__ = ["create_app"]
