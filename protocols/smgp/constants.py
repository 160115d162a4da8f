"""SMGP 3.0 numbers (PROTOCOLS.md D): RequestIDs, Status codes with the text an operator
sees, TLV tags, login modes, message types and formats."""

from __future__ import annotations

import enum

HEADER_SIZE = 12
#: ClientVersion / ServerVersion of SMGP 3.0 (high nibble major, low nibble minor)
VERSION = 0x30
RESPONSE_BIT = 0x80000000
MSG_ID_SIZE = 10


class CommandId(enum.IntEnum):
    """RequestID values (D.2). Only the ones up to ``QUERY_RESP`` have PDU classes; the
    route and payment messages (0x05, 0x08-0x12) are named for display but decoded as
    unknown commands."""

    LOGIN = 0x00000001
    LOGIN_RESP = 0x80000001
    SUBMIT = 0x00000002
    SUBMIT_RESP = 0x80000002
    DELIVER = 0x00000003
    DELIVER_RESP = 0x80000003
    ACTIVE_TEST = 0x00000004
    ACTIVE_TEST_RESP = 0x80000004
    FORWARD = 0x00000005
    FORWARD_RESP = 0x80000005
    EXIT = 0x00000006
    EXIT_RESP = 0x80000006
    QUERY = 0x00000007
    QUERY_RESP = 0x80000007
    QUERY_TE_ROUTE = 0x00000008
    QUERY_TE_ROUTE_RESP = 0x80000008
    QUERY_SP_ROUTE = 0x00000009
    QUERY_SP_ROUTE_RESP = 0x80000009
    PAYMENT_REQUEST = 0x0000000A
    PAYMENT_REQUEST_RESP = 0x8000000A
    PAYMENT_AFFIRM = 0x0000000B
    PAYMENT_AFFIRM_RESP = 0x8000000B
    QUERY_USERSTATE = 0x0000000C
    QUERY_USERSTATE_RESP = 0x8000000C
    GET_ALL_TE_ROUTE = 0x0000000D
    GET_ALL_TE_ROUTE_RESP = 0x8000000D
    GET_ALL_SP_ROUTE = 0x0000000E
    GET_ALL_SP_ROUTE_RESP = 0x8000000E
    UPDATE_TE_ROUTE = 0x0000000F
    UPDATE_TE_ROUTE_RESP = 0x8000000F
    UPDATE_SP_ROUTE = 0x00000010
    UPDATE_SP_ROUTE_RESP = 0x80000010
    PUSH_UPDATE_TE_ROUTE = 0x00000011
    PUSH_UPDATE_TE_ROUTE_RESP = 0x80000011
    PUSH_UPDATE_SP_ROUTE = 0x00000012
    PUSH_UPDATE_SP_ROUTE_RESP = 0x80000012


class Status(enum.IntEnum):
    """Status of Login_Resp, Submit_Resp, Deliver_Resp (D.9). See ``status_description``
    for the operator text, including reserved and vendor ranges."""

    OK = 0
    SYSTEM_BUSY = 1
    TOO_MANY_CONNECTIONS = 2
    MESSAGE_STRUCTURE_ERROR = 10
    COMMAND_WORD_ERROR = 11
    DUPLICATE_SEQUENCE = 12
    IP_ADDRESS_ERROR = 20
    AUTHENTICATION_ERROR = 21
    VERSION_TOO_HIGH = 22
    ILLEGAL_MSG_TYPE = 30
    ILLEGAL_PRIORITY = 31
    ILLEGAL_FEE_TYPE = 32
    ILLEGAL_FEE_CODE = 33
    ILLEGAL_MSG_FORMAT = 34
    ILLEGAL_TIME_FORMAT = 35
    ILLEGAL_MSG_LENGTH = 36
    VALIDITY_EXPIRED = 37
    ILLEGAL_QUERY_TYPE = 38
    ROUTING_ERROR = 39
    ILLEGAL_FIXED_FEE = 40
    ILLEGAL_UPDATE_TYPE = 41
    ILLEGAL_ROUTE_ID = 42
    ILLEGAL_SERVICE_ID = 43
    ILLEGAL_VALID_TIME = 44
    ILLEGAL_AT_TIME = 45
    ILLEGAL_SRC_TERM_ID = 46
    ILLEGAL_DEST_TERM_ID = 47
    ILLEGAL_CHARGE_TERM_ID = 48
    ILLEGAL_SP_CODE = 49
    ILLEGAL_SRC_GATEWAY_ID = 56
    ILLEGAL_QUERY_TERM_ID = 57
    NO_MATCHING_ROUTE = 58
    ILLEGAL_SP_TYPE = 59
    ILLEGAL_LAST_ROUTE_ID = 60
    ILLEGAL_ROUTE_TYPE = 61
    ILLEGAL_DEST_GATEWAY_ID = 62
    ILLEGAL_DEST_GATEWAY_IP = 63
    ILLEGAL_DEST_GATEWAY_PORT = 64
    ILLEGAL_TERM_RANGE_ID = 65
    ILLEGAL_PROVINCE_CODE = 66
    ILLEGAL_USER_TYPE = 67
    ROUTE_UPDATE_UNSUPPORTED = 68
    ILLEGAL_SP_ID = 69
    ILLEGAL_SP_ACCESS_TYPE = 70
    ROUTE_UPDATE_FAILED = 71
    ILLEGAL_TIME = 72
    ILLEGAL_MSERVICE_ID = 73
    SENDING_FORBIDDEN_NOW = 74
    DAILY_VOLUME_EXCEEDED = 75
    ACCOUNT_EXPIRED = 76

    @property
    def description(self) -> str:
        return _STATUS_TEXT[self]


_STATUS_TEXT: dict[int, str] = {
    0: "success",
    1: "system busy",
    2: "too many connections",
    10: "message structure error",
    11: "command word error",
    12: "duplicate sequence number",
    20: "IP address error",
    21: "authentication error",
    22: "version too high",
    30: "illegal MsgType",
    31: "illegal Priority",
    32: "illegal FeeType",
    33: "illegal FeeCode",
    34: "illegal MsgFormat",
    35: "illegal time format",
    36: "illegal MsgLength",
    37: "validity period expired",
    38: "illegal QueryType",
    39: "routing error",
    40: "illegal FixedFee",
    41: "illegal UpdateType",
    42: "illegal RouteId",
    43: "illegal ServiceId",
    44: "illegal ValidTime",
    45: "illegal AtTime",
    46: "illegal SrcTermId",
    47: "illegal DestTermId",
    48: "illegal ChargeTermId",
    49: "illegal SPCode",
    56: "illegal SrcGatewayID",
    57: "illegal QueryTermID",
    58: "no matching route",
    59: "illegal SPType",
    60: "illegal LastRouteID",
    61: "illegal RouteType",
    62: "illegal DestGatewayID",
    63: "illegal DestGatewayIP",
    64: "illegal DestGatewayPort",
    65: "illegal TermRangeID",
    66: "illegal ProvinceCode",
    67: "illegal UserType",
    68: "node does not support route update",
    69: "illegal SPID",
    70: "illegal SPAccessType",
    71: "route update failed",
    72: "illegal Time",
    73: "illegal MServiceID",
    74: "SP sending forbidden in this time window",
    75: "SP exceeded daily volume",
    76: "SP account expired",
}


def status_description(code: int) -> str:
    """Operator text for any Status value, also the reserved and vendor ranges."""
    if code in _STATUS_TEXT:
        return _STATUS_TEXT[code]
    if 50 <= code <= 55 or 112 <= code <= 116:
        return f"status {code} (other uses)"
    if 128 <= code <= 255:
        return f"status {code} (vendor-defined)"
    return f"status {code} (reserved)"


def status_name(code: int) -> str:
    try:
        return Status(code).name
    except ValueError:
        return f"STATUS_{code}"


class LoginMode(enum.IntEnum):
    SEND = 0  # MT only
    RECEIVE = 1  # MO and reports only
    TRANSMIT = 2  # both


class MsgType(enum.IntEnum):
    MO = 0
    MT = 6
    POINT_TO_POINT = 7


class MsgFormat(enum.IntEnum):
    """MsgFormat (D.8). Text MT should use GB18030; reports must use ASCII."""

    ASCII = 0
    SIM_WRITE = 3
    BINARY = 4
    UCS2 = 8
    GB18030 = 15
    SIM_RELATED = 0xF6


class TlvTag(enum.IntEnum):
    """Optional parameter tags (D.10)."""

    TP_PID = 0x0001
    TP_UDHI = 0x0002
    LINK_ID = 0x0003
    CHARGE_USER_TYPE = 0x0004
    CHARGE_TERM_TYPE = 0x0005
    CHARGE_TERM_PSEUDO = 0x0006
    DEST_TERM_TYPE = 0x0007
    DEST_TERM_PSEUDO = 0x0008
    PK_TOTAL = 0x0009
    PK_NUMBER = 0x000A
    SUBMIT_MSG_TYPE = 0x000B
    SP_DEAL_RESULT = 0x000C
    SRC_TERM_TYPE = 0x000D
    SRC_TERM_PSEUDO = 0x000E
    NODES_COUNT = 0x000F
    MSG_SRC = 0x0010
    SRC_TYPE = 0x0011
    MSERVICE_ID = 0x0012


#: Tags whose value is one unsigned octet; the others are octet strings.
U8_TAGS = frozenset({
    TlvTag.TP_PID, TlvTag.TP_UDHI, TlvTag.CHARGE_USER_TYPE, TlvTag.CHARGE_TERM_TYPE,
    TlvTag.DEST_TERM_TYPE, TlvTag.PK_TOTAL, TlvTag.PK_NUMBER, TlvTag.SUBMIT_MSG_TYPE,
    TlvTag.SP_DEAL_RESULT, TlvTag.SRC_TERM_TYPE, TlvTag.NODES_COUNT, TlvTag.SRC_TYPE,
})


#: Report ``stat`` values and the ``err`` codes of D.7.
REPORT_STATS = ("DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD")
REPORT_ERRORS: dict[str, str] = {
    "000": "success",
    "001": "user cannot communicate",
    "002": "user busy",
    "003": "terminal lacks the component",
    "004": "illegal user",
    "005": "user blacklisted",
    "006": "system error",
    "007": "user memory full",
    "008": "not a messaging terminal",
    "009": "data error",
    "010": "data lost",
    "999": "unknown error",
}
