"""Geocoding address-only debtors through geopy against a local Nominatim: answers judged,
cached, retried with backoff, rate limited (timed on an injected clock)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.models import AuditEvent, Debtor, GeocodeResult
from app.services import geocoding
from tests.geoservers import district, place

CHANGNING = "上海市长宁区延安西路1111号"


def address_only(make, address, **kw):
    return make.debtor(
        **{
            "address": address,
            "lat": None,
            "lon": None,
            "location_status": "pending",
            "location_note": "awaiting_geocoder",
            **kw,
        }
    )


def reload(db, debtor):
    db.session.expire_all()
    return db.session.get(Debtor, debtor.id)


def test_a_chinese_address_is_placed_where_nominatim_says(db, make, geocoder):
    geocoder.server.script(CHANGNING, [place(31.2089, 121.4102, "延安西路1111号, 长宁区, 上海市, 中国")])
    debtor = address_only(make, CHANGNING)
    stats = geocoding.geocode_pending()
    placed = reload(db, debtor)
    assert (placed.lat, placed.lon) == (31.2089, 121.4102)
    assert (placed.location_status, placed.location_source, placed.location_note) == ("located", "geocoded", None)
    assert stats["located"] == 1 and stats["asked"] == 1
    cached = db.session.scalars(sa.select(GeocodeResult)).one()
    assert cached.status == "ok" and cached.provider == "nominatim" and cached.precision == "building"
    assert cached.query_sha256 == geocoding.query_key(CHANGNING) and len(cached.raw_sha256) == 64
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "debtor.geocoded")).one()
    assert event.entity_id == str(debtor.id)


def test_only_a_district_is_not_used_and_the_debtor_waits_for_a_pin(db, make, geocoder):
    geocoder.server.script("上海市长宁区某小区", [district(31.2204, 121.4238, "长宁区, 上海市, 中国")])
    debtor = address_only(make, "上海市长宁区某小区")
    geocoding.geocode_pending()
    waiting = reload(db, debtor)
    assert waiting.lat is None and waiting.location_status == "needs_pin"
    assert waiting.location_note == "too_coarse"
    assert "district" in geocoding.note_text("too_coarse")["en"] and "区县" in geocoding.note_text("too_coarse")["zh"]


def test_two_precise_places_far_apart_are_ambiguous(db, make, geocoder):
    geocoder.server.script(
        "中山路1号",
        [place(31.2304, 121.4737, "中山东一路1号, 黄浦区"), place(31.3062, 121.4458, "中山北路1号, 静安区")],
    )
    debtor = address_only(make, "中山路1号")
    geocoding.geocode_pending()
    assert (reload(db, debtor).location_status, reload(db, debtor).location_note) == ("needs_pin", "ambiguous")


def test_no_result_sends_the_debtor_to_the_pin_queue(db, make, geocoder):
    debtor = address_only(make, "上海市无此地址路999号")
    stats = geocoding.geocode_pending()
    assert (reload(db, debtor).location_status, reload(db, debtor).location_note) == ("needs_pin", "not_found")
    assert stats["needs_pin"] == 1
    assert db.session.scalars(sa.select(GeocodeResult.status)).one() == "not_found"


def test_http_429_then_an_answer_is_retried_after_the_error_wait(db, make, geocoder, app, monkeypatch):
    monkeypatch.setitem(app.config, "GEOCODER_ERROR_WAIT_SECONDS", 7.0)
    geocoder.server.script(CHANGNING, 429, [place(31.2089, 121.4102, "延安西路1111号")])
    debtor = address_only(make, CHANGNING)
    geocoding.geocode_pending()
    assert reload(db, debtor).location_status == "located"
    assert geocoder.server.searches == [CHANGNING, CHANGNING]
    assert 7.0 in geocoder.sleeps  # geopy's RateLimiter waited (on the injected clock) before the retry


def test_a_failing_geocoder_is_tried_again_later_with_growing_pauses_then_given_up(
    db, make, geocoder, app, clock, monkeypatch
):
    monkeypatch.setitem(app.config, "GEOCODER_RETRY_SECONDS", 600)
    monkeypatch.setitem(app.config, "GEOCODER_MAX_ATTEMPTS", 3)
    geocoder.server.script(CHANGNING, 500)
    debtor = address_only(make, CHANGNING)
    start = clock()
    stats = geocoding.geocode_pending()
    first = reload(db, debtor)
    assert stats["retry_later"] == 1 and len(geocoder.server.searches) == 3  # geopy's two retries
    assert (first.location_status, first.location_note, first.geocode_attempts) == ("pending", "geocoder_error", 1)
    assert first.geocode_next_at == start + timedelta(seconds=600)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GeocodeResult)) == 0  # a failure is no answer

    assert geocoding.geocode_pending()["total"] == 0  # not due yet: nothing asked
    clock.advance(seconds=600)
    geocoding.geocode_pending()
    assert reload(db, debtor).geocode_next_at == clock() + timedelta(seconds=1200)
    clock.advance(seconds=1200)
    geocoding.geocode_pending()
    gave_up = reload(db, debtor)
    assert (gave_up.location_status, gave_up.location_note) == ("needs_pin", "geocoder_gave_up")


def test_a_failure_then_recovery_places_the_debtor_on_the_scheduled_retry(db, make, geocoder, clock):
    geocoder.server.script(CHANGNING, 503, 503, 503, [place(31.2089, 121.4102, "延安西路1111号")])
    debtor = address_only(make, CHANGNING)
    geocoding.geocode_pending()
    assert reload(db, debtor).location_status == "pending"
    clock.advance(hours=1)
    geocoding.geocode_pending()
    assert reload(db, debtor).location_status == "located"


def test_a_slow_geocoder_times_out_and_the_debtor_waits_for_the_next_try(db, make, geocoder, app, monkeypatch):
    monkeypatch.setitem(app.config, "GEOCODER_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setitem(app.config, "GEOCODER_MAX_RETRIES", 0)
    geocoder.server.script(CHANGNING, ("slow", 1.0, [place(31.2089, 121.4102, "延安西路1111号")]))
    debtor = address_only(make, CHANGNING)
    stats = geocoding.geocode_pending()
    assert stats["retry_later"] == 1
    assert (reload(db, debtor).location_status, reload(db, debtor).location_note) == ("pending", "geocoder_error")


def test_an_address_is_never_asked_twice(db, make, geocoder):
    first = address_only(make, CHANGNING)
    # The same address written with full-width digits and extra spaces is the same query.
    second = address_only(make, " 上海市长宁区延安西路１１１１号 ")
    geocoding.geocode_pending()
    assert len(geocoder.server.searches) == 1
    third = address_only(make, CHANGNING)
    stats = geocoding.geocode_pending()
    assert len(geocoder.server.searches) == 1 and stats["cached"] == 1
    assert {reload(db, d).lat for d in (first, second, third)} == {reload(db, first).lat}


def test_the_rate_limit_spaces_the_calls_by_the_minimum_delay(db, make, geocoder, app, monkeypatch):
    monkeypatch.setitem(app.config, "GEOCODER_MIN_DELAY_SECONDS", 1.0)
    monkeypatch.setitem(app.config, "GEOCODER_ERROR_WAIT_SECONDS", 1.0)
    for n in range(4):
        address_only(make, f"上海市长宁区测试路{n}号")
    geocoding.geocode_pending()
    # The injected clock only moves when the limiter sleeps: each call after the first waited 1 s.
    assert len(geocoder.server.searches) == 4
    assert geocoder.sleeps == [1.0, 1.0, 1.0]


def test_a_pin_placed_while_the_geocoder_was_asked_is_kept(db, make, geocoder, monkeypatch):
    debtor = address_only(make, CHANGNING)
    ask = geocoding.Geocoder.locate

    def pin_meanwhile(self, address):
        answer = ask(self, address)
        db.session.execute(
            sa.update(Debtor)
            .where(Debtor.id == debtor.id)
            .values(lat=31.1, lon=121.1, location_status="located", location_source="pin")
        )
        return answer

    monkeypatch.setattr(geocoding.Geocoder, "locate", pin_meanwhile)
    stats = geocoding.geocode_pending()
    kept = reload(db, debtor)
    assert (kept.lat, kept.location_source, stats["skipped"]) == (31.1, "pin", 1)


def test_without_a_geocoder_the_job_leaves_the_addresses_waiting_for_a_pin(db, make, app):
    assert not app.config.get("GEOCODER")
    debtor = address_only(make, CHANGNING, location_note=None)
    result = geocoding.geocode_pending()
    assert result["geocoder"] is None and result["total"] == 1
    assert reload(db, debtor).location_status == "pending"


@pytest.mark.parametrize("name", ["baiduv3", "arcgis"])
def test_any_geopy_geocoder_is_chosen_by_name(app, name, monkeypatch):
    monkeypatch.setitem(app.config, "GEOCODER", name)
    monkeypatch.setitem(app.config, "GEOCODER_API_KEY", "test-key")
    with app.app_context():
        chosen = geocoding.Geocoder(app.config)
    assert chosen.provider == name and type(chosen.geocoder).__name__.lower().startswith(name[:5])


def test_an_address_cached_by_another_job_meanwhile_keeps_the_first_answer(db, make, geocoder, monkeypatch):
    debtor = address_only(make, CHANGNING)
    ask = geocoding.Geocoder.locate

    def another_job_caches_it_first(self, address):
        answer = ask(self, address)
        db.session.add(
            GeocodeResult(
                provider="nominatim", query_sha256=geocoding.query_key(address), status="ok", lat=31.0, lon=121.0
            )
        )
        db.session.flush()
        return answer

    monkeypatch.setattr(geocoding.Geocoder, "locate", another_job_caches_it_first)
    stats = geocoding.geocode_pending()
    assert stats["located"] == 1 and reload(db, debtor).location_status == "located"
    assert db.session.scalars(sa.select(GeocodeResult.lat)).all() == [31.0]


def test_the_cli_import_starts_the_geocoding_job_after_its_commit(app, db, make, geocoder, tmp_path):
    make.team(code="SH-A", region=make.region(code="SH"))
    path = tmp_path / "export.csv"
    path.write_text(
        "loan_ref,product,currency,principal,outstanding,days_past_due,debtor_name,address\n"
        f"CLI-1,cash_loan,CNY,100,100,40,王芳,{CHANGNING}\n",
        encoding="utf-8",
    )
    result = app.test_cli_runner().invoke(args=["cases", "import", str(path), "--team", "SH-A"])
    assert result.exit_code == 0, result.output
    assert "geocoding 1 address-only row(s)" in result.output
    debtor = db.session.scalars(sa.select(Debtor).where(Debtor.address == CHANGNING)).one()
    assert (debtor.location_status, debtor.location_source) == ("located", "geocoded")
