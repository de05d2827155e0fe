/* Minimal flattened-device-tree reader: just enough to find RAM. */
#ifndef DIRTIER_FDT_H
#define DIRTIER_FDT_H
#include <stdint.h>

/* Finds the first reg entry of the first /memory node (name "memory" or
 * "memory@..."), honouring the root's #address-cells / #size-cells
 * (default 2/1 per the spec; 2/2 on virt). Returns 0 on success. */
int fdt_find_memory(uint64_t fdt_addr, uint64_t *base, uint64_t *size);

#endif
