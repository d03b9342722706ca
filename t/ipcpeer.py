"""t/ipcpeer.py: speak exfeedd's framing from a test: a 12-byte header
(magic 0xEFD1, type, body length, sequence; big-endian) and a msgpack map.
A tiny msgpack encoder is enough for the maps the tests send."""
import struct

MAGIC = 0xEFD1
TYPES = dict(READY=1, HEARTBEAT=2, STATUS_REQ=3, STATUS=4, CONFIG=5, CONFIG_ACK=6,
             RECONCILE=7, SHUTDOWN=8, LOG_REOPEN=9, FATAL=10, CTL_REQUEST=11, CTL_REPLY=12)


def mp(obj):
    """msgpack-encode dicts, lists, str, bool, non-negative int."""
    if obj is True:
        return b'\xc3'
    if obj is False:
        return b'\xc2'
    if isinstance(obj, int):
        if obj < 128:
            return bytes([obj])
        return b'\xcf' + struct.pack('>Q', obj)
    if isinstance(obj, str):
        b = obj.encode()
        if len(b) < 32:
            return bytes([0xa0 | len(b)]) + b
        return b'\xda' + struct.pack('>H', len(b)) + b
    if isinstance(obj, (list, tuple)):
        return b'\xdc' + struct.pack('>H', len(obj)) + b''.join(mp(x) for x in obj)
    if isinstance(obj, dict):
        return b'\xde' + struct.pack('>H', len(obj)) + b''.join(mp(k) + mp(v) for k, v in obj.items())
    raise TypeError(obj)


def frame(typ, body, seq, magic=MAGIC, length=None):
    if isinstance(typ, str):
        typ = TYPES[typ]
    if not isinstance(body, bytes):
        body = mp(body)
    return struct.pack('>HHII', magic, typ, len(body) if length is None else length, seq) + body
