"""Errors a service raises to a caller; they cross RPC as themselves (nameko's
`deserialize_to_instance`), and the gateway maps each type to an HTTP status in one table.

Rules refuse with `wushe.contract.decisions.Refused`, which knows nothing of RPC; `from_refusal` turns it
(and a compare-and-set's `Contention`) into the error its caller gets, at the edges: the RPC
entrypoint (`wushe.runtime.rpc`) and the event entrypoint (`wushe.runtime.subscribe`)."""
from nameko.exceptions import deserialize_to_instance

from wushe.runtime.cas import Contention
from wushe.contract.decisions import Refused


class WusheError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail, errors=None):
        # nameko serialises args; a None would come back as the string "None"
        super().__init__(*((detail,) if errors is None else (detail, errors)))
        self.detail = detail
        self.errors = errors


@deserialize_to_instance
class InvalidInput(WusheError):
    """The request's fields are wrong; `errors` is keyed by field."""
    status, title = 422, "Invalid input"


@deserialize_to_instance
class NotFound(WusheError):
    status, title = 404, "Not found"


@deserialize_to_instance
class Conflict(WusheError):
    """The request is well-formed but the record's state forbids it (full call, wrong status)."""
    status, title = 409, "Conflict"


class Forbidden(WusheError):
    """The caller's role may not do this (raised by the gateway only; never crosses RPC)."""
    status, title = 403, "Forbidden"


def from_refusal(exc):
    """The error a caller gets for a rule's refusal or a lost race; None for anything else."""
    if isinstance(exc, Refused):
        if exc.kind == Refused.MISSING:
            return NotFound(exc.reason)
        if exc.kind == Refused.INVALID:
            return InvalidInput(exc.reason, exc.fields)
        return Conflict(exc.reason)
    if isinstance(exc, Contention):
        return Conflict(str(exc))
    return None


def loaded(schema_cls, payload):
    """`schema_cls().load(payload)`, with marshmallow's errors turned into InvalidInput. One
    instance per class (wushe.contract.fields.instance), read plainly when the payload is plainly
    valid (wushe.contract.plain_load)."""
    from marshmallow import ValidationError

    from wushe.contract import plain_load
    from wushe.contract.fields import instance
    try:
        return plain_load.load(instance(schema_cls), payload)
    except ValidationError as exc:
        raise InvalidInput("the request has invalid fields", exc.messages) from None
