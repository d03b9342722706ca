#!/usr/bin/python3
"""protocheck.py: protobuf Kafka values against event_log's JSON payloads,
read as a consumer not written by us reads them: `protoc --decode` (Debian
protobuf-compiler) with the shipped proto/exfeedd.proto.

    protocheck.py PROTO PAYLOAD TEXT   exit 1, saying why, unless TEXT (protoc's
                                       output for one value) has every field of
                                       the JSON in PAYLOAD and nothing else

From Python: decode() many values of one message in one protoc run (a
wrapper message repeating it), compare() one decoded value with its payload.
Used by proto_decode.sh and kafka_protobuf.py."""
import json
import os
import re
import subprocess
import sys

_SIMPLE = {'n': 10, 't': 9, 'r': 13, '"': 34, "'": 39, '\\': 92, 'a': 7, 'b': 8, 'f': 12, 'v': 11}


def unescape(s):
    """A string of protoc's text form (C escapes, bytes above 0x7f in octal) → str."""
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c != '\\':
            out += c.encode('utf-8')
            i += 1
            continue
        e = s[i + 1]
        if e in _SIMPLE:
            out.append(_SIMPLE[e])
            i += 2
        elif e in '01234567':
            m = re.match(r'[0-7]{1,3}', s[i + 1:]).group(0)
            out.append(int(m, 8))
            i += 1 + len(m)
        elif e == 'x':
            m = re.match(r'[0-9a-fA-F]{1,2}', s[i + 2:]).group(0)
            out.append(int(m, 16))
            i += 2 + len(m)
        else:
            raise ValueError('unknown escape \\' + e)
    return out.decode('utf-8')


def presence(proto):
    """The fields with presence: one-field oneofs (proto3 optional's wire form)."""
    with open(proto, encoding='utf-8') as f:
        return set(re.findall(r'oneof\s+\w+\s*\{\s*\w+\s+(\w+)\s*=', f.read()))


def _value(v):
    if v.startswith('"'):
        return unescape(v[1:-1])
    if v in ('true', 'false'):
        return v == 'true'
    return int(v)


def parse(text):
    """protoc's text of one message → dict; of a wrapper (m { ... } blocks) → list of dicts.
    A repeated message field (Book's bids { price: .. qty: .. }) → a list of
    [values in field order], the form of the JSON (a book side's [price, qty] pairs)."""
    root, blocks = {}, []
    stack = [root]
    for line in text.splitlines():
        s = line.strip()
        if s.endswith(' {'):
            k, new = s[:-2], {}
            if k == 'm' and len(stack) == 1:
                blocks.append(new)
            else:
                stack[-1].setdefault(k, []).append(new)
            stack.append(new)
            continue
        if s == '}':
            stack.pop()
            continue
        k, v = s.split(': ', 1)
        d = stack[-1]
        if k in d:
            raise ValueError('%s: printed twice' % k)
        d[k] = _value(v)

    def lists(d):
        for k, v in d.items():
            if isinstance(v, list):
                d[k] = [list(e.values()) for e in v]
        return d
    return [lists(b) for b in blocks] if blocks else lists(root)


def compare(want, got, has_presence):
    """Problems between a JSON payload (dict) and a decoded message (dict).
    Text format leaves out proto3 defaults ("", 0, false), so a key holding
    one is absent, except in a field with presence, which prints 0 and
    false and leaves out only null (not part of the change)."""
    bad = []
    for k, v in want.items():
        if k == 'type':
            continue
        if k in has_presence:
            absent = v is None
        else:
            absent = (v is None or v == '' or v is False or v == [] or
                      (type(v) is int and v == 0))
        if absent:
            if k in got:
                bad.append('%s: JSON %r, decoded %r (should be absent)' % (k, v, got[k]))
        elif k not in got:
            bad.append('%s: JSON %r, absent from the decoded text' % (k, v))
        elif got[k] != v or type(got[k]) is not type(v):
            bad.append('%s: JSON %r, decoded %r' % (k, v, got[k]))
    for k in got:
        if k not in want:
            bad.append('%s: decoded, not in the JSON' % k)
    return bad


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode(protoc, proto, message, values, tmpdir):
    """Decode values (bytes, each one message `message`, e.g. exfeedd.v1.Order)
    in one protoc run: they are the repeated field 1 of a wrapper message.
    Returns one dict per value, in order."""
    if not values:
        return []
    wrapper = os.path.join(tmpdir, 'batch_%s.proto' % message.split('.')[-1])
    with open(wrapper, 'w') as f:
        f.write('syntax = "proto3";\nimport "%s";\nmessage Batch { repeated %s m = 1; }\n'
                % (os.path.basename(proto), message))
    data = b''.join(b'\x0a' + _varint(len(v)) + v for v in values)
    out = subprocess.run([protoc, '--proto_path=' + tmpdir,
                          '--proto_path=' + os.path.dirname(os.path.abspath(proto)),
                          '--decode=Batch', wrapper], input=data, capture_output=True, check=True)
    got = parse(out.stdout.decode('ascii'))
    if isinstance(got, dict):       # every value empty: no block printed
        got = []
    # protoc prints "m {\n}" for an empty message too, so the counts match.
    if len(got) != len(values):
        raise ValueError('%d values, protoc printed %d messages' % (len(values), len(got)))
    return got


def main():
    proto, payload, text = sys.argv[1:4]
    with open(payload, encoding='utf-8') as f:
        want = json.load(f)
    with open(text, encoding='ascii') as f:
        got = parse(f.read())
    bad = compare(want, got, presence(proto))
    if bad:
        sys.exit('\n'.join(bad))


if __name__ == '__main__':
    main()
