"""SMPP 3.4 numbers (PROTOCOLS.md A): command ids, command_status codes with the text an
operator sees, TLV tags with their value types, and the bit fields of esm_class,
registered_delivery and data_coding."""

from __future__ import annotations

import enum

HEADER_SIZE = 16
RESPONSE_BIT = 0x80000000
INTERFACE_VERSION = 0x34
SEQUENCE_RANGE = (1, 0x7FFFFFFF)
#: Largest PDU we accept or build. message_payload alone may carry 65535 octets
#: (its TLV length is u16); add the header, the largest mandatory body (submit_multi with
#: 254 destinations is about 6.4 KiB) and other TLVs, and round up to 80 KiB.
MAX_PDU_SIZE = 80 * 1024
#: sm_length is one octet and 255 is not allowed (A.3.4); longer data goes in message_payload.
MAX_SHORT_MESSAGE = 254


class CommandId(enum.IntEnum):
    """command_id values (A.2). The 5.0 broadcast PDUs are named for display only: they
    have no PDU class and are answered with generic_nack ESME_RINVCMDID."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103
    BROADCAST_SM = 0x00000111
    BROADCAST_SM_RESP = 0x80000111
    QUERY_BROADCAST_SM = 0x00000112
    QUERY_BROADCAST_SM_RESP = 0x80000112
    CANCEL_BROADCAST_SM = 0x00000113
    CANCEL_BROADCAST_SM_RESP = 0x80000113


def command_name(command_id: int) -> str:
    """``submit_sm`` style name of any command id, known or not."""
    try:
        return CommandId(command_id).name.lower()
    except ValueError:
        if 0x00010200 <= command_id & ~RESPONSE_BIT <= 0x000102FF:
            return f"vendor_0x{command_id:08X}"
        return f"unknown_0x{command_id:08X}"


class Status(enum.IntEnum):
    """command_status (A.11), with 3.4 names. See ``status_description``."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF
    ESME_RSERTYPUNAUTH = 0x100
    ESME_RPROHIBITED = 0x101
    ESME_RSERTYPUNAVAIL = 0x102
    ESME_RSERTYPDENIED = 0x103
    ESME_RINVDCS = 0x104
    ESME_RINVSRCADDRSUBUNIT = 0x105
    ESME_RINVDSTADDRSUBUNIT = 0x106

    @property
    def description(self) -> str:
        return _STATUS_TEXT[self]


_STATUS_TEXT: dict[int, str] = {
    0x00: "OK",
    0x01: "message length invalid",
    0x02: "command length invalid",
    0x03: "invalid command ID",
    0x04: "incorrect bind status for given command",
    0x05: "ESME already bound",
    0x06: "invalid priority flag",
    0x07: "invalid registered delivery flag",
    0x08: "system error",
    0x0A: "invalid source address",
    0x0B: "invalid destination address",
    0x0C: "message ID invalid",
    0x0D: "bind failed",
    0x0E: "invalid password",
    0x0F: "invalid system ID",
    0x11: "cancel_sm failed",
    0x13: "replace_sm failed",
    0x14: "message queue full",
    0x15: "invalid service type",
    0x33: "invalid number of destinations",
    0x34: "invalid distribution list name",
    0x40: "invalid destination flag (submit_multi)",
    0x42: "invalid submit-with-replace request",
    0x43: "invalid esm_class",
    0x44: "cannot submit to distribution list",
    0x45: "submit_sm or submit_multi failed",
    0x48: "invalid source address TON",
    0x49: "invalid source address NPI",
    0x50: "invalid destination address TON",
    0x51: "invalid destination address NPI",
    0x53: "invalid system_type",
    0x54: "invalid replace_if_present flag",
    0x55: "invalid number of messages",
    0x58: "throttling error (ESME exceeded allowed message rate)",
    0x61: "invalid scheduled delivery time",
    0x62: "invalid message validity period (expiry time)",
    0x63: "predefined message invalid or not found",
    0x64: "ESME receiver temporary application error (retry)",
    0x65: "ESME receiver permanent application error",
    0x66: "ESME receiver reject message",
    0x67: "query_sm request failed",
    0xC0: "error in the optional part of the PDU body",
    0xC1: "optional parameter not allowed",
    0xC2: "invalid parameter length",
    0xC3: "expected optional parameter missing",
    0xC4: "invalid optional parameter value",
    0xFE: "delivery failure (data_sm_resp)",
    0xFF: "unknown error",
    0x100: "not authorised to use service_type (SMPP 5.0)",
    0x101: "prohibited from using this operation (SMPP 5.0)",
    0x102: "service_type unavailable (SMPP 5.0)",
    0x103: "service_type denied (SMPP 5.0)",
    0x104: "invalid data coding scheme (SMPP 5.0)",
    0x105: "invalid source address subunit (SMPP 5.0)",
    0x106: "invalid destination address subunit (SMPP 5.0)",
}


def status_name(code: int) -> str:
    try:
        return Status(code).name
    except ValueError:
        return f"STATUS_0x{code:08X}"


def status_description(code: int) -> str:
    """Operator text for any command_status, including reserved and vendor ranges."""
    if code in _STATUS_TEXT:
        return _STATUS_TEXT[code]
    if 0x107 <= code <= 0x112:
        return f"broadcast-related error 0x{code:X} (SMPP 5.0)"
    if 0x400 <= code <= 0x4FF:
        return f"SMSC vendor-specific error 0x{code:X}"
    return f"reserved status 0x{code:X}"


class Tag(enum.IntEnum):
    """TLV tags (A.5)."""

    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    CONGESTION_STATE = 0x0428
    USSD_SERVICE_OP = 0x0501
    BILLING_IDENTIFICATION = 0x060B
    SOURCE_NETWORK_ID = 0x060D
    DEST_NETWORK_ID = 0x060E
    SOURCE_NODE_ID = 0x060F
    DEST_NODE_ID = 0x0610
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383


class TlvType(enum.Enum):
    """How a TLV value is read (A.5 "Value type")."""

    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    CSTRING = "cstring"
    OCTETS = "octets"
    NETWORK_ERROR = "network_error"  # type u8 + error code u16
    EMPTY = "empty"


_T = TlvType
TLV_TYPES: dict[int, TlvType] = {
    Tag.DEST_ADDR_SUBUNIT: _T.U8, Tag.DEST_NETWORK_TYPE: _T.U8, Tag.DEST_BEARER_TYPE: _T.U8,
    Tag.DEST_TELEMATICS_ID: _T.U16, Tag.SOURCE_ADDR_SUBUNIT: _T.U8,
    Tag.SOURCE_NETWORK_TYPE: _T.U8, Tag.SOURCE_BEARER_TYPE: _T.U8,
    Tag.SOURCE_TELEMATICS_ID: _T.U8, Tag.QOS_TIME_TO_LIVE: _T.U32, Tag.PAYLOAD_TYPE: _T.U8,
    Tag.ADDITIONAL_STATUS_INFO_TEXT: _T.CSTRING, Tag.RECEIPTED_MESSAGE_ID: _T.CSTRING,
    Tag.MS_MSG_WAIT_FACILITIES: _T.U8, Tag.PRIVACY_INDICATOR: _T.U8,
    Tag.SOURCE_SUBADDRESS: _T.OCTETS, Tag.DEST_SUBADDRESS: _T.OCTETS,
    Tag.USER_MESSAGE_REFERENCE: _T.U16, Tag.USER_RESPONSE_CODE: _T.U8,
    Tag.SOURCE_PORT: _T.U16, Tag.DESTINATION_PORT: _T.U16, Tag.SAR_MSG_REF_NUM: _T.U16,
    Tag.LANGUAGE_INDICATOR: _T.U8, Tag.SAR_TOTAL_SEGMENTS: _T.U8,
    Tag.SAR_SEGMENT_SEQNUM: _T.U8, Tag.SC_INTERFACE_VERSION: _T.U8,
    Tag.CALLBACK_NUM_PRES_IND: _T.U8, Tag.CALLBACK_NUM_ATAG: _T.OCTETS,
    Tag.NUMBER_OF_MESSAGES: _T.U8, Tag.CALLBACK_NUM: _T.OCTETS, Tag.DPF_RESULT: _T.U8,
    Tag.SET_DPF: _T.U8, Tag.MS_AVAILABILITY_STATUS: _T.U8,
    Tag.NETWORK_ERROR_CODE: _T.NETWORK_ERROR, Tag.MESSAGE_PAYLOAD: _T.OCTETS,
    Tag.DELIVERY_FAILURE_REASON: _T.U8, Tag.MORE_MESSAGES_TO_SEND: _T.U8,
    Tag.MESSAGE_STATE: _T.U8, Tag.CONGESTION_STATE: _T.U8, Tag.USSD_SERVICE_OP: _T.U8,
    Tag.BILLING_IDENTIFICATION: _T.OCTETS, Tag.SOURCE_NETWORK_ID: _T.CSTRING,
    Tag.DEST_NETWORK_ID: _T.CSTRING, Tag.SOURCE_NODE_ID: _T.OCTETS,
    Tag.DEST_NODE_ID: _T.OCTETS, Tag.DISPLAY_TIME: _T.U8, Tag.SMS_SIGNAL: _T.U16,
    Tag.MS_VALIDITY: _T.U8, Tag.ALERT_ON_MESSAGE_DELIVERY: _T.EMPTY,
    Tag.ITS_REPLY_TYPE: _T.U8, Tag.ITS_SESSION_INFO: _T.OCTETS,
}


def tag_name(tag: int) -> str:
    try:
        return Tag(tag).name.lower()
    except ValueError:
        if 0x1400 <= tag <= 0x3FFF:
            return f"vendor_0x{tag:04X}"
        return f"tag_0x{tag:04X}"


class Esm(enum.IntFlag):
    """esm_class bits (A.6): messaging mode in bits 1-0, type in bits 5-2, GSM in 7-6."""

    MODE_MASK = 0x03
    TYPE_MASK = 0x3C
    RECEIPT = 0x04  # SMSC delivery receipt (deliver_sm / data_sm)
    UDHI = 0x40
    REPLY_PATH = 0x80


ESM_MODES = {0: "default", 1: "datagram", 2: "forward (transaction)", 3: "store and forward"}
ESM_TYPES_MO = {
    0x00: "normal message",
    0x04: "SMSC delivery receipt",
    0x08: "SME delivery acknowledgement",
    0x10: "SME manual/user acknowledgement",
    0x18: "conversation abort",
    0x20: "intermediate delivery notification",
}
ESM_TYPES_MT = {
    0x00: "normal message",
    0x08: "ESME delivery acknowledgement",
    0x10: "ESME manual/user acknowledgement",
}

RECEIPT_REQUESTS = {
    0: "no SMSC delivery receipt",
    1: "SMSC delivery receipt on success or failure",
    2: "SMSC delivery receipt on failure",
    3: "reserved in 3.4 (5.0: receipt on success)",
}


class DataCoding(enum.IntEnum):
    """data_coding values with a fixed meaning (A.8); 0xC0-0xFF are GSM DCS groups."""

    SMSC_DEFAULT = 0x00
    IA5 = 0x01
    OCTET_UNSPECIFIED_2 = 0x02
    LATIN1 = 0x03
    OCTET_UNSPECIFIED = 0x04
    JIS = 0x05
    CYRILLIC = 0x06
    LATIN_HEBREW = 0x07
    UCS2 = 0x08
    PICTOGRAM = 0x09
    ISO_2022_JP = 0x0A
    EXTENDED_KANJI_JIS = 0x0D
    KS_C_5601 = 0x0E


class MessageState(enum.IntEnum):
    """message_state (A.9): query_sm_resp field and TLV 0x0427."""

    SCHEDULED = 0
    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8
    SKIPPED = 9
