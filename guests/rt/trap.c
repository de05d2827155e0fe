/* Caravan guest runtime: C side of the trap handler. */
#include "rt.h"

rt_trap_hook_fn rt_trap_hook;
const char *rt_trap_context;

void rt_trap_c(struct rt_trap_frame *f);

void rt_trap_c(struct rt_trap_frame *f)
{
    if (rt_trap_hook && rt_trap_hook(f))
        return;
    rt_printf("\n*** UNEXPECTED TRAP: mcause=0x%lx mepc=0x%lx mtval=0x%lx",
              (unsigned long)f->mcause, (unsigned long)f->mepc,
              (unsigned long)f->mtval);
    if (rt_trap_context)
        rt_printf(" (in %s)", rt_trap_context);
    rt_printf("\n");
    rt_exit(3);
}
