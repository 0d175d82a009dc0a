"""`python -m bench [NAME ...] [--quick] [--no-profile] [--print]`: run benchmarks and rewrite BENCHMARKS.md."""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
from collections.abc import Sequence

from app.processes import WORKER_CONCURRENCY, WORKER_POOL
from bench.common import Options
from bench.report import ORDER, Section, write


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *ORDER], metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(ORDER)}")
    parser.add_argument("--quick", action="store_true", help="short smoke run; prints, does not write the file")
    parser.add_argument("--no-profile", action="store_true", help="skip the extra py-spy round")
    parser.add_argument("--print", dest="print_only", action="store_true", help="print instead of writing")
    parser.add_argument("--worker", default=f"{WORKER_POOL}:{WORKER_CONCURRENCY}", metavar="POOL:N",
                        help="Celery pool and concurrency of the worker in polling and pipeline (default: the "
                             "Procfile's); any other value prints instead of writing")
    parser.add_argument("--worker-processes", type=int, default=1, metavar="P",
                        help="worker processes on the vendor queue in polling and pipeline (default 1, the "
                             "Procfile's); any other value prints instead of writing")
    args = parser.parse_args(argv)
    # A TERM (or an INT where the shell ignores it) unwinds normally, so every stack started is shut down.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    pool, _, concurrency = args.worker.partition(":")
    options = Options(quick=args.quick, profile=not args.no_profile, worker_pool=pool,
                      worker_concurrency=int(concurrency or WORKER_CONCURRENCY),
                      worker_processes=max(1, args.worker_processes))
    sections: list[Section] = []
    for name in args.names or ORDER:
        started = time.monotonic()
        print(f"== {name} ...", flush=True)
        module = importlib.import_module(f"bench.{name}")
        section: Section = module.run(options)
        sections.append(section)
        print(section.block(), flush=True)
        if section.profile:
            print(section.profile_block(), flush=True)
        print(f"== {name} done in {time.monotonic() - started:.0f} s", flush=True)
    if args.quick or args.print_only or not options.procfile_worker:
        return 0
    print(f"wrote {write(sections)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
