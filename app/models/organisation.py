"""Who works the cases: regions, teams, users and their tokens, crews, collectors and
their training."""

from datetime import date, datetime, time

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, _in, _lat_lon_checks, utcnow

ROLES = ("agent", "supervisor", "auditor", "admin")


class Region(db.Model):
    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # A region may run under another policy profile than the service default.
    policy_profile: Mapped[str | None] = mapped_column(String(40))


class Team(db.Model):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    policy_profile: Mapped[str | None] = mapped_column(String(40))

    region: Mapped[Region] = relationship()


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role_known"),
        # A supervisor is scoped to a team or a whole region; nobody else is scoped here.
        CheckConstraint(
            "role <> 'supervisor' OR team_id IS NOT NULL OR region_id IS NOT NULL",
            name="supervisor_scoped",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team | None] = relationship()
    region: Mapped[Region | None] = relationship()
    collector: Mapped["Collector | None"] = relationship(back_populates="user", uselist=False)


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored, so a database leak yields no token."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Crew(db.Model):
    """Collectors who visit together; the unit that dispatch assigns tasks to."""

    __tablename__ = "crews"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    team: Mapped[Team] = relationship()
    members: Mapped[list["Collector"]] = relationship(back_populates="crew", order_by="Collector.id")


class Collector(db.Model):
    __tablename__ = "collectors"
    __table_args__ = (
        *_lat_lon_checks("home_"),
        CheckConstraint("daily_capacity > 0 AND daily_capacity <= 100", name="capacity_range"),
        CheckConstraint("shift_start < shift_end", name="shift_order"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)
    home_lat: Mapped[float] = mapped_column()
    home_lon: Mapped[float] = mapped_column()
    languages: Mapped[list] = mapped_column(JSON, default=list)
    shift_start: Mapped[time] = mapped_column(Time)
    shift_end: Mapped[time] = mapped_column(Time)
    daily_capacity: Mapped[int] = mapped_column(Integer, default=10)
    # NIFA 2024: no disqualifying background. Cleared by the employer's vetting.
    background_cleared: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team] = relationship()
    crew: Mapped[Crew | None] = relationship(back_populates="members")
    user: Mapped[User | None] = relationship(back_populates="collector")
    trainings: Mapped[list["TrainingRecord"]] = relationship(
        back_populates="collector", order_by="TrainingRecord.passed_at"
    )


class TrainingRecord(db.Model):
    __tablename__ = "training_records"
    __table_args__ = (CheckConstraint("expires_at > passed_at", name="expiry_after_pass"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    collector_id: Mapped[int] = mapped_column(ForeignKey("collectors.id"), index=True)
    module: Mapped[str] = mapped_column(String(60))
    passed_at: Mapped[date] = mapped_column(Date)
    expires_at: Mapped[date] = mapped_column(Date)
    certificate_ref: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    collector: Mapped[Collector] = relationship(back_populates="trainings")
