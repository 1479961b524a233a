#!/usr/bin/env python3
"""test_cli_scan.py - `dumpscan scan` records, field by field, against
dumpgen's truth, as the CLI writes them (run by meson test).

usage: test_cli_scan.py PATH/TO/dumpscan PATH/TO/dumpgen

For one generated dump per build (raw, a crash-dump format, an ELF core)
every process, thread and driver record is compared with the truth:
addresses, IDs, names, times, verdicts as the CLI spells them, the
`!process 0 2` fields (handles, image path, command line, token,
protection, WoW64, exit status; thread state and wait names, wait mode,
alertability, stacks, Win32Thread, the system service by name), and the
driver views and verdicts.  Then the selection options: --pid, --name,
--only, and the table's --show-threads view (one Thread line per thread
of the selected process, each system call named).
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dumpkit  # noqa: E402  (the independent reader: offsets.json by field name)

failures = []

CASES = [
    ("win10_2004_22h2_x64", "raw"), ("win10_2004_22h2_x64", "kernel"),
    ("win11_24h2_x64", "elf"), ("win10_1809_x64", "full"), ("win7_sp1_x64", "bitmap"),
    ("win7_sp1_x86", "full32"), ("winxp_sp3_x86", "raw"), ("win11_22h2_x64", "rdmp"),
]
STATES = ["Initialized", "Ready", "Running", "Standby", "Terminated", "Waiting", "Transition",
          "DeferredReady"]


def check(cond, what):
    if not cond:
        failures.append(what)
        if len(failures) < 60:
            print("FAIL:", what, file=sys.stderr)


def run(*args):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def load_truth(path):
    t = {"process": [], "thread": [], "driver": [], "unloaded": []}
    with open(path + ".truth.ndjson", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["type"] == "dump_truth":
                t["hdr"] = r
            elif r["type"] in t:
                t[r["type"]].append(r)
    return t


def scan(binary, path, *extra):
    rc, out, err = run(binary, "scan", "-q", "--no-timing", *extra, path)
    check(rc == 0, f"scan {path} {extra}: exit {rc} {err.strip()}")
    recs = [json.loads(line) for line in out.splitlines()]
    by = {}
    for r in recs:
        by.setdefault(r["type"], []).append(r)
    return by


def protection_words(v):
    if v is None:
        return None, None
    types = ["none", "light", "full"]
    signers = ["none", "authenticode", "codegen", "antimalware", "lsa", "windows", "wintcb",
               "winsystem", "app"]
    return types[v & 7], signers[v >> 4]


def check_process(tag, p, t, user_pages):
    want = {
        "pid": t["pid"], "ppid": t["ppid"], "name": t["name"], "create_time": t["create_time"],
        "exit_time": t["exit_time"], "dtb": t["dtb"], "peb": t["peb"],
        "active_threads": t["thread_count"], "handle_count": t["handle_count"],
        "image_path": t["image_path"],
        "command_line": t["command_line"] if user_pages else None,
        "current_directory": t["current_directory"] if user_pages else None,
        "token": t["token"], "wow64": t["wow64"], "exit_status": t["exit_status"],
        "tag_wiped": t["tag_wiped"],
    }
    want["protection_type"], want["protection_signer"] = protection_words(t["protection"])
    if t["category"] != "unmapped":
        want["eprocess_va"] = t["eprocess_va"]
    cat = t["category"]
    want["hidden"] = cat.startswith("dkom_unlinked")
    want["terminated"] = cat.startswith("terminated")
    if p["pid"] != 0:
        want["unlinked"] = not t["linked"]
    if t["session_id"] is not None and p["session_id"] is not None:
        want["session_id"] = t["session_id"]
    for k, v in want.items():
        check(p[k] == v, f"{tag} process {t['name']} ({cat}): {k} = {p[k]!r}, truth {v!r}")
    check(("cid" in p["sources"]) == t["in_cid_table"], f"{tag} {t['name']}: cid view")
    check(p["failed_checks"] in ([], ["links_back"]),
          f"{tag} {t['name']}: failed_checks {p['failed_checks']}")


def check_thread(tag, r, t, owner):
    want = {
        "tid": t["tid"], "pid": t["pid"], "ethread_va": t["ethread_va"],
        "ethread_pa": t["ethread_pa"], "start_address": t["start_address"],
        "win32_start_address": t["win32_start_address"], "teb": t["teb"],
        "create_time": t["create_time"], "exit_time": t["exit_time"], "state": t["state"],
        "wait_reason": t["wait_reason"], "wait_mode": t["wait_mode"],
        "alertable": t["alertable"], "win32_thread": t["win32_thread"],
        "stack_base": t["stack_base"], "stack_limit": t["stack_limit"],
        "kernel_stack": t["kernel_stack"], "syscall_number": t["syscall_number"],
        "syscall_name": t["syscall_name"], "syscall_source": t["syscall_source"],
        "state_name": STATES[t["state"]], "tag_wiped": False,
    }
    if t["trap_frame"]:
        want.update(trap_frame=t["trap_frame"], rip=t["trap_ip"], rsp=t["trap_sp"])
    for k, v in want.items():
        check(r[k] == v, f"{tag} thread {t['tid']}: {k} = {r[k]!r}, truth {v!r}")
    check((r["wait_reason_name"] is not None) == (t["state"] == 5),
          f"{tag} thread {t['tid']}: wait_reason_name {r['wait_reason_name']!r}")
    # the kernel's own views of the thread: its process's thread list
    # (dumpgen links every live thread there; the list of the process on
    # a page no kernel PTE maps cannot be read) and the CID table when the
    # truth says it is in it
    listed = t["alive"] and owner is not None and owner["category"] != "unmapped"
    check(("threadlist" in r["sources"]) == listed,
          f"{tag} thread {t['tid']}: sources {r['sources']}, in its process's list {listed}")
    check(("cid" in r["sources"]) == t["in_cid_table"],
          f"{tag} thread {t['tid']}: sources {r['sources']}, in_cid_table {t['in_cid_table']}")


def check_driver(tag, d, t, kdbg):
    want = {"name": t["name"], "path": t["path"], "object_name": t["object_name"],
            "base": t["base"], "size": t["size"], "ldr_va": t["ldr_va"],
            "driver_object_va": t["driver_object_va"], "list_index": t["list_index"],
            "hidden": t["category"] == "hidden", "stale": t["category"] == "stale"}
    for k, v in want.items():
        check(d[k] == v, f"{tag} driver {t['name']}: {k} = {d[k]!r}, truth {v!r}")
    src = (["list"] if t["category"] == "listed" else []) + ["pool"]
    if t["driver_object_va"]:
        src.append("driver_object")
    check(d["sources"] == src, f"{tag} driver {t['name']}: sources {d['sources']}")


def one_dump(binary, dumpgen, tmp, key, fmt, seed):
    path = os.path.join(tmp, f"{key}.{fmt}")
    rc, _, err = run(dumpgen, "-q", "-o", path, "-b", key, "-f", fmt,
                     "-s", "24" if key.endswith("x86") else "16", "-S", str(seed))
    check(rc == 0, f"dumpgen {key} {fmt}: {err}")
    if rc:
        return
    t = load_truth(path)
    by = scan(binary, path)
    tag = f"{key} {fmt}"
    procs = {p["eprocess_pa"]: p for p in by.get("process", [])}
    check(len(procs) == len(t["process"]), f"{tag}: {len(procs)} processes, truth {len(t['process'])}")
    for tp in t["process"]:
        p = procs.get(tp["eprocess_pa"])
        check(p is not None, f"{tag}: process {tp['name']} missing")
        if p:
            check_process(tag, p, tp, t["hdr"]["user_pages"])
    threads = {r["ethread_va"]: r for r in by.get("thread", [])}
    check(len(threads) == len(t["thread"]), f"{tag}: thread count")
    for tt in t["thread"]:
        r = threads.get(tt["ethread_va"])
        check(r is not None, f"{tag}: thread {tt['tid']} missing")
        if r:
            owner = next((p for p in t["process"] if p["pid"] == tt["pid"]), None)
            check_thread(tag, r, tt, owner)
    drivers = {d["base"]: d for d in by.get("driver", [])}
    check(len(drivers) == len(t["driver"]), f"{tag}: driver count")
    for td in t["driver"]:
        d = drivers.get(td["base"])
        check(d is not None, f"{tag}: driver {td['name']} missing")
        if d:
            check_driver(tag, d, td, True)
    unl = [(u["index"], u["name"], u["start"], u["end"], u["unload_time"])
           for u in by.get("unloaded", [])]
    want = [(u["index"], u["name"], u["start"], u["end"], u["unload_time"]) for u in t["unloaded"]]
    check(unl == want, f"{tag}: unloaded {unl}, truth {want}")
    dump = by["dump"][0]
    hidden = sum(1 for p in t["process"] if p["category"].startswith("dkom_unlinked"))
    check(dump["hidden"] == hidden and dump["hidden_drivers"] == 1 and dump["drivers"] == len(t["driver"])
          and dump["unloaded_drivers"] == len(t["unloaded"]) and dump["module_list_status"] == "ok",
          f"{tag}: dump record counts {dump['hidden']} {dump['hidden_drivers']} {dump['drivers']}")
    return path, t


def selection(binary, path, t):
    tag = "selection"
    user = [p for p in t["process"] if p["category"] == "normal" and p["thread_count"] >= 2]
    target = user[len(user) // 2]
    mine = [x for x in t["thread"] if x["pid"] == target["pid"]]
    # --pid: the process, its threads, nothing of other processes, no drivers
    by = scan(binary, path, "--pid", str(target["pid"]))
    check([p["pid"] for p in by.get("process", [])] == [target["pid"]], f"{tag}: --pid processes")
    check(sorted(r["tid"] for r in by.get("thread", [])) == sorted(x["tid"] for x in mine),
          f"{tag}: --pid threads")
    check("driver" not in by and "unloaded" not in by, f"{tag}: --pid keeps no driver records")
    # --name by glob, case-insensitive, on the full name (longer than ImageFileName)
    glob = target["name"][:3].upper() + "*"
    by = scan(binary, path, "--name", glob)
    want = sorted(p["pid"] for p in t["process"] if p["name"].lower().startswith(target["name"][:3].lower()))
    check(sorted(p["pid"] for p in by.get("process", [])) == want, f"{tag}: --name {glob}")
    by = scan(binary, path, "--name", "no-such-process*")
    check("process" not in by and "thread" not in by, f"{tag}: --name matching nothing")
    # --only hidden: the DKOM processes and the hidden driver
    by = scan(binary, path, "--only", "hidden")
    check(sorted(p["pid"] for p in by.get("process", [])) ==
          sorted(p["pid"] for p in t["process"] if p["category"].startswith("dkom_unlinked")),
          f"{tag}: --only hidden processes")
    check([d["name"] for d in by.get("driver", [])] == ["rootkit.sys"], f"{tag}: --only hidden drivers")
    # the table's thread view
    rc, out, err = run(binary, "scan", "-q", "-f", "table", "--show-threads", "--pid",
                       str(target["pid"]), path)
    check(rc == 0, f"{tag}: table --show-threads exit {rc}")
    lines = out.splitlines()
    thread_lines = [l for l in lines if l.startswith("    Thread 0x")]
    check(len(thread_lines) == len(mine), f"{tag}: {len(thread_lines)} Thread lines, {len(mine)} threads")
    for x in mine:
        cid = "Cid %04x.%04x" % (x["pid"], x["tid"])
        hit = [l for l in thread_lines if cid in l]
        check(len(hit) == 1, f"{tag}: one line for {cid}")
        if hit and x["state"] == 5:
            check("WAIT: (" in hit[0], f"{tag}: {cid} waits: {hit[0]}")
    calls = [l.strip() for l in lines if "System Call Number" in l]
    want = sorted("System Call Number: %d ===> nt!%s" % (x["syscall_number"], x["syscall_name"])
                  for x in mine if x["syscall_name"])
    check(sorted(calls) == want, f"{tag}: system calls {calls}, truth {want}")
    check(not any("drivers (" in l for l in lines), f"{tag}: no driver table under --pid")


BUILD_KEYS = {17763: "win10_1809_x64", 19041: "win10_2004_22h2_x64"}


filetime_iso = dumpkit.filetime_iso


def real_triage(binary):
    """The triage block's EPROCESS/ETHREAD copies of the real minidumps,
    read here from the file at ProcessOffset/ThreadOffset + the field's
    offset looked up by name in offsets.json: every decoded field of the
    triage process and thread records must agree."""
    real = os.path.join(dumpkit.shared_dir(), "dumps", "real")
    exp_path = os.path.join(real, "expected.ndjson")
    if not os.path.exists(exp_path):
        check(not os.environ.get("CI"), "CI: ../shared/dumps/real missing")
        print("SKIP: real triage dumps (no ../shared)", file=sys.stderr)
        return
    with open(exp_path) as f:
        exp = [json.loads(line) for line in f]
    for e in exp:
        path = os.path.join(real, e["file"])
        data = open(path, "rb").read()
        off = dumpkit.offsets(BUILD_KEYS[e["build"]])
        ep, kt, et = off["_EPROCESS"], off["_KTHREAD"], off["_ETHREAD"]
        po, to = e["triage"]["ProcessOffset"], e["triage"]["ThreadOffset"]

        def q(base, field_off, size=8):
            return int.from_bytes(data[base + field_off:base + field_off + size], "little")

        by = scan(binary, path)
        p, t = by["process"][0], by["thread"][0]
        hx = lambda v: "0x%x" % v
        want_p = {"create_time": filetime_iso(q(po, ep["CreateTime"])),
                  "dtb": hx(q(po, ep["Pcb.DirectoryTableBase"])), "peb": hx(q(po, ep["Peb"])),
                  "object_table": hx(q(po, ep["ObjectTable"])),
                  "active_threads": q(po, ep["ActiveThreads"], 4),
                  "token": hx(q(po, ep["Token"]) & ~0xf)}
        for k, v in want_p.items():
            check(p[k] == v, f"{e['file']}: triage process {k} = {p[k]!r}, file {v!r}")
        state = q(to, kt["State"], 1)
        want_t = {"start_address": hx(q(to, et["StartAddress"])),
                  "win32_start_address": hx(q(to, et["Win32StartAddress"])),
                  "teb": hx(q(to, kt["Teb"])), "trap_frame": hx(q(to, kt["TrapFrame"])),
                  "stack_base": hx(q(to, kt["StackBase"])) if q(to, kt["StackBase"]) else None,
                  "stack_limit": hx(q(to, kt["StackLimit"])) if q(to, kt["StackLimit"]) else None,
                  "kernel_stack": hx(q(to, kt["KernelStack"])) if q(to, kt["KernelStack"]) else None,
                  "state": state, "wait_reason": q(to, kt["WaitReason"], 1),
                  "create_time": filetime_iso(q(to, et["CreateTime"])),
                  "eprocess_va": hx(q(to, kt["Process"]))}
        for k, v in want_t.items():
            check(t[k] == v, f"{e['file']}: triage thread {k} = {t[k]!r}, file {v!r}")
        check(t["state_name"] == STATES[state], f"{e['file']}: state_name {t['state_name']}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, dumpgen = (os.path.abspath(a) for a in sys.argv[1:3])
    with tempfile.TemporaryDirectory() as tmp:
        first = None
        for i, (key, fmt) in enumerate(CASES):
            r = one_dump(binary, dumpgen, tmp, key, fmt, 60 + i)
            if r and not first:
                first = r
        selection(binary, *first)
    real_triage(binary)
    if failures:
        print(f"{len(failures)} failures", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
