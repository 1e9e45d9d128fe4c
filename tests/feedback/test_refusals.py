"""The refusal watch: a send pauses when receivers refuse *us*, not when readers' mailboxes are gone."""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.delivery.transports.base import Outcome, SendResult
from newsletter.feedback.refusals import RefusalWatch

DMARC = "550 5.7.26 Unauthenticated email from example.org is not accepted due to domain's DMARC policy"


def ok(index: int) -> SendResult:
    return SendResult(index, Outcome.accepted)


def refused(index: int, detail: str = DMARC, outcome: Outcome = Outcome.permanent) -> SendResult:
    return SendResult(index, outcome, detail=detail, code=int(detail[:3]))


def test_a_domain_refusing_us_pauses_once_the_minimum_is_reached() -> None:
    watch = RefusalWatch(domain_share=0.02, overall_share=0.01, minimum=5)
    for index in range(100):
        assert watch.observe(f"r{index}@fine.example", ok(index)) == ""
    said = [watch.observe(f"d{index}@strict.example", refused(index)) for index in range(5)]
    assert said[:4] == [""] * 4
    assert said[4].startswith("receivers refused us: strict.example refused 5 of 5 messages (100%")
    assert "SPF, DKIM or DMARC did not pass (authfailure)" in said[4] and "5.7.26" in said[4]


def test_unknown_users_never_pause_a_send() -> None:
    watch = RefusalWatch(domain_share=0.02, overall_share=0.01, minimum=5)
    for index in range(50):
        assert watch.observe(f"u{index}@gone.example", refused(index, "550 5.1.1 no such user")) == ""


def test_the_overall_share_catches_refusals_spread_over_many_domains() -> None:
    watch = RefusalWatch(domain_share=0.5, overall_share=0.01, minimum=5)
    for index in range(400):
        assert watch.observe(f"r{index}@fine{index % 7}.example", ok(index)) == ""
    blocked = "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"
    said = [watch.observe(f"x@domain{index}.example", refused(index, blocked)) for index in range(5)]
    assert said[:4] == [""] * 4
    assert said[4].startswith("receivers refused us: receivers overall refused 5 of 405 messages")
    assert "(blocked)" in said[4]


def test_below_the_shares_the_send_goes_on() -> None:
    watch = RefusalWatch(domain_share=0.02, overall_share=0.01, minimum=5)
    said = []
    for index in range(1000):
        outcome = refused(index) if index % 200 == 0 else ok(index)  # 0.5% of one big domain
        said.append(watch.observe(f"r{index}@big.example", outcome))
    assert set(said) == {""}


def test_temporary_sender_side_refusals_count_too() -> None:
    watch = RefusalWatch(domain_share=0.02, overall_share=1, minimum=2)
    rate = "421 4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP"
    first = watch.observe("a@gmail.example", refused(1, rate, Outcome.temporary))
    second = watch.observe("b@gmail.example", refused(2, rate, Outcome.temporary))
    assert first == "" and "badreputation" in second


def test_shares_of_one_disable_it_and_settings_build_it() -> None:
    watch = RefusalWatch.from_settings(
        Settings(sender_refusal_domain_share=1, sender_refusal_share=1, sender_refusal_minimum=1)
    )
    assert all(watch.observe(f"{i}@strict.example", refused(i)) == "" for i in range(20))
    default = RefusalWatch.from_settings(Settings())
    assert (default.domain_share, default.overall_share, default.minimum) == (0.02, 0.01, 5)
