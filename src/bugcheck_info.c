/* bugcheck_info.c - parameter meanings and analysis rules of common bug
 * checks; see bugcheck_info.h.
 *
 * Source: Microsoft's public Bug Check Code Reference (learn.microsoft.com,
 * "Bug Check 0x..: NAME" pages) and the parameter lines `!analyze -v`
 * prints for them; meanings are shortened to a few words each.  Rule
 * columns: IP = parameter holding the faulting instruction address, EC =
 * exception code, EXR = EXCEPTION_RECORD, CXR = CONTEXT, TRAP = KTRAP_FRAME.
 * Keep the rows sorted by code (ds_bugcheck_info bisects; a test checks). */
#include "bugcheck_info.h"

#define R(code, m1, m2, m3, m4, ip, ec, exr, cxr, trap) \
    {code, {m1, m2, m3, m4}, ip, ec, exr, cxr, trap}

static const ds_bugcheck_info table[] = {
    R(0x01, "address of the system call routine", "thread ApcStateIndex",
      "KernelApcDisable << 16 | SpecialApcDisable", "call type (0 system call, 1 worker routine)",
      0, 0, 0, 0, 0),
    R(0x0A, "memory referenced", "IRQL at the time of the reference",
      "access (bit 0 write, bit 3 execute)", "address of the instruction that referenced memory",
      4, 0, 0, 0, 0),
    R(0x12, "trap number", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x18, "type of the object", "object whose reference count went wrong", "reserved",
      "reserved", 0, 0, 0, 0, 0),
    R(0x19, "type of pool violation", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x1A, "type of memory management violation", "depends on parameter 1",
      "depends on parameter 1", "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x1E, "exception code", "address of the instruction that raised it",
      "exception parameter 0", "exception parameter 1", 2, 1, 0, 0, 0),
    R(0x20, "address of the pending APC", "thread APC disable count", "current IRQL", "reserved",
      0, 0, 0, 0, 0),
    R(0x23, "source file and line in the FAT driver", "exception record", "context record",
      "reserved", 0, 0, 2, 3, 0),
    R(0x24, "source file and line in the NTFS driver", "exception record", "context record",
      "reserved", 0, 0, 2, 3, 0),
    R(0x27, "source file and line in the redirector", "exception record", "context record",
      "reserved", 0, 0, 2, 3, 0),
    R(0x2E, "virtual address of the fault", "physical address of the fault",
      "processor status register", "faulting instruction register", 0, 0, 0, 0, 0),
    R(0x34, "source file and line in the cache manager", "exception record", "context record",
      "reserved", 0, 0, 2, 3, 0),
    R(0x35, "address of the IRP", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x3B, "exception code", "address of the instruction that raised it", "context record",
      "reserved", 2, 1, 0, 3, 0),
    R(0x3D, "exception record", "context record", "reserved", "reserved", 0, 0, 1, 2, 0),
    R(0x3F, "type of system PTE", "PTEs requested", "free system PTEs", "total system PTEs",
      0, 0, 0, 0, 0),
    R(0x44, "address of the IRP", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x4A, "address of the system call routine", "IRQL", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x4E, "type of PFN list violation", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x50, "memory referenced", "access (0 read, 1 write, 2 or 10 execute)",
      "address of the instruction that referenced memory (0 if unknown)", "type of page fault",
      3, 0, 0, 0, 0),
    R(0x51, "reserved", "registry hive or key", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x5C, "reserved", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x6B, "NT status code", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x74, "reserved", "reserved", "reserved", "NT status code of the failure", 0, 0, 0, 0, 0),
    R(0x76, "0", "process with the locked pages", "number of locked pages", "reserved",
      0, 0, 0, 0, 0),
    R(0x77, "status code", "status code or pagefile number", "PTE or page file offset",
      "address of the kernel stack page", 0, 0, 0, 0, 0),
    R(0x7A, "lock type or PTE address", "error status", "current process or PTE contents",
      "virtual address that could not be paged in", 0, 0, 0, 0, 0),
    R(0x7B, "device object or boot path", "status code", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x7C, "type of NDIS violation", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x7E, "exception code", "address of the instruction that raised it", "exception record",
      "context record", 2, 1, 3, 4, 0),
    R(0x7F, "processor trap number (8 double fault)", "reserved", "reserved", "reserved",
      0, 0, 0, 0, 0),
    R(0x80, "reserved", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x8E, "exception code", "address of the instruction that raised it", "trap frame",
      "reserved", 2, 1, 0, 0, 3),
    R(0x9C, "reserved", "address of the machine check record", "reserved", "reserved",
      0, 0, 0, 0, 0),
    R(0x9E, "process that failed to respond", "timeout in seconds", "reason",
      "reserved", 0, 0, 0, 0, 0),
    R(0x9F, "type of power failure", "device object or blocking time", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0xA0, "type of power error", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0xA5, "type of ACPI error", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0xBE, "virtual address written to", "PTE contents", "trap frame", "reserved",
      0, 0, 0, 0, 3),
    R(0xC1, "address the driver tried to free", "reserved", "depends on parameter 4",
      "type of special pool violation", 0, 0, 0, 0, 0),
    R(0xC2, "type of bad pool caller violation", "depends on parameter 1",
      "depends on parameter 1", "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0xC4, "type of Driver Verifier violation", "depends on parameter 1",
      "depends on parameter 1", "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0xC5, "memory referenced", "IRQL", "access (0 read, 1 write)",
      "address of the instruction that referenced memory", 4, 0, 0, 0, 0),
    R(0xC7, "type of timer or DPC violation", "object at fault", "start of memory being freed",
      "end of memory being freed", 0, 0, 0, 0, 0),
    R(0xCA, "type of PnP violation", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0xCB, "caller in the driver that locked the pages", "caller of that caller",
      "MDL of the locked pages", "driver name (UNICODE_STRING)", 1, 0, 0, 0, 0),
    R(0xCE, "memory referenced", "access (0 read, 1 write)",
      "address of the instruction that referenced memory", "reserved", 3, 0, 0, 0, 0),
    R(0xD1, "memory referenced", "IRQL", "access (0 read, 1 write, 8 execute)",
      "address of the instruction that referenced memory", 4, 0, 0, 0, 0),
    R(0xD5, "memory referenced", "access (0 read, 1 write)",
      "address of the instruction that referenced memory", "reserved", 3, 0, 0, 0, 0),
    R(0xD6, "memory referenced", "access (0 read, 1 write)",
      "address of the instruction that referenced memory", "reserved", 3, 0, 0, 0, 0),
    R(0xD8, "driver using the most PTEs", "PTEs it uses", "free system PTEs",
      "total system PTEs", 0, 0, 0, 0, 0),
    R(0xDE, "reserved", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0xE2, "reserved", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0xE6, "type of DMA violation", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0xEA, "thread stuck in the driver", "device object", "driver object", "reserved",
      0, 0, 0, 0, 0),
    R(0xED, "device object of the boot volume", "status code", "reserved", "reserved",
      0, 0, 0, 0, 0),
    R(0xEF, "process object", "trigger (0 process, 1 thread)", "depends on parameter 2",
      "depends on parameter 2", 0, 0, 0, 0, 0),
    R(0xF4, "type of object (3 process, 6 thread)", "terminating object", "image file name",
      "explanatory message", 0, 0, 0, 0, 0),
    R(0xF7, "actual security check cookie", "expected cookie", "complement of expected cookie",
      "reserved", 0, 0, 0, 0, 0),
    R(0xFC, "virtual address of the attempted execute", "PTE contents", "trap frame",
      "reserved", 1, 0, 0, 0, 3),
    R(0xFE, "type of USB violation", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x101, "clock interrupt time-out (ticks)", "0", "PRCB of the unresponsive processor",
      "index of the unresponsive processor", 0, 0, 0, 0, 0),
    R(0x109, "reserved", "reserved", "failure type", "type of corrupted region", 0, 0, 0, 0, 0),
    R(0x10D, "type of framework violation", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x10E, "type of video memory violation", "depends on parameter 1",
      "depends on parameter 1", "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x113, "type of DirectX kernel failure", "depends on parameter 1",
      "depends on parameter 1", "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x116, "TDR recovery context", "responsible driver's code address", "error code",
      "reason", 0, 0, 0, 0, 0),
    R(0x117, "TDR recovery context", "responsible driver's code address", "error code",
      "reason", 0, 0, 0, 0, 0),
    R(0x119, "type of video scheduler failure", "depends on parameter 1",
      "depends on parameter 1", "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x124, "error source type", "WHEA_ERROR_RECORD", "high 32 bits of MCi_STATUS",
      "low 32 bits of MCi_STATUS", 0, 0, 0, 0, 0),
    R(0x127, "virtual address that should be zero", "physical page number",
      "zero-filled page check", "reserved", 0, 0, 0, 0, 0),
    R(0x12B, "virtual address of the page", "physical page number", "byte offset",
      "reserved", 0, 0, 0, 0, 0),
    R(0x133, "0 one DPC ran too long, 1 DISPATCH_LEVEL too long in total",
      "time count (ticks)", "time allotment or DPC watchdog triage block", "reserved",
      0, 0, 0, 0, 0),
    R(0x139, "type of memory safety violation (fast-fail code)", "trap frame",
      "exception record", "reserved", 0, 0, 3, 0, 2),
    R(0x13A, "type of heap corruption", "address of the heap", "corrupted entry",
      "reserved", 0, 0, 0, 0, 0),
    R(0x141, "TDR recovery context", "responsible driver's code address", "error code",
      "reason", 0, 0, 0, 0, 0),
    R(0x144, "type of USB3 violation", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x154, "store context", "exception information", "reserved", "reserved",
      0, 0, 0, 0, 0),
    R(0x15F, "reserved", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x160, "type of atomic check failure", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x189, "bad object header", "pool type", "reason", "reserved", 0, 0, 0, 0, 0),
    R(0x18B, "type of secure kernel error", "depends on parameter 1", "depends on parameter 1",
      "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x192, "address of the lock", "IRQL", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x1A1, "reserved", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x1C7, "type of store data structure corruption", "data structure",
      "depends on parameter 1", "depends on parameter 1", 0, 0, 0, 0, 0),
    R(0x1C8, "reserved", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0x1CA, "reserved", "reserved", "reserved", "reserved", 0, 0, 0, 0, 0),
    R(0xC000021A, "message of the failed process", "status code", "reserved", "reserved",
      0, 0, 0, 0, 0),
};

#define NROWS (sizeof(table) / sizeof(table[0]))

uint32_t ds_bugcheck_base_code(uint32_t code)
{
    /* the _M flag; 0xC000021A is an NTSTATUS-valued code, not a variant */
    return (code & 0xf0000000u) == 0x10000000u ? code & ~0x10000000u : code;
}

const ds_bugcheck_info *ds_bugcheck_info_of(uint32_t code)
{
    uint32_t c = ds_bugcheck_base_code(code);
    size_t lo = 0, hi = NROWS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (table[mid].code == c)
            return &table[mid];
        if (table[mid].code < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t ds_bugcheck_info_count(void)
{
    return NROWS;
}

const ds_bugcheck_info *ds_bugcheck_info_row(size_t i)
{
    return i < NROWS ? &table[i] : NULL;
}
