"""The sans-I/O SMPP connection driven by bytes alone: both roles, each against the other, no sockets."""

from __future__ import annotations

import pytest

from taxsms.channels.smpp import (
    NEED_DATA,
    BindReceiver,
    BindState,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    CommandStatus,
    Connection,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    Event,
    GenericNack,
    LocalProtocolError,
    Refused,
    RemoteProtocolError,
    Response,
    Role,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    decode,
    encode,
    response_for,
)
from taxsms.channels.smpp.connection import MAX_SEQUENCE

S = CommandStatus
SUBMIT = SubmitSm(sequence_number=0, destination_addr="8613800138000", short_message=b"hi")


def events(conn: Connection) -> list[Event]:
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def feed(conn: Connection, data: bytes) -> list[Event]:
    conn.receive_data(data)
    return events(conn)


def pdus(data: bytes) -> list[object]:
    """Cut bytes into decoded PDUs (by command_length)."""
    out = []
    while data:
        length = int.from_bytes(data[:4], "big")
        out.append(decode(data[:length]))
        data = data[length:]
    return out


def bound_pair(bind: type = BindTransceiver) -> tuple[Connection, Connection]:
    """An ESME and an SMSC connection, bound through bytes passed between them."""
    esme, smsc = Connection(Role.ESME), Connection(Role.SMSC)
    (request,) = feed(smsc, esme.send(bind(sequence_number=0, system_id="taxsms", password="pw"), "bind"))
    (answer,) = feed(esme, smsc.send(response_for(request, system_id="sim")))
    assert isinstance(answer, Response) and answer.context == "bind"
    assert esme.state is smsc.state is {BindTransceiver: BindState.BOUND_TRX, BindTransmitter: BindState.BOUND_TX,
                                        BindReceiver: BindState.BOUND_RX}[bind]  # fmt: skip
    return esme, smsc


# -- one against the other ---------------------------------------------------------------------------------------


def test_esme_and_smsc_talk_through_bytes_alone() -> None:
    esme, smsc = bound_pair()
    wire = esme.send(SUBMIT, "job-1") + esme.send(SUBMIT, "job-2")
    first, second = feed(smsc, wire)
    assert isinstance(first, SubmitSm) and first.short_message == b"hi" and smsc.owed == 2
    # answered out of order, each answer reaches its own context
    answers = feed(esme, smsc.send(SubmitSmResp(sequence_number=second.sequence_number, message_id="b"))
                   + smsc.send(SubmitSmResp(sequence_number=first.sequence_number, message_id="a")))  # fmt: skip
    assert [(a.context, a.pdu.message_id) for a in answers] == [("job-2", "b"), ("job-1", "a")]  # type: ignore[union-attr]
    assert esme.in_flight == 0 and smsc.owed == 0
    # the SMSC's deliver_sm, answered by the ESME
    (deliver,) = feed(esme, smsc.send(DeliverSm(sequence_number=0, short_message=b"TD"), "mo"))
    assert isinstance(deliver, DeliverSm) and deliver.short_message == b"TD"
    (ack,) = feed(smsc, esme.send(DeliverSmResp(sequence_number=deliver.sequence_number)))
    assert isinstance(ack, Response) and ack.context == "mo" and ack.pdu.command_status == 0


def test_any_chunking_gives_the_same_events() -> None:
    esme, smsc = bound_pair()
    wire = b"".join(esme.send(SubmitSm(sequence_number=0, short_message=bytes([i]))) for i in range(5))
    got = []
    for i in range(len(wire)):
        got += feed(smsc, wire[i : i + 1])
    assert [p.short_message for p in got] == [bytes([i]) for i in range(5)]  # type: ignore[union-attr]


def test_unbind_from_either_side() -> None:
    esme, smsc = bound_pair()
    (unbind,) = feed(smsc, esme.send(Unbind(sequence_number=0), "bye"))
    assert isinstance(unbind, Unbind) and smsc.state is esme.state is BindState.UNBOUND
    (answer,) = feed(esme, smsc.data_to_send())  # the SMSC answered unbind on its own
    assert isinstance(answer.pdu, UnbindResp) and answer.context == "bye"  # type: ignore[union-attr]
    with pytest.raises(LocalProtocolError):
        esme.send(SUBMIT)
    esme, smsc = bound_pair()
    feed(esme, smsc.send(Unbind(sequence_number=0)))
    assert esme.state is BindState.UNBOUND and isinstance(pdus(esme.data_to_send())[0], UnbindResp)


def test_enquire_link_is_answered_by_the_connection_in_either_role_and_state() -> None:
    esme, smsc = Connection(Role.ESME), Connection(Role.SMSC)
    assert feed(smsc, esme.send(EnquireLink(sequence_number=0), "ping")) == []  # OPEN: answered too
    (pong,) = feed(esme, smsc.data_to_send())
    assert isinstance(pong.pdu, EnquireLinkResp) and pong.context == "ping"  # type: ignore[union-attr]
    esme, smsc = bound_pair()
    assert feed(esme, smsc.send(EnquireLink(sequence_number=0))) == []
    (answer,) = pdus(esme.data_to_send())
    assert isinstance(answer, EnquireLinkResp) and answer.sequence_number == 1


# -- bind states -------------------------------------------------------------------------------------------------


def test_submit_before_bind_is_refused_on_both_sides() -> None:
    esme, smsc = Connection(Role.ESME), Connection(Role.SMSC)
    with pytest.raises(LocalProtocolError) as refused:
        esme.send(SUBMIT)
    assert refused.value.status == S.ESME_RINVBNDSTS
    (event,) = feed(smsc, encode(SubmitSm(sequence_number=9, short_message=b"x")))
    assert isinstance(event, Refused) and event.status == S.ESME_RINVBNDSTS and isinstance(event.pdu, SubmitSm)
    (answer,) = pdus(smsc.data_to_send())
    assert isinstance(answer, SubmitSmResp) and (answer.sequence_number, answer.command_status) == (9, 4)


def test_a_refused_bind_stays_open_and_may_bind_again() -> None:
    esme, smsc = Connection(Role.ESME), Connection(Role.SMSC)
    (bind,) = feed(smsc, esme.send(BindTransceiver(sequence_number=0, system_id="taxsms", password="bad")))
    (answer,) = feed(esme, smsc.send(response_for(bind, command_status=S.ESME_RINVPASWD)))
    assert answer.pdu.command_status == S.ESME_RINVPASWD  # type: ignore[union-attr]
    assert esme.state is smsc.state is BindState.OPEN
    (bind,) = feed(smsc, esme.send(BindTransceiver(sequence_number=0, system_id="taxsms", password="pw")))
    feed(esme, smsc.send(response_for(bind)))
    assert esme.state is smsc.state is BindState.BOUND_TRX


def test_a_generic_nack_to_a_bind_does_not_bind() -> None:
    esme, smsc = Connection(Role.ESME), Connection(Role.SMSC)
    (bind,) = feed(smsc, esme.send(BindTransceiver(sequence_number=0, system_id="x")))
    feed(esme, smsc.send(GenericNack(sequence_number=bind.sequence_number)))  # type: ignore[union-attr]
    assert esme.state is smsc.state is BindState.OPEN


def test_bind_twice_is_already_bound() -> None:
    esme, smsc = bound_pair()
    (event,) = feed(smsc, encode(BindTransceiver(sequence_number=40, system_id="taxsms")))
    assert isinstance(event, Refused) and event.status == S.ESME_RALYBND
    (answer,) = pdus(smsc.data_to_send())
    assert isinstance(answer, BindTransceiverResp) and answer.command_status == S.ESME_RALYBND
    with pytest.raises(LocalProtocolError) as refused:
        esme.send(BindTransceiver(sequence_number=0, system_id="taxsms"))
    assert refused.value.status == S.ESME_RALYBND


def test_what_each_bind_type_may_carry() -> None:
    esme, smsc = bound_pair(BindReceiver)
    with pytest.raises(LocalProtocolError):
        esme.send(SUBMIT)  # a receiver does not submit
    feed(esme, smsc.send(DeliverSm(sequence_number=0, short_message=b"mo")))  # but is delivered to
    esme, smsc = bound_pair(BindTransmitter)
    with pytest.raises(LocalProtocolError):
        smsc.send(DeliverSm(sequence_number=0))  # a transmitter is not delivered to
    (event,) = feed(esme, encode(DeliverSm(sequence_number=3)))
    assert isinstance(event, Refused) and event.status == S.ESME_RINVBNDSTS


def test_requests_the_peers_role_never_sends_get_rinvcmdid() -> None:
    esme, smsc = bound_pair()
    (event,) = feed(smsc, encode(DeliverSm(sequence_number=5)))  # an ESME does not deliver_sm
    assert isinstance(event, Refused) and event.status == S.ESME_RINVCMDID
    (event,) = feed(esme, encode(SubmitSm(sequence_number=6)))  # an SMSC does not submit_sm
    assert isinstance(event, Refused) and event.status == S.ESME_RINVCMDID
    assert [p.command_status for p in pdus(smsc.data_to_send() + esme.data_to_send())] == [3, 3]  # type: ignore[attr-defined]
    with pytest.raises(LocalProtocolError):
        smsc.send(SUBMIT)


def test_responses_must_answer_a_request_received() -> None:
    esme, smsc = bound_pair()
    with pytest.raises(LocalProtocolError):
        smsc.send(SubmitSmResp(sequence_number=77))  # nothing received as 77
    (submit,) = feed(smsc, esme.send(SUBMIT))
    with pytest.raises(LocalProtocolError):
        smsc.send(DeliverSmResp(sequence_number=submit.sequence_number))  # the wrong kind of answer
    smsc.send(GenericNack(sequence_number=submit.sequence_number, command_status=S.ESME_RSYSERR))  # may answer anything
    assert smsc.owed == 0


# -- window and sequence numbers ----------------------------------------------------------------------------------


def test_sequence_numbers_wrap_at_0x7fffffff_to_1() -> None:
    esme = Connection(Role.ESME, last_sequence=MAX_SEQUENCE - 1)
    numbers = [pdus(esme.send(EnquireLink(sequence_number=0)))[0].sequence_number for _ in range(3)]  # type: ignore[attr-defined]
    assert numbers == [MAX_SEQUENCE, 1, 2]


def test_sequence_numbers_skip_those_still_outstanding() -> None:
    esme = Connection(Role.ESME)
    esme.send(EnquireLink(sequence_number=0), "never answered")  # 1
    esme._sequence = MAX_SEQUENCE  # as after 2**31 - 2 more requests: the next number would be 1 again
    assert pdus(esme.send(EnquireLink(sequence_number=0)))[0].sequence_number == 2  # type: ignore[attr-defined]
    assert list(esme.outstanding) == [1, 2]


def test_late_and_mismatched_responses_are_ignored() -> None:
    esme, smsc = bound_pair()
    (submit,) = feed(smsc, esme.send(SUBMIT, "job"))
    assert esme.forget(submit.sequence_number) == "job"  # timed out: the caller resends it
    assert feed(esme, smsc.send(SubmitSmResp(sequence_number=submit.sequence_number, message_id="1"))) == []
    (submit,) = feed(smsc, esme.send(SUBMIT, "job"))
    wrong = encode(DeliverSmResp(sequence_number=submit.sequence_number))  # not an answer to submit_sm
    assert feed(esme, wrong) == [] and esme.in_flight == 1 and esme.unexpected_responses == 2


def test_close_hands_back_what_was_never_answered() -> None:
    esme, _smsc = bound_pair()
    for job in ("a", "b", "c"):
        esme.send(SUBMIT, job)
    assert esme.in_flight == 3
    assert esme.close() == ["a", "b", "c"] and esme.close() == []
    assert esme.state is BindState.CLOSED
    with pytest.raises(LocalProtocolError):
        esme.send(EnquireLink(sequence_number=0))


def test_an_encoded_frame_is_numbered_when_sent() -> None:
    esme, _smsc = bound_pair()
    frame = encode(SUBMIT)  # encoded once, e.g. to be sent again after a loss
    first, second = pdus(esme.send(frame, 1) + esme.send(frame, 2))
    assert (first.sequence_number, second.sequence_number) == (2, 3)  # type: ignore[attr-defined]
    assert encode(first) == frame[:12] + (2).to_bytes(4, "big") + frame[16:]  # type: ignore[arg-type]


# -- garbage ------------------------------------------------------------------------------------------------------


def test_generic_nack_on_garbage_and_the_stream_goes_on() -> None:
    esme, smsc = bound_pair()
    unknown = b"\x00\x00\x00\x10\x7f\x7f\x7f\x7f\x00\x00\x00\x00\x00\x00\x00\x2a"
    broken_body = b"\x00\x00\x00\x14\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x2b" + b"\xff" * 4
    first, second, third = feed(smsc, unknown + broken_body + esme.send(SUBMIT))
    assert isinstance(first, Refused) and first.pdu is None and first.status == S.ESME_RINVCMDID
    assert isinstance(second, Refused) and second.pdu is None and second.status != 0
    assert isinstance(third, SubmitSm)
    nack, resp = pdus(smsc.data_to_send())
    assert isinstance(nack, GenericNack) and (nack.sequence_number, nack.command_status) == (0x2A, S.ESME_RINVCMDID)
    assert isinstance(resp, SubmitSmResp) and resp.sequence_number == 0x2B and resp.command_status != 0


@pytest.mark.parametrize("role", list(Role))
def test_a_broken_stream_is_nacked_then_raises_after_the_good_events(role: Role) -> None:
    conn = Connection(role)
    good = encode(EnquireLink(sequence_number=3)) + encode(BindTransceiver(sequence_number=4, system_id="x"))
    conn.receive_data(good + b"\xff\xff\xff\xff" + bytes(12))
    expected = [BindTransceiver] if role is Role.SMSC else [Refused]  # an SMSC does not bind
    assert [type(e) for e in [conn.next_event()]] == expected
    with pytest.raises(RemoteProtocolError) as broken:
        conn.next_event()
    assert broken.value.status == S.ESME_RINVCMDLEN and conn.state is BindState.CLOSED
    *answers, nack = pdus(conn.data_to_send())
    assert isinstance(answers[0], EnquireLinkResp)
    assert isinstance(nack, GenericNack) and nack.command_status == S.ESME_RINVCMDLEN
    conn.receive_data(encode(EnquireLink(sequence_number=9)))  # nothing after a broken stream
    assert conn.data_to_send() == b""
