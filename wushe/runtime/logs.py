"""JSON-lines logging through structlog, for our code and for nameko's own stdlib loggers.

Flows bind `need_id` and `correlation_id` (`bind`, from wushe.runtime.telemetry) into the context
of the green thread that runs them, so every line a flow produces, in any service, carries them.
Never log a resident's details.
"""
import json
import logging
import sys
from contextvars import ContextVar

import structlog

_configured = False

# What every line of the green thread (a worker) carries: one context variable holding one dict,
# set whole by each bind. structlog's contextvars keep a variable per key and find them again by
# walking the whole context on every line and every clear: a tenth of what a worker's telemetry
# cost, on every delivery.
_CONTEXT = ContextVar("wushe_log_context", default={})


def bind(**values):
    """Add `values` to what every line of this green thread carries."""
    _CONTEXT.set({**_CONTEXT.get(), **values})


def clear():
    _CONTEXT.set({})


def bound():
    """What this green thread's lines carry (`bind`)."""
    return _CONTEXT.get()


def _merge_context(logger, method_name, event_dict):
    for key, value in _CONTEXT.get().items():
        event_dict.setdefault(key, value)
    return event_dict


_TIME = structlog.processors.TimeStamper(fmt="iso", utc=True)
# what every line carries besides its own: for the libraries' records (ProcessorFormatter)…
_SHARED = [
    _merge_context,
    structlog.processors.add_log_level,
    structlog.stdlib.add_logger_name,
    _TIME,
]


def _stamp(logger, method_name, event_dict):
    """…and for ours, the same in one step (`_SHARED`'s four, a line's most frequent calls)."""
    for key, value in _CONTEXT.get().items():
        event_dict.setdefault(key, value)
    event_dict["level"] = _LEVEL_NAMES.get(method_name, method_name)
    event_dict["logger"] = logger.name
    return _TIME(logger, method_name, event_dict)


_LEVEL_NAMES = {"warn": "warning", "exception": "error"}  # structlog's add_log_level


def _fallback(value):
    """A value JSON has no type for: its `__structlog__()`, else its repr (structlog's rule)."""
    shown = getattr(value, "__structlog__", None)
    return shown() if callable(shown) else repr(value)


# one encoder for every line (json.dumps with any option makes a new one each call)
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_fallback)
_RENDER = structlog.processors.JSONRenderer(serializer=lambda event_dict, **_: _ENCODER.encode(event_dict))
RENDERED = "_wushe_line"


_HANDLER = None  # the handler of JSON lines `configure` gives the root logger


def _written(logger, method_name, event_dict):
    """Our lines leave structlog rendered. When the one handler that would hear one is ours, as in
    every service, the line is written to its stream at once, as its `emit` would (a record made,
    filtered and formatted to give back the same text was nearly half of what a line cost);
    otherwise (a test's capture…) the standard library takes it, and its handlers write it as it is."""
    line = _RENDER(logger, method_name, event_dict)
    handler, handlers = _HANDLER, logging.root.handlers
    if (handler is not None and len(handlers) == 1 and handlers[0] is handler and not handler.filters
            and handler.level <= _LEVELS.get(method_name, -1) and _up_to_root(logger)):
        try:
            with handler.lock:
                handler.stream.write(line + handler.terminator)
                handler.stream.flush()
        except Exception:  # noqa: BLE001 — the standard library's handler reports it (handleError)
            return (line,), {"extra": {RENDERED: True}}
        raise structlog.DropEvent
    return (line,), {"extra": {RENDERED: True}}


def _up_to_root(logger):
    """Whether the line goes up to the root's handlers and no other's on the way."""
    while logger.parent is not None:
        if logger.handlers or not logger.propagate:
            return False
        logger = logger.parent
    return True


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "msg": logging.INFO, "warning": logging.WARNING,
           "warn": logging.WARNING, "error": logging.ERROR, "exception": logging.ERROR,
           "critical": logging.CRITICAL, "fatal": logging.CRITICAL}


class JsonLines(structlog.stdlib.ProcessorFormatter):
    """The libraries' records (nameko, kombu…) are rendered here, like ours; ours arrive
    rendered (a record's copy and a second pass through the processors cost more than the
    rendering, on every one of the thousands of lines a second a busy service writes)."""

    def format(self, record):
        if getattr(record, RENDERED, False):
            return record.msg
        return super().format(record)


def json_lines():
    """The formatter of every log line, ours and the libraries': one JSON object a line."""
    return JsonLines(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, _RENDER],
    )


def configure(level="INFO", stream=None, access=True):
    global _configured, _HANDLER
    if _configured:
        return
    _configured = True
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, _stamp, structlog.processors.format_exc_info, _written],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # no line shows the caller's file and line, nor its thread or process, so the logging module
    # need not find them for every record (the logging HOWTO's "Optimization"; a visible share
    # under load: the thread's name is eventlet's green current_thread(), looked up per record)
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = _HANDLER = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_lines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # kombu/amqp chatter is noise at INFO
    for noisy in ("kombu", "amqp", "nameko.messaging"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # the web server's line per request (WUSHE_ACCESS_LOG); its errors are kept either way
    logging.getLogger("nameko.web.server").setLevel(root.level if access else max(logging.WARNING, root.level))
    # wushe.runtime.telemetry logs every failed worker with its traceback; nameko's own line would repeat it
    logging.getLogger("nameko.containers").setLevel(logging.CRITICAL)
