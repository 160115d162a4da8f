"""SMGP 3.0 (China Telecom, spec revision 3.0.3; PROTOCOLS.md D): PDUs, the construct
schema, the struct hot-path codec, the login/session state machine for the SP (client)
and SMGW (server) roles, the 10-octet BCD MsgID, the 122-octet status report and the
``describe`` rendering. Login, Submit, Deliver, Active_Test, Exit and Query with their
responses are implemented; the route and payment messages (0x05, 0x08-0x12) decode as
unknown commands (Status 11).

Imports only the standard library, ``construct`` and ``protocols``.
"""

from __future__ import annotations

from .codec import decode, encode
from .constants import (
    VERSION,
    CommandId,
    LoginMode,
    MsgFormat,
    MsgType,
    Status,
    TlvTag,
    status_description,
)
from .describe import describe
from .msgid import MsgIdParts, build_msg_id, msg_id_from_hex, msg_id_hex, msg_id_offset, parse_msg_id
from .pdus import (
    ActiveTest,
    ActiveTestResp,
    Deliver,
    DeliverResp,
    Exit,
    ExitResp,
    Login,
    LoginResp,
    Pdu,
    Query,
    QueryResp,
    Submit,
    SubmitResp,
)
from .report import Report, decode_report, encode_report, report_text
from .session import SmgpSession, authenticator_client, authenticator_server, login_timestamp

__all__ = [
    "VERSION",
    "ActiveTest",
    "ActiveTestResp",
    "CommandId",
    "Deliver",
    "DeliverResp",
    "Exit",
    "ExitResp",
    "Login",
    "LoginMode",
    "LoginResp",
    "MsgFormat",
    "MsgIdParts",
    "MsgType",
    "Pdu",
    "Query",
    "QueryResp",
    "Report",
    "SmgpSession",
    "Status",
    "Submit",
    "SubmitResp",
    "TlvTag",
    "authenticator_client",
    "authenticator_server",
    "build_msg_id",
    "decode",
    "decode_report",
    "describe",
    "encode",
    "encode_report",
    "login_timestamp",
    "msg_id_from_hex",
    "msg_id_hex",
    "msg_id_offset",
    "parse_msg_id",
    "report_text",
    "status_description",
]
