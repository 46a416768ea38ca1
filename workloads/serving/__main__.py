"""`python -m workloads.serving`: the container's entrypoint, with the flags of `aiinfra local serve`."""

from __future__ import annotations

import argparse
import sys

from aiinfra.core.errors import EXIT_INPUT, InputError
from workloads.serving.local import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.serving", description=__doc__)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except InputError as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
