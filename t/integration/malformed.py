"""Acceptance: malformed frames (bad magic, bad length, unknown type, a type
the receiver does not take, truncated msgpack, a body that is not a map, a
wrong sequence, a truncated frame) sent to the control socket or to a worker:
the sender is dropped with a log line, nothing crashes."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ['top_srcdir'], 't'))
from ipcpeer import frame, mp  # noqa: E402

EXFEEDD = os.environ['EXFEEDD']
EXFEEDCTL = os.environ['EXFEEDCTL']
passed = failed = 0


def check(desc, cond):
    global passed, failed
    if cond:
        passed += 1
        print('ok - ' + desc)
    else:
        failed += 1
        print('not ok - ' + desc)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


BAD = [
    ('bad magic', frame('CTL_REQUEST', {'cmd': 'status'}, 1, magic=0xBEEF), 'bad magic 0xbeef'),
    ('length over the limit', frame('CTL_REQUEST', b'\x80', 1, length=10_000_000), 'exceeds the limit'),
    ('unknown type', frame(99, {'cmd': 'status'}, 1), 'unexpected message type 99'),
    ('a type the receiver does not take', frame('READY', {'pid': 1}, 1), 'unexpected message type 1 (READY)'),
    ('truncated msgpack', frame('CTL_REQUEST', b'\x81\xa3cmd', 1), 'not one complete msgpack object'),
    ('trailing bytes after the msgpack', frame('CTL_REQUEST', mp({'cmd': 'status'}) + b'\xc0', 1), 'not one complete msgpack object'),
    ('body not a map', frame('CTL_REQUEST', mp('status'), 1), 'body is not a map'),
    ('wrong sequence', frame('CTL_REQUEST', {'cmd': 'status'}, 7), 'sequence 7, expected 1'),
    ('no cmd', frame('CTL_REQUEST', {'command': 'status'}, 1), 'request without a "cmd" string'),
    ('truncated frame, then close', frame('CTL_REQUEST', {'cmd': 'status'}, 1)[:9], 'end of file inside a frame'),
]


def control_socket_cases(tmp):
    port = free_port()
    conf = os.path.join(tmp, 'exfeedd.conf')
    key = os.path.join(tmp, 'master.key')
    with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'wb') as f:
        f.write(os.urandom(32))
    with open(conf, 'w') as f:
        f.write(f"""[daemon]
user = {os.popen('id -un').read().strip()}
group = {os.popen('id -gn').read().strip()}
runtime_dir = {tmp}/run
pidfile = {tmp}/run/exfeedd.pid
control_socket = {tmp}/run/control.sock
log = stderr
account_shards = 1
[database]
conninfo = dbname=x
[crypto]
key_file = {key}
[gateway]
listen = 127.0.0.1:{port}
""")
    logf = open(os.path.join(tmp, 'log'), 'w')
    d = subprocess.Popen([EXFEEDD, '-f', '-c', conf], stdout=logf, stderr=logf)
    sock = os.path.join(tmp, 'run', 'control.sock')
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        for name, data, why in BAD:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            s.sendall(data)
            if name.endswith('then close'):
                s.shutdown(socket.SHUT_WR)
            s.settimeout(3)
            try:
                got = s.recv(100)
            except OSError:
                got = b'timeout'
            s.close()
            time.sleep(0.1)
            log = open(os.path.join(tmp, 'log')).read()
            check(f'control socket, {name}: connection dropped', got == b'')
            check(f'control socket, {name}: logged "{why}"', why in log)
            check(f'control socket, {name}: daemon alive', d.poll() is None)
        # an unknown command is a valid frame: answered with an error, not dropped
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.sendall(frame('CTL_REQUEST', {'cmd': 'frobnicate'}, 1))
        s.settimeout(3)
        reply = s.recv(4096)
        check('unknown command: answered with an error', b'unknown command' in reply)
        s.close()
        st = subprocess.run([EXFEEDCTL, '-s', sock, '--json', 'status'], capture_output=True, text=True)
        ws = json.loads(st.stdout)['workers'] if st.returncode == 0 else []
        check('after all that, status works and no worker restarted',
              len(ws) == 5 and all(w['restarts'] == 0 and w['state'] == 'ready' for w in ws))
    finally:
        d.send_signal(signal.SIGTERM)
        rc = d.wait(timeout=20)
        check('daemon exits 0 on TERM', rc == 0)


def run_worker(frames, first_config=True):
    """Start a writer worker on a socketpair as the supervisor would; send frames."""
    ours, theirs = socket.socketpair()
    fd = theirs.fileno()

    def as_fd3():
        os.dup2(fd, 3)
    p = subprocess.Popen([EXFEEDD, '-P', 'writer', '-I', '0', '-f'], preexec_fn=as_fd3,
                         pass_fds=(3, fd), stderr=subprocess.PIPE, text=True)
    theirs.close()
    seq = 1
    if first_config:
        # The supervisor creates the runtime dir before any worker starts; the writer listens there.
        cfg = {'gen': 1, 'config': {'file': 'test.conf', 'keys': [['database', 'conninfo', 'dbname=x', 2],
                                                                  ['daemon', 'runtime_dir', tmp, 1]]}}
        ours.sendall(frame('CONFIG', cfg, seq))
        seq += 1
        ours.settimeout(3)
        got = b''
        while b'instance' not in got and len(got) < 4096:   # CONFIG_ACK, then READY
            chunk = ours.recv(4096)
            if not chunk:
                break
            got += chunk
        check('worker: a valid CONFIG makes it READY', b'instance' in got)
    for f in frames:
        ours.sendall(f(seq) if callable(f) else f)
    try:
        rc = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    err = p.stderr.read()
    ours.close()
    return rc, err


def worker_cases():
    cases = [
        ('bad length', lambda seq: frame('STATUS_REQ', b'\x80', seq, length=1 << 30), 'exceeds the limit'),
        ('unknown type', lambda seq: frame(77, {'id': 1}, seq), 'unexpected message type 77'),
        ('a supervisor-bound type', lambda seq: frame('READY', {'pid': 1}, seq), 'unexpected message type 1'),
        ('truncated msgpack', lambda seq: frame('STATUS_REQ', b'\x81\xa2id', seq), 'not one complete msgpack object'),
        ('STATUS_REQ without id', lambda seq: frame('STATUS_REQ', {'x': 1}, seq), 'STATUS_REQ without an id'),
        ('CONFIG that does not validate', lambda seq: frame('CONFIG', {'gen': 2, 'config': {
            'file': 'x', 'keys': [['daemon', 'account_shards', 'zero', 1]]}}, seq), 'CONFIG does not validate'),
    ]
    for name, f, why in cases:
        rc, err = run_worker([f])
        check(f'worker, {name}: exits {rc} (76 = dropped its peer), not by a signal', rc == 76)
        check(f'worker, {name}: logged "{why}"', why in err and 'supervisor channel:' in err)
    rc, err = run_worker([frame('STATUS_REQ', {'id': 1}, 1)], first_config=False)
    check('worker, first message not CONFIG: exits 76', rc == 76 and 'the first message must be CONFIG' in err)


tmp = tempfile.mkdtemp(prefix='exfeedd-malformed.')
os.chmod(tmp, 0o755)
try:
    control_socket_cases(tmp)
    worker_cases()
finally:
    if failed:
        print(open(os.path.join(tmp, 'log')).read()[-4000:])
    shutil.rmtree(tmp, ignore_errors=True)
print(f'{passed} passed, {failed} failed')
sys.exit(1 if failed else 0)
