"""The nightly strategy job: escalate cases by the strategy's rules and keep each case's
priority at the strategy's score.

For every open case it gathers the facts the strategy asks about (failed remote contact
attempts per window, broken and kept promises, the last contact, the last time the
debtor was met at the door) with a few grouped queries per chunk of cases, asks the
strategy (``app.policy.strategy``) which rule moves it and what it scores, and asks the
conduct policy (``app.policy.rules.escalation_refusals``) whether the debtor may be
visited at all before moving a case into field visits.

Each change is written with its audit event in the same transaction, naming the
strategy and its version and the rule id. A change is written only if the case still
stands as it was read (a conditional UPDATE), so a supervisor's edit in between wins and
nothing is moved twice; running the job twice on the same clock changes nothing more.
A priority someone set by hand or by import (``priority_source`` other than
``strategy``) is an override the job never touches.
"""

import logging
from collections import Counter
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from app import audit, clock, policy
from app.extensions import db
from app.models import Case, ContactAttempt, Debtor, RepaymentAgreement, Team, Visit, VisitTask
from app.policy import rules
from app.policy.strategy import CaseFacts

log = logging.getLogger(__name__)
OPEN_STAGES = ("notice", "remote_contact", "field_visit", "agreement")
CHUNK = 500  # cases per grouped read and per commit


def apply(*, team_ids=None, commit_each=False):
    """Run the strategy over every open case (or the given teams'); returns what it did."""
    strategy = policy.strategy()
    engine = policy.current()
    now = clock.now()
    teams = {t.id: t for t in db.session.scalars(select(Team).options(selectinload(Team.region)))}
    stmt = select(Case.id).where(Case.stage.in_(OPEN_STAGES)).order_by(Case.id)
    if team_ids is not None:
        stmt = stmt.where(Case.team_id.in_(team_ids))
    case_ids = db.session.scalars(stmt).all()
    report = {
        "strategy": strategy.label,
        "as_of": now.isoformat(),
        "cases": len(case_ids),
        "escalated": Counter(),
        "blocked": Counter(),
        "rescored": 0,
        "overridden": 0,
        "skipped": 0,
    }
    for start in range(0, len(case_ids), CHUNK):
        chunk = case_ids[start : start + CHUNK]
        for row, facts in _facts(chunk, strategy, now):
            profile = engine.for_team(teams[row.team_id])
            _escalate(row, facts, strategy, profile, now, report)
            if row.priority_source != "strategy":
                report["overridden"] += 1
                continue
            _rescore(row, facts, strategy, now, report)
        db.session.flush()
        if commit_each:
            db.session.commit()
    report["escalated"], report["blocked"] = dict(report["escalated"]), dict(report["blocked"])
    log.info("strategy %s: %s", strategy.label, report)
    return report


def _escalate(row, facts, strategy, profile, now, report):
    """Apply the first matching rule, then the next, until none matches (notice -> remote
    contact -> field visit in one night), so a second run finds nothing left to move."""
    stage = row.stage
    while (rule := strategy.escalation_for(facts)) is not None:
        refusals = rules.escalation_refusals(profile, to_stage=rule.to_stage, debtor_flags=row.flags)
        if refusals:
            report["blocked"][strategy.rule_id(rule.id)] += 1
            break
        moved = db.session.execute(
            update(Case)
            .where(Case.id == row.id, Case.stage == stage)
            .values(stage=rule.to_stage, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # changed since it was read: the next run judges it afresh
            report["skipped"] += 1
            break
        audit.record(
            "case.escalated",
            entity_type="cases",
            entity_id=row.id,
            before={"stage": stage},
            after={"stage": rule.to_stage},
            extra={
                "strategy": strategy.id,
                "strategy_version": strategy.version,
                "rule_id": strategy.rule_id(rule.id),
                "facts": rule.evidence(facts),
            },
        )
        report["escalated"][strategy.rule_id(rule.id)] += 1
        stage = rule.to_stage
        facts = replace(facts, stage=stage)


def _rescore(row, facts, strategy, now, report):
    score = strategy.priority_score(facts)
    if score == row.priority:
        return
    changed = db.session.execute(
        update(Case)
        .where(Case.id == row.id, Case.priority == row.priority, Case.priority_source == "strategy")
        .values(priority=score, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        report["skipped"] += 1
        return
    audit.record(
        "case.priority_scored",
        entity_type="cases",
        entity_id=row.id,
        before={"priority": row.priority},
        after={"priority": score},
        extra={
            "strategy": strategy.id,
            "strategy_version": strategy.version,
            "rule_id": strategy.rule_id("priority"),
            "parts": strategy.priority_parts(facts),
        },
    )
    report["rescored"] += 1


def _days(now, at):
    return None if at is None else max(0, (now - at).days)


def _facts(case_ids, strategy, now):
    """(case row, CaseFacts) for each case of the chunk, from one query per fact."""
    rows = db.session.execute(
        select(
            Case.id,
            Case.stage,
            Case.days_past_due,
            Case.outstanding_minor,
            Case.currency,
            Case.priority,
            Case.priority_source,
            Case.team_id,
            Debtor.flags,
        )
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(Case.id.in_(case_ids))
        .order_by(Case.id)
    ).all()
    failed = {}
    for window in strategy.attempt_windows:
        failed[window] = dict(
            db.session.execute(
                select(ContactAttempt.case_id, func.count())
                .where(
                    ContactAttempt.case_id.in_(case_ids),
                    ContactAttempt.purpose == "contact",
                    ContactAttempt.result.in_(strategy.failed_results),
                    ContactAttempt.occurred_at >= now - timedelta(days=window),
                    ContactAttempt.occurred_at <= now,
                )
                .group_by(ContactAttempt.case_id)
            ).all()
        )
    last_attempt = dict(
        db.session.execute(
            select(ContactAttempt.case_id, func.max(ContactAttempt.occurred_at))
            .where(ContactAttempt.case_id.in_(case_ids), ContactAttempt.purpose == "contact")
            .group_by(ContactAttempt.case_id)
        ).all()
    )
    visits = (
        select(VisitTask.case_id, func.max(Visit.check_in_at))
        .join(Visit, Visit.task_id == VisitTask.id)
        .where(VisitTask.case_id.in_(case_ids))
        .group_by(VisitTask.case_id)
    )
    last_visit = dict(db.session.execute(visits).all())
    last_met = dict(db.session.execute(visits.where(Visit.person_met == "debtor")).all())
    promises = Counter()
    for case_id, status, count in db.session.execute(
        select(RepaymentAgreement.case_id, RepaymentAgreement.status, func.count())
        .where(RepaymentAgreement.case_id.in_(case_ids), RepaymentAgreement.status.in_(("kept", "broken")))
        .group_by(RepaymentAgreement.case_id, RepaymentAgreement.status)
    ):
        promises[case_id, status] = count
    for row in rows:
        contacts = [t for t in (last_attempt.get(row.id), last_visit.get(row.id)) if t is not None]
        yield (
            row,
            CaseFacts(
                stage=row.stage,
                days_past_due=row.days_past_due,
                outstanding_minor=row.outstanding_minor,
                currency=row.currency,
                failed_attempts={w: failed[w].get(row.id, 0) for w in failed},
                broken_promises=promises[row.id, "broken"],
                kept_promises=promises[row.id, "kept"],
                days_since_contact=_days(now, max(contacts)) if contacts else None,
                days_since_debtor_met=_days(now, last_met.get(row.id)),
            ),
        )
