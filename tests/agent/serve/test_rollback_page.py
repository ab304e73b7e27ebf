"""agent.serve.rollback_page: what the landing page says about a probation and a rollback."""

from __future__ import annotations

from agent.serve.page import render_html
from agent.serve.rollback_page import rollback_items, rollback_notice

AT = 1_800_000_000.0  # 2027-01-15T08:00:00Z
DONE = {
    "model_id": "bad-round",
    "at": "2027-01-15T08:00:00Z",
    "reason": "5 of 5 samples above 1 with bad-round, against 0 with good on the same rows",
    "restored_model_id": "good",
}
PROBATION = {
    "model_id": "next",
    "previous_model_id": "good",
    "until": "2027-01-15T14:00:00Z",
    "samples": 12,
    "above": 1,
    "previous_above": 0,
}


def test_the_model_section_says_what_is_on_trial_and_what_was_rolled_back() -> None:
    items = dict(rollback_items({"probation": PROBATION, "rolled_back": [DONE]}))
    assert items["Probation"] == (
        "next scores beside good until 2027-01-15T14:00:00Z: 1 of 12 samples above 1, the previous model 0"
    )
    assert items["Rolled back"].startswith("bad-round rolled back to good at 2027-01-15T08:00:00Z: 5 of 5 samples")
    assert rollback_items({}) == [] and rollback_items({"probation": None, "rolled_back": []}) == []
    assert dict(rollback_items({"rolled_back": [{"model_id": "x"}]}))["Rolled back"].startswith("x rolled back to -")


def test_a_rollback_of_the_last_day_is_announced_under_the_title() -> None:
    model = {"rollback": {"rolled_back": [DONE]}}
    assert rollback_notice(model, AT + 3600).startswith("Model bad-round was rolled back to good at 2027-01-15")
    assert rollback_notice(model, AT + 2 * 86400) == ""  # older than the picture: the Model section only
    assert rollback_notice({"rollback": {"rolled_back": [{**DONE, "at": "garbage"}]}}, AT) == ""
    assert rollback_notice({}, AT) == ""
    page = render_html({"status": "ok"}, model, now=AT + 60)
    title, notice = page.index("<h1>"), page.index("<strong>Model bad-round was rolled back")
    assert title < notice < page.index("<h2>Score</h2>")
    assert "Rolled back" in page
