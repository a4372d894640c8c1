"""Gust's Python runner: CPython (through componentize-py), exporting the
`script` world of sdk-guest/wit/script.wit. A step's script arrives as text
with each call and runs in this fresh instance; nothing survives between
calls. The script defines ``run(input, ctx)``.

Only modules imported here, while the component is built, can be imported by
a script: the snapshot taken at build time is all the interpreter has.
"""

import ast
import importlib
import json
import linecache
import sys
import traceback

import wit_world
from componentize_py_types import Err
from wit_world.imports.types import Flow, StepError as WitStepError, StepOutput

import gust

# The standard modules a script may import: imported here, while the
# component is built, into the snapshot that is all the interpreter has.
MODULES = (
    "__future__", "base64", "collections", "dataclasses", "datetime", "decimal", "enum",
    "functools", "hashlib", "hmac", "itertools", "json", "math", "random", "re", "statistics",
    "string", "textwrap", "time", "typing", "unicodedata", "urllib.parse", "uuid", "zoneinfo",
)
for _module in MODULES:
    importlib.import_module(_module)

ALLOWED = sorted({module.split(".")[0] for module in MODULES} | {"gust"})


def _problem(name, line, column, message):
    return f"{name}:{line}:{column}: {message}"


def _unavailable(name, module, node):
    return _problem(
        name,
        node.lineno,
        node.col_offset + 1,
        f"cannot import {module!r}: a Python step can import only {', '.join(ALLOWED)}",
    )


def _compile(name, source):
    """The script's code object, or a problem with its position."""
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as error:
        raise Err(
            _problem(name, error.lineno or 1, error.offset or 1, f"SyntaxError: {error.msg}")
        ) from None
    for node in ast.walk(tree):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        for module in modules:
            if module.split(".")[0] not in ALLOWED:
                raise Err(_unavailable(name, module, node))
    return compile(tree, name, "exec")


def _described(error, name):
    """The exception's type, message and the script's frames of its traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if frame.filename == name]
    lines = [f"{type(error).__name__}: {error}"]
    if own:
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in traceback.format_list(own))
    return "\n".join(lines)


def _failure(message, retryable):
    return Err(WitStepError(message, retryable))


class WitWorld(wit_world.WitWorld):
    def check(self, name, source):
        _compile(name, source)

    def run(self, name, source, input):
        code = _compile(name, source)
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        namespace = {"__name__": "__gust_step__", "__file__": name}
        try:
            exec(code, namespace)
        except BaseException as error:  # noqa: BLE001 - any failure of the script's top level
            raise _failure(_described(error, name), False) from None
        entry = namespace.get("run")
        if not callable(entry):
            raise _failure(f"{name}: the script defines no `run(input, ctx)` function", False)
        try:
            result = entry(json.loads(input), gust.Context())
        except (gust.StepError, gust.SalesforceError) as error:
            raise _failure(_described(error, name), error.retryable) from None
        except MemoryError:
            raise
        except BaseException as error:  # noqa: BLE001 - the script's own exceptions
            raise _failure(_described(error, name), False) from None
        stopped = isinstance(result, gust.Stop)
        output = result.output if stopped else result
        try:
            text = json.dumps(output)
        except (TypeError, ValueError) as error:
            raise _failure(f"the step's output cannot be written as JSON: {error}", False) from None
        return StepOutput(text, Flow.STOP if stopped else Flow.CONTINUE)


sys.modules.setdefault("gust", gust)
