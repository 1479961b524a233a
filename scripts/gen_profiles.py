#!/usr/bin/env python3
"""gen_profiles.py - generate src/profiles_gen.c from offsets.json.

Reads the shared reference table (default ../shared/reference/offsets.json
relative to the repository root) and writes one ds_profile initializer per
build key, in the order the JSON lists them.  Every structure offset comes
straight from the JSON (absent -> DS_OFF_NONE); the few per-build flags
(pool sizes, TypeIndex cookie, tag protection bit, object placement, XP
object type pointer, thread CreateTime shift, type indices, dispatcher
sizes) follow the rules stated in offsets-notes.md sections 3 and 4 and
in the JSON's `common` block; each rule is a small function below.

The output is deterministic (same JSON -> same bytes) so a test can
regenerate it and diff against the committed file.

usage: gen_profiles.py [offsets.json] [-o out.c] [--check]
  --check  write nothing; exit 1 when out.c differs from what the JSON
           gives (the build's drift test), 77 (skip) when the JSON is absent
"""

import argparse
import json
import os
import re
import sys

OFF_NONE = 0xFFFF

# ds_profile field -> (JSON struct, JSON field).  Order matches profile.h.
FIELD_MAP = [
    ("eprocess_size", "_EPROCESS", "__sizeof__"),
    ("ep_dtb", "_EPROCESS", "Pcb.DirectoryTableBase"),
    ("ep_user_dtb", "_EPROCESS", "Pcb.UserDirectoryTableBase"),
    ("ep_pcb_thread_list", "_EPROCESS", "Pcb.ThreadListHead"),
    ("ep_pid", "_EPROCESS", "UniqueProcessId"),
    ("ep_links", "_EPROCESS", "ActiveProcessLinks"),
    ("ep_flags", "_EPROCESS", "Flags"),
    ("ep_create_time", "_EPROCESS", "CreateTime"),
    ("ep_exit_time", "_EPROCESS", "ExitTime"),
    ("ep_session_links", "_EPROCESS", "SessionProcessLinks"),
    ("ep_token", "_EPROCESS", "Token"),
    ("ep_object_table", "_EPROCESS", "ObjectTable"),
    ("ep_peb", "_EPROCESS", "Peb"),
    ("ep_session", "_EPROCESS", "Session"),
    ("ep_ppid", "_EPROCESS", "InheritedFromUniqueProcessId"),
    ("ep_name", "_EPROCESS", "ImageFileName"),
    ("ep_thread_list", "_EPROCESS", "ThreadListHead"),
    ("ep_active_threads", "_EPROCESS", "ActiveThreads"),
    ("ep_vad_root", "_EPROCESS", "VadRoot"),
    ("ep_exit_status", "_EPROCESS", "ExitStatus"),
    ("ep_section_base", "_EPROCESS", "SectionBaseAddress"),
    ("ep_wow64", "_EPROCESS", "Wow64Process"),
    ("ep_job", "_EPROCESS", "Job"),
    ("ep_win32process", "_EPROCESS", "Win32Process"),
    ("ep_protection", "_EPROCESS", "Protection"),
    ("ep_se_audit", "_EPROCESS", "SeAuditProcessCreationInfo"),
    ("mm_session_id", "_MM_SESSION_SPACE", "SessionId"),
    ("kthread_size", "_KTHREAD", "__sizeof__"),
    ("ethread_size", "_ETHREAD", "__sizeof__"),
    ("kt_initial_stack", "_KTHREAD", "InitialStack"),
    ("kt_stack_limit", "_KTHREAD", "StackLimit"),
    ("kt_stack_base", "_KTHREAD", "StackBase"),
    ("kt_kernel_stack", "_KTHREAD", "KernelStack"),
    ("kt_trap_frame", "_KTHREAD", "TrapFrame"),
    ("kt_apc_process", "_KTHREAD", "ApcState.Process"),
    ("kt_teb", "_KTHREAD", "Teb"),
    ("kt_state", "_KTHREAD", "State"),
    ("kt_win32thread", "_KTHREAD", "Win32Thread"),
    ("kt_process", "_KTHREAD", "Process"),
    ("kt_wait_reason", "_KTHREAD", "WaitReason"),
    ("kt_thread_list", "_KTHREAD", "ThreadListEntry"),
    ("kt_previous_mode", "_KTHREAD", "PreviousMode"),
    ("kt_syscall_number", "_KTHREAD", "SystemCallNumber"),
    ("et_create_time", "_ETHREAD", "CreateTime"),
    ("et_exit_time", "_ETHREAD", "ExitTime"),
    ("et_start_address", "_ETHREAD", "StartAddress"),
    ("et_cid_pid", "_ETHREAD", "Cid.UniqueProcess"),
    ("et_cid_tid", "_ETHREAD", "Cid.UniqueThread"),
    ("et_win32_start", "_ETHREAD", "Win32StartAddress"),
    ("et_thread_list", "_ETHREAD", "ThreadListEntry"),
    ("et_threads_process", "_ETHREAD", "ThreadsProcess"),
    ("et_cross_flags", "_ETHREAD", "CrossThreadFlags"),
    ("et_exit_status", "_ETHREAD", "ExitStatus"),
    ("oh_size", "_OBJECT_HEADER", "__sizeof__"),
    ("oh_body", "_OBJECT_HEADER", "Body"),
    ("oh_pointer_count", "_OBJECT_HEADER", "PointerCount"),
    ("oh_handle_count", "_OBJECT_HEADER", "HandleCount"),
    ("oh_type", "_OBJECT_HEADER", "Type"),
    ("oh_type_index", "_OBJECT_HEADER", "TypeIndex"),
    ("oh_info_mask", "_OBJECT_HEADER", "InfoMask"),
    ("oh_flags", "_OBJECT_HEADER", "Flags"),
    ("oh_name_info_off", "_OBJECT_HEADER", "NameInfoOffset"),
    ("oh_quota_info_off", "_OBJECT_HEADER", "QuotaInfoOffset"),
    ("oh_handle_info_off", "_OBJECT_HEADER", "HandleInfoOffset"),
]

TRAP_LDR_MAP = [
    ("tf_rip", "_KTRAP_FRAME", ("Rip", "Eip")),
    ("tf_rsp", "_KTRAP_FRAME", ("Rsp", "HardwareEsp")),
    ("tf_rbp", "_KTRAP_FRAME", ("Rbp", "Ebp")),
    ("tf_rax", "_KTRAP_FRAME", ("Rax", "Eax")),
    ("ldr_dll_base", "_LDR_DATA_TABLE_ENTRY", ("DllBase",)),
    ("ldr_entry_point", "_LDR_DATA_TABLE_ENTRY", ("EntryPoint",)),
    ("ldr_size_of_image", "_LDR_DATA_TABLE_ENTRY", ("SizeOfImage",)),
    ("ldr_base_dll_name", "_LDR_DATA_TABLE_ENTRY", ("BaseDllName",)),
    ("ldr_full_dll_name", "_LDR_DATA_TABLE_ENTRY", ("FullDllName",)),
]

# Optional object headers by InfoMask bit number (offsets-notes.md 3.2).
# Bit 6 is EXTENDED_INFO from 1607 on and HANDLE_REVOCATION_INFO on 10586.
OPT_HEADERS = [
    "_OBJECT_HEADER_CREATOR_INFO",
    "_OBJECT_HEADER_NAME_INFO",
    "_OBJECT_HEADER_HANDLE_INFO",
    "_OBJECT_HEADER_QUOTA_INFO",
    "_OBJECT_HEADER_PROCESS_INFO",
    "_OBJECT_HEADER_AUDIT_INFO",
    "_OBJECT_HEADER_EXTENDED_INFO",
    "_OBJECT_HEADER_PADDING_INFO",
]
REVOCATION_KEY = "HANDLE_REVOCATION_INFO(10586)"


def parse_build_range(text):
    """'2600' -> (2600, 2600); '18362/18363' and '19041-19045' -> (lo, hi)."""
    nums = [int(n) for n in re.findall(r"\d+", text)]
    if not nums:
        raise ValueError("no build number in %r" % text)
    return min(nums), max(nums)


def get_off(build, struct, field):
    v = build.get(struct, {}).get(field)
    if v is None:
        return OFF_NONE
    if not isinstance(v, int) or v < 0 or v >= OFF_NONE:
        raise ValueError("%s.%s = %r does not fit a u16 offset" % (struct, field, v))
    return v


def dispatcher_signature_key(bmin, is64):
    """Key of common.vol2_process_DTB_signature for a row, or None."""
    if not is64:
        if bmin < 6000:
            return "xp_x86"
        if bmin < 9200:
            return "win7_x86"
        if bmin < 10240:
            return "win8_81_x86"
        return None  # no Win10 x86 row in builds
    if bmin < 7600:
        return None
    if bmin < 9200:
        return "win7_x64"
    if bmin < 10240:
        return "win8_81_x64"
    if bmin < 18362:
        return "win10_x64_pre18362"
    if bmin < 19041:
        return "win10_x64_18362"
    return "win10_x64_19041+"


def process_dispatcher_size(common, build, bmin, is64):
    """DISPATCHER_HEADER.Size byte of a process (byte 2 of the vol2 DTB
    signature); 0 where the signature gives 0 or says nothing.  Where the
    JSON also gives sizeof(KPROCESS), the byte must equal it / 4 (notes
    section 4); a mismatch means the table and the rule disagree."""
    sig_table = None
    for k, v in common.items():
        if k.startswith("vol2_process_DTB_signature"):
            sig_table = v
    key = dispatcher_signature_key(bmin, is64)
    if sig_table is None or key is None or key not in sig_table:
        return 0
    size = int(sig_table[key].split()[2], 16)
    kp = get_off(build, "_KPROCESS", "__sizeof__")
    if size and kp != OFF_NONE and kp // 4 != size:
        raise ValueError("dispatcher size 0x%x != sizeof(KPROCESS)/4 0x%x" % (size, kp // 4))
    return size


def type_indices(common, bmin):
    """Process/Thread TypeIndex where common.object_type_index gives one
    (Win7 .. Win10 19041); 0 otherwise."""
    if 7600 <= bmin <= 19041:
        ti = common["object_type_index"]
        return ti["Process"]["win7"], ti["Thread"]["win7"]
    return 0, 0


def opt_sizes(common, build, bmin, is64):
    sizes = []
    for bit, name in enumerate(OPT_HEADERS):
        s = get_off(build, name, "__sizeof__")
        if bit == 6 and s == OFF_NONE and bmin == 10586 and is64:
            s = common["object_header_infomask"]["sizes_x64"][REVOCATION_KEY]
        sizes.append(s)
    return sizes


def wait_fields(build, bmin, is64):
    """KTHREAD.WaitMode and the Alertable flag, which offsets.json lacks.

    Sources (public PDB-derived headers: ntdiff/headers _KTHREAD.h, the
    Vergilius Project, the WRK for XP):
      - Vista and later, both architectures: State, NpxState (Spare13),
        WaitIrql, WaitMode are consecutive bytes: WaitMode = State + 3
        (7600 x86 0x68/0x6b, 7600 x64 0x164/0x167, 10.0 x64 0x184/0x187).
      - XP: WaitIrql, WaitMode, WaitNext, WaitReason are consecutive:
        WaitMode = WaitReason - 2 (0x59); Alertable is the byte after
        State and Alerted[2] (0x30).
      - Windows 10 and 11 x64: Alertable is bit 4 of MiscFlags at 0x74.
    Other builds (7, 8, 8.1): Alertable not located, left unknown.
    Returns (wait_mode, alertable_off, alertable_bit)."""
    state = get_off(build, "_KTHREAD", "State")
    reason = get_off(build, "_KTHREAD", "WaitReason")
    if state == OFF_NONE:
        return OFF_NONE, OFF_NONE, 0
    if bmin < 6000:
        return (reason - 2 if reason != OFF_NONE else OFF_NONE), state + 3, 0
    if is64 and bmin >= 10240:
        return state + 3, 0x74, 4
    return state + 3, OFF_NONE, 0


def make_row(common, key, build):
    meta = build["_meta"]
    bmin, bmax = parse_build_range(meta["build"])
    is64 = meta["arch"] == "x64"
    if meta["arch"] not in ("x64", "x86"):
        raise ValueError("%s: unknown arch %r" % (key, meta["arch"]))
    ph = get_off(build, "_POOL_HEADER", "__sizeof__")
    pool_hdr = ph if ph != OFF_NONE else (16 if is64 else 8)
    ptype, ttype = type_indices(common, bmin)
    xp_type = 1 if get_off(build, "_OBJECT_HEADER", "Type") != OFF_NONE else 0
    row = {
        "key": key,
        "os": meta["os"],
        "build_min": bmin,
        "build_max": bmax,
        "is64": int(is64),
        "ptr_size": 8 if is64 else 4,
        "pool_align": 16 if is64 else 8,
        "pool_header_size": pool_hdr,
        "typeindex_cookie": int(is64 and bmin >= 10240),
        "protected_tags": int(bmin < 9200),
        "object_top_down": int(bmin >= 9200),
        "xp_object_type": xp_type,
        "thread_ctime_shift": 3 if bmin < 3790 else 0,
        "process_type_index": ptype,
        "thread_type_index": ttype,
        "process_dispatcher_size": process_dispatcher_size(common, build, bmin, is64),
        "thread_dispatcher_size": 0,
    }
    for field, struct, name in FIELD_MAP:
        row[field] = get_off(build, struct, name)
    row["kt_wait_mode"], row["kt_alertable"], row["kt_alertable_bit"] = \
        wait_fields(build, bmin, is64)
    row["oh_opt_size"] = opt_sizes(common, build, bmin, is64)
    for field, struct, names in TRAP_LDR_MAP:
        v = OFF_NONE
        for n in names:
            v = get_off(build, struct, n)
            if v != OFF_NONE:
                break
        row[field] = v
    return row


def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


DECIMAL_FIELDS = ("build_min", "build_max")


def c_value(v, field=""):
    if isinstance(v, list):
        return "{" + ", ".join(c_value(x) for x in v) + "}"
    if isinstance(v, str):
        return c_string(v)
    if v == OFF_NONE:
        return "DS_OFF_NONE"
    if field in DECIMAL_FIELDS:
        return str(v)
    return "0x%x" % v if v >= 10 else str(v)


def render(rows, source_name):
    out = []
    out.append("/* profiles_gen.c - GENERATED by scripts/gen_profiles.py from\n"
               " * %s; do not edit by hand.  One ds_profile row per\n"
               " * `builds` key, in the JSON's order (see profile.h for the fields\n"
               " * and profile.c for how a row is chosen). */\n" % source_name)
    out.append('#include "profile.h"\n\n')
    out.append("const ds_profile ds_profiles[] = {\n")
    for r in rows:
        out.append("    {\n")
        for k, v in r.items():
            out.append("        .%s = %s,\n" % (k, c_value(v, k)))
        out.append("    },\n")
    out.append("};\n\n")
    out.append("const unsigned ds_profile_count = %d;\n" % len(rows))
    return "".join(out)


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="?",
                    default=os.path.join(root, "..", "shared", "reference", "offsets.json"))
    ap.add_argument("-o", "--output", default=os.path.join(root, "src", "profiles_gen.c"))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)

    if args.check and not os.path.exists(args.json):
        if os.environ.get("CI"):
            print("CI: %s is required for the drift check" % args.json)
            return 1
        print("%s not found: skipping the drift check" % args.json)
        return 77
    with open(args.json, encoding="utf-8") as f:
        data = json.load(f)
    common = data["common"]
    rows = [make_row(common, key, b) for key, b in data["builds"].items()]
    text = render(rows, "shared/reference/offsets.json")
    if args.check:
        with open(args.output, encoding="utf-8") as f:
            if f.read() != text:
                print("%s is out of date: run scripts/gen_profiles.py" % args.output)
                return 1
        print("%s matches %s" % (args.output, args.json))
        return 0
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
