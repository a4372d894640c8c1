"""Gust's API for Python steps: what `ctx` holds, and the errors a step raises.

A step is a Python file defining ``run(input, ctx)``; ``ctx.salesforce``,
``ctx.log`` and ``ctx.state`` reach the host, and ``from gust import
StepError, SalesforceError, stop`` gives the rest.
"""

import json

from componentize_py_types import Err
from wit_world.imports import log as log_host
from wit_world.imports import salesforce as salesforce_host
from wit_world.imports import state as state_host
from wit_world.imports.types import WriteOperation, WriteOptions


class StepError(Exception):
    """A failure of the step; ``retryable=False`` when running it again cannot help."""

    def __init__(self, message, retryable=True):
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class SalesforceError(Exception):
    """An error answered by Salesforce, or by Gust on its behalf (``GUST_*`` codes)."""

    def __init__(self, error):
        super().__init__(f"{error.error_code}: {error.message}")
        self.status = error.status
        self.error_code = error.error_code
        self.message = error.message
        self.fields = list(error.fields)
        self.retryable = error.retryable


class Stop:
    """The value of ``stop(output)``: the step's output, and the run ends."""

    def __init__(self, output):
        self.output = output


def stop(output=None):
    """Ends the run successfully after this step, with ``output`` as its output."""
    return Stop(output)


def _call(action, *args):
    try:
        return action(*args)
    except Err as error:
        raise SalesforceError(error.value) from None


_OPERATIONS = {
    "insert": WriteOperation.INSERT,
    "update": WriteOperation.UPDATE,
    "upsert": WriteOperation.UPSERT,
    "delete": WriteOperation.DELETE,
}


class Salesforce:
    """Salesforce actions on the workflow's connection, checked against the step's permissions."""

    def query(self, soql, params=None):
        return json.loads(_call(salesforce_host.query, self._bound(soql, params)))

    def query_all(self, soql, params=None):
        return json.loads(_call(salesforce_host.query_all, self._bound(soql, params)))

    def bind(self, soql, params):
        return _call(salesforce_host.bind, soql, json.dumps(params))

    def _bound(self, soql, params):
        return soql if params is None else self.bind(soql, params)

    def get(self, sobject, id, fields=()):
        return json.loads(_call(salesforce_host.get, sobject, id, list(fields)))

    def create(self, sobject, record):
        return _call(salesforce_host.create, sobject, json.dumps(record))

    def update(self, sobject, id, record):
        _call(salesforce_host.update, sobject, id, json.dumps(record))

    def upsert(self, sobject, external_id_field, external_id, record):
        upserted = _call(
            salesforce_host.upsert, sobject, external_id_field, str(external_id), json.dumps(record)
        )
        return {"id": upserted.id, "created": upserted.created}

    def delete(self, sobject, id):
        _call(salesforce_host.delete, sobject, id)

    def write_many(self, operation, sobject, records, external_id_field=None, all_or_none=False):
        if operation not in _OPERATIONS:
            raise StepError(
                f"write_many: unknown operation {operation!r}; use one of {', '.join(_OPERATIONS)}",
                retryable=False,
            )
        options = WriteOptions(external_id_field, all_or_none)
        text = _call(salesforce_host.write_many, _OPERATIONS[operation], sobject, json.dumps(records), options)
        return json.loads(text)

    def publish(self, event, events):
        return json.loads(_call(salesforce_host.publish, event, json.dumps(events)))

    def describe(self, sobject):
        return json.loads(_call(salesforce_host.describe, sobject))

    def request(self, method, path, body=None):
        text = _call(salesforce_host.request, method, path, None if body is None else json.dumps(body))
        return None if text == "" else json.loads(text)


def _text(parts):
    return " ".join(part if isinstance(part, str) else json.dumps(part) for part in parts)


class Log:
    """Log lines kept with the step's run."""

    def trace(self, *parts):
        log_host.log(log_host.Level.TRACE, _text(parts))

    def debug(self, *parts):
        log_host.log(log_host.Level.DEBUG, _text(parts))

    def info(self, *parts):
        log_host.log(log_host.Level.INFO, _text(parts))

    def warn(self, *parts):
        log_host.log(log_host.Level.WARN, _text(parts))

    def error(self, *parts):
        log_host.log(log_host.Level.ERROR, _text(parts))


class State:
    """Small JSON values kept across runs, scoped to the workflow and the step."""

    def get(self, key, default=None):
        value = state_host.get(key)
        return default if value is None else json.loads(value)

    def set(self, key, value):
        try:
            state_host.set(key, json.dumps(value))
        except Err as error:
            raise StepError(str(error.value), retryable=False) from None

    def delete(self, key):
        state_host.delete(key)


class Context:
    """The second argument of ``run``: Gust's API."""

    def __init__(self):
        self.salesforce = Salesforce()
        self.log = Log()
        self.state = State()

    @staticmethod
    def stop(output=None):
        return stop(output)
