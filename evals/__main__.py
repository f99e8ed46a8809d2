"""``python -m evals COMMAND``: measurements on the labeled sets in ../shared/data."""

from __future__ import annotations

import argparse
import sys

from evals import discover, faults, goalsteer, rejudge, run, scale, table, tree, views


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run.add_parser(sub)
    rejudge.add_parser(sub)
    goalsteer.add_parser(sub)
    scale.add_parser(sub)
    discover.add_parser(sub)
    table.add_parser(sub)
    views.add_parser(sub)
    faults.add_parser(sub)
    tree.add_parser(sub)
    args = parser.parse_args()
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
