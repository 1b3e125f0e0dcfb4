# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which memory figure of a Gunicorn worker the planner's worker_memory_mb should be: measured.

The planner counts a preloaded Gunicorn service as b + s + N x (w - s): w the memory of one
worker, s the part of it that workers forked from a preloaded master share copy-on-write. A
worker's RSS counts the shared pages in full, its PSS divides them among the processes that
map them, its USS counts only its own. This runs the installed gateway (the demo's, from
`make demo`) under Gunicorn with 1, 2 and 4 workers, preloaded and not, drives each with hey,
and reads every process's RSS, PSS and USS from /proc/PID/smaps_rollup while the load runs.
From those it derives the figures an operator would pass and what each predicts, next to the
measured total (the PSS summed over the tree, which counts every page once).

Run: sudo .venv/bin/python benchmarks/worker_memory.py (after make demo). It writes
benchmarks/results/worker-memory-DATE.json and its section of docs/performance.md.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from performance_page import (  # benchmarks/, the folder of this script
    benchmark_parser,
    load_result,
    replace_section,
    save_result,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_GATEWAY = os.path.join(REPO_ROOT, ".build", "demo", "gateway")
SECTION_START, SECTION_END = "<!-- worker-memory:start -->", "<!-- worker-memory:end -->"
KIB = 1024
ENV_LINE = re.compile(r"^([A-Z_][A-Z0-9_]*)='(.*)'$")


def read_env_file(path):
    """The gateway's environment file: NAME='value' lines (the role writes them single-quoted)."""
    values = {}
    with open(path) as handle:
        for line in handle:
            match = ENV_LINE.match(line.strip())
            if match:
                values[match.group(1)] = match.group(2)
    return values


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def smaps_rollup_kib(pid):
    """{'rss':, 'pss':, 'uss':} of one process in KiB, or None when it is gone."""
    fields = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as handle:
            for line in handle:
                name, rest = line.split(":", 1) if ":" in line else (line, "")
                if rest.strip().endswith("kB"):
                    fields[name] = int(rest.split()[0])
    except OSError:
        return None
    return {"rss": fields.get("Rss", 0), "pss": fields.get("Pss", 0),
            "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


def tree(pid):
    found, frontier = [pid], [pid]
    while frontier:
        kids = children_of(frontier.pop())
        found.extend(kids)
        frontier.extend(kids)
    return found


class Peaks:
    """Samples the master, each worker (a direct child with its own helpers) and the whole tree."""

    def __init__(self, master):
        self.master = master
        self.total_pss = 0
        self.master_figures = {"rss": 0, "pss": 0, "uss": 0}
        self.workers = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        total = 0
        for pid in tree(self.master):
            figures = smaps_rollup_kib(pid)
            total += figures["pss"] if figures else 0
        self.total_pss = max(self.total_pss, total)
        master = smaps_rollup_kib(self.master) or {}
        for key in self.master_figures:
            self.master_figures[key] = max(self.master_figures[key], master.get(key, 0))
        for worker in children_of(self.master):
            sums = {"rss": 0, "pss": 0, "uss": 0}
            for pid in tree(worker):
                figures = smaps_rollup_kib(pid) or {}
                for key in sums:
                    sums[key] += figures.get(key, 0)
            peak = self.workers.setdefault(worker, dict(sums))
            for key in sums:
                peak[key] = max(peak[key], sums[key])

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.5)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


def wait_ready(url, deadline):
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError("the gateway did not become ready at %s" % url)


def gunicorn_config(source, folder, workers, preload):
    with open(source) as handle:
        text = handle.read()
    text = re.sub(r"(?m)^workers = .*$", "workers = %d" % workers, text)
    text = re.sub(r"(?m)^preload_app = .*$", "preload_app = %s" % preload, text)
    path = os.path.join(folder, "gunicorn.conf.py")
    with open(path, "w") as handle:
        handle.write(text)
    return path


def measure(gateway, workers, preload, requests, concurrency, hey):
    """Peak memory of one configuration under hey, from a fresh SQLite database."""
    venv = os.path.join(gateway, "venv")
    with tempfile.TemporaryDirectory(prefix="mcpgw-memory-") as folder:
        port = free_port()
        env = dict(os.environ, **read_env_file(os.path.join(gateway, "etc", "mcpgateway.env")))
        env.update(DATABASE_URL="sqlite:///%s/mcp.db" % folder, CACHE_TYPE="memory", HOST="127.0.0.1",
                   PORT=str(port), HOME=folder, MCPGATEWAY_SKIP_MIGRATIONS="true", RATE_LIMITING_ENABLED="false")
        python = os.path.join(venv, "bin", "python")
        # The role creates the schema before the workers start, and so does this.
        subprocess.run([python, "-m", "mcpgateway.bootstrap_db"], cwd=folder, check=True, timeout=300,
                       env=dict(env, MCPGATEWAY_SKIP_MIGRATIONS="false"))
        token = subprocess.run([python, "-m", "mcpgateway.utils.create_jwt_token", "--username", "admin@example.com",
                                "--admin", "--exp", "30"], cwd=folder, env=env, check=True, capture_output=True,
                               text=True, timeout=120).stdout.strip()
        config = gunicorn_config(os.path.join(gateway, "etc", "gunicorn.conf.py"), folder, workers, preload)
        log = open(os.path.join(folder, "gunicorn.log"), "w")  # pylint: disable=consider-using-with
        master = subprocess.Popen([os.path.join(venv, "bin", "gunicorn"), "-c", config, "mcpgateway.main:app"],
                                  cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = "http://127.0.0.1:%d" % port
        try:
            wait_ready(url, time.monotonic() + 180)
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            load = [hey, "-n", str(requests), "-c", str(concurrency), "-m", "POST", "-T", "application/json",
                    "-H", "Authorization: Bearer " + token, "-d", body, url + "/rpc"]
            with Peaks(master.pid) as peaks:
                subprocess.run(load, check=True, capture_output=True, timeout=600)
        finally:
            master.send_signal(signal.SIGTERM)
            try:
                master.wait(90)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()
            log.close()
    worker_figures = list(peaks.workers.values())

    def mean(key):
        return sum(figures[key] for figures in worker_figures) / len(worker_figures) / KIB

    return {"workers": workers, "preload": preload, "total_pss_mib": peaks.total_pss / KIB,
            "master": dict((key, value / KIB) for key, value in peaks.master_figures.items()),
            "worker_rss_mib": mean("rss"), "worker_pss_mib": mean("pss"), "worker_uss_mib": mean("uss")}


def growth(rows, preload):
    """(MiB per added worker, MiB at 0 workers): the line through the fewest and the most workers."""
    points = sorted((row["workers"], row["total_pss_mib"]) for row in rows if row["preload"] == preload)
    (low, low_total), (high, high_total) = points[0], points[-1]
    per_worker = (high_total - low_total) / (high - low)
    return per_worker, low_total - low * per_worker


def model_mib(workers, preload, worker_mb, base_mb, shared_mb):
    """The planner's memory model (plugins/plugin_utils/sizing.py, memory_model)."""
    if preload and shared_mb:
        return base_mb + shared_mb + workers * (worker_mb - shared_mb)
    return base_mb + workers * worker_mb


def predictions(rows, defaults):
    """What the planner would count for each measured configuration, given: its default figures; a
    worker's measured PSS with the default share subtracted (what the docs used to suggest); the
    measured growth per worker and its line's base, sharing nothing more."""
    fitted = dict((preload, growth(rows, preload)) for preload in (True, False))
    out = []
    for row in rows:
        per_worker, base = fitted[row["preload"]]
        candidates = {
            "defaults": model_mib(row["workers"], row["preload"], defaults["worker_memory_mb"],
                                  defaults["base_memory_mb"], defaults["preload_shared_mb"]),
            "worker PSS, default share": model_mib(row["workers"], row["preload"], row["worker_pss_mib"],
                                                   defaults["base_memory_mb"], defaults["preload_shared_mb"]),
            "measured growth and base": model_mib(row["workers"], row["preload"], per_worker, base, 0),
        }
        out.append({"workers": row["workers"], "preload": row["preload"], "measured_mib": row["total_pss_mib"],
                    "predicted_mib": candidates})
    return {"growth": dict(("preload" if preload else "no preload", {"per_worker_mib": fit[0], "base_mib": fit[1]})
                           for preload, fit in fitted.items()), "rows": out}


def section(results):
    lines = [SECTION_START, "",
             "Measured %s on %s by `benchmarks/worker_memory.py`: the demo's gateway (Gunicorn, Uvicorn workers, "
             "SQLite), `hey -n %d -c %d` on JSON-RPC `tools/list`, peaks sampled every 0.5 s from "
             "`/proc/PID/smaps_rollup` (MiB; a worker counted with its helper processes). The total is the PSS "
             "summed over the process tree, which counts every page once (what `resource_watch` reports)."
             % (results["date"], results["host"], results["requests"], results["concurrency"]), "",
             "| workers | preload | total | master RSS / PSS / USS | worker RSS | worker PSS | worker USS |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in results["rows"]:
        lines.append("| %d | %s | %.0f | %.0f / %.0f / %.0f | %.0f | %.0f | %.0f |" % (
            row["workers"], "yes" if row["preload"] else "no", row["total_pss_mib"], row["master"]["rss"],
            row["master"]["pss"], row["master"]["uss"], row["worker_rss_mib"], row["worker_pss_mib"],
            row["worker_uss_mib"]))
    model = results["predictions"]
    lines += ["", "Growth per added worker and the line's value at 0 workers: %s." % "; ".join(
        "%s %.0f MiB per worker, %.0f MiB base" % (name, fit["per_worker_mib"], fit["base_mib"])
        for name, fit in model["growth"].items()), "",
        "What the planner counts (MiB) with its defaults (worker %(worker_memory_mb)g, base %(base_memory_mb)g, "
        "shared %(preload_shared_mb)g), with a worker's measured PSS as `worker_memory_mb` and the default share "
        "subtracted, and with the measured growth and base as `worker_memory_mb` and `base_memory_mb` "
        "(`preload_shared_mb` 0); below 1.00 it would plan more workers than fit:" % results["defaults"], "",
        "| workers | preload | measured | defaults | worker PSS, default share | measured growth and base |",
        "| --- | --- | --- | --- | --- | --- |"]
    for row in model["rows"]:
        cells = ["%.0f (%.2f)" % (row["predicted_mib"][name], row["predicted_mib"][name] / row["measured_mib"])
                 for name in ("defaults", "worker PSS, default share", "measured growth and base")]
        lines.append("| %d | %s | %.0f | %s |" % (row["workers"], "yes" if row["preload"] else "no",
                                                  row["measured_mib"], " | ".join(cells)))
    lines += ["", SECTION_END]
    return "\n".join(lines)


def planner_defaults():
    """The planner's default memory figures for Gunicorn, from the collection itself."""
    # sizing_inputs.py imports nothing of the collection: it loads from its file.
    spec = importlib.util.spec_from_file_location(
        "sizing_inputs", os.path.join(REPO_ROOT, "plugins", "plugin_utils", "sizing_inputs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.SERVER_MEMORY_MB["gunicorn"])


def main(argv):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--gateway", default=DEMO_GATEWAY, help="an installed gateway's folder (make demo's)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    options = parser.parse_args(argv[1:])
    if options.report:
        results = load_result(options.report)
    else:
        hey = shutil.which("hey")
        if not os.path.isdir(os.path.join(options.gateway, "venv")) or not hey:
            sys.exit("needs the demo's gateway (run make demo first) and hey (apt-get install hey)")
        rows = []
        for preload in (True, False):
            for workers in options.workers:
                rows.append(measure(options.gateway, workers, preload, options.requests, options.concurrency, hey))
                print(json.dumps(rows[-1]), flush=True)
        results = {"date": datetime.date.today().isoformat(), "host": socket.gethostname(),
                   "requests": options.requests, "concurrency": options.concurrency, "rows": rows}
    results["defaults"] = planner_defaults()
    results["predictions"] = predictions(results["rows"], results["defaults"])
    save_result(results, "worker-memory-%s.json" % results["date"])
    replace_section(section(results), SECTION_START, SECTION_END, "Worker memory")
    print(section(results))


if __name__ == "__main__":
    main(sys.argv)
