"""Each case's DPD history for the reports' roll rates: a mark when a case arrives and
whenever its DPD moves into another bucket, whichever way it was written."""

from sqlalchemy import select

HEADER = "loan_ref,product,currency,principal,outstanding,days_past_due,debtor_name,address,lat,lon,team\n"


def _marks(db, case_id=None):
    from app.models import Case, CaseDpdMark

    stmt = select(Case.loan_ref, CaseDpdMark.days_past_due, CaseDpdMark.bucket).join(
        Case, Case.id == CaseDpdMark.case_id).order_by(CaseDpdMark.id)
    return [tuple(r) for r in db.session.execute(stmt)]


def test_imported_cases_are_marked_and_a_reimport_marks_only_bucket_changes(app, db, make, clock):
    from app.services.importer import import_cases

    make.team(code="IMP")
    rows = [("A-1", 10), ("A-2", 40), ("A-3", 0)]
    csv = HEADER + "".join(f"{ref},cash_loan,CNY,100.00,90.00,{dpd},Wang,1 Road,31.2,121.4,IMP\n" for ref, dpd in rows)
    import_cases(csv.encode(), None)
    db.session.commit()
    assert _marks(db) == [("A-1", 10, "M1"), ("A-2", 40, "M2"), ("A-3", 0, "0")]
    clock.advance(days=1)
    again = csv.replace("A-1,cash_loan,CNY,100.00,90.00,10", "A-1,cash_loan,CNY,100.00,90.00,25") \
               .replace("A-2,cash_loan,CNY,100.00,90.00,40", "A-2,cash_loan,CNY,100.00,90.00,61")
    import_cases(again.encode(), None)
    db.session.commit()
    assert _marks(db)[3:] == [("A-2", 61, "M3+")]  # A-1 stayed in M1: no mark


def test_a_case_changed_through_the_orm_is_marked_at_that_moment(app, db, make, clock):
    from app.models import Case, CaseDpdMark

    case = make.case(days_past_due=5)
    clock.advance(days=3)
    row = db.session.get(Case, case.id)
    row.days_past_due = 31
    db.session.commit()
    row.priority = 7  # another change: no mark
    db.session.commit()
    marks = db.session.scalars(select(CaseDpdMark).where(CaseDpdMark.case_id == case.id)
                               .order_by(CaseDpdMark.id)).all()
    assert [(m.days_past_due, m.bucket) for m in marks] == [(5, "M1"), (31, "M2")]
    assert marks[0].at == case.created_at and marks[1].at == clock()
