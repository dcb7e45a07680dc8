"""A demo data set drawn from the seeds' world, loaded through the gateway like an integrator would.

Tianjin, Binhai New Area, Taida street (泰达街道): a station run by a social work organisation,
two resident social workers (one certified), community organisations, courier volunteers who
grab errand orders between deliveries (快递员抢单), a community fund (社区基金) fed by a lottery
outlet and residents, and an enterprise's donation of rice and oil. Beichen's Guoyuanxincun
street (果园新村街道) is there too, with its two certified workers.
"""
from datetime import datetime, timedelta, timezone

import requests

TAIDA = "tianjin/binhai/taida"
REGIONS = [
    ("tianjin", "天津市", "city"),
    ("tianjin/binhai", "滨海新区", "district"),
    (TAIDA, "泰达街道", "street"),
    (f"{TAIDA}/xinghua", "星华社区", "community"),
    (f"{TAIDA}/huayuan", "华苑社区", "community"),
    ("tianjin/beichen", "北辰区", "district"),
    ("tianjin/beichen/guoyuanxincun", "果园新村街道", "street"),
    ("tianjin/beichen/guoyuanxincun/chaoyangli", "朝阳里社区", "community"),
]
STATIONS = [
    {"id": "station-taida", "name": "泰达街道社会工作服务站", "street": TAIDA},
    {"id": "station-guoyuan", "name": "果园新村街道社会工作服务站", "street": "tianjin/beichen/guoyuanxincun"},
]
WORKERS = [
    {"id": "worker-liu", "name": "刘社工", "station_id": "station-taida", "certification": "intermediate",
     "specialties": ["elderly_care", "medical_escort"], "max_caseload": 12},
    {"id": "worker-zhao", "name": "赵社工", "station_id": "station-taida", "certification": "none",
     "specialties": ["child_care", "errands"], "supervisor_id": "worker-liu"},
    {"id": "worker-wang", "name": "王社工", "station_id": "station-guoyuan", "certification": "intermediate",
     "specialties": ["home_repair", "psychological_support"]},
    {"id": "worker-xu", "name": "徐芃泽", "station_id": "station-guoyuan", "certification": "assistant",
     "specialties": ["elderly_care", "community_governance"], "supervisor_id": "worker-wang"},
]
ORGANISATIONS = [
    {"id": "org-bianmin", "name": "便民维修队", "community": f"{TAIDA}/xinghua", "categories": ["home_repair"]},
    {"id": "org-zhuqun", "name": "助困陪诊服务队", "community": f"{TAIDA}/xinghua",
     "categories": ["medical_escort", "elderly_care"]},
    {"id": "org-linli", "name": "邻里串门互助会", "community": "tianjin/beichen/guoyuanxincun/chaoyangli",
     "categories": ["elderly_care"]},
]
VOLUNTEERS = [
    {"id": "vol-courier-1", "name": "快递小哥 李师傅", "community": f"{TAIDA}/xinghua", "skills": ["errands", "delivery"]},
    {"id": "vol-courier-2", "name": "快递小哥 张师傅", "community": f"{TAIDA}/huayuan", "skills": ["errands", "delivery"]},
    {"id": "vol-courier-3", "name": "外卖骑手 陈师傅", "community": f"{TAIDA}/huayuan", "skills": ["errands"]},
    {"id": "vol-tailor", "name": "针情裁缝 周阿姨", "community": f"{TAIDA}/xinghua", "skills": ["tailoring"]},
    {"id": "vol-escort", "name": "助困陪诊 吴大姐", "community": f"{TAIDA}/xinghua", "skills": ["escort", "errands"]},
]
TEAMS = [  # the seeds' volunteer teams
    ({"id": "team-zhenqing", "name": "针情裁缝", "community": f"{TAIDA}/xinghua", "skills": ["tailoring"]},
     ["vol-tailor"]),
    ({"id": "team-zhukun", "name": "助困陪诊", "community": TAIDA, "skills": ["escort"]}, ["vol-escort"]),
]
DONORS = [
    {"id": "donor-fund-taida", "name": "泰达街道社区基金", "kind": "community_fund", "region": TAIDA},
    {"id": "donor-grain", "name": "滨海粮油有限公司", "kind": "enterprise", "region": "tianjin/binhai"},
]
DONATIONS = [
    {"donor_id": "donor-grain", "region": "tianjin/binhai", "lines": [
        {"item": "rice", "quantity": 500, "unit": "kg", "value_cents": 300000},
        {"item": "oil", "quantity": 200, "unit": "L", "value_cents": 260000}]},
]
CONTRIBUTIONS = [  # the street's community fund: 1.357 万元 from a lottery outlet and residents
    ("donor-fund-taida", {"id": "contribution-demo-lottery", "contributor_kind": "lottery_outlet",
                          "funds_cents": 1000000}),
    ("donor-fund-taida", {"id": "contribution-demo-residents", "contributor_kind": "resident",
                          "funds_cents": 357000}),
]
NEEDS = [  # one errand for an elderly man living alone; a family short of food
    {"id": "need-demo-errand", "community": f"{TAIDA}/xinghua", "category": "errands", "urgency": "high",
     "description": "独居老人需要代购药品和日用品", "resident": {"name": "王大爷", "phone": "13800005678"},
     "requirements": {"worker": True, "volunteers": {"count": 2, "skills": ["errands"], "hours": 1.5},
                      "resources": [{"item": "rice", "quantity": 5, "unit": "kg"}]}},
    {"id": "need-demo-food", "community": f"{TAIDA}/huayuan", "category": "hardship_relief", "urgency": "critical",
     "description": "封控期间家中缺粮", "requirements": {
         "worker": True, "resources": [{"item": "rice", "quantity": 10, "unit": "kg"},
                                       {"item": "oil", "quantity": 5, "unit": "L"}]}},
]



def escort_need():
    """A hospital escort tomorrow morning, offered to the 助困陪诊 team first."""
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    return {"id": "need-demo-escort", "community": f"{TAIDA}/xinghua", "category": "medical_escort",
            "urgency": "normal", "description": "独居老人明早需陪同去医院复诊",
            "requirements": {"worker": False, "volunteers": {
                "count": 1, "skills": ["escort"], "hours": 3, "team_id": "team-zhukun",
                "starts_at": tomorrow.isoformat(), "ends_at": (tomorrow + timedelta(hours=3)).isoformat()}}}


def load(base_url, admin_key):
    """Load the demo through the API; safe to run twice (ids are fixed, conflicts are skipped)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {admin_key}"

    def post(path, body, key=None):
        headers = {"Idempotency-Key": key} if key else {}
        answer = session.post(f"{base_url}/api/v1{path}", json=body, headers=headers, timeout=30)
        if answer.status_code not in (200, 201, 202, 409):
            raise RuntimeError(f"demo: POST {path} answered {answer.status_code}: {answer.text}")
        return answer

    for path, name, level in REGIONS:
        post("/regions", {"path": path, "name": name, "level": level})
    for station in STATIONS:
        post("/stations", station)
    for worker in WORKERS:
        post("/workers", worker)
    for org in ORGANISATIONS:
        post("/organisations", org)
    for volunteer in VOLUNTEERS:
        post("/volunteers", volunteer)
    for team, members in TEAMS:
        post("/teams", team)
        for volunteer_id in members:
            post(f"/teams/{team['id']}/members", {"volunteer_id": volunteer_id})
    for donor in DONORS:
        post("/donors", donor)
    for i, donation in enumerate(DONATIONS):
        post("/donations", donation, key=f"demo-donation-{i}")
    for fund_id, contribution in CONTRIBUTIONS:
        post(f"/funds/{fund_id}/contributions", contribution)
    for need in NEEDS + [escort_need()]:
        post("/needs", need)
    return {"regions": len(REGIONS), "stations": len(STATIONS), "workers": len(WORKERS),
            "organisations": len(ORGANISATIONS), "volunteers": len(VOLUNTEERS), "teams": len(TEAMS), "needs": len(NEEDS) + 1}
