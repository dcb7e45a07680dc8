"""wushe.contract.residents: masking, the sealed resident record, keys and their rotation."""
import json

import pytest

from wushe.contract import residents
from wushe.contract.residents import InvalidKeys, Keyring, Unreadable

KEY = residents.generate_key()
RESIDENT = {"name": "欧阳娜娜", "phone": "13912345678", "address": "天津市滨海新区泰达街道星华里3号楼2单元"}


@pytest.mark.parametrize("name, shown", [
    ("张三", "张*"), ("欧阳娜娜", "欧***"), ("王秀英", "王**"), (" 李四 ", "李*"),
    ("John Smith", "J*********"), ("Li", "L*"), ("张", "*"), ("A", "*"),
])
def test_a_name_keeps_its_first_character(name, shown):
    assert residents.mask_name(name) == shown


@pytest.mark.parametrize("phone, shown", [
    ("13800005678", "138****5678"), ("139-1234-5678", "139****5678"), ("+86 139 1234 5678", "139****5678"),
    ("008613912345678", "139****5678"), ("022-23456789", "022****6789"), ("+44 20 7946 0958", "442*****0958"),
    ("2345678", "*****78"), ("12345", "***45"), ("1 2", "****"),
])
def test_a_phone_keeps_three_and_four_digits_or_only_the_last_two(phone, shown):
    assert residents.mask_phone(phone) == shown


@pytest.mark.parametrize("address, shown", [
    ("天津市滨海新区泰达街道星华里3号楼2单元", "天津市滨海新区****"),
    ("泰达街道星华里3号楼2单元", "泰达街道****"),
    ("江苏省太仓市城厢镇太平北路12号", "江苏省太仓市城厢镇****"),
    ("甘肃省张掖市临泽县沙河镇", "甘肃省张掖市临泽县****"),
    ("平川乡五里墩村", "平川乡****"),
    ("星华里3号楼2门501", "****"),
    ("华苑小区3号楼", "****"),               # a housing estate is not a district
    ("星华社区居委会旁", "****"),              # nor is a community
    ("星华里3号楼(泰达街道)", "****"),          # a marker after the house number keeps nothing
    ("Flat 3, 12 Xinghua Lane", "****"),
])
def test_an_address_keeps_only_its_district_county_street_or_township(address, shown):
    assert residents.mask_address(address) == shown


def test_masked_leaves_out_fields_not_given():
    assert residents.masked({"name": "张三"}) == {"name": "张*"}


def test_a_resident_id_derives_from_the_need_id():
    assert residents.resident_id_for("need-1") == residents.resident_id_for("need-1")
    assert residents.resident_id_for("need-1") != residents.resident_id_for("need-2")
    assert residents.resident_id_for("need-1").startswith("res-")


def sealed(keyring=None, resident=RESIDENT):
    return residents.sealed_record("res-1", "need-1", "tianjin/binhai/taida/xinghua", resident,
                                   keyring or Keyring.parse(KEY), "2026-11-23T08:00:00.000000Z")


def test_the_stored_record_holds_ciphertext_only():
    record = sealed()
    text = json.dumps(record, ensure_ascii=False)
    for value in [*RESIDENT.values(), "星华里", "12345678"]:
        assert value not in text
    assert json.dumps(RESIDENT["name"])[1:-1] not in text
    assert {k: record[k] for k in ("_id", "need_id", "community", "erased_at")} == {
        "_id": "res-1", "need_id": "need-1", "community": "tianjin/binhai/taida/xinghua", "erased_at": None}
    assert all(record[f].startswith(f"pii1:{Keyring.parse(KEY).current}:") for f in residents.FIELDS)


def test_sealing_twice_gives_two_ciphertexts_that_open_alike():
    keyring = Keyring.parse(KEY)
    first, second = sealed(keyring), sealed(keyring)
    assert first["name"] != second["name"]
    assert residents.opened(first, keyring) == residents.opened(second, keyring) == RESIDENT


def test_fields_not_given_are_not_stored():
    record = sealed(resident={"phone": "13912345678"})
    assert "name" not in record and "address" not in record
    assert residents.opened(record, Keyring.parse(KEY)) == {"phone": "13912345678"}


def test_shown_unmasked_or_masked():
    keyring = Keyring.parse(KEY)
    assert residents.shown(sealed(keyring), keyring, reveal=True) == {"id": "res-1", **RESIDENT, "masked": False}
    assert residents.shown(sealed(keyring), keyring, reveal=False) == {
        "id": "res-1", "name": "欧***", "phone": "139****5678", "address": "天津市滨海新区****", "masked": True}


def test_a_read_model_keeps_sealed_fields_and_masked_forms_and_shows_them_as_the_owner_does():
    keyring = Keyring.parse(KEY)
    record = sealed(keyring)
    kept = residents.forms(record, keyring)
    text = json.dumps(kept, ensure_ascii=False)
    for value in RESIDENT.values():
        assert value not in text
    assert kept["sealed"] == {f: record[f] for f in residents.FIELDS}
    for reveal in (True, False):
        assert residents.shown_from_forms(kept, keyring, reveal) == residents.shown(record, keyring, reveal)
    with pytest.raises(Unreadable):  # another gateway's keys: not opened, not guessed
        residents.shown_from_forms(kept, Keyring.parse(residents.generate_key()), reveal=True)


def test_a_rotated_keyring_seals_with_the_new_key_and_still_opens_the_old():
    old = Keyring.parse(KEY)
    record = sealed(old)
    rotated = Keyring.parse(f"{residents.generate_key()}, {KEY}")
    assert rotated.current != old.current
    assert residents.opened(record, rotated) == RESIDENT
    assert sealed(rotated)["name"].split(":")[1] == rotated.current


def test_another_key_or_another_record_does_not_open_a_value():
    record = sealed()
    with pytest.raises(Unreadable) as raised:
        residents.opened(record, Keyring.parse(residents.generate_key()))
    assert raised.value.field == "name"
    moved = {**record, "_id": "res-2"}  # a ciphertext copied into another record
    with pytest.raises(Unreadable):
        residents.opened(moved, Keyring.parse(KEY))
    swapped = {**record, "name": record["phone"]}  # or into another field
    with pytest.raises(Unreadable):
        residents.opened(swapped, Keyring.parse(KEY))
    with pytest.raises(Unreadable):
        residents.opened({**record, "name": "not sealed"}, Keyring.parse(KEY))


@pytest.mark.parametrize("text", ["", "short", "c2hvcnQ=", "!!!not base64!!!" * 3, KEY + ",nope"])
def test_unusable_keys_are_refused_without_repeating_them(text):
    with pytest.raises(InvalidKeys) as raised:
        Keyring.parse(text)
    for part in filter(None, text.split(",")):
        assert part not in str(raised.value)


def test_keys_in_standard_base64_are_accepted():
    import base64
    raw = bytes(range(250, 256)) + bytes(26)  # bytes whose encodings differ in +/ and -_
    standard = base64.b64encode(raw).decode()
    assert "+" in standard or "/" in standard
    assert Keyring.parse(standard).current == Keyring.parse(base64.urlsafe_b64encode(raw).decode()).current


def test_a_parked_report_shows_its_resident_masked_and_anything_else_as_it_is():
    envelope = {"id": "e-1", "type": "need_reported", "data": {"community": "tianjin/binhai/taida/xinghua",
                                                               "resident": {**RESIDENT, "idcard": "120101"}}}
    shown = json.loads(residents.masked_report(json.dumps(envelope, ensure_ascii=False)))
    assert shown["data"]["resident"] == {"name": "欧***", "phone": "139****5678", "address": "天津市滨海新区****",
                                         "idcard": "****"}
    assert shown["data"]["community"] == envelope["data"]["community"] and shown["id"] == "e-1"
    for body in ["not json", "[1, 2]", json.dumps({"data": {"resident": None}}), json.dumps({"data": []})]:
        assert residents.masked_report(body) == body


@pytest.mark.parametrize("resident", [
    {"phone": "电话13912345678"}, {"phone": "139123456789012345678"}, {"phone": 13912345678},
    {"name": "欧阳娜娜" * 20}, {"name": ""}, {"address": "星华里3号楼" * 40}, {"name": ["欧阳娜娜"]},
])
def test_refusing_a_resident_never_repeats_it(resident):
    from marshmallow import ValidationError
    from wushe.contract.events.catalog import Resident
    with pytest.raises(ValidationError) as refused:
        Resident().load(resident)
    errors = json.dumps(refused.value.messages, ensure_ascii=False)
    assert not any(part in errors for part in ("13912345678", "欧阳娜娜", "星华里"))
