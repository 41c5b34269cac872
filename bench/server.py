"""The benchmarks' server: bench/service.py's service, served as `lifeline serve` serves
Lifeline (the same schema check, worker processes and HTTP protocol); not a way to run Lifeline.

Usage (from the repository root, with the environment `bench/__main__.py` gives a server):
    python -m bench.server --db URL --port N [--workers 2] --mode without-authorisation
Modes: without-authorisation, without-trail, file-trail (bench/ceiling.py).
"""

from __future__ import annotations

import argparse
import os

from bench.service import BenchService, Trail
from lifeline.cli.common import open_service
from lifeline.config import from_environment, to_environment
from lifeline.storage import open_repository
from lifeline.web.app import ASGIApp
from lifeline.web.asgi import app_of, run

# Each mode is a factory of its own, so that nothing in the environment says what is switched off.
MODES = {
    "without-authorisation": "app_without_authorisation",
    "without-trail": "app_without_trail",
    "file-trail": "app_with_file_trail",
}


def app_without_authorisation() -> ASGIApp:
    return _app(authorisation=False)


def app_without_trail() -> ASGIApp:
    return _app(trail="off")


def app_with_file_trail() -> ASGIApp:
    return _app(trail="file")


def _app(*, authorisation: bool = True, trail: Trail = "on") -> ASGIApp:
    """A worker's app, from the settings `main` handed on through the environment."""
    config = from_environment()
    repo = open_repository(config.db, node_id=config.node_id)
    return app_of(BenchService(repo, config, authorisation=authorisation, trail=trail))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mode", choices=sorted(MODES), required=True)
    args = parser.parse_args()
    config = from_environment(db=args.db, host="127.0.0.1", port=args.port, workers=args.workers)
    service = open_service(config, migrate=True)  # as `lifeline serve` does before it serves
    service.repo.analyze()
    service.repo.close()
    os.environ.update(to_environment(config))
    run(f"bench.server:{MODES[args.mode]}", host=config.host, port=config.port, workers=config.workers)


if __name__ == "__main__":
    main()
