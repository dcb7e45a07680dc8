"""The domain's closed vocabularies, shared by the event catalog and every service's schemas."""

CATEGORIES = (
    "elderly_care",          # 养老/为老
    "child_care",            # 儿童关爱
    "disability",            # 助残
    "hardship_relief",       # 社会救助
    "medical_escort",        # 助医/陪诊
    "education",             # 助学
    "errands",               # 跑腿采买
    "home_repair",           # 便民维修
    "psychological_support", # 心理疏导
    "disaster_relief",       # 赈灾
    "community_governance",  # 社区治理
)
URGENCIES = ("critical", "high", "normal", "low")  # 轻重缓急
CERTIFICATIONS = ("none", "assistant", "intermediate", "senior")  # 助理/中级/高级社工师
DONOR_KINDS = ("enterprise", "foundation", "individual", "community_fund")
ORG_STAGES = ("incubating", "active")
RESIDENT_FIELDS = ("name", "phone", "address")  # a resident's personal data, kept sealed
SEALED = "pii1"  # a sealed value reads pii1:<key id>:<base64url of nonce, ciphertext and tag>
FUNDS = "funds"        # the item name of a money line; its unit is CENTS
CENTS = "cents"

CATEGORY_LABELS = {  # how stations name them
    "elderly_care": "为老服务", "child_care": "儿童关爱", "disability": "助残服务",
    "hardship_relief": "困难救助", "medical_escort": "助医陪诊", "education": "助学",
    "errands": "跑腿采买", "home_repair": "便民维修", "psychological_support": "心理疏导",
    "disaster_relief": "应急救灾", "community_governance": "社区治理",
}
