"""Residents' personal data (个人信息, PIPL): the sealed record the community keeps, and how a
resident is shown. Pure: no I/O; the keys come in as a `Keyring`.

- A need's resident record has an id of its own, derived from the need's, so that a retried
  registration finds the same record instead of writing a second one.
- Name, phone and address are each sealed with AES-256-GCM under the keyring's newest key. The
  record id and the field name are authenticated with the value, so a ciphertext copied into
  another record or field does not open. Every sealed value names its key, so keys rotate:
  put a new key first and keep the old ones while records sealed with them remain.
- Anyone who may not see them gets them masked: 张*, 138****5678, 天津市滨海新区****.
"""
import base64
import binascii
import hashlib
import json
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wushe.contract.vocabulary import RESIDENT_FIELDS as FIELDS, SEALED as FORMAT
NONCE_BYTES = 12
KEY_BYTES = 32


def resident_id_for(need_id):
    return "res-" + hashlib.sha256(need_id.encode()).hexdigest()[:16]


# --- sealing --------------------------------------------------------------------------------------
class InvalidKeys(ValueError):
    """WUSHE_PII_KEY cannot be used. The message never repeats the key."""


class Unreadable(Exception):
    """A sealed value that does not open: another key (one generated at an earlier start, one
    retired too soon) or a value tampered with."""

    def __init__(self, field, key_id):
        super().__init__(f"the {field} sealed under key {key_id} does not open with the keys configured")
        self.field, self.key_id = field, key_id


def key_id(key):
    """A short public name for a key (a one-way hash of it), stored with every value it seals."""
    return hashlib.sha256(b"wushe-pii-key-id\n" + key).hexdigest()[:8]


def generate_key():
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


class Keyring:
    """The keys personal data is sealed with: the first seals, every one opens."""

    def __init__(self, keys):
        if not keys:
            raise InvalidKeys("no key given")
        self._ciphers = {key_id(k): AESGCM(k) for k in keys}
        self.current = key_id(keys[0])

    @classmethod
    def parse(cls, text):
        """Keys as WUSHE_PII_KEY gives them: base64 of 32 bytes each, newest first, comma-separated."""
        keys = []
        for n, part in enumerate((p.strip() for p in text.split(",")), 1):
            try:
                key = base64.urlsafe_b64decode(part.replace("+", "-").replace("/", "_") + "=" * (-len(part) % 4))
            except (binascii.Error, ValueError):
                raise InvalidKeys(f"key {n} of WUSHE_PII_KEY is not base64") from None
            if len(key) != KEY_BYTES:
                raise InvalidKeys(f"key {n} of WUSHE_PII_KEY is {len(key)} bytes; it must be {KEY_BYTES} "
                                  "(make one with: python -c 'import base64,os; "
                                  "print(base64.urlsafe_b64encode(os.urandom(32)).decode())')")
            keys.append(key)
        return cls(keys)

    def seal(self, value, context):
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current].encrypt(nonce, value.encode(), context.encode())
        return f"{FORMAT}:{self.current}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, sealed, context, field="value"):
        form, kid, blob = (sealed.split(":", 2) + ["", ""])[:3]
        cipher = self._ciphers.get(kid) if form == FORMAT else None
        if cipher is None:
            raise Unreadable(field, kid or "?")
        try:
            raw = base64.urlsafe_b64decode(blob)
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise Unreadable(field, kid) from None


def _context(resident_id, field):
    return f"{resident_id}/{field}"


def sealed_record(resident_id, need_id, community, resident, keyring, at):
    """The resident record as stored: ids, the need's community and times in the clear (so that
    erasure and scoping need no key), the personal fields only sealed."""
    record = {"_id": resident_id, "need_id": need_id, "community": community, "registered_at": at,
              "erased_at": None}
    for field in FIELDS:
        if resident.get(field):
            record[field] = keyring.seal(resident[field], _context(resident_id, field))
    return record


def opened(record, keyring):
    """The personal fields of a stored record, in the clear (raises Unreadable)."""
    return {field: keyring.open(record[field], _context(record["_id"], field), field)
            for field in FIELDS if record.get(field)}


def shown(record, keyring, reveal):
    """The resident as the API shows it: `id`, the fields given (masked unless `reveal`), `masked`."""
    fields = opened(record, keyring)
    return {"id": record["_id"], **(fields if reveal else masked(fields)), "masked": not reveal}


def forms(record, keyring):
    """What a read model keeps of a resident record: the fields still sealed (they open only
    with the keys, for a caller who may see them) and their masked forms, made once here so that
    a read needs neither the owner nor a mask. Never the plaintext. Raises Unreadable."""
    return {"id": record["_id"], "sealed": {field: record[field] for field in FIELDS if record.get(field)},
            "masked": masked(opened(record, keyring))}


def shown_from_forms(kept, keyring, reveal):
    """The resident as the API shows it (`shown`), from the forms a read model keeps."""
    fields = opened({"_id": kept["id"], **kept["sealed"]}, keyring) if reveal else kept["masked"]
    return {"id": kept["id"], **fields, "masked": not reveal}


# --- masking ------------------------------------------------------------------------------------
def mask_name(name):
    """张三 → 张*, 欧阳娜娜 → 欧***; a one-character name is not shown at all."""
    name = name.strip()
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_phone(phone):
    """13800005678 → 138****5678 (a +86 prefix dropped); shorter numbers keep their last 2 digits."""
    digits = re.sub(r"\D", "", phone)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11 and digits[len(prefix)] == "1":
            digits = digits[len(prefix):]
            break
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    if len(digits) > 2:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "****"


# the district, county, street or township an address starts with; 小区 and 社区 are housing
# estates and communities, not administrative divisions
_DIVISION = re.compile(r"(?<![小社])区|县|街道|镇|乡")
# what a place name never holds, but a house number does
_DWELLING = re.compile(r"[0-9０-９号楼栋幢单元室门弄]")
_LONGEST_DIVISION = 24


def mask_address(address):
    """天津市滨海新区泰达街道星华里3号楼 → 天津市滨海新区****: only the text up to the first
    district, county, street or township marker is kept, and only when it holds no house number."""
    marker = _DIVISION.search(address)
    kept = address[:marker.end()].strip() if marker else ""
    if len(kept) > _LONGEST_DIVISION or _DWELLING.search(kept):
        kept = ""
    return kept + "****"


MASKS = {"name": mask_name, "phone": mask_phone, "address": mask_address}


def masked(resident):
    return {field: MASKS[field](value) for field, value in resident.items() if field in MASKS and value}


def masked_report(body):
    """A parked message's body (text) as operators browse it: a station's `need_reported` with its
    resident masked. Anything else is returned as it is."""
    try:
        envelope = json.loads(body)
        resident = envelope["data"]["resident"]
    except (ValueError, TypeError, KeyError):
        return body
    if not isinstance(resident, dict):
        return body
    shown = {k: MASKS[k](v) if k in MASKS and isinstance(v, str) and v else "****" for k, v in resident.items()}
    return json.dumps({**envelope, "data": {**envelope["data"], "resident": shown}}, ensure_ascii=False)
