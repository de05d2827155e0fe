/* smode-kernel: virtio-blk over the modern virtio-mmio interface (version 2).
 *
 * Probes the eight virtio-mmio slots of the virt board (QEMU puts the first
 * -device virtio-blk-device in the last slot, Caravan in the first), runs
 * the standard initialisation with one split virtqueue, and keeps a boot
 * counter in sector 0. Completions are awaited through the used ring and the
 * device interrupt (PLIC source slot + 1, S-mode context). Nothing printed
 * depends on the slot or on features beyond VERSION_1 and FLUSH.
 */
#include "rt.h"
#include "kernel.h"

#define VIRTIO_MMIO_BASE    0x10001000UL
#define VIRTIO_MMIO_STRIDE  0x1000UL
#define VIRTIO_MMIO_SLOTS   8

#define VM_MAGIC            0x000
#define VM_VERSION          0x004
#define VM_DEVICE_ID        0x008
#define VM_DEVICE_FEATURES  0x010
#define VM_DEVICE_FEATURES_SEL 0x014
#define VM_DRIVER_FEATURES  0x020
#define VM_DRIVER_FEATURES_SEL 0x024
#define VM_QUEUE_SEL        0x030
#define VM_QUEUE_NUM_MAX    0x034
#define VM_QUEUE_NUM        0x038
#define VM_QUEUE_READY      0x044
#define VM_QUEUE_NOTIFY     0x050
#define VM_INTERRUPT_STATUS 0x060
#define VM_INTERRUPT_ACK    0x064
#define VM_STATUS           0x070
#define VM_QUEUE_DESC_LOW   0x080
#define VM_QUEUE_DESC_HIGH  0x084
#define VM_QUEUE_DRIVER_LOW 0x090
#define VM_QUEUE_DRIVER_HIGH 0x094
#define VM_QUEUE_DEVICE_LOW 0x0a0
#define VM_QUEUE_DEVICE_HIGH 0x0a4
#define VM_CONFIG_GENERATION 0x0fc
#define VM_CONFIG           0x100

#define VIRTIO_MAGIC        0x74726976u     /* "virt" */
#define VIRTIO_ID_BLOCK     2

#define ST_ACKNOWLEDGE      1
#define ST_DRIVER           2
#define ST_DRIVER_OK        4
#define ST_FEATURES_OK      8
#define ST_FAILED           128

#define F_BLK_FLUSH         9               /* VIRTIO_BLK_F_FLUSH */
#define F_VERSION_1         32              /* VIRTIO_F_VERSION_1 */

#define VIRTQ_DESC_F_NEXT   1
#define VIRTQ_DESC_F_WRITE  2

#define BLK_T_IN            0
#define BLK_T_OUT           1
#define BLK_T_FLUSH         4

#define QSZ                 8
#define SECTOR              512

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[QSZ];
    uint16_t used_event;
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[QSZ];
    uint16_t avail_event;
};

struct blk_req {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static struct {
    uintptr_t base;
    unsigned irq;
    int flush;
    struct virtq_desc *desc;
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
    uint16_t last_used;
    struct blk_req *req;
    volatile uint8_t *status;
    uint8_t *data;
    volatile unsigned irqs;
    unsigned requests;
} blk;

static inline uint32_t rd(uint32_t off)
{
    return *(volatile uint32_t *)(blk.base + off);
}

static inline void wr(uint32_t off, uint32_t v)
{
    *(volatile uint32_t *)(blk.base + off) = v;
}

static inline void fence(void)
{
    __asm__ volatile ("fence iorw, iorw" ::: "memory");
}

unsigned blk_irq_source(void)
{
    return blk.irq;     /* 0 (never claimed) while there is no device */
}

void blk_irq(void)
{
    uint32_t st = rd(VM_INTERRUPT_STATUS);
    wr(VM_INTERRUPT_ACK, st);
    blk.irqs++;
}

static int fail(const char *why)
{
    rt_printf("virtio: %s\n", why);
    if (blk.base)
        wr(VM_STATUS, rd(VM_STATUS) | ST_FAILED);
    blk.irq = 0;
    kfailures++;
    return 0;
}

int blk_probe(void)
{
    for (unsigned slot = 0; slot < VIRTIO_MMIO_SLOTS; slot++) {
        uintptr_t base = VIRTIO_MMIO_BASE + slot * VIRTIO_MMIO_STRIDE;
        volatile uint32_t *r = (volatile uint32_t *)base;
        if (r[VM_MAGIC / 4] != VIRTIO_MAGIC || r[VM_DEVICE_ID / 4] != VIRTIO_ID_BLOCK)
            continue;
        blk.base = base;
        blk.irq = slot + 1;
        break;
    }
    if (!blk.base) {
        rt_printf("virtio: no block device\n");
        return 0;
    }
    uint32_t version = rd(VM_VERSION);
    if (version != 2) {
        rt_printf("virtio: block device uses virtio-mmio version %u, need 2 (modern)\n", version);
        blk.base = 0;
        blk.irq = 0;
        return 0;
    }
    rt_printf("virtio: block device found (virtio-mmio version 2, device id 2)\n");

    /* Reset, ACKNOWLEDGE, DRIVER. */
    wr(VM_STATUS, 0);
    while (rd(VM_STATUS) != 0)
        ;
    wr(VM_STATUS, ST_ACKNOWLEDGE);
    wr(VM_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);

    /* Features: VERSION_1 (required) and FLUSH (if offered), nothing else. */
    wr(VM_DEVICE_FEATURES_SEL, 0);
    uint64_t dev = rd(VM_DEVICE_FEATURES);
    wr(VM_DEVICE_FEATURES_SEL, 1);
    dev |= (uint64_t)rd(VM_DEVICE_FEATURES) << 32;
    if (!(dev >> F_VERSION_1 & 1))
        return fail("device does not offer VERSION_1");
    uint64_t drv = 1UL << F_VERSION_1;
    if (dev >> F_BLK_FLUSH & 1)
        drv |= 1UL << F_BLK_FLUSH;
    blk.flush = (int)(drv >> F_BLK_FLUSH & 1);
    wr(VM_DRIVER_FEATURES_SEL, 0);
    wr(VM_DRIVER_FEATURES, (uint32_t)drv);
    wr(VM_DRIVER_FEATURES_SEL, 1);
    wr(VM_DRIVER_FEATURES, (uint32_t)(drv >> 32));
    wr(VM_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
    if (!(rd(VM_STATUS) & ST_FEATURES_OK))
        return fail("FEATURES_OK did not stick");
    rt_printf("virtio: negotiated VERSION_1%s, FEATURES_OK accepted\n", blk.flush ? " FLUSH" : "");

    /* Queue 0: one page: descriptors at 0, driver (avail) ring at 0x100,
     * device (used) ring at 0x200. Request header, status and data in a
     * second page. */
    wr(VM_QUEUE_SEL, 0);
    if (rd(VM_QUEUE_READY) != 0)
        return fail("queue 0 already ready");
    uint32_t max = rd(VM_QUEUE_NUM_MAX);
    if (max < QSZ)
        return fail("queue 0 too small");
    uint8_t *q = page_alloc();
    blk.desc = (struct virtq_desc *)q;
    blk.avail = (volatile struct virtq_avail *)(q + 0x100);
    blk.used = (volatile struct virtq_used *)(q + 0x200);
    uint8_t *b = page_alloc();
    blk.req = (struct blk_req *)b;
    blk.status = b + 0x10;
    blk.data = b + 0x200;
    wr(VM_QUEUE_NUM, QSZ);
    uint64_t a = (uint64_t)(uintptr_t)blk.desc;
    wr(VM_QUEUE_DESC_LOW, (uint32_t)a);
    wr(VM_QUEUE_DESC_HIGH, (uint32_t)(a >> 32));
    a = (uint64_t)(uintptr_t)blk.avail;
    wr(VM_QUEUE_DRIVER_LOW, (uint32_t)a);
    wr(VM_QUEUE_DRIVER_HIGH, (uint32_t)(a >> 32));
    a = (uint64_t)(uintptr_t)blk.used;
    wr(VM_QUEUE_DEVICE_LOW, (uint32_t)a);
    wr(VM_QUEUE_DEVICE_HIGH, (uint32_t)(a >> 32));
    fence();
    wr(VM_QUEUE_READY, 1);
    plic_enable(blk.irq);
    wr(VM_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
    if (rd(VM_STATUS) & ST_FAILED)
        return fail("device set FAILED");
    rt_printf("virtio: queue 0 ready (%u descriptors), DRIVER_OK\n", QSZ);
    return 1;
}

/* One request (header, optional 512-byte data, status); waits for the used
 * ring entry and the interrupt. Returns the status byte. */
static unsigned blk_request(uint32_t type, uint64_t sector)
{
    blk.req->type = type;
    blk.req->reserved = 0;
    blk.req->sector = sector;
    *blk.status = 0xff;
    struct virtq_desc *d = blk.desc;
    d[0].addr = (uint64_t)(uintptr_t)blk.req;
    d[0].len = sizeof *blk.req;
    d[0].flags = VIRTQ_DESC_F_NEXT;
    d[0].next = 1;
    uint16_t st = 1;
    if (type != BLK_T_FLUSH) {
        d[1].addr = (uint64_t)(uintptr_t)blk.data;
        d[1].len = SECTOR;
        d[1].flags = VIRTQ_DESC_F_NEXT | (type == BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0);
        d[1].next = 2;
        st = 2;
    }
    d[st].addr = (uint64_t)(uintptr_t)blk.status;
    d[st].len = 1;
    d[st].flags = VIRTQ_DESC_F_WRITE;
    d[st].next = 0;

    unsigned irqs = blk.irqs;
    uint16_t idx = blk.avail->idx;
    blk.avail->ring[idx % QSZ] = 0;
    fence();
    blk.avail->idx = (uint16_t)(idx + 1);
    fence();
    wr(VM_QUEUE_NOTIFY, 0);
    while (blk.used->idx == blk.last_used || blk.irqs == irqs)
        idle_wait();
    fence();
    uint32_t id = blk.used->ring[blk.last_used % QSZ].id;
    blk.last_used++;
    blk.requests++;
    if (id != 0 || blk.used->idx != blk.last_used)
        kfailures++;
    return *blk.status;
}

static const char magic[8] = { 'C', 'R', 'V', 'N', 'D', 'I', 'S', 'K' };

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void fill(uint8_t *p, uint64_t count)
{
    memcpy(p, magic, 8);
    for (int i = 0; i < 8; i++)
        p[8 + i] = (uint8_t)(count >> (8 * i));
    for (int i = 16; i < SECTOR; i++)
        p[i] = (uint8_t)(count * 131 + (uint64_t)i * 7);
}

void blk_boot_counter(void)
{
    uint32_t gen, lo, hi;
    do {
        gen = rd(VM_CONFIG_GENERATION);
        lo = rd(VM_CONFIG);
        hi = rd(VM_CONFIG + 4);
    } while (gen != rd(VM_CONFIG_GENERATION));
    uint64_t capacity = (uint64_t)hi << 32 | lo;
    rt_printf("disk: capacity %lu sectors (%lu bytes)\n", (unsigned long)capacity,
              (unsigned long)(capacity * SECTOR));

    unsigned st = blk_request(BLK_T_IN, 0);
    rt_printf("disk: read sector 0: status %u\n", st);
    if (st != 0) {
        kfailures++;
        return;
    }
    uint64_t count;
    if (memcmp(blk.data, magic, 8) != 0) {
        rt_printf("disk: no CRVNDISK magic in sector 0, initialising it\n");
        count = 0;
    } else {
        count = le64(blk.data + 8);
    }
    rt_printf("disk: boot count %lu\n", (unsigned long)count);

    fill(blk.data, count + 1);
    st = blk_request(BLK_T_OUT, 0);
    rt_printf("disk: write sector 0 (boot count %lu): status %u\n", (unsigned long)(count + 1), st);
    if (st != 0)
        kfailures++;
    if (blk.flush) {
        st = blk_request(BLK_T_FLUSH, 0);
        rt_printf("disk: flush: status %u\n", st);
        if (st != 0)
            kfailures++;
    }

    memset(blk.data, 0, SECTOR);
    st = blk_request(BLK_T_IN, 0);
    uint8_t want[SECTOR];
    fill(want, count + 1);
    int same = memcmp(blk.data, want, SECTOR) == 0;
    rt_printf("disk: read back sector 0: status %u, boot count %lu, contents %s\n", st,
              (unsigned long)le64(blk.data + 8), same ? "verified" : "DIFFER");
    if (st != 0 || !same)
        kfailures++;
    rt_printf("disk: %u requests, each completed through the used ring + interrupt\n",
              blk.requests);
}
