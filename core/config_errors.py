"""How a configuration mistake is told: which field, what was wrong, in one line each.

Every file a user writes (the service's configuration, the venue's, the risk limits, the
training configuration) and every API body is validated by pydantic; these turn its
ValidationError into the messages the commands print.
"""

from __future__ import annotations

from pydantic import ValidationError


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says which field and why."""


def problems(error: ValidationError, top: str = "(top level)", with_input: bool = False) \
        -> list[str]:
    """One ``field.path: what was wrong`` per problem; ``top`` names a problem with the whole
    document; ``with_input`` adds the value given (never for a mapping: it may hold secrets
    and is long)."""
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or top
        given = problem.get("input")
        shown = f" (got {given!r})" if with_input and not isinstance(given, dict) else ""
        lines.append(f"{location}: {problem['msg']}{shown}")
    return lines


def yaml_problem(error: Exception) -> str:
    """A YAML parser's error in one line: its problem and where (``line L, column C``), without
    the quoted snippet and caret it prints below."""
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if problem is None:
        return " ".join(str(error).split())
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, with the value given, under a heading."""
    return "invalid configuration:\n  " + "\n  ".join(problems(error, with_input=True))
