"""User-facing input errors: every problem with its path, printed one per line, exit code 2."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_POLICY = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
"""A bug of aiinfra's (an unexpected exception): one message asking for a report, no traceback."""
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


@dataclass(frozen=True)
class Problem:
    path: str
    """Where the problem is, e.g. `clusters[0].node_pools[1].accelerator`."""
    message: str
    """What is wrong and how to fix it; starts with the offending value where there is one."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InputError(Exception):
    """Bad input from the user: reported as one line per problem, never as a traceback."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def join_path(*parts: str | int) -> str:
    """Join path parts as `a.b[0].c`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += f".{part}" if out else part
    return out
