"""One dataclass per CMPP PDU (PROTOCOLS.md C), shared by CMPP 2.0 and 3.0.

The layout is chosen when encoding/decoding (``version=2`` or ``3``), not by the class.
Fields that exist in only one version are marked below; the other version ignores them
on encode and leaves them at their default on decode:

* 3.0 only: ``Submit.fee_terminal_type``, ``Submit.dest_terminal_type``, ``Submit.link_id``,
  ``Deliver.src_terminal_type``, ``Deliver.link_id``;
* 2.0 only: ``Submit.reserve`` (8 octets), ``Deliver.reserved`` (8 octets).

Width differences (Status/Result/Success_Id 1 vs 4 octets, terminal ids 21 vs 32 octets)
need no extra fields. Fixed OctetStrings are ``str`` (latin-1, trailing NULs stripped);
Msg_Id is the big-endian u64 as an ``int`` (E.2); message content is ``bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .constants import VERSION_30, CommandId

_NO_AUTH = bytes(16)


@dataclass(slots=True)
class Connect:
    command_id: ClassVar[int] = CommandId.CONNECT
    sequence: int = 0
    source_addr: str = ""
    authenticator_source: bytes = _NO_AUTH
    version: int = VERSION_30
    timestamp: int = 0  # MMDDHHMMSS as a decimal integer


@dataclass(slots=True)
class ConnectResp:
    command_id: ClassVar[int] = CommandId.CONNECT_RESP
    sequence: int = 0
    status: int = 0  # 1 octet in 2.0, 4 in 3.0
    authenticator_ismg: bytes = _NO_AUTH
    version: int = VERSION_30


@dataclass(slots=True)
class Terminate:
    command_id: ClassVar[int] = CommandId.TERMINATE
    sequence: int = 0


@dataclass(slots=True)
class TerminateResp:
    command_id: ClassVar[int] = CommandId.TERMINATE_RESP
    sequence: int = 0

    @property
    def status(self) -> int:
        return 0


@dataclass(slots=True)
class ActiveTest:
    command_id: ClassVar[int] = CommandId.ACTIVE_TEST
    sequence: int = 0


@dataclass(slots=True)
class ActiveTestResp:
    command_id: ClassVar[int] = CommandId.ACTIVE_TEST_RESP
    sequence: int = 0
    reserved: int = 0  # one octet in both versions (E.13)

    @property
    def status(self) -> int:
        return 0


@dataclass(slots=True)
class Submit:
    command_id: ClassVar[int] = CommandId.SUBMIT
    sequence: int = 0
    msg_id: int = 0
    pk_total: int = 1
    pk_number: int = 1
    registered_delivery: int = 0
    msg_level: int = 0
    service_id: str = ""
    fee_user_type: int = 0
    fee_terminal_id: str = ""  # 21 octets in 2.0, 32 in 3.0
    fee_terminal_type: int = 0  # 3.0 only
    tp_pid: int = 0
    tp_udhi: int = 0
    msg_fmt: int = 0
    msg_src: str = ""
    fee_type: str = ""
    fee_code: str = ""
    valid_time: str = ""
    at_time: str = ""
    src_id: str = ""
    dest_terminal_ids: list[str] = field(default_factory=list)  # 21 / 32 octets each
    dest_terminal_type: int = 0  # 3.0 only
    msg_content: bytes = b""
    link_id: str = ""  # 3.0 only
    reserve: str = ""  # 2.0 only


@dataclass(slots=True)
class SubmitResp:
    command_id: ClassVar[int] = CommandId.SUBMIT_RESP
    sequence: int = 0
    msg_id: int = 0
    result: int = 0  # 1 octet in 2.0, 4 in 3.0

    @property
    def status(self) -> int:
        return self.result


@dataclass(slots=True)
class Deliver:
    command_id: ClassVar[int] = CommandId.DELIVER
    sequence: int = 0
    msg_id: int = 0
    dest_id: str = ""
    service_id: str = ""
    tp_pid: int = 0
    tp_udhi: int = 0
    msg_fmt: int = 0
    src_terminal_id: str = ""  # 21 octets in 2.0, 32 in 3.0
    src_terminal_type: int = 0  # 3.0 only
    registered_delivery: int = 0  # 1: msg_content is a status report (report.py)
    msg_content: bytes = b""
    link_id: str = ""  # 3.0 only
    reserved: str = ""  # 2.0 only


@dataclass(slots=True)
class DeliverResp:
    command_id: ClassVar[int] = CommandId.DELIVER_RESP
    sequence: int = 0
    msg_id: int = 0
    result: int = 0  # 1 octet in 2.0, 4 in 3.0

    @property
    def status(self) -> int:
        return self.result


@dataclass(slots=True)
class Query:
    command_id: ClassVar[int] = CommandId.QUERY
    sequence: int = 0
    time: str = ""  # YYYYMMDD
    query_type: int = 0  # 0 totals, 1 by service
    query_code: str = ""
    reserve: str = ""


@dataclass(slots=True)
class QueryResp:
    command_id: ClassVar[int] = CommandId.QUERY_RESP
    sequence: int = 0
    time: str = ""
    query_type: int = 0
    query_code: str = ""
    mt_tlmsg: int = 0
    mt_tlusr: int = 0
    mt_scs: int = 0
    mt_wt: int = 0
    mt_fl: int = 0
    mo_scs: int = 0
    mo_wt: int = 0
    mo_fl: int = 0

    @property
    def status(self) -> int:
        return 0


@dataclass(slots=True)
class Cancel:
    command_id: ClassVar[int] = CommandId.CANCEL
    sequence: int = 0
    msg_id: int = 0


@dataclass(slots=True)
class CancelResp:
    command_id: ClassVar[int] = CommandId.CANCEL_RESP
    sequence: int = 0
    success_id: int = 0  # 0 success, 1 failure; 1 octet in 2.0, 4 in 3.0 (CONFLICT 5)

    @property
    def status(self) -> int:
        return self.success_id


Pdu = (
    Connect | ConnectResp | Terminate | TerminateResp | ActiveTest | ActiveTestResp
    | Submit | SubmitResp | Deliver | DeliverResp | Query | QueryResp | Cancel | CancelResp
)

PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        Connect, ConnectResp, Terminate, TerminateResp, ActiveTest, ActiveTestResp, Submit,
        SubmitResp, Deliver, DeliverResp, Query, QueryResp, Cancel, CancelResp,
    )
}


def has_udh(pdu: Submit | Deliver) -> bool:
    """Whether Msg_Content starts with a User Data Header. The spec sets TP_udhi to 1; many
    gateways send 0x40 (SMPP esm_class habit), so either bit counts (E.6)."""
    return bool(pdu.tp_udhi & 0x41)
