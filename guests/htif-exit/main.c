/* htif-exit: a spike-style test program. It checks a little arithmetic and
 * returns 0 (pass) or the configured failure code; start.S reports the result
 * through HTIF's tohost word, as the riscv-tests do. */
#include <stdint.h>

/* Spike's host interface: the emulator watches stores to tohost. */
volatile uint64_t tohost __attribute__((section(".tohost"), aligned(64)));
volatile uint64_t fromhost __attribute__((section(".tohost"), aligned(64)));

/* Config block (guests/README.md): fail_code = 0 reports success. */
struct config {
    char magic[8];
    uint32_t version;
    uint32_t count;
    uint64_t fail_code;
};
volatile const struct config caravan_config __attribute__((section(".caravan_config"), aligned(8))) = {
    {'C', 'R', 'V', 'N', 'C', 'F', 'G', '1'}, 1, 1, 0,
};

static uint64_t fib(uint64_t n) {
    uint64_t a = 0, b = 1;
    while (n--) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

int main(void) {
    if (fib(50) != 12586269025ull)
        return 2;
    return (int)caravan_config.fail_code;
}
