/* hello: the smallest Caravan guest. Prints one line and powers off (0). */
#include "rt.h"

int main(uint64_t hartid, uint64_t fdt)
{
    (void)hartid;
    (void)fdt;
    rt_puts("Hello from a Caravan guest!\n");
    return 0;
}
