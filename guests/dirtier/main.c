/* dirtier: the live-migration workload.
 *
 * Writes 8-byte words into a working set of pages that lies in RAM after the
 * program image, at a rate set by the config block, and prints a progress
 * line with a running checksum every `report_every` iterations. Each write
 * reads the old word first and folds both the old and the new value into the
 * checksum, so a page that was lost or corrupted (e.g. by a broken
 * migration) changes every later checksum. Output depends only on the
 * parameters (and on the RAM size only when the working set is clamped).
 */
#include "rt.h"
#include "config.h"
#include "fdt.h"

#define PAGE_SIZE       4096UL
#define WORDS_PER_PAGE  (PAGE_SIZE / 8)
#define RAM_TOP_RESERVE (64UL * 1024)   /* never touch the last 64 KiB */
#define DEFAULT_RAM     (128UL << 20)

/* Field order is ABI: see guests/README.md. */
struct dirtier_config {
    char     magic[8];
    uint32_t version;
    uint32_t count;
    uint64_t working_set_pages;     /* 0 */
    uint64_t writes_per_iteration;  /* 1 */
    uint64_t spin_per_write;        /* 2 */
    uint64_t report_every;          /* 3 */
    uint64_t iterations;            /* 4: 0 = run forever */
    uint64_t seed;                  /* 5 */
};

volatile struct dirtier_config caravan_config CARAVAN_CONFIG_ATTR = {
    .magic = CARAVAN_CONFIG_MAGIC,
    .version = CARAVAN_CONFIG_VERSION,
    .count = 6,
    .working_set_pages = 256,
    .writes_per_iteration = 64,
    .spin_per_write = 0,
    .report_every = 100,
    .iterations = 2000,
    .seed = 0x5eed0000caf3f00dULL,
};

/* splitmix64 */
static inline uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t mix(uint64_t sum, uint64_t v)
{
    sum ^= v;
    sum *= 0x100000001b3ULL;            /* FNV-1a style prime */
    return (sum << 13) | (sum >> 51);
}

/* Exactly two instructions per count, not optimised away. */
static inline void spin(uint64_t n)
{
    if (n)
        __asm__ volatile ("1: addi %0, %0, -1\n\tbnez %0, 1b"
                          : "+r"(n));
}

/* Initial content of word w of page p (deterministic, never all-zero pages). */
static inline uint64_t initial_word(uint64_t seed, uint64_t p, uint64_t w)
{
    return (seed ^ 0xa5a5a5a5a5a5a5a5ULL) + (p << 20) + w;
}

int main(uint64_t hartid, uint64_t fdt)
{
    (void)hartid;
    uint64_t want_pages = caravan_config.working_set_pages;
    uint64_t writes = caravan_config.writes_per_iteration;
    uint64_t spins = caravan_config.spin_per_write;
    uint64_t report = caravan_config.report_every;
    uint64_t iterations = caravan_config.iterations;
    uint64_t seed = caravan_config.seed;

    uint64_t ram_base, ram_size;
    if (fdt_find_memory(fdt, &ram_base, &ram_size) != 0) {
        ram_base = RT_RAM_BASE;
        ram_size = DEFAULT_RAM;
        rt_printf("dirtier: no usable device tree at 0x%lx, assuming %lu MiB RAM\n",
                  (unsigned long)fdt, (unsigned long)(ram_size >> 20));
    }

    uint64_t ws_base = ((uint64_t)(uintptr_t)_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    uint64_t ram_end = ram_base + ram_size;
    uint64_t limit = ram_end - RAM_TOP_RESERVE;
    uint64_t max_pages = limit > ws_base ? (limit - ws_base) / PAGE_SIZE : 0;
    uint64_t pages = want_pages ? want_pages : 1;
    if (pages > max_pages) {
        rt_printf("dirtier: working set clamped from %lu to %lu pages\n",
                  (unsigned long)pages, (unsigned long)max_pages);
        pages = max_pages;
    }
    if (pages == 0) {
        rt_printf("dirtier: no room for a working set\n");
        return 2;
    }

    rt_printf("dirtier start pages=%lu writes=%lu spin=%lu report=%lu "
              "iterations=%lu seed=0x%016lx\n",
              (unsigned long)pages, (unsigned long)writes, (unsigned long)spins,
              (unsigned long)report, (unsigned long)iterations,
              (unsigned long)seed);

    volatile uint64_t *ws = (volatile uint64_t *)(uintptr_t)ws_base;
    for (uint64_t p = 0; p < pages; p++)
        for (uint64_t w = 0; w < WORDS_PER_PAGE; w++)
            ws[p * WORDS_PER_PAGE + w] = initial_word(seed, p, w);

    uint64_t rng = seed;
    uint64_t sum = seed;
    for (uint64_t iter = 1; iterations == 0 || iter <= iterations; iter++) {
        for (uint64_t i = 0; i < writes; i++) {
            uint64_t r = next_rand(&rng);
            uint64_t page = r % pages;
            uint64_t word = (r >> 52) & (WORDS_PER_PAGE - 1);
            volatile uint64_t *slot = &ws[page * WORDS_PER_PAGE + word];
            uint64_t old = *slot;
            uint64_t val = r ^ iter;
            *slot = val;
            sum = mix(mix(sum, old), val);
            spin(spins);
        }
        if (report && iter % report == 0)
            rt_printf("dirtier iter=%06lu pages=%lu sum=0x%016lx\n",
                      (unsigned long)iter, (unsigned long)pages,
                      (unsigned long)sum);
    }

    /* Final pass: checksum the whole working set as it is in memory now. */
    uint64_t mem = 0;
    for (uint64_t k = 0; k < pages * WORDS_PER_PAGE; k++)
        mem = mix(mem, ws[k]);
    rt_printf("dirtier done sum=0x%016lx mem=0x%016lx\n",
              (unsigned long)sum, (unsigned long)mem);
    return 0;
}
