"""lead-score in Python: the example step of examples/steps/lead-score, line
for line, with the same outputs. Scores a lead from its Salesforce fields,
grades it A, B or C, optionally writes the rating back, and counts the leads
it has scored in the step's state.

Try it: gust run examples/scripts/score-lead-python.json --event examples/events/web-lead.json
"""

import json
import re

from gust import Context, StepError

# Free mail providers: a lead writing from one is less likely a buyer.
FREE_MAIL = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com"]
# Words in a title that mark a decision maker.
SENIOR_TITLES = ["chief", "vp", "president", "head", "director", "cto", "ceo"]


def _count(value):
    """The value as a count: a non-negative whole number, else 0."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 0


def score(lead):
    """Scores a lead from its fields: (points, grade, reasons)."""

    def text(field):
        value = lead.get(field)
        return value.lower() if isinstance(value, str) else ""

    points = 0
    reasons = []

    def add(earned, reason):
        nonlocal points
        points += earned
        reasons.append(reason)

    email = text("Email")
    if "@" in email and email.partition("@")[2] not in FREE_MAIL:
        add(30, "business email")
    if text("Company") != "":
        add(10, "company given")
    title = text("Title")
    if any(word in SENIOR_TITLES for word in re.split(r"[\W_]", title)):
        add(25, "decision maker")
    elif "manager" in title:
        add(10, "manager")
    employees = _count(lead.get("NumberOfEmployees"))
    if employees >= 1000:
        add(25, "1000+ employees")
    elif employees >= 100:
        add(15, "100+ employees")
    elif employees >= 10:
        add(5, "10+ employees")
    if text("LeadSource") == "web":
        add(10, "came from the web")
    grade = "A" if points >= 70 else "B" if points >= 40 else "C"
    return points, grade, reasons


def run(input: dict, ctx: Context):
    lead = input.get("lead")
    if not isinstance(lead, dict):
        raise StepError("the input has no `lead` object", retryable=False)
    points, grade, reasons = score(lead)
    ctx.log.info(f"Scored {json.dumps(lead.get('Email'))} at {points} ({grade}).")
    rating = {"A": "Hot", "B": "Warm"}.get(grade, "Cold")
    if input.get("write_back") is True:
        lead_id = input.get("lead_id")
        if not isinstance(lead_id, str):
            lead_id = lead.get("Id")
        if not isinstance(lead_id, str):
            raise StepError("`write_back` needs `lead_id` or the lead's `Id`", retryable=False)
        ctx.salesforce.update("Lead", lead_id, {"Rating": rating})
        ctx.log.info(f"Wrote Rating {rating} to Lead {lead_id}.")
    scored = _count(ctx.state.get("scored")) + 1
    ctx.state.set("scored", scored)
    return {
        "email": lead.get("Email"),
        "score": points,
        "grade": grade,
        "rating": rating,
        "reasons": reasons,
        "leads_scored": scored,
    }
