"""SMGP 3.0 PDUs (PROTOCOLS.md D) as plain dataclasses, one per message, fields named
after the spec in snake_case.

Fixed Octet Strings are ``str`` (latin-1, trailing 0x00 padding stripped on decode and
added on encode); MsgID and authenticators are raw ``bytes`` of their exact size; TLVs
are kept as ``list[Tlv]`` in wire order, unknown tags included, with typed accessors for
the tags of D.10 (``submit.pk_total = 2`` adds or replaces the TLV, ``= None`` removes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, overload

from ..errors import LocalProtocolError
from ..tlv import Tlv, WithTlvs
from .constants import VERSION, CommandId, LoginMode, MsgFormat, MsgType, TlvTag

_NO_AUTH = bytes(16)
_NO_MSG_ID = bytes(10)




class _U8Tlv:
    """A one-octet integer TLV as an attribute: ``int | None``."""

    def __init__(self, tag: TlvTag) -> None:
        self.tag = tag

    @overload
    def __get__(self, obj: None, owner: type) -> _U8Tlv: ...
    @overload
    def __get__(self, obj: WithTlvs, owner: type) -> int | None: ...
    def __get__(self, obj: WithTlvs | None, owner: type) -> _U8Tlv | int | None:
        if obj is None:
            return self
        value = obj.get_tlv(self.tag)
        return value[0] if value else None

    def __set__(self, obj: WithTlvs, value: int | None) -> None:
        if value is not None and not 0 <= value <= 255:
            raise LocalProtocolError(f"{self.tag.name} must fit in one octet, got {value}")
        obj.set_tlv(self.tag, None if value is None else bytes((value,)))


class _StrTlv:
    """An octet-string TLV as an attribute: ``str | None`` (latin-1, padding stripped).
    With ``size`` the value is written 0x00-padded to exactly that many octets."""

    def __init__(self, tag: TlvTag, size: int | None = None) -> None:
        self.tag = tag
        self.size = size

    @overload
    def __get__(self, obj: None, owner: type) -> _StrTlv: ...
    @overload
    def __get__(self, obj: WithTlvs, owner: type) -> str | None: ...
    def __get__(self, obj: WithTlvs | None, owner: type) -> _StrTlv | str | None:
        if obj is None:
            return self
        value = obj.get_tlv(self.tag)
        return None if value is None else value.rstrip(b"\0").decode("latin-1")

    def __set__(self, obj: WithTlvs, value: str | None) -> None:
        if value is None:
            obj.set_tlv(self.tag, None)
            return
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise LocalProtocolError(f"{self.tag.name} must be latin-1 text") from None
        if self.size is not None:
            if len(raw) > self.size:
                raise LocalProtocolError(f"{self.tag.name} longer than {self.size} octets")
            raw = raw.ljust(self.size, b"\0")
        obj.set_tlv(self.tag, raw)


class _Tlvs(WithTlvs):
    __slots__ = ()
    tp_pid = _U8Tlv(TlvTag.TP_PID)
    tp_udhi = _U8Tlv(TlvTag.TP_UDHI)
    link_id = _StrTlv(TlvTag.LINK_ID, 20)
    charge_user_type = _U8Tlv(TlvTag.CHARGE_USER_TYPE)
    charge_term_type = _U8Tlv(TlvTag.CHARGE_TERM_TYPE)
    charge_term_pseudo = _StrTlv(TlvTag.CHARGE_TERM_PSEUDO)
    dest_term_type = _U8Tlv(TlvTag.DEST_TERM_TYPE)
    dest_term_pseudo = _StrTlv(TlvTag.DEST_TERM_PSEUDO)
    pk_total = _U8Tlv(TlvTag.PK_TOTAL)
    pk_number = _U8Tlv(TlvTag.PK_NUMBER)
    submit_msg_type = _U8Tlv(TlvTag.SUBMIT_MSG_TYPE)
    sp_deal_result = _U8Tlv(TlvTag.SP_DEAL_RESULT)
    src_term_type = _U8Tlv(TlvTag.SRC_TERM_TYPE)
    src_term_pseudo = _StrTlv(TlvTag.SRC_TERM_PSEUDO)
    nodes_count = _U8Tlv(TlvTag.NODES_COUNT)
    msg_src = _StrTlv(TlvTag.MSG_SRC, 8)
    src_type = _U8Tlv(TlvTag.SRC_TYPE)
    mservice_id = _StrTlv(TlvTag.MSERVICE_ID, 21)

    @property
    def udhi(self) -> bool:
        """Whether MsgContent starts with a UDH: TP_udhi set (1 per spec; 0x40 as some
        gateways copy it from SMPP esm_class, PROTOCOLS.md E.6)."""
        value = self.tp_udhi
        return bool(value and value & 0x41)


# ------------------------------------------------------------------------- requests


@dataclass(slots=True)
class Login:
    command_id: ClassVar[int] = CommandId.LOGIN
    sequence: int = 0
    client_id: str = ""
    authenticator_client: bytes = _NO_AUTH
    login_mode: int = LoginMode.TRANSMIT
    timestamp: int = 0
    client_version: int = VERSION


@dataclass(slots=True)
class Submit(_Tlvs):
    command_id: ClassVar[int] = CommandId.SUBMIT
    sequence: int = 0
    msg_type: int = MsgType.MT
    need_report: int = 0
    priority: int = 0
    service_id: str = ""
    fee_type: str = ""
    fee_code: str = ""
    fixed_fee: str = ""
    msg_format: int = MsgFormat.ASCII
    valid_time: str = ""
    at_time: str = ""
    src_term_id: str = ""
    charge_term_id: str = ""
    dest_term_ids: list[str] = field(default_factory=list)
    msg_content: bytes = b""
    reserve: str = ""
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class Deliver(_Tlvs):
    command_id: ClassVar[int] = CommandId.DELIVER
    sequence: int = 0
    msg_id: bytes = _NO_MSG_ID
    is_report: int = 0
    msg_format: int = MsgFormat.ASCII
    recv_time: str = ""
    src_term_id: str = ""
    dest_term_id: str = ""
    msg_content: bytes = b""
    reserve: str = ""
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class ActiveTest:
    command_id: ClassVar[int] = CommandId.ACTIVE_TEST
    sequence: int = 0


@dataclass(slots=True)
class Exit:
    command_id: ClassVar[int] = CommandId.EXIT
    sequence: int = 0


@dataclass(slots=True)
class Query:
    command_id: ClassVar[int] = CommandId.QUERY
    sequence: int = 0
    query_time: str = ""  # YYYYMMDD
    query_type: int = 0  # 0 totals, 1 per service
    query_code: str = ""


# ------------------------------------------------------------------------ responses


@dataclass(slots=True)
class LoginResp:
    command_id: ClassVar[int] = CommandId.LOGIN_RESP
    sequence: int = 0
    status: int = 0
    authenticator_server: bytes = _NO_AUTH
    server_version: int = VERSION


@dataclass(slots=True)
class SubmitResp:
    command_id: ClassVar[int] = CommandId.SUBMIT_RESP
    sequence: int = 0
    msg_id: bytes = _NO_MSG_ID
    status: int = 0


@dataclass(slots=True)
class DeliverResp:
    command_id: ClassVar[int] = CommandId.DELIVER_RESP
    sequence: int = 0
    msg_id: bytes = _NO_MSG_ID
    status: int = 0


@dataclass(slots=True)
class ActiveTestResp:
    command_id: ClassVar[int] = CommandId.ACTIVE_TEST_RESP
    sequence: int = 0

    @property
    def status(self) -> int:
        return 0


@dataclass(slots=True)
class ExitResp:
    command_id: ClassVar[int] = CommandId.EXIT_RESP
    sequence: int = 0

    @property
    def status(self) -> int:
        return 0


@dataclass(slots=True)
class QueryResp:
    """Traffic counters of one day; no Status field. ``reserve`` is the spec-only
    8-octet trailer (PROTOCOLS.md F.17)."""

    command_id: ClassVar[int] = CommandId.QUERY_RESP
    sequence: int = 0
    query_time: str = ""
    query_type: int = 0
    query_code: str = ""
    mt_tlmsg: int = 0  # MT messages received from the SP
    mt_tlusr: int = 0  # MT users
    mt_scs: int = 0  # MT delivered
    mt_wt: int = 0  # MT waiting
    mt_fl: int = 0  # MT failed
    mo_scs: int = 0  # MO delivered to the SP
    mo_wt: int = 0  # MO waiting
    mo_fl: int = 0  # MO failed
    reserve: str = ""

    @property
    def status(self) -> int:
        return 0


Pdu = (
    Login | LoginResp | Submit | SubmitResp | Deliver | DeliverResp | ActiveTest
    | ActiveTestResp | Exit | ExitResp | Query | QueryResp
)

PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        Login, LoginResp, Submit, SubmitResp, Deliver, DeliverResp, ActiveTest,
        ActiveTestResp, Exit, ExitResp, Query, QueryResp,
    )
}
