"""The bench's world: four Tianjin streets, and needs in the mix a station's hotline sees.

Each street has its station and three certified workers; each community its organisations and
twenty volunteers; each district an enterprise's grain and oil. Caseload caps and stock are
set so that the rules never refuse a need during a run: the bench measures linkage, not
shortage (the suite tests the refusals).
"""
import random

CITY = "tianjin"
STREETS = {  # street path → (name, its two communities)
    "tianjin/binhai/taida": ("泰达街道", {"xinghua": "星华社区", "huayuan": "华苑社区"}),
    "tianjin/binhai/xingang": ("新港街道", {"gangkou": "港口社区", "xinxing": "新兴社区"}),
    "tianjin/beichen/guoyuanxincun": ("果园新村街道", {"chaoyangli": "朝阳里社区", "guoyuan": "果园社区"}),
    "tianjin/beichen/jixianli": ("集贤里街道", {"jixian": "集贤社区", "lianhua": "莲花社区"}),
}
DISTRICTS = {"tianjin/binhai": "滨海新区", "tianjin/beichen": "北辰区"}
SKILLS = ["errands", "delivery", "escort", "tutoring"]
VOLUNTEERS_PER_COMMUNITY = 20
ITEMS = [("rice", "kg", 600), ("oil", "L", 1300)]  # item, unit, value in cents per unit

# the rules' limits, lifted for the run (env of the platform's processes)
ENV = {"WUSHE_CASELOAD_CAP_INTERMEDIATE": "1000000", "WUSHE_DEFAULT_PROJECT_CAPACITY": "1000000",
       "WUSHE_RATE_LIMIT_PER_MINUTE": "100000000"}

# (weight, category, urgency, description, requirements): the seeds' everyday needs
MIX = [
    (35, "errands", "high", "独居老人需要代购药品和日用品",
     {"worker": True, "volunteers": {"count": 1, "skills": ["errands"], "hours": 1.5}}),
    (25, "hardship_relief", "critical", "封控期间家中缺粮",
     {"worker": True, "volunteers": {"count": 1, "skills": ["delivery"], "hours": 1},
      "resources": [{"item": "rice", "quantity": 5, "unit": "kg"}, {"item": "oil", "quantity": 1, "unit": "L"}]}),
    (15, "child_care", "normal", "双职工家庭孩子放学后无人看护",
     {"worker": True, "volunteers": {"count": 2, "skills": ["tutoring"], "hours": 2}}),
    (15, "elderly_care", "normal", "空巢老人需要定期探访",
     {"worker": True}),
    (10, "medical_escort", "high", "独居老人需陪同去医院复诊",
     {"worker": True, "volunteers": {"count": 1, "skills": ["escort"], "hours": 3}}),
]


def communities():
    return [f"{street}/{slug}" for street, (_, members) in STREETS.items() for slug in members]


def seed_requests():
    """(path, body) in the order the gateway needs them."""
    out = [("/regions", {"path": CITY, "name": "天津市", "level": "city"})]
    out += [("/regions", {"path": path, "name": name, "level": "district"}) for path, name in DISTRICTS.items()]
    for street, (name, members) in STREETS.items():
        out.append(("/regions", {"path": street, "name": name, "level": "street"}))
        out += [("/regions", {"path": f"{street}/{slug}", "name": label, "level": "community"})
                for slug, label in members.items()]
    for s, (street, (name, members)) in enumerate(STREETS.items()):
        station = f"station-bench-{s}"
        out.append(("/stations", {"id": station, "name": f"{name}社会工作服务站", "street": street}))
        out += [("/workers", {"id": f"worker-bench-{s}-{w}", "name": f"社工{s}-{w}", "station_id": station,
                              "certification": "intermediate", "specialties": [category]})
                for w, category in enumerate(("elderly_care", "child_care", "hardship_relief"))]
    for c, community in enumerate(communities()):
        out.append(("/organisations", {"id": f"org-bench-{c}", "name": f"邻里互助会{c}", "community": community,
                                       "categories": [m[1] for m in MIX]}))
        out += [("/volunteers", {"id": f"vol-bench-{c}-{v}", "name": f"志愿者{c}-{v}", "community": community,
                                 "skills": SKILLS}) for v in range(VOLUNTEERS_PER_COMMUNITY)]
    for d, district in enumerate(DISTRICTS):
        out.append(("/donors", {"id": f"donor-bench-{d}", "name": f"粮油企业{d}", "kind": "enterprise",
                                "region": district}))
        out.append(("/donations", {"donor_id": f"donor-bench-{d}", "region": district, "lines": [
            {"item": item, "quantity": 10_000_000, "unit": unit, "value_cents": 10_000_000 * cents}
            for item, unit, cents in ITEMS]}))
    return out


class Needs:
    """Needs drawn from MIX, reproducibly (a seeded random source)."""

    def __init__(self, seed=8, prefix="need-bench"):
        self.random = random.Random(seed)
        self.prefix = prefix
        self.count = 0
        self.places = communities()
        self.weights = [m[0] for m in MIX]

    def next(self):
        _, category, urgency, description, requirements = self.random.choices(MIX, self.weights)[0]
        self.count += 1
        return {"id": f"{self.prefix}-{self.count}", "community": self.random.choice(self.places),
                "category": category, "urgency": urgency, "description": description,
                "requirements": requirements}
