#!/usr/bin/python3
"""run.py — runs baton's benchmarks against servers it starts itself and
prints a table (stdout) and a JSON file. Called by scripts/bench.sh after the
Release build; see bench/README.md for what each figure means.

Each measurement is a separate small C program (bench/*.c) that prints one
JSON line; this script only starts servers, orders the runs (baton and the
raw floors take turns slice by slice), takes medians and judges targets.
"""
import argparse
import datetime
import json
import os
import platform
import re
import select
import signal
import socket
import statistics
import subprocess
import shutil
import sys
import tempfile
import time
import urllib.request

BACKENDS = ("redis", "etcd", "zk", "postgres", "redlock3", "redlock5", "sentinel")
# Sentinel (a master, 2 replicas, 3 Sentinels) has no raw floor and no
# pairs, hand-over or requests-per-pair targets of its own; its server
# counters are the master's, found by asking the first Sentinel.

# Everything a mode changes. Quick: all backends in ~2-3 minutes.
MODES = {
    "quick": dict(slices=12, slice_ms=250, count=300, handover=100, failover=2,
                  names=10000, window=3.0, window100=0, contend_secs=5.0),
    "full": dict(slices=40, slice_ms=250, count=1000, handover=200, failover=5,
                 names=10000, window=4.0, window100=3.0, contend_secs=10.0),
}

# The raw floors per backend: (program, variant, label). The first is the
# one the ratio uses (the requests a correct acquire+release needs).
FLOORS = {
    "redis": [("floor_redis", "setnx", "SET NX PX + EVALSHA release"),
              ("floor_redis", "script", "EVALSHA (SET NX PX+INCR) + EVALSHA (DEL+PUBLISH)"),
              ("floor_redis", "mirror", "baton's own 2 scripts, bare hiredis")],
    "zk": [("floor_zk", "3", "create + getChildren + delete"),
           ("floor_zk", "2", "create + delete (no leader check)")],
    "etcd": [("floor_etcd", "txn", "txn (put-if-absent + lowest key) + deleterange")],
    # Redlock: server counters and requests are the first instance's.
    "redlock3": [("floor_redlock", "setnx", "SET NX PX + release on each instance (no token)"),
                 ("floor_redlock", "fenced", "vote+INCR, fence, DEL+PUBLISH on each instance")],
    "postgres": [("floor_postgres", "mirror", "baton's 2 prepared statements, bare libpq"),
                 ("floor_postgres", "bare", "try_lock + token upsert, unlock + notify")],
}
FLOORS["redlock5"] = FLOORS["redlock3"]

TTL_MS = 2000          # failover: short, so that a sample costs ~2 s
NAMES_TTL_MS = 3000    # 10,000 names: renew interval ttl/3 = 1 s
HANDOVER_P50_MS = {"redis": 0.5, "etcd": 2.0, "zk": 2.0, "postgres": 2.0, "redlock3": 1.0,
                   "redlock5": 1.0}
HANDOVER_P99_MS = 5.0
REQUESTS_PER_PAIR = {"redis": 2, "etcd": 2, "zk": 3, "postgres": 2, "redlock3": 3, "redlock5": 3}
# candidate mode: B's N waiting names may add a client's own threads and
# no more: its background thread, its 3 looking threads (lib/core.h
# BATON_LOOKERS) and the backend's readers (ZooKeeper's C client has 2,
# Sentinel a master's and the Sentinels', Redlock one per instance). The
# same at 1,000 and 10,000 names.
CLIENT_THREADS = 4
READERS = {"redis": 1, "etcd": 1, "zk": 2, "postgres": 1, "sentinel": 2, "redlock3": 3,
           "redlock5": 5}
# ... and a client's descriptors, none per name (etcd's are the most: a
# pooled connection, each a socket and curl's wake-up pair, for each of
# the looking threads, the renewals and the watch stream)
WAITING_FDS = 24
NOISY_CV = 0.3         # floor slice rates varying more than this: no verdict


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- machine and servers --------------------------------------------------

def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "mem_mib": mem, "loadavg_at_start": os.getloadavg()[0],
            "date": datetime.datetime.now().isoformat(timespec="seconds")}


def ask(port, data, limit=1 << 20, timeout=3.0):
    """Send data to 127.0.0.1:port, read until the peer closes or pauses."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while len(out) < limit:
            r, _, _ = select.select([s], [], [], 0.3 if out else timeout)
            if not r:
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace")


def server_version(kind, port):
    try:
        if kind in ("redis", "sentinel") or kind.startswith("redlock"):
            m = re.search(r"redis_version:(\S+)", ask(port, b"INFO server\r\n"))
            return "Redis " + m.group(1) + (f" x {kind[7:]}" if kind.startswith("redlock")
                                            else " + Sentinel" if kind == "sentinel" else "")
        if kind == "etcd":
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=3) as r:
                return "etcd " + json.load(r)["etcdserver"]
        if kind == "zk":
            m = re.search(r"Zookeeper version: ([0-9.]+)", ask(port, b"srvr"))
            return "ZooKeeper " + m.group(1)
        if kind == "postgres":
            out = subprocess.run(["/usr/lib/postgresql/15/bin/postgres", "--version"],
                                 capture_output=True, text=True, timeout=10).stdout
            return "PostgreSQL " + out.split()[-1]
    except (OSError, AttributeError, ValueError, KeyError) as e:
        return f"{kind} (version unknown: {e})"
    return kind


def sentinel_master(port, name):
    """redis://host:port of the master the Sentinel at port names, or None."""
    try:
        out = ask(port, f"SENTINEL get-master-addr-by-name {name}\r\n".encode())
        parts = [x for x in out.split("\r\n") if x and x[0] not in "*$"]
        return f"redis://{parts[0]}:{int(parts[1])}" if len(parts) >= 2 else None
    except (OSError, ValueError):
        return None


class Servers:
    """baton-test-servers for one backend: started here, stopped here."""

    def __init__(self, exe, kind):
        self.proc = subprocess.Popen([exe, kind], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.uri = None
        deadline = time.monotonic() + 90
        buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                if b"ready\n" in buf:
                    break
            elif self.proc.poll() is not None:
                break
        for line in buf.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == kind:
                self.uri = parts[1]
                self.pids = parts[2]
        if self.uri is None:
            err = self.proc.stderr.read1(8192).decode(errors="replace") if self.proc.stderr else ""
            self.stop()
            raise RuntimeError(f"could not start {kind}: {err.strip()}")
        # The first member's port (a Redlock URI names several).
        self.port = int(self.uri.split("://", 1)[1].split(",")[0].rsplit(":", 1)[1].split("/")[0])
        self.counters_uri = self.uri
        if kind == "sentinel":
            self.counters_uri = sentinel_master(self.port, self.uri.rsplit("/", 1)[1]) or self.uri

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the harness stops its servers on EOF
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()


# ---- running the programs -------------------------------------------------

class Runner:
    def __init__(self, bindir, root, tmp):
        self.bindir = bindir
        self.root = root      # the source tree
        self.tmp = tmp        # a scratch folder for this run
        self.extra = {}       # variant -> extra arguments
        self.server_pid = 0   # the server being measured
        self.prefix = []      # e.g. taskset -c 1 (--pin)
        self.server_pids = "" # every member's PID, comma-separated
        self.counters_uri = "" # where the server's counters are read (Sentinel: the master)
        self.seq = 0
        self.failures = []

    def start(self, prog, uri, *args, pass_fds=()):
        self.seq += 1
        cmd = self.prefix + [os.path.join(self.bindir, prog), uri, *map(str, args)]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, pass_fds=pass_fds)
        return (p, prog, args, time.monotonic())

    def finish(self, job, timeout=300):
        """A started program's JSON record, or a record with "error"."""
        p, prog, args, t0 = job
        try:
            out, err = p.communicate(timeout=max(1, timeout - (time.monotonic() - t0)))
            code = p.returncode
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            err, code = f"timed out after {timeout} s; {err}", -1
        rec = None
        for line in reversed(out.strip().splitlines()):
            try:
                rec = json.loads(line)
                break
            except ValueError:
                continue
        if rec is None:
            rec = {"error": "no result"}
        if code != 0 and "error" not in rec:
            rec["error"] = f"exit status {code}"
        if "error" in rec:
            rec["stderr"] = err.strip()[-600:]
            self.failures.append(f"{prog} {' '.join(map(str, args))}: {rec['error']}: "
                                 f"{rec['stderr'][-300:]}")
            log(f"  ! {prog}: {rec['error']} {rec['stderr'][-300:]}")
        rec["wall_s"] = round(time.monotonic() - t0, 2)
        return rec

    def run(self, prog, uri, *args, timeout=300):
        return self.finish(self.start(prog, uri, *args), timeout)

    def ring(self, jobs, uri, timeout):
        """Run programs that take turns (pairloop's --ring-in/--ring-out):
        program i waits on pipe i and hands over to pipe i+1."""
        pipes = [os.pipe() for _ in jobs]
        started = []
        for i, (prog, args) in enumerate(jobs):
            rfd, wfd = pipes[i][0], pipes[(i + 1) % len(jobs)][1]
            started.append(self.start(prog, uri, *args, "--ring-in", rfd, "--ring-out", wfd,
                                      pass_fds=(rfd, wfd)))
        os.write(pipes[0][1], b"t")
        for rfd, wfd in pipes:
            os.close(rfd)
            os.close(wfd)
        return [self.finish(job, timeout) for job in started]


def redis_scripts(root, folder):
    """baton's Redis scripts, taken from backends/redis/script.c into
    folder/acquire.lua and release.lua for floor_redis's mirror variant.
    Returns whether both were found."""
    try:
        with open(os.path.join(root, "backends", "redis", "script.c")) as f:
            src = f.read()
    except OSError:
        return False
    token = r'"((?:[^"\\]|\\.)*)"|\b(LUA_\w+)\b'
    # Script parts shared as macros: #define LUA_X "..." LUA_Y "..." (with \
    # lines); a macro may use those defined before it.
    macros = {}
    for m in re.finditer(r"#define (LUA_\w+)((?:[^\n]*\\\n)*[^\n]*)", src):
        macros[m.group(1)] = "".join(lit if macro == "" else macros.get(macro, "")
                                     for lit, macro in re.findall(token, m.group(2)))
    for name in ("acquire", "release"):
        m = re.search(r"static const char %s_lua\[\]\s*=\s*(.*?);\n" % name, src, re.S)
        if not m:
            return False
        parts = [lit if macro == "" else macros.get(macro, "")
                 for lit, macro in re.findall(token, m.group(1))]
        text = "".join(parts).encode().decode("unicode_escape")
        with open(os.path.join(folder, name + ".lua"), "w") as f:
            f.write(text)
    return True


def cv(values):
    """Coefficient of variation (stddev / mean), None for fewer than 3."""
    v = [x for x in values if x]
    return statistics.pstdev(v) / statistics.mean(v) if len(v) >= 3 else None


def median(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def bench_backend(kind, r, uri, cfg, tag, only):
    """Every measurement for one backend; returns its result dict."""
    res = {"uri": uri}
    if "pairs" in only and kind in FLOORS:
        bench_pairs(kind, r, uri, cfg, tag, res)
    if "handover" in only:
        bench_handover(r, uri, cfg, tag, res)
    if "failover" in only:
        bench_failover(r, uri, cfg, tag, res)
    if "names" in only:
        bench_names(r, uri, cfg, tag, res)
    if "contend" in only:
        bench_contend(r, uri, cfg, tag, res)
    if "waiting" in only:
        bench_waiting(r, uri, cfg, tag, res)
    return res


def bench_pairs(kind, r, uri, cfg, tag, res):
    """(1) + (4): pairs per second and requests per pair. The floors and
    baton take turns slice by slice (a ring of processes), so that each baton
    slice has floor slices right before and after it on a machine whose
    speed drifts; the ratio is the median of per-slice ratios. Twice: with
    threads where the OS puts them, and with the server and every program
    on one CPU. On a small VM a request/reply ping-pong between vCPUs makes
    Redis rates swing several-fold from slice to slice; on one CPU the rate
    is 1 / (client + server CPU per pair) and steady."""
    floors = FLOORS[kind]
    if kind == "redis":
        scripts = os.path.join(r.tmp, "redis-scripts")
        os.makedirs(scripts, exist_ok=True)
        if redis_scripts(r.root, scripts):
            r.extra["mirror"] = ["--scripts", scripts]
        else:
            log("  (backends/redis/script.c not readable: no mirror floor)")
            floors = [f for f in floors if f[1] != "mirror"]
    res["pairs"] = pairs_ring(r, uri, cfg, f"{tag}-a", floors, count=True)
    cpu = str((os.cpu_count() or 1) - 1)
    if r.prefix:  # already pinned (--pin): the second placement adds nothing
        return
    pin(r, cpu)
    try:
        res["pairs_one_cpu"] = pairs_ring(r, uri, cfg, f"{tag}-b", floors, count=False)
        res["pairs_one_cpu"]["cpu"] = cpu
    finally:
        pin(r, None)


def pin(r, cpus):
    """Put the server and the programs r starts on `cpus` (None: anywhere)."""
    every = f"0-{(os.cpu_count() or 1) - 1}"
    r.prefix = ["taskset", "-c", cpus] if cpus else []
    for pid in str(r.server_pids).split(","):
        subprocess.run(["taskset", "-a", "-p", "-c", cpus or every, pid],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def pairs_ring(r, uri, cfg, tag, floors, count):
    """One ring of the floors and baton; the summary with every record."""
    jobs = [(prog, ["--variant", variant] + r.extra.get(variant, []))
            for prog, variant, _ in floors] + [("bench_pairs", [])]
    for i, (_, args) in enumerate(jobs):
        args += ["--slices", cfg["slices"], "--slice-ms", cfg["slice_ms"],
                 "--name", f"pairs-{tag}-{i}", "--server-pid", r.server_pid]
        if count:
            args += ["--count", cfg["count"]]
    recs = r.ring(jobs, uri, timeout=60 + cfg["slices"] * cfg["slice_ms"] * len(jobs) / 250)
    by = {variant: rec for (_, variant, _), rec in zip(floors, recs)}
    by["baton"] = recs[-1]
    main = floors[0][1]
    ratios = [b / f for b, f in zip(by["baton"].get("slice_rates", []), by[main].get("slice_rates", []))
              if f > 0]
    out = {
        "runs": by,
        "baton_rate_median": by["baton"].get("slice_rate_median"),
        "floors": {v: {"label": label, "rate_median": by[v].get("slice_rate_median"),
                       "requests_per_pair": by[v].get("requests_per_pair"),
                       "client_cpu_us_per_pair": by[v].get("client_cpu_us_per_pair"),
                       "server_cpu_us_per_pair": by[v].get("server_cpu_us_per_pair")}
                   for _, v, label in floors},
        "baton_client_cpu_us_per_pair": by["baton"].get("client_cpu_us_per_pair"),
        "baton_server_cpu_us_per_pair": by["baton"].get("server_cpu_us_per_pair"),
        "ratio_floor": main,
        "ratio_per_slice": ratios,
        "ratio_median": median(ratios),
        # How much the floor's own slices vary: above NOISY_CV the machine
        # was too busy (other tenants) for a rate ratio to mean anything.
        "floor_slice_cv": cv(by[main].get("slice_rates", [])),
        "ratio_of_totals": (by["baton"]["rate"] / by[main]["rate"]
                            if by["baton"].get("rate") and by[main].get("rate") else None),
        "baton_requests_per_pair": by["baton"].get("requests_per_pair"),
    }
    log(f"  pairs/s{' on one CPU' if r.prefix else ''} (median slice): " + ", ".join(
        f"{k} {v.get('slice_rate_median') or 0:.0f}" for k, v in by.items())
        + f"; ratio {out['ratio_median']}")
    return out


def bench_handover(r, uri, cfg, tag, res):
    """(2) graceful hand-over latency between two processes."""
    res["handover"] = r.run("bench_handover", uri, "--samples", cfg["handover"],
                            "--name", f"handover-{tag}", timeout=300)
    log(f"  handover p50 {res['handover'].get('p50_ms')} ms p99 {res['handover'].get('p99_ms')} ms")


def bench_failover(r, uri, cfg, tag, res):
    """(3) crash fail-over against the TTL."""
    res["failover"] = r.run("bench_failover", uri, "--samples", cfg["failover"], "--ttl", TTL_MS,
                            "--name", f"failover-{tag}", timeout=60 + cfg["failover"] * 20)
    log(f"  failover {res['failover'].get('failover_ms')} ms (ttl {TTL_MS})")


def bench_names(r, uri, cfg, tag, res):
    """(5) one client holding many names."""
    res["names"] = r.run("bench_names", uri, "--names", cfg["names"], "--ttl", NAMES_TTL_MS,
                         "--window", cfg["window"], "--window100", cfg["window100"],
                         "--server-pid", r.server_pid, "--name", f"names-{tag}",
                         timeout=600)
    log(f"  names: {res['names'].get('names_acquired')} held, "
        f"{res['names'].get('bytes_per_name')} B/name, renew {res['names'].get('renew_all')}")


def bench_contend(r, uri, cfg, tag, res):
    """(6) 8 processes on one name."""
    res["contend"] = r.run("bench_contend", uri, "--procs", 8, "--secs", cfg["contend_secs"],
                           "--name", f"contend-{tag}", timeout=cfg["contend_secs"] + 150)
    log(f"  contend: {res['contend'].get('handovers_per_s')} hand-overs/s, "
        f"terms/proc {res['contend'].get('terms_per_proc')}")


def bench_waiting(r, uri, cfg, tag, res):
    """(7) candidate mode on many names, two clients: A leads, B waits."""
    w = res["waiting"] = r.run("bench_waiting", uri, "--names", cfg["names"], "--ttl", NAMES_TTL_MS,
                               "--window", cfg["window"], "--server-pid", r.server_pid,
                               "--counters", r.counters_uri or uri, "--name", f"waiting-{tag}",
                               timeout=4 * (120 + cfg["names"] // 500) + 120)
    log(f"  waiting: B +{w.get('b_threads')} threads +{w.get('b_fds')} fds "
        f"{w.get('b_bytes_per_name')} B/name; hand-over p50 {w.get('handover_p50_ms')} "
        f"p99 {w.get('handover_p99_ms')} ms, {w.get('handover_elected')}/{w.get('names_wanted')}")


# ---- targets --------------------------------------------------------------

def judge(kind, res):
    """[(target, measured text, PASS/MISS/n/a)] for one backend."""
    out = []

    def add(name, ok, text, noisy=False):
        verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
        out.append({"target": name, "measured": text,
                    "verdict": "NOISY" if noisy and ok is not None else verdict})

    p = res.get("pairs", {})
    where = "threads placed by the OS"
    one = res.get("pairs_one_cpu")
    if (p.get("floor_slice_cv") or 0) > NOISY_CV and one and one.get("ratio_median"):
        p, where = one, f"server and programs on CPU {one.get('cpu')}: the OS placement was too noisy"
    ratio = p.get("ratio_median")
    spread = p.get("floor_slice_cv")
    add("pairs/s >= 0.95 x raw floor", None if ratio is None else ratio >= 0.95,
        "n/a" if ratio is None else f"{ratio:.2f} x ({where}; median of slice ratios; totals "
        f"{p.get('ratio_of_totals') or 0:.2f} x; baton {p.get('baton_rate_median', 0):.0f}/s, "
        f"floor {p['floors'][p['ratio_floor']]['rate_median'] or 0:.0f}/s, slice medians; "
        f"floor slices vary {spread or 0:.0%})",
        noisy=spread is not None and spread > NOISY_CV)
    p = res.get("pairs", {})
    h = res.get("handover", {})
    p50, p99 = h.get("p50_ms"), h.get("p99_ms")
    if kind in HANDOVER_P50_MS:
        add(f"hand-over p50 < {HANDOVER_P50_MS[kind]} ms",
            None if p50 is None else p50 < HANDOVER_P50_MS[kind],
            "n/a" if p50 is None else f"{p50:.3f} ms")
    add(f"hand-over p99 < {HANDOVER_P99_MS} ms", None if p99 is None else p99 < HANDOVER_P99_MS,
        "n/a" if p99 is None else f"{p99:.3f} ms")
    f = res.get("failover", {})
    fmax = f.get("max_ms")
    add(f"crash fail-over <= TTL + 100 ms ({TTL_MS + 100} ms)",
        None if fmax is None else fmax <= TTL_MS + 100,
        "n/a" if fmax is None else f"max {fmax:.0f} ms, all {[round(x) for x in f.get('failover_ms', [])]}")
    rpp = p.get("baton_requests_per_pair")
    want = REQUESTS_PER_PAIR.get(kind)
    if want is not None:
        add(f"requests per pair <= {want}", None if rpp is None else rpp <= want + 0.05,
            "n/a" if rpp is None else f"{rpp:.2f}")
    n = res.get("names", {})
    ren = n.get("renew_all") or {}
    rpi = ren.get("requests_per_interval")
    batch = renew_is_one_batch(kind, n)
    # A window of W intervals may catch one renewal more than W at its edges.
    slack = 1 + (ren.get("renew_interval_ms") or 1) / 1000 / (ren.get("window_s") or 1)
    add("10k names: <= 1 renewal request (or one pipelined batch) per interval",
        None if rpi is None else (rpi <= slack + 1e-6 or batch),
        "n/a" if rpi is None else f"{rpi:.1f} requests per {ren.get('renew_interval_ms'):.0f} ms"
        + (" (one pipelined batch)" if batch else ""))
    bpn = n.get("bytes_per_name")
    add("10k names: < 2 KiB per name", None if bpn is None else bpn < 2048,
        "n/a" if bpn is None else f"{bpn:.0f} B/name")
    t100 = (n.get("names_100") or {}).get("threads")
    tall = (n.get("names_all") or {}).get("threads")
    add("threads not growing with names (100 -> 10k)",
        None if t100 is None or tall is None else tall <= t100,
        "n/a" if t100 is None else f"{t100} -> {tall}")
    got = n.get("names_acquired")
    if got is not None:
        add("10k names: every name acquired", got == n.get("names_wanted"),
            f"{got}/{n.get('names_wanted')}" + (f" ({n['error']})" if n.get("error") else ""))
        add("10k names: every acquired name still held after the window",
            n.get("held_after_window") == got, f"{n.get('held_after_window')}/{got}")
    w = res.get("waiting", {})
    if w.get("b_started") is not None:
        label = f"{w.get('names_wanted')} names waiting"
        th, fds, bpn = w.get("b_threads"), w.get("b_fds"), w.get("b_bytes_per_name")
        bound = CLIENT_THREADS + READERS.get(kind, 1)
        add(f"{label}: threads constant (B's growth <= {bound}: {CLIENT_THREADS} + the "
            "backend's readers)",
            None if th is None else th <= bound, f"+{th} threads")
        add(f"{label}: descriptors constant (B's growth <= {WAITING_FDS})",
            None if fds is None else fds <= WAITING_FDS, f"+{fds} descriptors")
        add(f"{label}: < 2 KiB per waiting name", None if bpn is None else bpn < 2048,
            "n/a" if bpn is None else f"{bpn:.0f} B/name")
        add(f"{label}: every name handed over", w.get("handover_elected") == w.get("names_wanted"),
            f"{w.get('handover_elected')}/{w.get('names_wanted')}"
            + "".join(f" ({w[k]})" for k in ("error_a", "error_b") if w.get(k)))
    c = res.get("contend", {})
    if c.get("terms") and "error" not in c:
        add("contention: no overlapping terms", c.get("overlaps", 1) == 0,
            f"{c.get('overlaps')} overlaps in {c.get('terms')} terms")
    return out


def renew_is_one_batch(kind, names):
    """Redis renews per-key TTLs: many commands are fine if they arrive as
    one pipelined batch per interval, i.e. the socket reads per interval are
    about what the batch's bytes need (16 KiB per read) rather than one per
    command."""
    if kind != "redis" and not kind.startswith("redlock"):
        return False
    ren = names.get("renew_all") or {}
    interval = (ren.get("renew_interval_ms") or 0) / 1000
    reads = (ren.get("reads_per_s") or 0) * interval
    need = (ren.get("input_bytes_per_s") or 0) * interval / 16384
    return ren.get("requests_per_interval", 0) > 1 and reads <= max(2 * need, 4)


# ---- output ---------------------------------------------------------------

def fmt(v, spec="{:.0f}"):
    return "-" if v is None else spec.format(v)


def table(result):
    b = result["backends"]
    kinds = [k for k in BACKENDS if k in b]
    rows = []

    def row(label, fn):
        cells = []
        for k in kinds:
            try:
                cells.append(fn(b[k]))
            except (KeyError, TypeError, IndexError, ZeroDivisionError):
                cells.append("-")
        rows.append((label, cells))

    row("server", lambda r: r["version"])
    row("pairs/s baton (median)", lambda r: fmt(r["pairs"]["baton_rate_median"]))
    row("pairs/s raw floor (median)",
        lambda r: fmt(r["pairs"]["floors"][r["pairs"]["ratio_floor"]]["rate_median"]))
    row("  floor used for the ratio", lambda r: r["pairs"]["floors"][r["pairs"]["ratio_floor"]]["label"].split(" (")[0])
    row("ratio baton/floor (median of slices)", lambda r: fmt(r["pairs"]["ratio_median"], "{:.2f}"))
    row("  floor slice-rate variation (CV; > 30%: too noisy)",
        lambda r: fmt(100 * r["pairs"]["floor_slice_cv"], "{:.0f}%"))
    row("ratio baton/floor (total pairs / total time)",
        lambda r: fmt(r["pairs"]["ratio_of_totals"], "{:.2f}"))
    def floor_of(pr):
        return pr["floors"][pr["ratio_floor"]]

    def placement_rows(key, tag):
        """Other floors and CPU per pair for one ring placement."""
        row(f"{tag}other floors pairs/s", lambda r: "; ".join(
            f"{v['label'].split(' (')[0]}: {fmt(v['rate_median'])}"
            for k, v in r[key]["floors"].items() if k != r[key]["ratio_floor"]) or "-")
        for side in ("client", "server"):
            row(f"{tag}{side} CPU us/pair baton / floor",
                lambda r, side=side: "{:.1f} / {:.1f}".format(
                    r[key][f"baton_{side}_cpu_us_per_pair"],
                    floor_of(r[key])[f"{side}_cpu_us_per_pair"]))

    placement_rows("pairs", "")
    row("one CPU: pairs/s baton / floor", lambda r: "{:.0f} / {:.0f}".format(
        r["pairs_one_cpu"]["baton_rate_median"], floor_of(r["pairs_one_cpu"])["rate_median"]))
    row("one CPU: ratio baton/floor (floor CV)", lambda r: "{:.2f} ({:.0f}%)".format(
        r["pairs_one_cpu"]["ratio_median"], 100 * r["pairs_one_cpu"]["floor_slice_cv"]))
    placement_rows("pairs_one_cpu", "one CPU: ")
    row("requests/pair baton (server)", lambda r: fmt(r["pairs"]["baton_requests_per_pair"], "{:.2f}"))
    row("requests/pair floor (server)",
        lambda r: fmt(r["pairs"]["floors"][r["pairs"]["ratio_floor"]]["requests_per_pair"], "{:.2f}"))
    row("hand-over p50 / p99 ms", lambda r: f"{r['handover']['p50_ms']:.3f} / {r['handover']['p99_ms']:.3f}")
    row("hand-over: server requests per cycle (etcd, zk)",
        lambda r: fmt(r["handover"].get("requests_per_handover"), "{:.1f}"))
    row(f"crash fail-over ms (TTL {TTL_MS})",
        lambda r: ", ".join(str(round(x)) for x in r["failover"]["failover_ms"]))
    row("10k names: renew requests/s", lambda r: fmt(r["names"]["renew_all"]["requests_per_s"], "{:.1f}"))
    row("10k names: requests per renew interval",
        lambda r: fmt(r["names"]["renew_all"]["requests_per_interval"], "{:.1f}"))
    row("10k names: server CPU ms/s (idle, renewing)",
        lambda r: fmt(r["names"]["renew_all"]["server_cpu_ms_per_s"], "{:.1f}"))
    row("10k names: one renewal blocks Redis (ms)",
        lambda r: fmt(r["names"]["renew_all"]["evalsha_ms_per_call"], "{:.1f}"))
    row("10k names: bytes RSS per name", lambda r: fmt(r["names"]["bytes_per_name"]))
    row("10k names: fds per name", lambda r: fmt(r["names"]["fds_per_name"], "{:.2f}"))
    row("threads with 100 / 10k names",
        lambda r: f"{r['names']['names_100']['threads']} / {r['names']['names_all']['threads']}")
    row("10k names acquired / held", lambda r: f"{r['names']['names_acquired']} / {r['names']['held_after_window']}")
    row("contention (8 procs): hand-overs/s", lambda r: fmt(r["contend"]["handovers_per_s"]))
    row("  terms per process min/max/stddev",
        lambda r: f"{r['contend']['min']:.0f}/{r['contend']['max']:.0f}/{r['contend']['stddev']:.1f}")
    row("  gap resign->next elected p50/p99 ms",
        lambda r: f"{r['contend']['gap_p50_ms']:.2f} / {r['contend']['gap_p99_ms']:.2f}")
    row("waiting (A leads, B waits): names", lambda r: fmt(r["waiting"]["names_wanted"]))
    row("  B's growth: threads / descriptors",
        lambda r: f"+{r['waiting']['b_threads']} / +{r['waiting']['b_fds']}")
    row("  B's bytes RSS per waiting name", lambda r: fmt(r["waiting"]["b_bytes_per_name"]))
    row("  whole process: threads / descriptors",
        lambda r: f"{r['waiting']['total_threads']} / {r['waiting']['total_fds']}")
    row("  requests per renew interval (idle)",
        lambda r: fmt(r["waiting"]["renew_idle"]["requests_per_interval"], "{:.1f}"))
    row("  hand-over p50 / p99 / max ms", lambda r: "{:.2f} / {:.2f} / {:.0f}".format(
        r["waiting"]["handover_p50_ms"], r["waiting"]["handover_p99_ms"],
        r["waiting"]["handover_max_ms"]))
    row("  hand-over of all names s; threads max",
        lambda r: f"{r['waiting']['handover_total_s']:.1f}; {r['waiting']['threads_max_handover']}")
    width = max(len(label) for label, _ in rows)
    colw = [max([len(k)] + [len(cells[i]) for _, cells in rows]) for i, k in enumerate(kinds)]
    lines = [" " * width + "  " + "  ".join(k.ljust(colw[i]) for i, k in enumerate(kinds))]
    for label, cells in rows:
        lines.append(label.ljust(width) + "  " + "  ".join(c.ljust(colw[i]) for i, c in enumerate(cells)))
    return "\n".join(lines)


def verdicts(result):
    lines = []
    for k in BACKENDS:
        if k not in result["backends"]:
            continue
        for v in result["backends"][k].get("targets", []):
            lines.append(f"[{v['verdict']:4}] {k:5} {v['target']}: {v['measured']}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="the Release build folder")
    ap.add_argument("--backend", default="all", choices=BACKENDS + ("all",))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--pin", default=None, metavar="CPUS",
                    help="run the server and every program on these CPUs (taskset list, "
                         "e.g. 1): on a small VM, ping-pong between vCPUs makes Redis rates "
                         "swing several-fold; on one CPU they measure cost per pair")
    ap.add_argument("--names", type=int, default=None,
                    help="names for the names and waiting measurements (default 10000)")
    ap.add_argument("--only", default="pairs,handover,failover,names,contend,waiting",
                    help="comma-separated measurements to run (for investigations)")
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    cfg = dict(MODES[mode])
    if args.names:
        cfg["names"] = args.names
    kinds = BACKENDS if args.backend == "all" else (args.backend,)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")
    servers_exe = os.path.join(args.build, "tests", "baton-test-servers")
    tmp = tempfile.mkdtemp(prefix="baton-bench-")
    r = Runner(os.path.join(args.build, "bench"),
               os.path.dirname(os.path.dirname(os.path.abspath(__file__))), tmp)
    result = {"mode": mode, "config": cfg, "pinned_cpus": args.pin, "ttl_failover_ms": TTL_MS, "ttl_names_ms": NAMES_TTL_MS,
              "machine": machine(), "backends": {}}
    started = time.monotonic()
    tag = f"{os.getpid()}"
    for kind in kinds:
        log(f"== {kind}")
        try:
            srv = Servers(servers_exe, kind)
        except RuntimeError as e:
            log(f"  ! {e}")
            result["backends"][kind] = {"error": str(e)}
            r.failures.append(str(e))
            continue
        try:
            version = server_version(kind, srv.port)
            log(f"  {version} at {srv.uri}")
            r.server_pid = int(srv.pids.split(",")[0])
            r.server_pids = srv.pids
            r.counters_uri = srv.counters_uri
            pin(r, args.pin)
            res = bench_backend(kind, r, srv.uri, cfg, tag, args.only.split(","))
            res["version"] = version
        finally:
            srv.stop()
        res["targets"] = judge(kind, res)
        result["backends"][kind] = res
    shutil.rmtree(tmp, ignore_errors=True)
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    result["failures"] = r.failures
    m = result["machine"]
    print(f"baton benchmarks ({mode}), {m['date']}: {m['nproc']} x {m['cpu']}, Linux {m['kernel']}, "
          f"load {m['loadavg_at_start']:.2f} at start, {result['elapsed_s']} s"
          + (f", server and programs pinned to CPU {args.pin}" if args.pin else ""))
    print(table(result))
    print()
    print(verdicts(result))
    print("\nWhy each MISS happens and what would fix it: bench/README.md, \"Findings\".")
    if r.failures:
        print("\nfailed runs:\n  " + "\n  ".join(r.failures))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nJSON: {out}")
    return 1 if r.failures else 0


if __name__ == "__main__":
    sys.exit(main())
