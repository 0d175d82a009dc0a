"""`python -m simulators [--host H] [--port N]`: serve every vendor simulator on one port."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .app import serve


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9100, help="port to listen on (default: 9100)")
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
