"""The `vidgate` command line: run everything, manage tokens, migrate, serve the simulators."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import click
import requests
from sqlalchemy import select

from config.settings import Settings, load_settings


def _prepare(settings: Settings) -> None:
    """Everything a process needs before it touches the database: the data dir and the schema."""
    from app.extensions import init_extensions
    from app.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    init_extensions(settings)


def declare_queues() -> None:
    """Create the broker's queues (and the embedded broker's tables) once, before a dozen processes start at once.

    kombu's SQLAlchemy transport inserts a queue's row the first time a process uses the queue, guarded by a lock
    between threads only: processes that declare a new queue together fail on its unique name or on SQLite's
    lock. On a fresh data directory every vendor worker declares the maintenance queue at once; a worker that
    failed so exited, and `vidgate up` stopped everything with it. With the rows there, a declare only reads.
    """
    from app.extensions import celery

    with celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=3)
        for queue in celery.conf.task_queues:
            queue(connection.default_channel).declare()


@click.group()
def main() -> None:
    """Vidgate: one API for AI video generation across vendors."""


@main.command()
@click.option("--port", default=8000, show_default=True, help="Port of the web front.")
@click.option("--simulator-port", default=9100, show_default=True, help="Port of the vendor simulators.")
def up(port: int, simulator_port: int) -> None:
    """Run web, beat, a worker per vendor queue and the simulators in the foreground (Ctrl-C stops all)."""
    from honcho.manager import Manager

    from app.auth import issue_token
    from app.extensions import db
    from app.processes import process_table

    env = dict(os.environ)
    env.setdefault("VIDGATE_SIMULATOR_URL", f"http://127.0.0.1:{simulator_port}")
    # Let client image URLs point at the simulators, which live on loopback.
    env.setdefault("VIDGATE_ALLOW_PRIVATE_HOSTS", f"127.0.0.1:{simulator_port},localhost:{simulator_port}")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    settings = load_settings(env)
    _prepare(settings)
    declare_queues()
    with db.transaction() as session:
        token, _ = issue_token(session, "demo", name="vidgate up")
    manager = Manager()
    table = process_table(port=str(port), simulator_port=str(simulator_port), embedded=settings.is_embedded)
    for name, command in table.items():
        manager.add_process(name, command, env=env)
    base_url = f"http://127.0.0.1:{port}"
    threading.Thread(target=_announce, args=(base_url, token, settings), daemon=True).start()
    manager.loop()
    sys.exit(manager.returncode or 0)


def _announce(base_url: str, token: str, settings: Settings) -> None:
    """Print how to use the running system once the web front answers."""
    for _ in range(600):
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).ok:
                break
        except requests.RequestException:
            pass
        time.sleep(0.2)
    where = "embedded default (SQLite, embedded broker, local disk)" if settings.is_embedded else "PostgreSQL/Redis"
    click.echo(f"""
================================================================================
Vidgate is up on {base_url}   [{where}; data in {settings.data_dir}]
Demo token (shown once): {token}

  export VIDGATE={base_url} TOKEN={token}
  curl -s $VIDGATE/v1/videos -H "Authorization: Bearer $TOKEN" -F model=sora-2 -F prompt="a red fox" -F seconds=4
  curl -s $VIDGATE/v1/videos/<id> -H "Authorization: Bearer $TOKEN"          # until "completed"
  curl -s -o fox.mp4 $VIDGATE/v1/videos/<id>/content -H "Authorization: Bearer $TOKEN"

Or with the OpenAI SDK:
  client = openai.OpenAI(base_url="{base_url}/v1", api_key="{token}")
  video = client.videos.create_and_poll(model="sora-2", prompt="a red fox in snow")
  client.videos.download_content(video.id).write_to_file("fox.mp4")
OpenAPI: {base_url}/openapi.json        Ctrl-C stops everything.
================================================================================
""", err=True)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Run the migrations (the Procfile's release phase)."""
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from app.migrate import upgrade

    upgrade(settings.database_url)
    click.echo("database is at the latest revision")


@main.group()
def token() -> None:
    """API tokens (bearer) and the accounts they belong to."""


@token.command("create")
@click.option("--account", required=True, help="Account name; created if new.")
@click.option("--models", default="", help="Comma-separated models this token may use (default: all).")
@click.option("--name", default="", help="A label for the token.")
def token_create(account: str, models: str, name: str) -> None:
    """Create a token and print it once; only its hash is stored."""
    from app.auth import issue_token
    from app.extensions import db as database

    _prepare(load_settings())
    allowed = [m.strip() for m in models.split(",") if m.strip()] or None
    with database.transaction() as session:
        plain, row = issue_token(session, account, allowed, name)
        token_id = row.id
    click.echo(f"token {token_id} for account {account!r} (store it now, it is not shown again):")
    click.echo(plain)


@token.command("list")
def token_list() -> None:
    """Tokens with their account, allowed models and state (never the token itself)."""
    from app.extensions import db as database
    from app.models import Account, ApiToken

    _prepare(load_settings())
    with database.session() as session:
        rows = session.execute(select(ApiToken, Account.name).join(Account).order_by(ApiToken.id)).all()
    click.echo(f"{'ID':>4}  {'ACCOUNT':<20} {'PREFIX':<12} {'MODELS':<30} STATE")
    for row, account in rows:
        models = ",".join(row.allowed_models or []) or "*"
        state = "revoked" if row.revoked_at else "active"
        click.echo(f"{row.id:>4}  {account:<20} {row.display_prefix + '…':<12} {models:<30} {state}")


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by id; requests with it get 401 from then on."""
    from app.auth import revoke_token
    from app.extensions import db as database

    _prepare(load_settings())
    with database.transaction() as session:
        if not revoke_token(session, token_id):
            raise click.ClickException(f"no active token with id {token_id}")
    click.echo(f"token {token_id} revoked")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9100, show_default=True)
def simulators(host: str, port: int) -> None:
    """Serve the vendor simulators alone."""
    from simulators.app import serve

    serve(host, port)


if __name__ == "__main__":
    main()
