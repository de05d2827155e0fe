/* cpubench: a deterministic CoreMark-like integer workload.
 *
 * Five phases (linked list, matrix multiply, CRC-16/CRC-32, a state machine
 * over a string, sorting), each run `iterations` times with inputs derived
 * from `seed` and the iteration number. One checksum line per phase, then a
 * final checksum. Nothing timing-related is printed: the output is a pure
 * function of the config block.
 */
#include "rt.h"
#include "config.h"

/* Field order is ABI: see guests/README.md. */
struct cpubench_config {
    char     magic[8];
    uint32_t version;
    uint32_t count;
    uint64_t iterations;    /* 0 */
    uint64_t seed;          /* 1 */
};

volatile struct cpubench_config caravan_config CARAVAN_CONFIG_ATTR = {
    .magic = CARAVAN_CONFIG_MAGIC,
    .version = CARAVAN_CONFIG_VERSION,
    .count = 2,
    .iterations = 150,
    .seed = 0x0c0ffee0d15ea5e5ULL,
};

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
    rng_state = s ^ 0x2545f4914f6cdd1dULL;
    if (!rng_state)
        rng_state = 1;
}

/* xorshift64* */
static uint32_t rng32(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return (uint32_t)((x * 0x2545f4914f6cdd1dULL) >> 32);
}

static uint16_t crc16_update(uint16_t crc, uint8_t byte)
{
    crc ^= (uint16_t)byte << 8;
    for (int i = 0; i < 8; i++)
        crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    return crc;
}

static uint16_t crc16_u32(uint16_t crc, uint32_t v)
{
    crc = crc16_update(crc, (uint8_t)v);
    crc = crc16_update(crc, (uint8_t)(v >> 8));
    crc = crc16_update(crc, (uint8_t)(v >> 16));
    return crc16_update(crc, (uint8_t)(v >> 24));
}

static uint32_t crc32_update(uint32_t crc, uint8_t byte)
{
    crc ^= byte;
    for (int i = 0; i < 8; i++)
        crc = (crc >> 1) ^ (0xedb88320U & (0U - (crc & 1)));
    return crc;
}

/* ---- phase 1: linked list ---------------------------------------------- */

#define LIST_NODES 48

struct node {
    struct node *next;
    int32_t key;
    uint32_t data;
};

static struct node pool[LIST_NODES];

static struct node *list_build(void)
{
    struct node *head = 0;
    for (int i = 0; i < LIST_NODES; i++) {
        pool[i].key = (int32_t)(rng32() % 1000) - 500;
        pool[i].data = rng32();
        pool[i].next = head;
        head = &pool[i];
    }
    return head;
}

static struct node *list_reverse(struct node *h)
{
    struct node *prev = 0;
    while (h) {
        struct node *n = h->next;
        h->next = prev;
        prev = h;
        h = n;
    }
    return prev;
}

static struct node *list_find(struct node *h, int32_t key)
{
    for (; h; h = h->next)
        if (h->key == key)
            return h;
    return 0;
}

/* Bottom-up merge sort by key (stable), like CoreMark's core_list_mergesort. */
static struct node *list_sort(struct node *list)
{
    int insize = 1;
    for (;;) {
        struct node *p = list, *tail = 0;
        list = 0;
        int merges = 0;
        while (p) {
            merges++;
            struct node *q = p;
            int psize = 0;
            for (int i = 0; i < insize && q; i++) {
                psize++;
                q = q->next;
            }
            int qsize = insize;
            while (psize > 0 || (qsize > 0 && q)) {
                struct node *e;
                if (psize == 0) {
                    e = q; q = q->next; qsize--;
                } else if (qsize == 0 || !q) {
                    e = p; p = p->next; psize--;
                } else if (p->key <= q->key) {
                    e = p; p = p->next; psize--;
                } else {
                    e = q; q = q->next; qsize--;
                }
                if (tail)
                    tail->next = e;
                else
                    list = e;
                tail = e;
            }
            p = q;
        }
        tail->next = 0;
        if (merges <= 1)
            return list;
        insize *= 2;
    }
}

static struct node *list_remove_odd(struct node *h, uint16_t *crc)
{
    struct node **pp = &h;
    while (*pp) {
        if ((*pp)->data & 1) {
            *crc = crc16_u32(*crc, (*pp)->data);
            *pp = (*pp)->next;
        } else {
            pp = &(*pp)->next;
        }
    }
    return h;
}

static uint16_t phase_list(uint16_t crc)
{
    struct node *h = list_build();
    h = list_reverse(h);
    for (int i = 0; i < 8; i++) {
        struct node *n = list_find(h, (int32_t)(rng32() % 1000) - 500);
        crc = crc16_u32(crc, n ? n->data : 0xffffffffU);
    }
    h = list_sort(h);
    int32_t prev = -1000;
    for (struct node *n = h; n; n = n->next) {
        if (n->key < prev)
            crc ^= 0xdead;          /* never happens if sort is correct */
        prev = n->key;
        crc = crc16_u32(crc, (uint32_t)n->key);
    }
    h = list_remove_odd(h, &crc);
    h = list_reverse(h);
    for (struct node *n = h; n; n = n->next)
        crc = crc16_u32(crc, n->data);
    return crc;
}

/* ---- phase 2: matrix ---------------------------------------------------- */

#define MN 14

static int16_t ma[MN][MN], mb[MN][MN];
static int32_t mc[MN][MN];

static uint16_t phase_matrix(uint16_t crc)
{
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            ma[i][j] = (int16_t)(rng32() & 0xffff);
            mb[i][j] = (int16_t)((rng32() & 0x1ff) - 0x100);
        }
    /* C = A * B */
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            int32_t s = 0;
            for (int k = 0; k < MN; k++)
                s += (int32_t)ma[i][k] * mb[k][j];
            mc[i][j] = s;
        }
    /* add a constant, multiply by a constant, extract bits, sum */
    int16_t c = (int16_t)(rng32() & 0xff);
    int32_t total = 0;
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            int32_t v = (mc[i][j] + c) * 3;
            v = (v >> 2) & 0x7fff;
            total += v;
            if (total > 100000) {
                crc = crc16_u32(crc, (uint32_t)total);
                total = 0;
            }
        }
    return crc16_u32(crc, (uint32_t)total);
}

/* ---- phase 3: CRC-16 / CRC-32 ------------------------------------------- */

#define CRC_BYTES 256

static uint8_t crcbuf[CRC_BYTES];

static uint16_t phase_crc(uint16_t crc)
{
    for (int i = 0; i < CRC_BYTES; i += 4) {
        uint32_t r = rng32();
        crcbuf[i] = (uint8_t)r;
        crcbuf[i + 1] = (uint8_t)(r >> 8);
        crcbuf[i + 2] = (uint8_t)(r >> 16);
        crcbuf[i + 3] = (uint8_t)(r >> 24);
    }
    uint32_t c32 = 0xffffffffU;
    uint16_t c16 = 0xffff;
    for (int i = 0; i < CRC_BYTES; i++) {
        c32 = crc32_update(c32, crcbuf[i]);
        c16 = crc16_update(c16, crcbuf[i]);
    }
    c32 = ~c32;
    crc = crc16_u32(crc, c32);
    return crc16_u32(crc, c16);
}

/* ---- phase 4: state machine over a string -------------------------------- */

enum state { S_START, S_INVALID, S_S1, S_INT, S_FRAC, S_EXP, S_S2, S_SCI, S_HEX0,
             S_HEX, NSTATES };

static const char state_text[] =
    "5012,1234,-874,+122,7.0e3,0x12af,-.5e-2,0X3F,++7,12e,3.1415,0x,"
    "-0,99999,1.5E+10,abc,0xdeadBEEF,+.,42,-7.25,6e9,0x0,1..2,e5,";

static char state_buf[sizeof(state_text)];

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static enum state next_state(enum state s, char c)
{
    switch (s) {
    case S_START:
        if (is_digit(c)) return c == '0' ? S_HEX0 : S_INT;
        if (c == '+' || c == '-') return S_S1;
        if (c == '.') return S_FRAC;
        return S_INVALID;
    case S_S1:
        if (is_digit(c)) return S_INT;
        if (c == '.') return S_FRAC;
        return S_INVALID;
    case S_HEX0:
        if (c == 'x' || c == 'X') return S_HEX;
        if (is_digit(c)) return S_INT;
        if (c == '.') return S_FRAC;
        return S_INVALID;
    case S_INT:
        if (is_digit(c)) return S_INT;
        if (c == '.') return S_FRAC;
        if (c == 'e' || c == 'E') return S_EXP;
        return S_INVALID;
    case S_FRAC:
        if (is_digit(c)) return S_FRAC;
        if (c == 'e' || c == 'E') return S_EXP;
        return S_INVALID;
    case S_EXP:
        if (c == '+' || c == '-') return S_S2;
        if (is_digit(c)) return S_SCI;
        return S_INVALID;
    case S_S2:
    case S_SCI:
        if (is_digit(c)) return S_SCI;
        return S_INVALID;
    case S_HEX:
        if (is_hex(c)) return S_HEX;
        return S_INVALID;
    default:
        return S_INVALID;
    }
}

static uint16_t state_pass(uint16_t crc)
{
    uint32_t final_counts[NSTATES] = { 0 };
    uint32_t transitions = 0;
    const int n = (int)sizeof(state_text) - 1;

    memcpy(state_buf, state_text, sizeof(state_text));
    /* corrupt a few characters, as CoreMark does */
    for (int k = 0; k < 3; k++) {
        uint32_t r = rng32();
        state_buf[r % (uint32_t)n] = "0123456789+-.eEx,"[(r >> 16) % 17];
    }
    enum state s = S_START;
    for (int i = 0; i < n; i++) {
        char c = state_buf[i];
        if (c == ',') {
            final_counts[s]++;
            s = S_START;
            continue;
        }
        enum state t = next_state(s, c);
        if (t != s)
            transitions++;
        s = t;
    }
    final_counts[s]++;
    for (int i = 0; i < NSTATES; i++)
        crc = crc16_u32(crc, final_counts[i]);
    return crc16_u32(crc, transitions);
}

#define STATE_PASSES 6

static uint16_t phase_state(uint16_t crc)
{
    for (int pass = 0; pass < STATE_PASSES; pass++)
        crc = state_pass(crc);
    return crc;
}

/* ---- phase 5: sorting --------------------------------------------------- */

#define SORT_N 64

static uint32_t sarr[SORT_N];

static void quicksort(uint32_t *a, int lo, int hi)
{
    while (lo < hi) {
        if (hi - lo < 8) {              /* insertion sort for short runs */
            for (int i = lo + 1; i <= hi; i++) {
                uint32_t v = a[i];
                int j = i - 1;
                while (j >= lo && a[j] > v) {
                    a[j + 1] = a[j];
                    j--;
                }
                a[j + 1] = v;
            }
            return;
        }
        uint32_t pivot = a[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                uint32_t t = a[i]; a[i] = a[j]; a[j] = t;
                i++; j--;
            }
        }
        /* recurse into the smaller half, loop on the larger */
        if (j - lo < hi - i) {
            quicksort(a, lo, j);
            lo = i;
        } else {
            quicksort(a, i, hi);
            hi = j;
        }
    }
}

static uint16_t phase_sort(uint16_t crc)
{
    for (int i = 0; i < SORT_N; i++)
        sarr[i] = rng32() % 100000;
    quicksort(sarr, 0, SORT_N - 1);
    for (int i = 0; i < SORT_N; i++) {
        if (i && sarr[i - 1] > sarr[i])
            crc ^= 0xbeef;              /* never happens if sort is correct */
        crc = crc16_u32(crc, sarr[i]);
    }
    /* binary searches */
    for (int k = 0; k < 16; k++) {
        uint32_t want = sarr[rng32() % SORT_N];
        int lo = 0, hi = SORT_N - 1, found = -1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            if (sarr[mid] < want)
                lo = mid + 1;
            else {
                if (sarr[mid] == want)
                    found = mid;
                hi = mid - 1;
            }
        }
        crc = crc16_u32(crc, (uint32_t)found);
    }
    return crc;
}

/* ---- driver ------------------------------------------------------------- */

struct phase {
    const char *name;
    uint16_t (*run)(uint16_t crc);
};

static const struct phase phases[] = {
    { "list",   phase_list },
    { "matrix", phase_matrix },
    { "crc",    phase_crc },
    { "state",  phase_state },
    { "sort",   phase_sort },
};

int main(uint64_t hartid, uint64_t fdt)
{
    (void)hartid;
    (void)fdt;
    uint64_t iterations = caravan_config.iterations;
    uint64_t seed = caravan_config.seed;

    rt_printf("cpubench: iterations=%lu seed=0x%016lx\n",
              (unsigned long)iterations, (unsigned long)seed);

    uint32_t final = 0xffffffffU;
    for (unsigned p = 0; p < sizeof(phases) / sizeof(phases[0]); p++) {
        uint16_t crc = 0;
        for (uint64_t it = 0; it < iterations; it++) {
            rng_seed(seed + (p << 24) + it);
            crc = phases[p].run(crc);
        }
        rt_printf("cpubench %-6s crc=0x%04x\n", phases[p].name, crc);
        final = crc32_update(crc32_update(final, (uint8_t)crc), (uint8_t)(crc >> 8));
    }
    rt_printf("cpubench final=0x%08x\n", ~final);
    return 0;
}
