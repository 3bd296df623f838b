"""Personal data: national ids and phones encrypted at rest with a blind index; the
audit log's personal values kept beside the chain; anonymisation marks.

* debtors: ``phone`` and ``national_id`` become text holding AES-GCM ciphertext (the
  existing values are encrypted here, with the keys the app is configured with);
  ``national_id_index`` (HMAC, unique) replaces the unique constraint on the clear
  national id; ``anonymised_at``.
* recordings: ``erased_at`` (the file was deleted from storage by retention).
* audit_personal_values: the salted personal values whose commitments the chain hashes
  (rows may be deleted, by erasure; on PostgreSQL never updated).
* audit_event_subjects: which debtors each audit event is about.

Revision ID: p21a
Revises: 0005
Create Date: 2026-11-30 21:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "p21a"
down_revision = "0005"
branch_labels = None
depends_on = None

VALUES_NEVER_UPDATED = """
CREATE FUNCTION audit_personal_values_refuse_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_personal_values are erased, never changed: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_personal_values_no_update
    BEFORE UPDATE ON audit_personal_values
    FOR EACH ROW EXECUTE FUNCTION audit_personal_values_refuse_update();
"""
BATCH = 2000


def _utc():
    return sa.DateTime(timezone=True)


def _rewrite_debtors(transform):
    """Apply ``transform(phone, national_id) -> (phone, national_id, index)`` to every debtor."""
    bind = op.get_bind()
    debtors = sa.table(
        "debtors",
        sa.column("id", sa.Integer),
        sa.column("phone", sa.Text),
        sa.column("national_id", sa.Text),
        sa.column("national_id_index", sa.String),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(debtors.c.id, debtors.c.phone, debtors.c.national_id)
            .where(debtors.c.id > last)
            .order_by(debtors.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        updates = []
        for debtor_id, phone, national_id in rows:
            phone, national_id, index = transform(phone, national_id)
            updates.append({"key": debtor_id, "phone": phone, "national_id": national_id, "national_id_index": index})
        bind.execute(
            debtors.update()
            .where(debtors.c.id == sa.bindparam("key"))
            .values(
                phone=sa.bindparam("phone"),
                national_id=sa.bindparam("national_id"),
                national_id_index=sa.bindparam("national_id_index"),
            ),
            updates,
        )
        last = rows[-1][0]


def upgrade():
    from app import crypto

    keyring = crypto.keyring()
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("national_id_index", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("anonymised_at", _utc(), nullable=True))
        batch_op.alter_column("phone", existing_type=sa.String(length=40), type_=sa.Text(), existing_nullable=True)
        batch_op.alter_column(
            "national_id", existing_type=sa.String(length=40), type_=sa.Text(), existing_nullable=True
        )
        batch_op.drop_constraint(batch_op.f("uq_debtors_national_id"), type_="unique")

    def encrypt(phone, national_id):
        # decrypt() passes a clear value through, so running this twice encrypts once.
        phone = None if phone is None else keyring.decrypt(phone, "debtors.phone")
        national_id = None if national_id is None else keyring.decrypt(national_id, "debtors.national_id")
        return (
            None if phone is None else keyring.encrypt(phone, "debtors.phone"),
            None if national_id is None else keyring.encrypt(national_id, "debtors.national_id"),
            keyring.blind_index(national_id, "national_id") if national_id else None,
        )

    _rewrite_debtors(encrypt)
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_debtors_national_id_index"), ["national_id_index"])

    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", _utc(), nullable=True))

    op.create_table(
        "audit_personal_values",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("values", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_personal_values")),
    )
    op.create_table(
        "audit_event_subjects",
        sa.Column("debtor_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("debtor_id", "seq", name=op.f("pk_audit_event_subjects")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(VALUES_NEVER_UPDATED)


def downgrade():
    from app import crypto

    keyring = crypto.keyring()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_personal_values_no_update ON audit_personal_values")
        op.execute("DROP FUNCTION IF EXISTS audit_personal_values_refuse_update()")
    op.drop_table("audit_event_subjects")
    op.drop_table("audit_personal_values")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("erased_at")

    def decrypt(phone, national_id):
        return (
            None if phone is None else keyring.decrypt(phone, "debtors.phone"),
            None if national_id is None else keyring.decrypt(national_id, "debtors.national_id"),
            None,
        )

    _rewrite_debtors(decrypt)
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_debtors_national_id_index"), type_="unique")
        batch_op.alter_column(
            "national_id", existing_type=sa.Text(), type_=sa.String(length=40), existing_nullable=True
        )
        batch_op.alter_column("phone", existing_type=sa.Text(), type_=sa.String(length=40), existing_nullable=True)
        batch_op.create_unique_constraint(batch_op.f("uq_debtors_national_id"), ["national_id"])
        batch_op.drop_column("anonymised_at")
        batch_op.drop_column("national_id_index")
