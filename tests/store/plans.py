"""The queries a running platform sends its store, recorded from pymongo's command monitoring,
reduced to their shapes (values replaced by their types), and planned by the server's own
`explain` — as a MongoDB would plan them."""
import threading

from pymongo import monitoring

# commands that find documents, and where their filter is
FILTERS = {
    "find": lambda c: [(c.get("filter") or {}, c.get("sort"))],
    "findAndModify": lambda c: [(c.get("query") or {}, c.get("sort"))],
    "update": lambda c: [(u.get("q") or {}, None) for u in c.get("updates", [])],
    "delete": lambda c: [(d.get("q") or {}, None) for d in c.get("deletes", [])],
    "count": lambda c: [(c.get("query") or {}, None)],
    "distinct": lambda c: [(c.get("query") or {}, None)],
    "aggregate": lambda c: [(_first_match(c.get("pipeline", [])), None)],
}


def _first_match(pipeline):
    return pipeline[0]["$match"] if pipeline and "$match" in pipeline[0] else {}


def shape(value):
    """The filter with every value replaced by its type: one entry per kind of query."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        kinds = []
        for item in map(shape, value):
            if item not in kinds:
                kinds.append(item)
        return kinds
    return type(value).__name__


def key(value):
    return repr(shape(value))


class Recorder(monitoring.CommandListener):
    """Every query sent to databases whose names start with `prefix`: the first of each shape,
    by (database, collection, command, filter shape, sort)."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.on = True
        self.seen = {}
        self._lock = threading.Lock()

    def started(self, event):
        if not self.on or not event.database_name.startswith(self.prefix):
            return
        extract = FILTERS.get(event.command_name)
        if extract is None:
            return
        collection = event.command[event.command_name]
        for filter_, sort in extract(event.command):
            if "$query" in filter_:  # a legacy wrapper: never sent by pymongo 4
                filter_ = filter_["$query"]
            found = (event.database_name[len(self.prefix):], collection, event.command_name, key(filter_), key(sort))
            with self._lock:
                self.seen.setdefault(found, (filter_, sort))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def plan(db, collection, filter_, sort=None):
    """The server's winning plan for finding these documents (the same plan an update,
    findAndModify or delete with this filter uses)."""
    command = {"find": collection, "filter": filter_}
    if sort:
        command["sort"] = sort
    return db.command("explain", command, verbosity="queryPlanner")["queryPlanner"]["winningPlan"]


def stages(plan_):
    """Every stage of a plan, its inputs included."""
    out = [plan_]
    for child in [plan_.get("inputStage")] + list(plan_.get("inputStages") or []):
        if child:
            out += stages(child)
    return out


def scans(plan_):
    """COLLSCAN: the server reads the whole collection to find the documents."""
    return [s for s in stages(plan_) if s.get("stage") == "COLLSCAN"]


def indexes_used(plan_):
    return sorted({s["indexName"] for s in stages(plan_) if s.get("stage") == "IXSCAN"})
