"""CMPP 2.0 / 3.0 numbers (PROTOCOLS.md C): command ids, status and result codes with the
text an operator sees, Msg_Fmt values, report Stat values, versions and sizes."""

from __future__ import annotations

import enum

HEADER_SIZE = 12
RESPONSE_BIT = 0x80000000

#: Version octets of CMPP_CONNECT / _RESP (high nibble major, low nibble minor).
VERSION_20 = 0x20
VERSION_21 = 0x21
VERSION_30 = 0x30

#: Largest PDU either layout can produce: a 3.0 SUBMIT with 255 destinations and 255 octets
#: of content (DestUsr_tl and Msg_Length are single octets).
MAX_PDU_SIZE = HEADER_SIZE + 151 + 32 * 255 + 255


def layout_version(version: int) -> int:
    """Map a configured version (2, 3, or a wire octet 0x20/0x21/0x30) to its layout, 2 or 3.

    CMPP 2.1 (0x21) only added result codes, so it uses the 2.0 layout."""
    if version in (2, VERSION_20, VERSION_21):
        return 2
    if version in (3, VERSION_30):
        return 3
    raise ValueError(f"unsupported CMPP version {version!r}: use 2 or 3")


def wire_version(version: int) -> int:
    """The Version octet a CONNECT of this layout announces by default."""
    return VERSION_20 if layout_version(version) == 2 else VERSION_30


class CommandId(enum.IntEnum):
    """Command_Id values (C.2). The ISMG<->ISMG/GNS messages (FWD and the route messages,
    0x09-0x17) are named for display but have no PDU classes: they are decoded as unknown
    commands."""

    CONNECT = 0x00000001
    CONNECT_RESP = 0x80000001
    TERMINATE = 0x00000002
    TERMINATE_RESP = 0x80000002
    SUBMIT = 0x00000004
    SUBMIT_RESP = 0x80000004
    DELIVER = 0x00000005
    DELIVER_RESP = 0x80000005
    QUERY = 0x00000006
    QUERY_RESP = 0x80000006
    CANCEL = 0x00000007
    CANCEL_RESP = 0x80000007
    ACTIVE_TEST = 0x00000008
    ACTIVE_TEST_RESP = 0x80000008
    FWD = 0x00000009
    FWD_RESP = 0x80000009
    MT_ROUTE = 0x00000010
    MT_ROUTE_RESP = 0x80000010
    MO_ROUTE = 0x00000011
    MO_ROUTE_RESP = 0x80000011
    GET_MT_ROUTE = 0x00000012
    GET_MT_ROUTE_RESP = 0x80000012
    MT_ROUTE_UPDATE = 0x00000013
    MT_ROUTE_UPDATE_RESP = 0x80000013
    MO_ROUTE_UPDATE = 0x00000014
    MO_ROUTE_UPDATE_RESP = 0x80000014
    PUSH_MT_ROUTE_UPDATE = 0x00000015
    PUSH_MT_ROUTE_UPDATE_RESP = 0x80000015
    PUSH_MO_ROUTE_UPDATE = 0x00000016
    PUSH_MO_ROUTE_UPDATE_RESP = 0x80000016
    GET_MO_ROUTE = 0x00000017
    GET_MO_ROUTE_RESP = 0x80000017


def command_name(command_id: int) -> str:
    try:
        return CommandId(command_id).name
    except ValueError:
        return f"UNKNOWN_0x{command_id:08X}"


class ConnectStatus(enum.IntEnum):
    """Status of CMPP_CONNECT_RESP (C.4); 5 and above mean "other error"."""

    OK = 0
    STRUCTURE_ERROR = 1
    ILLEGAL_SOURCE_ADDR = 2
    AUTHENTICATION_ERROR = 3
    VERSION_TOO_HIGH = 4
    OTHER_ERROR = 5

    @property
    def description(self) -> str:
        return connect_status_description(self)


_CONNECT_TEXT: dict[int, str] = {
    0: "success",
    1: "message structure error",
    2: "illegal source address",
    3: "authentication error",
    4: "version too high",
}


def connect_status_description(code: int) -> str:
    return _CONNECT_TEXT.get(code, f"other error ({code})")


def connect_status_name(code: int) -> str:
    try:
        return ConnectStatus(code).name
    except ValueError:
        return f"STATUS_{code}"


class Result(enum.IntEnum):
    """Result of CMPP_SUBMIT_RESP and CMPP_DELIVER_RESP (C.7, C.11). 0-8 exist in 2.0,
    9-13 were added in 2.1/3.0; 0-99 are reserved for CMPP, 100-199 vendor-defined."""

    OK = 0
    STRUCTURE_ERROR = 1
    COMMAND_ERROR = 2
    DUPLICATE_SEQUENCE = 3
    LENGTH_ERROR = 4
    FEE_CODE_ERROR = 5
    TOO_LONG = 6
    SERVICE_ID_ERROR = 7
    FLOW_CONTROL = 8
    NOT_SERVED = 9
    SRC_ID_ERROR = 10
    MSG_SRC_ERROR = 11
    FEE_TERMINAL_ERROR = 12
    DEST_TERMINAL_ERROR = 13

    @property
    def description(self) -> str:
        return result_description(self)


_RESULT_TEXT: dict[int, str] = {
    0: "success",
    1: "message structure error",
    2: "command word error",
    3: "duplicate sequence number",
    4: "message length error",
    5: "fee code error",
    6: "exceeds maximum message length",
    7: "service code (Service_Id) error",
    8: "flow control error",
    9: "this gateway does not serve the charged number",
    10: "Src_Id error",
    11: "Msg_src error",
    12: "Fee_terminal_Id error",
    13: "Dest_terminal_Id error",
}


def result_description(code: int) -> str:
    if code in _RESULT_TEXT:
        return _RESULT_TEXT[code]
    if 100 <= code <= 199:
        return f"vendor-defined error ({code})"
    return f"other error ({code})"


def result_name(code: int) -> str:
    try:
        return Result(code).name
    except ValueError:
        return f"RESULT_{code}"


def cancel_status_description(code: int) -> str:
    """Success_Id of CMPP_CANCEL_RESP: 0 success, 1 failure."""
    return {0: "success", 1: "failure"}.get(code, f"unknown ({code})")


class MsgFmt(enum.IntEnum):
    """Msg_Fmt values (C.10). 15 is decoded as GB18030 (a superset of GBK and GB2312)."""

    ASCII = 0
    SIM_WRITE = 3
    BINARY = 4
    UCS2 = 8
    GB = 15


class FeeUserType(enum.IntEnum):
    DESTINATION = 0
    SOURCE = 1
    SP = 2
    FEE_TERMINAL = 3


#: Final and intermediate Stat values of a status report (C.9).
REPORT_STATS: dict[str, str] = {
    "DELIVRD": "delivered to the handset",
    "EXPIRED": "validity period expired",
    "DELETED": "deleted",
    "UNDELIV": "undeliverable",
    "ACCEPTD": "accepted (intermediate state)",
    "UNKNOWN": "unknown",
    "REJECTD": "rejected",
}

#: Two-letter prefixes of gateway-generated Stat codes ("MA:0001" ...).
REPORT_STAT_PREFIXES: dict[str, str] = {
    "MA": "SMSC gave no response",
    "MB": "SMSC returned an error",
    "MC": "no report from the SMSC",
    "CA": "SCP gave no response",
    "CB": "SCP returned an error",
    "DA": "DSMP gave no response",
    "DB": "DSMP returned an error",
    "SA": "SP gave no response",
    "SB": "SP returned an error",
    "IA": "next ISMG gave no response",
    "IB": "next ISMG returned an error",
    "IC": "no report from the next ISMG",
}


def stat_description(stat: str) -> str:
    if stat in REPORT_STATS:
        return REPORT_STATS[stat]
    prefix, colon, code = stat.partition(":")
    if colon and prefix in REPORT_STAT_PREFIXES:
        return f"{REPORT_STAT_PREFIXES[prefix]} (code {code})"
    return f"unrecognised stat {stat!r}"
