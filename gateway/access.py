"""Who is calling and what they may see: the caller an API key stands for (role and region).

Every `/api/v1` route runs `authorise` first; handlers ask `caller_of(request)` what the caller
may see. A key sees records whose region is its region or under it; the bootstrap admin key
(`WUSHE_ADMIN_KEY`) sees everything.
"""
from dataclasses import dataclass

from wushe.regions import within

ROLES = ("admin", "city", "district", "station", "integrator")
CALLER = "wushe.caller"


@dataclass(frozen=True)
class Caller:
    key_id: str
    role: str
    region: str  # "" — everywhere

    def sees(self, path):
        """The record at `path` (a region path) is the caller's to see and change."""
        return not self.region or (bool(path) and within(path, self.region))

    def reveals_personal_data(self, community):
        """A resident's name, phone and address are shown unmasked only to keys of a station (or
        a district, city, admin) whose region holds the need's community; integrators never."""
        return self.role != "integrator" and self.sees(community)


BOOTSTRAP = Caller("bootstrap", "admin", "")


def caller_of(request):
    return request.environ[CALLER]
