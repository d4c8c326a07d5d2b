"""The "how do we start" wizard's recommendation: 3 to 5 topics for an organisation's situation."""

from __future__ import annotations

from knowledge import ORGANISATION_TYPES, KnowledgeBase, Topic

__all__ = ["ORGANISATION_TYPES", "SIZES", "STAGES", "recommend"]

SIZES = ("small", "medium", "large")
STAGES = ("none", "started", "advanced")

# Why these: the sources agree on the order leadership -> stock-take -> responsibility -> goals,
# then HR and services measures; organisations already under way benefit from monitoring and
# the network itself.
_BY_STAGE: dict[str, tuple[str, ...]] = {
    "none": ("first_steps", "leadership_commitment", "status_analysis", "responsible_person"),
    "started": ("goals_monitoring", "intercultural_training", "job_ads", "staff_survey"),
    "advanced": ("goals_monitoring", "personnel_development", "join_process", "agreement_measures"),
}
_BY_TYPE: dict[str, tuple[str, ...]] = {
    "authority": ("nrw_public_admin_initiative", "multilingual_plain_language"),
    "municipality": ("example_municipalities", "representation_committees"),
    "association": ("mso_cooperation", "organisational_quality_development"),
    "company": ("business_case", "recognition_foreign_qualifications"),
    "chamber": ("apprenticeships_kausa", "recognition_foreign_qualifications"),
    "police": ("example_police", "recruiting_outreach"),
    "jobcenter": ("example_jobcenter_duisburg", "interpreter_pool"),
    "other": ("ikoe_definition", "business_case"),
}
# Small organisations rarely run surveys or steering groups; a named person is enough.
_TOO_HEAVY_FOR_SMALL = frozenset({"staff_survey", "personnel_development"})


def recommend(kb: KnowledgeBase, *, organisation_type: str, size: str, stage: str) -> list[Topic]:
    """Three to five topics in a sensible order for this organisation, only ones that exist."""
    picks: list[str] = []
    stage_ids = _BY_STAGE.get(stage, _BY_STAGE["none"])
    type_ids = _BY_TYPE.get(organisation_type, _BY_TYPE["other"])
    for topic_id in (*stage_ids[:3], *type_ids, *stage_ids[3:]):
        if size == "small" and topic_id in _TOO_HEAVY_FOR_SMALL:
            continue
        if topic_id not in picks and kb.topic(topic_id) is not None:
            picks.append(topic_id)
    for topic in kb.topics:  # top up from topics marked for this organisation type
        if len(picks) >= 3:
            break
        if organisation_type in topic.applies_to and topic.id not in picks:
            picks.append(topic.id)
    return [t for t in (kb.topic(i) for i in picks[:5]) if t is not None]
