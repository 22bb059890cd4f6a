#!/usr/bin/env bash
# /metrics cannot be blinded (issue 11 item 8): with 1,000 idle loopback
# connections and 20 that send a byte a second held open, scrapes are
# answered well under the 10 s idle timeout (asserted < 1 s; the measured
# times are printed). A request with bare LF line ends is answered; NUL and
# binary bytes get a 400 at once. Bounded: the client gives up after 30 s.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
need "$KT" "$WORK"

start_daemon blind --sample 1 --watch "$WORK" --listen 127.0.0.1:0
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"

python3 - "$PORT" <<'PY' || fail "blinding test failed"
import resource, socket, sys, threading, time

port = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))

def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s

def request(data, limit=5.0):
    """Sends data, reads to EOF; returns (seconds, response)."""
    t0 = time.monotonic()
    s = connect()
    s.settimeout(limit)
    s.sendall(data)
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    s.close()
    return time.monotonic() - t0, got

idle = [connect() for _ in range(1000)]
slow = [connect() for _ in range(20)]
line = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
stop = threading.Event()

def drip():  # one byte a second on each slow connection
    i = 0
    while not stop.wait(1.0) and i < len(line):
        for s in slow:
            try:
                s.send(line[i:i + 1])
            except OSError:
                pass
        i += 1

t = threading.Thread(target=drip, daemon=True)
t.start()
time.sleep(0.5)  # the daemon has taken them in
times = []
for _ in range(5):
    dt, r = request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 200 OK"), r[:80]
    assert b"kaos_trace_events_lost_total" in r
    times.append(dt)
    time.sleep(0.2)
print("scrape with 1000 idle + 20 slow connections: %s ms (max %.1f ms)" %
      (", ".join("%.1f" % (x * 1000) for x in times), max(times) * 1000))
assert max(times) < 1.0, "scrape took %.3f s" % max(times)

dt, r = request(b"GET /metrics HTTP/1.1\nHost: x\n\n")
assert r.startswith(b"HTTP/1.1 200 OK"), r[:80]
print("bare LF request: 200 in %.1f ms" % (dt * 1000))
for name, junk in (("NUL", b"GET /\x00"), ("binary", b"\x16\x03\x01\x02\x00\x01")):
    dt, r = request(junk)
    assert r.startswith(b"HTTP/1.1 400"), (name, r[:80])
    assert dt < 1.0, (name, dt)
    print("%s request: 400 in %.1f ms" % (name, dt * 1000))
stop.set()
for s in idle + slow:
    s.close()
PY
stop_daemon
echo "PASS: /metrics answered beside 1,000 idle and 20 slow connections"
