/* Caravan patchable configuration block (see guests/README.md).
 *
 * Layout (little-endian, 8-byte aligned, in ELF section .caravan_config,
 * symbol `caravan_config`):
 *   +0   char     magic[8]   "CRVNCFG1" (no NUL)
 *   +8   uint32_t version    1
 *   +12  uint32_t count      number of uint64_t fields that follow
 *   +16  uint64_t field[count]
 *
 * Declare it with CARAVAN_CONFIG_DEFINE and read it through the volatile
 * object so the compiler never constant-folds the defaults.
 */
#ifndef CARAVAN_CONFIG_H
#define CARAVAN_CONFIG_H

#include <stdint.h>

#define CARAVAN_CONFIG_MAGIC    { 'C', 'R', 'V', 'N', 'C', 'F', 'G', '1' }
#define CARAVAN_CONFIG_VERSION  1

#define CARAVAN_CONFIG_ATTR \
    __attribute__((section(".caravan_config"), aligned(8), used))

#endif
