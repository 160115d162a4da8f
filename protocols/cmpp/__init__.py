"""CMPP 2.0 and 3.0 (China Mobile, PROTOCOLS.md C): PDUs, codec, session, Msg_Id, reports.

One package serves both versions; the layout is picked by the caller's configured version
(``decode(frame, version=3)``, ``encode(pdu, version=3)``, ``CmppSession(role, version=3)``),
never guessed from the peer (E.1). It owns: the PDU dataclasses (pdus), their construct
schemas (schema, the spec and test oracle), the struct hot path (codec), the session with
CONNECT authentication (session), the 64-bit Msg_Id (msgid), the status report inside
DELIVER (report) and the JSON rendering for ``smsgw decode`` (describe). The ISMG/GNS
route messages (Command_Id 0x09-0x17) are not implemented: they decode as unknown
commands. Imports: the standard library, ``construct`` and ``protocols`` only.
"""

from .codec import decode, encode
from .constants import (
    VERSION_20,
    VERSION_21,
    VERSION_30,
    CommandId,
    ConnectStatus,
    MsgFmt,
    Result,
    layout_version,
)
from .describe import describe
from .msgid import MsgId, make_msg_id
from .pdus import (
    ActiveTest,
    ActiveTestResp,
    Cancel,
    CancelResp,
    Connect,
    ConnectResp,
    Deliver,
    DeliverResp,
    Pdu,
    Query,
    QueryResp,
    Submit,
    SubmitResp,
    Terminate,
    TerminateResp,
    has_udh,
)
from .report import Report, decode_report, encode_report, report_of
from .session import CmppSession, authenticator_ismg, authenticator_source

__all__ = [
    "VERSION_20",
    "VERSION_21",
    "VERSION_30",
    "ActiveTest",
    "ActiveTestResp",
    "Cancel",
    "CancelResp",
    "CmppSession",
    "CommandId",
    "Connect",
    "ConnectResp",
    "ConnectStatus",
    "Deliver",
    "DeliverResp",
    "MsgFmt",
    "MsgId",
    "Pdu",
    "Query",
    "QueryResp",
    "Report",
    "Result",
    "Submit",
    "SubmitResp",
    "Terminate",
    "TerminateResp",
    "authenticator_ismg",
    "authenticator_source",
    "decode",
    "decode_report",
    "describe",
    "encode",
    "encode_report",
    "has_udh",
    "layout_version",
    "make_msg_id",
    "report_of",
]
