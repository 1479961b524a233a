/* dumpfmt.h - on-disk layouts of Windows crash-dump files.
 *
 * Every structure a parser or the generator touches is declared here as a
 * packed little-endian C struct, and every field offset is checked by the
 * compiler with _Static_assert, kdmp-parser style.  Offsets come from
 * ../shared/reference/offsets.json `common` (DUMP_HEADER64/32, BMP, RDMP)
 * and, for the triage block, were confirmed on the real minidumps in
 * ../shared/dumps/real/.  Nothing here has behaviour: parsing lives in
 * dump.c / triage.c, writing in the generator. */
#ifndef DS_DUMPFMT_H
#define DS_DUMPFMT_H

#include <stddef.h>
#include <stdint.h>

#define DS_OFF(T, f, v) _Static_assert(offsetof(T, f) == (v), #T "." #f " offset")
#define DS_SIZE(T, v) _Static_assert(sizeof(T) == (v), "sizeof " #T)

#define DS_PAGE_SIZE 0x1000u
#define DS_PAGE_SHIFT 12

/* u32 little-endian signatures */
#define DS_SIG_PAGE 0x45474150u   /* "PAGE" */
#define DS_SIG_DU64 0x34365544u   /* "DU64" */
#define DS_SIG_DUMP 0x504d5544u   /* "DUMP" */
#define DS_SIG_SDMP 0x504d4453u   /* "SDMP" */
#define DS_SIG_FDMP 0x504d4446u   /* "FDMP" */
#define DS_SIG_RDMP 0x504d4452u   /* "RDMP" */
#define DS_SIG_KDBG 0x4742444bu   /* "KDBG" */

#define DS_MACHINE_I386 0x014cu
#define DS_MACHINE_AMD64 0x8664u
#define DS_MACHINE_ARM64 0xaa64u

/* DumpType values (offsets.json common.DumpType). */
enum ds_dump_type {
    DS_DT_FULL = 1,
    DS_DT_SUMMARY = 2,
    DS_DT_HEADER = 3,
    DS_DT_TRIAGE = 4,
    DS_DT_BITMAP_FULL = 5,
    DS_DT_BITMAP_KERNEL = 6,
    DS_DT_AUTOMATIC = 7,
    DS_DT_RDMP_KERNEL = 8,
    DS_DT_RDMP_KERNEL_USER = 9,
    DS_DT_RDMP_COMPLETE = 0xa,
};

#pragma pack(push, 1)

typedef struct ds_phys_run64 {
    uint64_t BasePage;
    uint64_t PageCount;
} ds_phys_run64;
DS_OFF(ds_phys_run64, BasePage, 0x0);
DS_OFF(ds_phys_run64, PageCount, 0x8);
DS_SIZE(ds_phys_run64, 0x10);

/* PhysicalMemoryBlock inside DUMP_HEADER64: 700-byte buffer + 4 pad. */
#define DS_HDR64_MAX_RUNS ((700 - 0x10) / 0x10) /* 42 */
typedef struct ds_phys_desc64 {
    uint32_t NumberOfRuns;
    uint32_t Pad;
    uint64_t NumberOfPages;
    ds_phys_run64 Run[DS_HDR64_MAX_RUNS];
    uint8_t Tail[700 + 4 - 0x10 - DS_HDR64_MAX_RUNS * 0x10];
} ds_phys_desc64;
DS_OFF(ds_phys_desc64, NumberOfRuns, 0x0);
DS_OFF(ds_phys_desc64, NumberOfPages, 0x8);
DS_OFF(ds_phys_desc64, Run, 0x10);
DS_SIZE(ds_phys_desc64, 704);

typedef struct ds_dump_header64 {
    uint32_t Signature;          /* "PAGE" */
    uint32_t ValidDump;          /* "DU64" */
    uint32_t MajorVersion;       /* 0xf free, 0xc checked */
    uint32_t MinorVersion;       /* build number */
    uint64_t DirectoryTableBase;
    uint64_t PfnDataBase;
    uint64_t PsLoadedModuleList;
    uint64_t PsActiveProcessHead;
    uint32_t MachineImageType;
    uint32_t NumberProcessors;
    uint32_t BugCheckCode;
    uint32_t BugCheckCodePad;
    uint64_t BugCheckParameter[4];
    uint8_t VersionUser[32];
    uint64_t KdDebuggerDataBlock;
    ds_phys_desc64 PhysicalMemoryBlock;
    uint8_t ContextRecord[3000];
    uint8_t Exception[0x98];     /* EXCEPTION_RECORD64 */
    uint32_t DumpType;
    uint32_t DumpTypePad;
    int64_t RequiredDumpSpace;
    int64_t SystemTime;          /* FILETIME, UTC */
    char Comment[128];
    int64_t SystemUpTime;        /* 100 ns units */
    uint32_t MiniDumpFields;
    uint32_t SecondaryDataState;
    uint32_t ProductType;
    uint32_t SuiteMask;
    uint32_t WriterStatus;
    uint8_t Unused1;
    uint8_t KdSecondaryVersion;
    uint8_t Unused2[2];
    uint32_t Attributes;
    uint32_t BootId;
    uint8_t Reserved[0x2000 - 0x1058];
} ds_dump_header64;
DS_OFF(ds_dump_header64, Signature, 0x0);
DS_OFF(ds_dump_header64, ValidDump, 0x4);
DS_OFF(ds_dump_header64, MajorVersion, 0x8);
DS_OFF(ds_dump_header64, MinorVersion, 0xc);
DS_OFF(ds_dump_header64, DirectoryTableBase, 0x10);
DS_OFF(ds_dump_header64, PfnDataBase, 0x18);
DS_OFF(ds_dump_header64, PsLoadedModuleList, 0x20);
DS_OFF(ds_dump_header64, PsActiveProcessHead, 0x28);
DS_OFF(ds_dump_header64, MachineImageType, 0x30);
DS_OFF(ds_dump_header64, NumberProcessors, 0x34);
DS_OFF(ds_dump_header64, BugCheckCode, 0x38);
DS_OFF(ds_dump_header64, BugCheckParameter, 0x40);
DS_OFF(ds_dump_header64, VersionUser, 0x60);
DS_OFF(ds_dump_header64, KdDebuggerDataBlock, 0x80);
DS_OFF(ds_dump_header64, PhysicalMemoryBlock, 0x88);
DS_OFF(ds_dump_header64, ContextRecord, 0x348);
DS_OFF(ds_dump_header64, Exception, 0xf00);
DS_OFF(ds_dump_header64, DumpType, 0xf98);
DS_OFF(ds_dump_header64, RequiredDumpSpace, 0xfa0);
DS_OFF(ds_dump_header64, SystemTime, 0xfa8);
DS_OFF(ds_dump_header64, Comment, 0xfb0);
DS_OFF(ds_dump_header64, SystemUpTime, 0x1030);
DS_OFF(ds_dump_header64, MiniDumpFields, 0x1038);
DS_OFF(ds_dump_header64, SecondaryDataState, 0x103c);
DS_OFF(ds_dump_header64, ProductType, 0x1040);
DS_OFF(ds_dump_header64, SuiteMask, 0x1044);
DS_OFF(ds_dump_header64, WriterStatus, 0x1048);
DS_OFF(ds_dump_header64, KdSecondaryVersion, 0x104d);
DS_OFF(ds_dump_header64, Attributes, 0x1050);
DS_OFF(ds_dump_header64, BootId, 0x1054);
DS_SIZE(ds_dump_header64, 0x2000);

typedef struct ds_phys_run32 {
    uint32_t BasePage;
    uint32_t PageCount;
} ds_phys_run32;
DS_SIZE(ds_phys_run32, 8);

#define DS_HDR32_MAX_RUNS ((700 - 8) / 8) /* 86 */
typedef struct ds_phys_desc32 {
    uint32_t NumberOfRuns;
    uint32_t NumberOfPages;
    ds_phys_run32 Run[DS_HDR32_MAX_RUNS];
    uint8_t Tail[700 - 8 - DS_HDR32_MAX_RUNS * 8];
} ds_phys_desc32;
DS_OFF(ds_phys_desc32, NumberOfPages, 0x4);
DS_OFF(ds_phys_desc32, Run, 0x8);
DS_SIZE(ds_phys_desc32, 700);

typedef struct ds_dump_header32 {
    uint32_t Signature;          /* "PAGE" */
    uint32_t ValidDump;          /* "DUMP" */
    uint32_t MajorVersion;
    uint32_t MinorVersion;
    uint32_t DirectoryTableBase;
    uint32_t PfnDataBase;
    uint32_t PsLoadedModuleList;
    uint32_t PsActiveProcessHead;
    uint32_t MachineImageType;
    uint32_t NumberProcessors;
    uint32_t BugCheckCode;
    uint32_t BugCheckParameter[4];
    uint8_t VersionUser[32];
    uint8_t PaeEnabled;
    uint8_t KdSecondaryVersion;
    uint8_t Spare3[2];
    uint32_t KdDebuggerDataBlock;
    ds_phys_desc32 PhysicalMemoryBlock;
    uint8_t Pad1[0x320 - 0x64 - 700];
    uint8_t ContextRecord[1200];
    uint8_t Exception[0x50];     /* EXCEPTION_RECORD32 */
    char Comment[128];
    uint8_t Reserved0[0xf88 - 0x8a0];
    uint32_t DumpType;
    uint32_t MiniDumpFields;
    uint32_t SecondaryDataState;
    uint32_t ProductType;
    uint32_t SuiteMask;
    uint32_t WriterStatus;
    int64_t RequiredDumpSpace;
    uint8_t Reserved2[16];
    int64_t SystemUpTime;
    int64_t SystemTime;
    uint8_t Reserved3[0x1000 - 0xfc8];
} ds_dump_header32;
DS_OFF(ds_dump_header32, ValidDump, 0x4);
DS_OFF(ds_dump_header32, MinorVersion, 0xc);
DS_OFF(ds_dump_header32, DirectoryTableBase, 0x10);
DS_OFF(ds_dump_header32, PfnDataBase, 0x14);
DS_OFF(ds_dump_header32, PsLoadedModuleList, 0x18);
DS_OFF(ds_dump_header32, PsActiveProcessHead, 0x1c);
DS_OFF(ds_dump_header32, MachineImageType, 0x20);
DS_OFF(ds_dump_header32, NumberProcessors, 0x24);
DS_OFF(ds_dump_header32, BugCheckCode, 0x28);
DS_OFF(ds_dump_header32, BugCheckParameter, 0x2c);
DS_OFF(ds_dump_header32, VersionUser, 0x3c);
DS_OFF(ds_dump_header32, PaeEnabled, 0x5c);
DS_OFF(ds_dump_header32, KdSecondaryVersion, 0x5d);
DS_OFF(ds_dump_header32, KdDebuggerDataBlock, 0x60);
DS_OFF(ds_dump_header32, PhysicalMemoryBlock, 0x64);
DS_OFF(ds_dump_header32, ContextRecord, 0x320);
DS_OFF(ds_dump_header32, Exception, 0x7d0);
DS_OFF(ds_dump_header32, Comment, 0x820);
DS_OFF(ds_dump_header32, DumpType, 0xf88);
DS_OFF(ds_dump_header32, MiniDumpFields, 0xf8c);
DS_OFF(ds_dump_header32, SecondaryDataState, 0xf90);
DS_OFF(ds_dump_header32, ProductType, 0xf94);
DS_OFF(ds_dump_header32, SuiteMask, 0xf98);
DS_OFF(ds_dump_header32, WriterStatus, 0xf9c);
DS_OFF(ds_dump_header32, RequiredDumpSpace, 0xfa0);
DS_OFF(ds_dump_header32, SystemUpTime, 0xfb8);
DS_OFF(ds_dump_header32, SystemTime, 0xfc0);
DS_SIZE(ds_dump_header32, 0x1000);

/* Bitmap header at 0x2000 (64-bit) / 0x1000 (32-bit), DumpType 5 and 6. */
typedef struct ds_bmp_header {
    uint32_t Signature;          /* "SDMP" or "FDMP" */
    uint32_t ValidDump;          /* "DUMP" */
    uint8_t Pad[0x18];
    uint64_t FirstPage;          /* file offset of first stored page */
    uint64_t TotalPresentPages;  /* popcount(Bitmap) */
    uint64_t Pages;              /* number of bits in Bitmap */
    /* uint8_t Bitmap[(Pages + 7) / 8] follows */
} ds_bmp_header;
DS_OFF(ds_bmp_header, Signature, 0x0);
DS_OFF(ds_bmp_header, ValidDump, 0x4);
DS_OFF(ds_bmp_header, FirstPage, 0x20);
DS_OFF(ds_bmp_header, TotalPresentPages, 0x28);
DS_OFF(ds_bmp_header, Pages, 0x30);
DS_SIZE(ds_bmp_header, 0x38);

/* DumpType 2 (summary: the kernel memory dumps of Windows XP to 7) uses
 * older headers at the same place, with 32-bit fields (dbgeng's
 * SUMMARY_DUMP32 / SUMMARY_DUMP64 as published with per-field offsets;
 * BITMAP_DUMP above is what DumpType 5/6/7 use on both architectures):
 * HeaderSize = file offset of the first page, BitmapSize = bits,
 * Pages = bits set; the bitmap follows at 0x20 (32-bit) or 0x28 (64-bit,
 * after a 64-bit reserved word). */
typedef struct ds_summary_header {
    uint32_t Signature;          /* "SDMP" */
    uint32_t ValidDump;          /* "DUMP" */
    uint32_t DumpOptions;
    uint32_t HeaderSize;         /* file offset of first stored page */
    uint32_t BitmapSize;         /* number of bits */
    uint32_t Pages;              /* bits set */
    uint32_t SizeOfBitMap;       /* RTL_BITMAP.SizeOfBitMap */
} ds_summary_header;
DS_OFF(ds_summary_header, HeaderSize, 0xc);
DS_OFF(ds_summary_header, BitmapSize, 0x10);
DS_OFF(ds_summary_header, Pages, 0x14);
DS_OFF(ds_summary_header, SizeOfBitMap, 0x18);
#define DS_SUMMARY32_BITS_OFF 0x20u
#define DS_SUMMARY64_BITS_OFF 0x28u

/* RDMP header at 0x2000, DumpType 8/9/0xa (`.dump /k /ka /f`). */
#define DS_RDMP_MARKER 0x40u
typedef struct ds_rdmp_header {
    uint32_t Marker;             /* 0x40 */
    uint32_t Signature;          /* "RDMP" */
    uint32_t ValidDump;          /* "DUMP" */
    uint32_t Unused;
    uint64_t MetadataSize;
    uint64_t FirstPageOffset;
} ds_rdmp_header;
DS_OFF(ds_rdmp_header, Marker, 0x0);
DS_OFF(ds_rdmp_header, Signature, 0x4);
DS_OFF(ds_rdmp_header, ValidDump, 0x8);
DS_OFF(ds_rdmp_header, MetadataSize, 0x10);
DS_OFF(ds_rdmp_header, FirstPageOffset, 0x18);
DS_SIZE(ds_rdmp_header, 0x20);

/* Kernel RDMP (8/9): two unknown u64 then a bitmap at +0x30. */
typedef struct ds_rdmp_kernel {
    ds_rdmp_header Hdr;
    uint64_t Unknown1;
    uint64_t Unknown2;
    /* uint8_t Bitmap[] at +0x30 */
} ds_rdmp_kernel;
DS_OFF(ds_rdmp_kernel, Unknown1, 0x20);
DS_SIZE(ds_rdmp_kernel, 0x30);

/* Complete RDMP (0xa): page count then a bitmap at +0x30. */
typedef struct ds_rdmp_full {
    ds_rdmp_header Hdr;
    uint32_t NumberOfRanges;
    uint16_t Reserved1;
    uint16_t Reserved2;
    uint64_t TotalNumberOfPages;
    /* uint8_t Bitmap[] at +0x30 */
} ds_rdmp_full;
DS_OFF(ds_rdmp_full, NumberOfRanges, 0x20);
DS_OFF(ds_rdmp_full, TotalNumberOfPages, 0x28);
DS_SIZE(ds_rdmp_full, 0x30);

/* TRIAGE_DUMP64 at 0x2000 in a DumpType 4 minidump.  All *Offset fields
 * are absolute file offsets (checked on the real dumps: ProcessOffset
 * 0x9f90 == expected.ndjson triage.ProcessOffset 40848). */
typedef struct ds_triage_dump64 {
    uint32_t ServicePackBuild;
    uint32_t SizeOfDump;
    uint32_t ValidOffset;
    uint32_t ContextOffset;
    uint32_t ExceptionOffset;
    uint32_t MmOffset;
    uint32_t UnloadedDriversOffset;
    uint32_t PrcbOffset;
    uint32_t ProcessOffset;
    uint32_t ThreadOffset;
    uint32_t CallStackOffset;
    uint32_t SizeOfCallStack;
    uint32_t DriverListOffset;
    uint32_t DriverCount;
    uint32_t StringPoolOffset;
    uint32_t StringPoolSize;
    uint32_t BrokenDriverOffset;
    uint32_t TriageOptions;
    uint64_t TopOfStack;
    uint32_t BStoreOffset;       /* IA64 leftovers, unused on x64 */
    uint32_t SizeOfBStore;
    uint64_t LimitOfBStore;
    uint64_t DataPageAddress;
    uint32_t DataPageOffset;
    uint32_t DataPageSize;
    uint32_t DebuggerDataOffset; /* copy of KDDEBUGGER_DATA64 */
    uint32_t DebuggerDataSize;
    uint32_t DataBlocksOffset;   /* ds_triage_data_block[DataBlocksCount] */
    uint32_t DataBlocksCount;
} ds_triage_dump64;
DS_OFF(ds_triage_dump64, SizeOfDump, 0x4);
DS_OFF(ds_triage_dump64, ContextOffset, 0xc);
DS_OFF(ds_triage_dump64, PrcbOffset, 0x1c);
DS_OFF(ds_triage_dump64, ProcessOffset, 0x20);
DS_OFF(ds_triage_dump64, ThreadOffset, 0x24);
DS_OFF(ds_triage_dump64, CallStackOffset, 0x28);
DS_OFF(ds_triage_dump64, SizeOfCallStack, 0x2c);
DS_OFF(ds_triage_dump64, DriverListOffset, 0x30);
DS_OFF(ds_triage_dump64, DriverCount, 0x34);
DS_OFF(ds_triage_dump64, StringPoolOffset, 0x38);
DS_OFF(ds_triage_dump64, StringPoolSize, 0x3c);
DS_OFF(ds_triage_dump64, BrokenDriverOffset, 0x40);
DS_OFF(ds_triage_dump64, TriageOptions, 0x44);
DS_OFF(ds_triage_dump64, TopOfStack, 0x48);
DS_OFF(ds_triage_dump64, DataPageAddress, 0x60);
DS_OFF(ds_triage_dump64, DataPageOffset, 0x68);
DS_OFF(ds_triage_dump64, DebuggerDataOffset, 0x70);
DS_OFF(ds_triage_dump64, DataBlocksOffset, 0x78);
DS_OFF(ds_triage_dump64, DataBlocksCount, 0x7c);
DS_SIZE(ds_triage_dump64, 0x80);

typedef struct ds_triage_data_block {
    uint64_t Address;            /* kernel VA */
    uint32_t Offset;             /* file offset */
    uint32_t Size;
} ds_triage_data_block;
DS_SIZE(ds_triage_data_block, 0x10);

/* KLDR_DATA_TABLE_ENTRY (x64), as copied into the triage driver list. */
typedef struct ds_unicode_string64 {
    uint16_t Length;
    uint16_t MaximumLength;
    uint32_t Pad;
    uint64_t Buffer;
} ds_unicode_string64;
DS_SIZE(ds_unicode_string64, 0x10);

typedef struct ds_kldr_entry64 {
    uint64_t InLoadOrderLinks[2];
    uint64_t Undefined1;
    uint64_t Undefined2;
    uint64_t Undefined3;
    uint64_t NonPagedDebugInfo;
    uint64_t DllBase;
    uint64_t EntryPoint;
    uint32_t SizeOfImage;
    uint32_t Pad1;
    ds_unicode_string64 FullDllName;
    ds_unicode_string64 BaseDllName;
    uint32_t Flags;
    uint16_t LoadCount;
    uint16_t Undefined5;
    uint64_t Undefined6;
    uint32_t CheckSum;
    uint32_t Pad2;
    uint32_t TimeDateStamp;
    uint32_t Pad3;
} ds_kldr_entry64;
DS_OFF(ds_kldr_entry64, DllBase, 0x30);
DS_OFF(ds_kldr_entry64, EntryPoint, 0x38);
DS_OFF(ds_kldr_entry64, SizeOfImage, 0x40);
DS_OFF(ds_kldr_entry64, FullDllName, 0x48);
DS_OFF(ds_kldr_entry64, BaseDllName, 0x58);
DS_OFF(ds_kldr_entry64, Flags, 0x68);
DS_OFF(ds_kldr_entry64, CheckSum, 0x78);
DS_OFF(ds_kldr_entry64, TimeDateStamp, 0x80);
DS_SIZE(ds_kldr_entry64, 0x88);

/* DUMP_DRIVER_ENTRY64: one element of the triage driver list. */
typedef struct ds_dump_driver_entry64 {
    uint32_t DriverNameOffset;   /* file offset of a ds_dump_string */
    uint32_t Pad;
    ds_kldr_entry64 LdrEntry;
} ds_dump_driver_entry64;
DS_OFF(ds_dump_driver_entry64, LdrEntry, 0x8);
DS_SIZE(ds_dump_driver_entry64, 0x90); /* (StringPool - DriverList) / DriverCount on the real dumps */

/* DUMP_STRING in the triage string pool: length in UTF-16 units, then
 * the characters and a terminating NUL. */
typedef struct ds_dump_string {
    uint32_t Length;
    /* uint16_t Buffer[Length + 1] follows */
} ds_dump_string;
DS_SIZE(ds_dump_string, 4);

/* Start of KDDEBUGGER_DATA64 (offsets.json common.KDDEBUGGER_DATA64);
 * fields past PspCidTable are read by offset constants below. */
typedef struct ds_kdbg_head {
    uint64_t ListFlink;
    uint64_t ListBlink;
    uint32_t OwnerTag;           /* "KDBG" */
    uint32_t Size;
    uint64_t KernBase;
    uint64_t BreakpointWithStatus;
    uint64_t SavedContext;
    uint16_t ThCallbackStack;
    uint16_t NextCallback;
    uint16_t FramePointer;
    uint16_t PaeEnabled;         /* bit 0 */
    uint64_t KiCallUserMode;
    uint64_t KeUserCallbackDispatcher;
    uint64_t PsLoadedModuleList;
    uint64_t PsActiveProcessHead;
    uint64_t PspCidTable;
} ds_kdbg_head;
DS_OFF(ds_kdbg_head, OwnerTag, 0x10);
DS_OFF(ds_kdbg_head, Size, 0x14);
DS_OFF(ds_kdbg_head, KernBase, 0x18);
DS_OFF(ds_kdbg_head, PaeEnabled, 0x36);
DS_OFF(ds_kdbg_head, PsLoadedModuleList, 0x48);
DS_OFF(ds_kdbg_head, PsActiveProcessHead, 0x50);
DS_OFF(ds_kdbg_head, PspCidTable, 0x58);
DS_SIZE(ds_kdbg_head, 0x60);


/* ---- crash analysis: CONTEXT, EXCEPTION_RECORD, PE image, unwind data ---- */

/* x64 CONTEXT (winnt.h), the fields a stack walk reads; 0x4d0 bytes.
 * Gpr[] is Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8..R15: the x64
 * register numbers unwind codes use. */
typedef struct ds_context64 {
    uint64_t PHome[6];
    uint32_t ContextFlags;
    uint32_t MxCsr;
    uint16_t SegCs, SegDs, SegEs, SegFs, SegGs, SegSs;
    uint32_t EFlags;
    uint64_t Dr[6];
    uint64_t Gpr[16];
    uint64_t Rip;
    uint8_t Rest[0x4d0 - 0x100];
} ds_context64;
DS_OFF(ds_context64, ContextFlags, 0x30);
DS_OFF(ds_context64, SegCs, 0x38);
DS_OFF(ds_context64, EFlags, 0x44);
DS_OFF(ds_context64, Gpr, 0x78);
DS_OFF(ds_context64, Rip, 0xf8);
DS_SIZE(ds_context64, 0x4d0);
#define DS_CTX64_RSP 4 /* Gpr index of Rsp */
#define DS_CTX64_RBP 5

/* x86 CONTEXT (winnt.h), up to the segment registers; 0x2cc bytes. */
typedef struct ds_context32 {
    uint32_t ContextFlags;
    uint32_t Dr[6];
    uint8_t FloatSave[112];
    uint32_t SegGs, SegFs, SegEs, SegDs;
    uint32_t Edi, Esi, Ebx, Edx, Ecx, Eax;
    uint32_t Ebp, Eip, SegCs, EFlags, Esp, SegSs;
    uint8_t Extended[512];
} ds_context32;
DS_OFF(ds_context32, Edi, 0x9c);
DS_OFF(ds_context32, Ebp, 0xb4);
DS_OFF(ds_context32, Eip, 0xb8);
DS_OFF(ds_context32, Esp, 0xc4);
DS_SIZE(ds_context32, 0x2cc);

/* EXCEPTION_RECORD64 (also the header's Exception field at 0xf00). */
typedef struct ds_exception_record64 {
    uint32_t ExceptionCode;
    uint32_t ExceptionFlags;
    uint64_t ExceptionRecord;
    uint64_t ExceptionAddress;
    uint32_t NumberParameters;
    uint32_t Align;
    uint64_t ExceptionInformation[15];
} ds_exception_record64;
DS_OFF(ds_exception_record64, ExceptionAddress, 0x10);
DS_OFF(ds_exception_record64, NumberParameters, 0x18);
DS_OFF(ds_exception_record64, ExceptionInformation, 0x20);
DS_SIZE(ds_exception_record64, 0x98);

/* PE image headers (winnt.h IMAGE_*), as loaded in memory. */
#define DS_MZ 0x5a4du
#define DS_PE00 0x00004550u
#define DS_PE_MAGIC32 0x10bu
#define DS_PE_MAGIC64 0x20bu
#define DS_PE_DIR_EXCEPTION 3

typedef struct ds_pe_file_header {
    uint32_t Signature;          /* "PE\0\0" */
    uint16_t Machine;
    uint16_t NumberOfSections;
    uint32_t TimeDateStamp;
    uint32_t PointerToSymbolTable;
    uint32_t NumberOfSymbols;
    uint16_t SizeOfOptionalHeader;
    uint16_t Characteristics;
} ds_pe_file_header;
DS_OFF(ds_pe_file_header, Machine, 0x4);
DS_OFF(ds_pe_file_header, NumberOfSections, 0x6);
DS_OFF(ds_pe_file_header, SizeOfOptionalHeader, 0x14);
DS_SIZE(ds_pe_file_header, 0x18);

typedef struct ds_pe_data_dir {
    uint32_t VirtualAddress;
    uint32_t Size;
} ds_pe_data_dir;

/* The part of IMAGE_OPTIONAL_HEADER64 read; DataDirectory at 0x70. */
typedef struct ds_pe_opt64 {
    uint16_t Magic;
    uint8_t Linker[2];
    uint32_t SizeOfCode, SizeOfInitializedData, SizeOfUninitializedData;
    uint32_t AddressOfEntryPoint;
    uint32_t BaseOfCode;
    uint64_t ImageBase;
    uint32_t SectionAlignment, FileAlignment;
    uint16_t Versions[6];
    uint32_t Win32VersionValue;
    uint32_t SizeOfImage;
    uint32_t SizeOfHeaders;
    uint32_t CheckSum;
    uint16_t Subsystem, DllCharacteristics;
    uint64_t Stack[4];
    uint32_t LoaderFlags;
    uint32_t NumberOfRvaAndSizes;
    ds_pe_data_dir DataDirectory[16];
} ds_pe_opt64;
DS_OFF(ds_pe_opt64, AddressOfEntryPoint, 0x10);
DS_OFF(ds_pe_opt64, SizeOfImage, 0x38);
DS_OFF(ds_pe_opt64, NumberOfRvaAndSizes, 0x6c);
DS_OFF(ds_pe_opt64, DataDirectory, 0x70);
DS_SIZE(ds_pe_opt64, 0xf0);

/* IMAGE_OPTIONAL_HEADER32: SizeOfImage at 0x38 too, DataDirectory at 0x60. */
#define DS_PE_OPT32_SIZE_OF_IMAGE 0x38
#define DS_PE_OPT32_NUM_DIRS 0x5c
#define DS_PE_OPT32_DATA_DIR 0x60

typedef struct ds_pe_section {
    char Name[8];
    uint32_t VirtualSize;
    uint32_t VirtualAddress;
    uint32_t SizeOfRawData;
    uint32_t PointerToRawData;
    uint32_t PointerToRelocations, PointerToLinenumbers;
    uint16_t NumberOfRelocations, NumberOfLinenumbers;
    uint32_t Characteristics;
} ds_pe_section;
DS_OFF(ds_pe_section, VirtualAddress, 0xc);
DS_OFF(ds_pe_section, Characteristics, 0x24);
DS_SIZE(ds_pe_section, 0x28);
#define DS_SCN_MEM_EXECUTE 0x20000000u
#define DS_SCN_MEM_WRITE 0x80000000u

/* x64 exception directory entry (.pdata) and unwind information. */
typedef struct ds_runtime_function {
    uint32_t BeginAddress;
    uint32_t EndAddress;
    uint32_t UnwindData;         /* RVA of UNWIND_INFO */
} ds_runtime_function;
DS_SIZE(ds_runtime_function, 12);

typedef struct ds_unwind_info_head {
    uint8_t VersionFlags;        /* Version:3, Flags:5 */
    uint8_t SizeOfProlog;
    uint8_t CountOfCodes;
    uint8_t FrameRegOffset;      /* FrameRegister:4, FrameOffset:4 (x16) */
} ds_unwind_info_head;
DS_SIZE(ds_unwind_info_head, 4);

enum {
    DS_UNW_FLAG_EHANDLER = 0x1,
    DS_UNW_FLAG_UHANDLER = 0x2,
    DS_UNW_FLAG_CHAININFO = 0x4,
};

/* UNWIND_CODE.UnwindOp values. */
enum {
    DS_UWOP_PUSH_NONVOL = 0,
    DS_UWOP_ALLOC_LARGE = 1,
    DS_UWOP_ALLOC_SMALL = 2,
    DS_UWOP_SET_FPREG = 3,
    DS_UWOP_SAVE_NONVOL = 4,
    DS_UWOP_SAVE_NONVOL_FAR = 5,
    DS_UWOP_EPILOG = 6,          /* version 2; SAVE_XMM before that */
    DS_UWOP_SPARE = 7,
    DS_UWOP_SAVE_XMM128 = 8,
    DS_UWOP_SAVE_XMM128_FAR = 9,
    DS_UWOP_PUSH_MACHFRAME = 10,
};

/* DRIVER_OBJECT (IO_TYPE_DRIVER = 4; Size = sizeof).  Unchanged from XP
 * to Windows 11 24H2 (Vergilius Project _DRIVER_OBJECT, x64 0x150 and
 * x86 0xa8 bytes; WDK wdm.h).  Only the fields read are named. */
#define DS_IO_TYPE_DRIVER 4
typedef struct ds_driver_object64 {
    int16_t Type;
    int16_t Size;
    uint32_t Pad0;
    uint64_t DeviceObject;
    uint32_t Flags;
    uint32_t Pad1;
    uint64_t DriverStart;
    uint32_t DriverSize;
    uint32_t Pad2;
    uint64_t DriverSection;      /* its KLDR_DATA_TABLE_ENTRY */
    uint64_t DriverExtension;
    ds_unicode_string64 DriverName;
    uint64_t HardwareDatabase;
    uint64_t FastIoDispatch;
    uint64_t DriverInit;
    uint64_t DriverStartIo;
    uint64_t DriverUnload;
    uint64_t MajorFunction[28];
} ds_driver_object64;
DS_OFF(ds_driver_object64, DeviceObject, 0x8);
DS_OFF(ds_driver_object64, DriverStart, 0x18);
DS_OFF(ds_driver_object64, DriverSize, 0x20);
DS_OFF(ds_driver_object64, DriverSection, 0x28);
DS_OFF(ds_driver_object64, DriverExtension, 0x30);
DS_OFF(ds_driver_object64, DriverName, 0x38);
DS_OFF(ds_driver_object64, DriverInit, 0x58);
DS_OFF(ds_driver_object64, DriverUnload, 0x68);
DS_OFF(ds_driver_object64, MajorFunction, 0x70);
DS_SIZE(ds_driver_object64, 0x150);

typedef struct ds_unicode_string32 {
    uint16_t Length;
    uint16_t MaximumLength;
    uint32_t Buffer;
} ds_unicode_string32;
DS_SIZE(ds_unicode_string32, 0x8);

typedef struct ds_driver_object32 {
    int16_t Type;
    int16_t Size;
    uint32_t DeviceObject;
    uint32_t Flags;
    uint32_t DriverStart;
    uint32_t DriverSize;
    uint32_t DriverSection;
    uint32_t DriverExtension;
    ds_unicode_string32 DriverName;
    uint32_t HardwareDatabase;
    uint32_t FastIoDispatch;
    uint32_t DriverInit;
    uint32_t DriverStartIo;
    uint32_t DriverUnload;
    uint32_t MajorFunction[28];
} ds_driver_object32;
DS_OFF(ds_driver_object32, DriverStart, 0xc);
DS_OFF(ds_driver_object32, DriverSize, 0x10);
DS_OFF(ds_driver_object32, DriverSection, 0x14);
DS_OFF(ds_driver_object32, DriverName, 0x1c);
DS_OFF(ds_driver_object32, DriverInit, 0x2c);
DS_OFF(ds_driver_object32, DriverUnload, 0x34);
DS_OFF(ds_driver_object32, MajorFunction, 0x38);
DS_SIZE(ds_driver_object32, 0xa8);

/* nt!MmUnloadedDrivers points to an array of MI_UNLOADED_DRIVERS (50) of
 * these; nt!MmLastUnloadedDriver counts the used ones.  Layout: Vergilius
 * Project _UNLOADED_DRIVERS (x64 0x28, x86 0x18 bytes); the 50 is the
 * `cmp eax, 32h` that public MmUnloadedDrivers readers match. */
#define DS_MI_UNLOADED_DRIVERS 50u
typedef struct ds_unloaded_driver64 {
    ds_unicode_string64 Name;
    uint64_t StartAddress;
    uint64_t EndAddress;
    int64_t CurrentTime;         /* FILETIME of the unload */
} ds_unloaded_driver64;
DS_OFF(ds_unloaded_driver64, StartAddress, 0x10);
DS_OFF(ds_unloaded_driver64, EndAddress, 0x18);
DS_OFF(ds_unloaded_driver64, CurrentTime, 0x20);
DS_SIZE(ds_unloaded_driver64, 0x28);

typedef struct ds_unloaded_driver32 {
    ds_unicode_string32 Name;
    uint32_t StartAddress;
    uint32_t EndAddress;
    int64_t CurrentTime;
} ds_unloaded_driver32;
DS_OFF(ds_unloaded_driver32, StartAddress, 0x8);
DS_OFF(ds_unloaded_driver32, EndAddress, 0xc);
DS_OFF(ds_unloaded_driver32, CurrentTime, 0x10);
DS_SIZE(ds_unloaded_driver32, 0x18);

#pragma pack(pop)

/* KDDEBUGGER_DATA64 field offsets used beyond ds_kdbg_head. */
enum {
    DS_KDBG_OBP_TYPE_OBJECT_TYPE = 0xa0,
    DS_KDBG_MM_PFN_DATABASE = 0xc0,
    DS_KDBG_MM_SYSTEM_RANGE_START = 0x1d0,
    DS_KDBG_NT_BUILD_LAB = 0x208,
    DS_KDBG_KI_PROCESSOR_BLOCK = 0x218,
    DS_KDBG_MM_UNLOADED_DRIVERS = 0x220,      /* &nt!MmUnloadedDrivers */
    DS_KDBG_MM_LAST_UNLOADED_DRIVER = 0x228,  /* &nt!MmLastUnloadedDriver */
    DS_KDBG_CM_NT_CSD_VERSION = 0x268,
    DS_KDBG_SIZE_EPROCESS = 0x2a8,
    DS_KDBG_OFFSET_EPROCESS_PEB = 0x2aa,
    DS_KDBG_OFFSET_EPROCESS_PARENT_CID = 0x2ac,
    DS_KDBG_OFFSET_EPROCESS_DTB = 0x2ae,
    DS_KDBG_SIZE_PRCB = 0x2b0,
    DS_KDBG_OFFSET_PRCB_CURRENT_THREAD = 0x2b4,
    DS_KDBG_SIZE_ETHREAD = 0x2c0,
    DS_KDBG_MIN_SIZE = 0x290,   /* XP's block size; smaller is not KDBG */
};

#endif
