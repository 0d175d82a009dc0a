"""WSGI entry point for gunicorn: `gunicorn app.wsgi:app`."""
import gc

from app import create_app

app = create_app()

# What importing and building the app made (about 130,000 objects) lives as long as the process: kept out of the
# cycle collector's full passes, which otherwise walk all of it and paused every thread of a web worker for
# 60-140 ms (BENCHMARKS.md, item 1, session 18). gunicorn imports this module in each worker after the fork.
gc.freeze()
