"""A small Taida street set up through the API, as an integrator would."""
STREET = "tianjin/binhai/taida"
XINGHUA = f"{STREET}/xinghua"
HUAYUAN = f"{STREET}/huayuan"


def seed(api, rice_kg=100, couriers=3, workers=(("worker-liu", "intermediate", 12), ("worker-zhao", "none", 12))):
    for path, name, level in [("tianjin", "天津市", "city"), ("tianjin/binhai", "滨海新区", "district"),
                              (STREET, "泰达街道", "street"), (XINGHUA, "星华社区", "community"),
                              (HUAYUAN, "华苑社区", "community")]:
        ok(api.post("/regions", {"path": path, "name": name, "level": level}), 201)
    ok(api.post("/stations", {"id": "station-taida", "name": "泰达街道社会工作服务站", "street": STREET}), 201)
    for worker_id, certification, caseload in workers:
        ok(api.post("/workers", {"id": worker_id, "name": "社工" + worker_id[-3:], "station_id": "station-taida",
                                 "certification": certification, "specialties": ["elderly_care"],
                                 "max_caseload": caseload}), 201)
    for i in range(couriers):
        ok(api.post("/volunteers", {"id": f"vol-{i}", "name": f"快递员{i}", "community": XINGHUA,
                                    "skills": ["errands"]}), 201)
    ok(api.post("/donors", {"id": "donor-grain", "name": "滨海粮油有限公司", "kind": "enterprise",
                            "region": "tianjin/binhai"}), 201)
    donation = ok(api.post("/donations", {"donor_id": "donor-grain", "region": STREET, "lines": [
        {"item": "rice", "quantity": rice_kg, "unit": "kg", "value_cents": rice_kg * 600}]}), 201)
    return donation["lots"][0]["id"]


def need(community=XINGHUA, category="errands", urgency="high", volunteers=2, rice=5, worker=True,
         organisation=True, **extra):
    requirements = {"worker": worker, "organisation": organisation}
    if volunteers:
        requirements["volunteers"] = {"count": volunteers, "skills": ["errands"], "hours": 1.5}
    if rice:
        requirements["resources"] = [{"item": "rice", "quantity": rice, "unit": "kg"}]
    return {"community": community, "category": category, "urgency": urgency,
            "description": "独居老人需要代购米面", "requirements": requirements, **extra}


def ok(response, status):
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()
