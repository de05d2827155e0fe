/* Minimal flattened-device-tree reader (DTSpec v0.3, FDT v17). */
#include "rt.h"
#include "fdt.h"

#define FDT_MAGIC       0xd00dfeedU
#define FDT_BEGIN_NODE  1
#define FDT_END_NODE    2
#define FDT_PROP        3
#define FDT_NOP         4
#define FDT_END         9

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t cells(const uint8_t *p, uint32_t n)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < n; i++)
        v = (v << 32) | be32(p + 4 * i);
    return v;
}

int fdt_find_memory(uint64_t fdt_addr, uint64_t *base, uint64_t *size)
{
    /* Only trust a pointer into plausible RAM (avoid faulting on junk). */
    if (fdt_addr < RT_RAM_BASE || fdt_addr >= RT_RAM_BASE + (64ULL << 30) ||
        (fdt_addr & 3))
        return -1;
    const uint8_t *h = (const uint8_t *)(uintptr_t)fdt_addr;
    if (be32(h) != FDT_MAGIC)
        return -1;
    uint32_t total = be32(h + 4);
    uint32_t off_struct = be32(h + 8);
    uint32_t off_strings = be32(h + 12);
    uint32_t size_struct = be32(h + 36);
    if (off_struct >= total || off_strings >= total ||
        size_struct > total - off_struct)
        return -1;

    const uint8_t *p = h + off_struct;
    const uint8_t *end = p + size_struct;
    const char *strings = (const char *)h + off_strings;
    uint32_t addr_cells = 2, size_cells = 1;
    int depth = 0, in_memory = 0;

    while (p + 4 <= end) {
        uint32_t tok = be32(p);
        p += 4;
        switch (tok) {
        case FDT_BEGIN_NODE: {
            const char *name = (const char *)p;
            size_t len = strlen(name);
            depth++;
            in_memory = depth == 2 && strncmp(name, "memory", 6) == 0 &&
                        (name[6] == '\0' || name[6] == '@');
            p += (len + 1 + 3) & ~(size_t)3;
            break;
        }
        case FDT_END_NODE:
            depth--;
            in_memory = 0;
            break;
        case FDT_PROP: {
            if (p + 8 > end)
                return -1;
            uint32_t len = be32(p);
            const char *name = strings + be32(p + 4);
            const uint8_t *val = p + 8;
            p = val + ((len + 3) & ~3U);
            if (depth == 1 && len == 4) {
                if (strcmp(name, "#address-cells") == 0)
                    addr_cells = be32(val);
                else if (strcmp(name, "#size-cells") == 0)
                    size_cells = be32(val);
            } else if (in_memory && strcmp(name, "reg") == 0) {
                if (addr_cells == 0 || addr_cells > 2 || size_cells == 0 ||
                    size_cells > 2 || len < 4 * (addr_cells + size_cells))
                    return -1;
                *base = cells(val, addr_cells);
                *size = cells(val + 4 * addr_cells, size_cells);
                return *size ? 0 : -1;
            }
            break;
        }
        case FDT_NOP:
            break;
        case FDT_END:
        default:
            return -1;
        }
    }
    return -1;
}
