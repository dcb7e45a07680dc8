"""Each service's rules come from its own domain's `Rules`, set from the environment by name."""
from services.orgs.domain import Rules as OrgsRules
from services.volunteers.domain import Rules as VolunteersRules
from services.workers.domain import Rules as WorkersRules
from wushe.runtime.config import nameko_config, rules_from_env


def test_rules_without_environment_are_the_domains_defaults():
    assert rules_from_env(OrgsRules, {}) == OrgsRules()
    assert rules_from_env(WorkersRules, {}).caseload_caps == {"none": 8, "assistant": 10, "intermediate": 12, "senior": 15}


def test_a_rule_is_read_by_its_name_and_cast_to_its_type():
    rules = rules_from_env(OrgsRules, {"WUSHE_INCUBATION_THRESHOLD": "5", "WUSHE_TRAINING_SESSIONS": "4"})
    assert (rules.incubation_threshold, rules.training_sessions) == (5, 4)
    assert rules.incubation_window_days == OrgsRules().incubation_window_days
    assert rules_from_env(VolunteersRules, {"WUSHE_TEAM_FIRST_HOURS": "1.5"}).team_first_hours == 1.5


def test_a_dict_rule_is_read_entry_by_entry_under_its_own_name():
    caps = rules_from_env(WorkersRules, {"WUSHE_CASELOAD_CAP_SENIOR": "20"}).caseload_caps
    assert caps == {"none": 8, "assistant": 10, "intermediate": 12, "senior": 20}
    expiry = rules_from_env(VolunteersRules, {"WUSHE_CALL_EXPIRY_HOURS_CRITICAL": "0.5"}).call_expiry_hours
    assert expiry["critical"] == 0.5 and expiry["low"] == 168


def test_a_rule_of_another_service_does_not_leak_in():
    rules = rules_from_env(VolunteersRules, {"WUSHE_INCUBATION_THRESHOLD": "5"})
    assert rules == VolunteersRules() and not hasattr(rules, "incubation_threshold")


def test_the_config_holds_only_the_rules_a_container_is_given():
    assert nameko_config(env={"WUSHE_INCUBATION_THRESHOLD": "5"})["WUSHE"]["RULES"] == {}
