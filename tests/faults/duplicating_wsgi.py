"""WSGI entry point for the duplicate-delivery scenario: the real web front, sending everything twice."""
import tests.faults.duplicating  # noqa: F401
from app.wsgi import app  # noqa: F401
