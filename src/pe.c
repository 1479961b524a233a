/* pe.c - PE headers of a loaded image; see pe.h.  Layouts in dumpfmt.h. */
#include "pe.h"

#include <string.h>

#include "dumpfmt.h"

static ds_err read_headers(ds_mem_read_fn read, void *ctx, uint64_t base, uint8_t *page)
{
    /* the headers sit in the first page of every image we care about */
    return read(ctx, base, page, DS_PAGE_SIZE);
}

/* [rva, rva + size) of section s clipped to the image; false if empty. */
static bool clip_section(const ds_pe_info *pe, const ds_pe_section *s, uint32_t *size)
{
    uint32_t n = s->VirtualSize ? s->VirtualSize : s->SizeOfRawData;
    if (s->VirtualAddress >= pe->size_of_image || n == 0)
        return false;
    if (n > pe->size_of_image - s->VirtualAddress)
        n = pe->size_of_image - s->VirtualAddress;
    *size = n;
    return true;
}

static void take_sections(ds_pe_info *pe, const uint8_t *page, uint32_t off, uint32_t n)
{
    for (uint32_t i = 0; i < n && off + sizeof(ds_pe_section) <= DS_PAGE_SIZE; i++) {
        ds_pe_section s;
        memcpy(&s, page + off, sizeof(s));
        off += sizeof(s);
        uint32_t size;
        if (!clip_section(pe, &s, &size))
            continue;
        if (s.Characteristics & DS_SCN_MEM_EXECUTE) {
            if (pe->nexec < DS_PE_MAX_RANGES) {
                pe->exec[pe->nexec].rva = s.VirtualAddress;
                pe->exec[pe->nexec].size = size;
                pe->nexec++;
            }
        } else if (s.Characteristics & DS_SCN_MEM_WRITE) {
            if (pe->ndata < DS_PE_MAX_RANGES) {
                pe->data[pe->ndata].rva = s.VirtualAddress;
                pe->data[pe->ndata].size = size;
                pe->ndata++;
            }
        }
    }
}

ds_err ds_pe_read(ds_mem_read_fn read, void *ctx, uint64_t base, ds_pe_info *out)
{
    uint8_t page[DS_PAGE_SIZE];
    memset(out, 0, sizeof(*out));
    out->base = base;
    ds_err e = read_headers(read, ctx, base, page);
    if (e != DS_OK)
        return e;
    uint16_t mz;
    uint32_t lfanew;
    memcpy(&mz, page, 2);
    memcpy(&lfanew, page + 0x3c, 4);
    if (mz != DS_MZ || lfanew > DS_PAGE_SIZE - sizeof(ds_pe_file_header) - 0x60)
        return DS_ERR_FORMAT;
    ds_pe_file_header fh;
    memcpy(&fh, page + lfanew, sizeof(fh));
    if (fh.Signature != DS_PE00)
        return DS_ERR_FORMAT;
    uint32_t opt = lfanew + (uint32_t)sizeof(fh);
    uint16_t magic;
    memcpy(&magic, page + opt, 2);
    out->machine = fh.Machine;
    out->timestamp = fh.TimeDateStamp;
    uint32_t ndirs;
    uint32_t dir_off;
    if (magic == DS_PE_MAGIC64) {
        if (opt + sizeof(ds_pe_opt64) > DS_PAGE_SIZE)
            return DS_ERR_CORRUPT;
        ds_pe_opt64 o;
        memcpy(&o, page + opt, sizeof(o));
        out->is64 = true;
        out->size_of_image = o.SizeOfImage;
        out->entry_rva = o.AddressOfEntryPoint;
        ndirs = o.NumberOfRvaAndSizes;
        dir_off = opt + (uint32_t)offsetof(ds_pe_opt64, DataDirectory);
    } else if (magic == DS_PE_MAGIC32) {
        memcpy(&out->size_of_image, page + opt + DS_PE_OPT32_SIZE_OF_IMAGE, 4);
        memcpy(&out->entry_rva, page + opt + 0x10, 4);
        memcpy(&ndirs, page + opt + DS_PE_OPT32_NUM_DIRS, 4);
        dir_off = opt + DS_PE_OPT32_DATA_DIR;
    } else {
        return DS_ERR_FORMAT;
    }
    if (out->size_of_image < DS_PAGE_SIZE || out->size_of_image > DS_PE_MAX_IMAGE)
        return DS_ERR_CORRUPT;
    if (ndirs > DS_PE_DIR_EXCEPTION && dir_off + 8 * (DS_PE_DIR_EXCEPTION + 1) <= DS_PAGE_SIZE) {
        ds_pe_data_dir dd;
        memcpy(&dd, page + dir_off + 8 * DS_PE_DIR_EXCEPTION, sizeof(dd));
        if (dd.VirtualAddress && dd.Size && dd.VirtualAddress < out->size_of_image &&
            dd.Size <= out->size_of_image - dd.VirtualAddress) {
            out->pdata_rva = dd.VirtualAddress;
            out->pdata_size = dd.Size - dd.Size % sizeof(ds_runtime_function);
        }
    }
    uint32_t nsec = fh.NumberOfSections < DS_PE_MAX_SECTIONS ? fh.NumberOfSections : 0;
    take_sections(out, page, opt + fh.SizeOfOptionalHeader, nsec);
    return DS_OK;
}

bool ds_pe_is_code(const ds_pe_info *pe, uint32_t rva)
{
    if (!pe->nexec)
        return rva < pe->size_of_image;
    for (uint32_t i = 0; i < pe->nexec; i++)
        if (rva - pe->exec[i].rva < pe->exec[i].size && rva >= pe->exec[i].rva)
            return true;
    return false;
}
