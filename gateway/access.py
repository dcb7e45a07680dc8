"""Who is calling and what they may do: the caller an API key stands for (role and region), the
role groups routes declare (the route × role table is the routes' own `roles`: gateway.routes
and gateway.service), and the region scope of every route — enforced by `gateway.web.route`, in
this one place (a record's owner checks it where the route says so: `OWNER`).

Object level: a key sees and changes only records whose region is its region or under it;
anything else answers exactly as a record that does not exist (404, or for a region named in a
body 422), so that ids cannot be probed. A route's `Scope` says who checks: the gateway, on the
answer, the body or a record named in the body (asked of its owner first); or the service the
route calls, which owns the record and is given the key's region (`OWNER`).
Function level: a role not allowed a route gets 403.
The bootstrap admin key (`WUSHE_ADMIN_KEY`) sees everything.
"""
from dataclasses import dataclass

from wushe.runtime.errors import Forbidden, InvalidInput, NotFound
from wushe.contract.regions import holds, within

ROLES = ("admin", "city", "district", "station", "integrator")
CALLER = "wushe.caller"

ADMIN = frozenset({"admin"})
SUPERVISORS = frozenset({"admin", "city", "district"})                 # guidance centres (指导中心)
OFFICIALS = SUPERVISORS | {"station"}                                  # and social work stations
EVERYONE = OFFICIALS | {"integrator"}                                  # and station software, apps

@dataclass(frozen=True)
class Caller:
    key_id: str
    role: str
    region: str                   # "" — everywhere
    rate_per_minute: int | None = None

    def sees(self, path):
        """The record at `path` (a region path) is the caller's to see and change."""
        return holds(self.region, path)

    def reveals_personal_data(self, community):
        """A resident's name, phone and address are shown unmasked only to keys of a station (or
        a district, city, admin) whose region holds the need's community; integrators never."""
        return self.role != "integrator" and self.sees(community)

    def narrow(self, region):
        """The region a list or a figure may cover when `region` is asked for: itself when it is
        the caller's; the caller's own region when a wider one is asked; None when it is not the
        caller's at all."""
        if not region:
            return self.region or None
        if self.sees(region):
            return region
        if within(self.region, region):
            return self.region
        return False


BOOTSTRAP = Caller("bootstrap", "admin", "")


def caller_of(request):
    return request.environ[CALLER]


def narrowed(request, args, field):
    """A list's query narrowed to the caller's region (`args[field]` is a region filter); None
    when it asks for a region that is not the caller's (the list is then empty)."""
    region = caller_of(request).narrow(args.get(field))
    if region is False:
        return None
    if region:
        args[field] = region
    return args


def permit(caller, route):
    """The route × role table, as each route declares its roles (gateway.web.route)."""
    if caller.role not in route.roles:
        raise Forbidden(f"a {caller.role} key may not do this")
    if route.platform_wide and caller.region:
        raise Forbidden("only an admin key bound to no region may do this")


# --- scopes: where a route's record lives --------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """How a route finds the region of the records it touches.

    `before`: checks run before the handler (changes, and reads whose answer names no region),
    each `check(caller, gateway, body, params)` raising as if the record did not exist;
    `answer`: the field of the answer holding the region, checked after (plain reads);
    `body`: a body field holding a region (creations);
    `owner`: the service the route forwards to owns the records the call names and checks them
    itself — the forwarder passes the caller's region (`within=`, "" for everywhere) and the
    service refuses a record outside it as one that does not exist (`decisions.existing`)."""
    before: tuple = ()
    answer: str | None = None
    body: str | None = None
    owner: bool = False

    def __add__(self, other):
        return Scope(self.before + other.before, self.answer or other.answer, self.body or other.body,
                     self.owner or other.owner)


# the owner checks: no round trip to ask where the record lives before the command itself
OWNER = Scope(owner=True)


def named(body_field, what, service, method, field="community"):
    """A record named in the body (a volunteer, a donor, a station): one that does not exist and
    one outside the key's region answer the same 422 on that field."""
    def check(caller, gateway, body, params):
        record_id = body.get(body_field) if isinstance(body, dict) else None
        if not isinstance(record_id, str):
            return  # absent or malformed: the handler's validation answers
        try:
            region = gateway.call(service, method, record_id)[field]
        except NotFound:
            region = None
        if region is None or not caller.sees(region):
            raise InvalidInput(f"unknown {what}", {body_field: [f"no {what} {record_id}"]})
    return Scope(before=(check,))


def check_before(scope, caller, gateway, body, params):
    for check in scope.before:
        check(caller, gateway, body, params)
    if scope.body and isinstance(body, dict) and isinstance(body.get(scope.body), str):
        if not caller.sees(body[scope.body]):
            raise InvalidInput("the region is outside this key's region",
                               {scope.body: [f"{body[scope.body]} is not in this key's region"]})


def check_answer(scope, caller, answer, params):
    if scope.answer and isinstance(answer, dict) and not caller.sees(answer.get(scope.answer)):
        name, value = next(iter(params.items()), ("record", ""))
        raise NotFound(f"no {name.removesuffix('_id')} {value}")
